"""Reminders: one combined DM per person with what they have to report, and their action items due.

Every day at the time of `schedule.reminders` the scheduler claims the day's
slot (`ci_slackbot.jobs`) and calls `send_reminders(services, initiative_id,
slot)`, which sends what is due *that day*. Each indicator's reporting window
(`ci_slackbot.domain.windows`) brings its nudges: one when the period ends and
its window opens, one a few days before the due date, one after it (the report
is late; the organization's backup reporter, if it names one, is asked then
too). Which of them an initiative sends is its file's `reporting.nudges`; a
nudge that falls on a weekend or on one of the file's `holidays` moves to the
next working day. Between those days nobody is nudged.

- A nudge goes once: a `NudgeSent` row, unique per (person, indicator, period,
  kind), is written with the outbox row. A run of a day that already ran sends
  nothing new, and a day missed (the app was down) is made up the next day with
  the latest nudge only.
- Nobody is asked for a period already reported: an indicator is due for a
  person only while their organization has no value for the period due.
- People whose Slack status says they are away (the job asks Slack and passes
  them in `away`) are left out; a nudge of theirs goes once they are back,
  while it still stands.
- Nobody gets two DMs from one run: a `ReminderSent` row (unique per
  initiative, person and slot) is written with the outbox row, whose key
  `reminder:{initiative}:{slot}:{user}` is unique too.
- A snooze is per period (`2026-11`, `2026-Q4`): a snoozed person is not
  reminded about indicators of those periods again, and is reminded as usual
  when the next period's window opens. Action items are deadlines people set
  themselves, so a snooze of reporting reminders does not silence them; they
  come on the weekdays `schedule.reminders` names.

`/ci remind` (`queue_reminders`) asks everyone with a report not in yet, now,
whatever the day. The outbox row carries the data, not Block Kit (services know
no Slack): the deliverer in `integrations.slack.reminders` renders the DM when
it sends it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.periods import Frequency, Period, PeriodError, local_today
from ci_slackbot.domain.schedule import DAYS, ScheduleError, parse_schedule
from ci_slackbot.domain.windows import Nudge, NudgeRule, backup_due, nudge_days, nudge_on, window_for
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.actions import owner_items_due
from ci_slackbot.services.measurement import DueReport, IndicatorView, indicator_views, reporting_status
from ci_slackbot.store.models import (
    ActionItem,
    Initiative,
    Membership,
    NudgeSent,
    Organization,
    ReminderSent,
    Snooze,
)

if TYPE_CHECKING:
    from ci_slackbot.wiring import CoreServices

log = logging.getLogger(__name__)

SERVICE, KIND = "slack", "reminder"
MAX_SNOOZE_PERIODS = 20


class SnoozeError(InputError):
    """A snooze that cannot be recorded; the message says what to do instead."""


@dataclass(frozen=True)
class DueIndicator:
    key: str
    name: str
    period: str  # e.g. 2026-11
    period_label: str  # e.g. Nov 2026
    organization_key: str
    organization_name: str
    due: str = ""  # the due date, e.g. 2026-12-15
    kind: str = ""  # the nudge (`Nudge`); empty for `/ci remind`
    indicator_id: int = 0


@dataclass(frozen=True)
class DueAction:
    id: int
    text: str
    due: date | None
    overdue: bool


@dataclass(frozen=True)
class Reminder:
    """Everything one person is reminded of in one DM."""

    user_id: str
    indicators: tuple[DueIndicator, ...] = ()
    overdue: tuple[DueAction, ...] = ()
    due_this_week: tuple[DueAction, ...] = ()

    @property
    def snooze_periods(self) -> list[str]:
        return sorted({i.period for i in self.indicators})

    def summary(self) -> str:
        """One plain line (the DM's notification text)."""
        parts = []
        if self.indicators:
            n = len(self.indicators)
            labels = ", ".join(label for _, label in sorted({(i.period, i.period_label) for i in self.indicators}))
            parts.append(f"{n} indicator{'s' if n != 1 else ''} to report for {labels}")
        if self.overdue:
            parts.append(f"{len(self.overdue)} action item{'s' if len(self.overdue) != 1 else ''} overdue")
        if self.due_this_week:
            n = len(self.due_this_week)
            parts.append(f"{n} action item{'s' if n != 1 else ''} due this week")
        return "Reminder: " + "; ".join(parts) + "."

    def payload(self, initiative_name: str) -> dict[str, Any]:
        def action(a: DueAction) -> dict[str, Any]:
            return {"id": a.id, "text": a.text, "due": a.due.isoformat() if a.due else None, "overdue": a.overdue}

        return {
            "channel": self.user_id,
            "text": self.summary(),
            "initiative": initiative_name,
            "indicators": [{k: v for k, v in i.__dict__.items() if k != "indicator_id"} for i in self.indicators],
            "snooze_periods": self.snooze_periods,
            "overdue": [action(a) for a in self.overdue],
            "due_this_week": [action(a) for a in self.due_this_week],
        }


@dataclass
class ReminderRun:
    """What one run did; `str()` is the line the scheduler records as the run's outcome."""

    slot: str
    sent: list[str] = field(default_factory=list)
    already_reminded: list[str] = field(default_factory=list)
    snoozed: list[str] = field(default_factory=list)
    away: list[str] = field(default_factory=list)  # their Slack status says they are away

    def __str__(self) -> str:
        text = f"{len(self.sent)} reminder DM{'s' if len(self.sent) != 1 else ''} queued"
        extra = []
        if self.already_reminded:
            extra.append(f"{len(self.already_reminded)} already reminded in slot {self.slot}")
        if self.snoozed:
            extra.append(f"{len(self.snoozed)} snoozed")
        if self.away:
            extra.append(f"{len(self.away)} away")
        return text + (f" ({', '.join(extra)})" if extra else "")


def reminder_key(initiative_id: int, slot: str, user_id: str) -> str:
    return f"reminder:{initiative_id}:{slot}:{user_id}"


# -- who is reminded of what -------------------------------------------------------------------


def _members(session: Session, initiative_id: int, org_ids: Iterable[int]) -> dict[int, list[str]]:
    wanted = set(org_ids)
    if not wanted:
        return {}
    members: dict[int, list[str]] = defaultdict(list)
    for org_id, user_id in session.execute(
        select(Membership.organization_id, Membership.slack_user_id)
        .join(Organization, Membership.organization_id == Organization.id)
        .where(
            Membership.initiative_id == initiative_id,
            Membership.organization_id.in_(wanted),
            Organization.retired.is_(False),
        )
        .order_by(Membership.id)
    ):
        members[org_id].append(user_id)
    return members


def _snoozes(session: Session, initiative_id: int) -> set[tuple[str, str]]:
    return {
        (user, period)
        for user, period in session.execute(
            select(Snooze.slack_user_id, Snooze.period).where(Snooze.initiative_id == initiative_id)
        )
    }


ActionsDue = tuple[tuple[DueAction, ...], tuple[DueAction, ...]]  # overdue, due within the week


def _action_items_due(session: Session, initiative: Initiative, today: date) -> dict[str, ActionsDue]:
    owners = session.scalars(
        select(ActionItem.owner)
        .where(
            ActionItem.initiative_id == initiative.id,
            ActionItem.status == "open",
            ActionItem.due.is_not(None),
            ActionItem.due < today + timedelta(days=7),
        )
        .distinct()
    )
    found: dict[str, ActionsDue] = {}
    for owner in sorted(owners):
        items = owner_items_due(session, initiative.id, owner, today)
        if items:
            found[owner] = (
                tuple(DueAction(a.id, a.text, a.due, True) for a in items.overdue),
                tuple(DueAction(a.id, a.text, a.due, False) for a in items.due_this_week),
            )
    return found


def plan_reminders(session: Session, initiative: Initiative, now: datetime) -> tuple[list[Reminder], list[str]]:
    """Who gets a DM and what it lists; and who was left out only because they snoozed."""
    missing = [r for r in reporting_status(session, initiative, now) if not r.reported]
    members = _members(session, initiative.id, {r.organization.id for r in missing})
    snoozed = _snoozes(session, initiative.id)
    due: dict[str, dict[tuple[str, str], DueIndicator]] = defaultdict(dict)
    snoozed_only: set[str] = set()
    for report in missing:
        for user in members.get(report.organization.id, []):
            if (user, str(report.period)) in snoozed:
                snoozed_only.add(user)
                continue
            due[user][(report.indicator.key, report.organization.key)] = DueIndicator(
                key=report.indicator.key,
                name=report.indicator.name,
                period=str(report.period),
                period_label=report.period.label(),
                organization_key=report.organization.key,
                organization_name=report.organization.name,
                due=report.due.isoformat() if report.due else "",
                indicator_id=report.indicator.id,
            )
    today = now.astimezone(ZoneInfo(initiative.timezone)).date()
    actions = _action_items_due(session, initiative, today)
    reminders = []
    for user in sorted(set(due) | set(actions)):
        no_actions: ActionsDue = ((), ())
        overdue, this_week = actions.get(user, no_actions)
        reminders.append(Reminder(user, tuple(due.get(user, {}).values()), overdue, this_week))
    left_out = sorted(snoozed_only - {r.user_id for r in reminders})
    return reminders, left_out


_SENT: Table = ReminderSent.__table__  # type: ignore[assignment]
# A person reminded in this slot already inserts nothing: on PostgreSQL a run at the same moment waits
# for the other's commit at the unique key and then leaves that person out, rather than failing on it.
_MARK_SENT = {
    dialect.dialect.name: dialect.insert(_SENT).on_conflict_do_nothing().returning(_SENT.c.slack_user_id)
    for dialect in (postgresql, sqlite)
}


def queue_reminders(
    session: Session, initiative: Initiative, slot: str, now: datetime, *, not_within: timedelta | None = None
) -> ReminderRun:
    """Plan and queue this slot's DMs in the caller's transaction (one per person at most).

    `not_within`: also leave out whoever any run reminded that recently (`/ci remind` typed twice,
    by one person or two: each run has a slot of its own)."""
    run = ReminderRun(slot)
    reminders, run.snoozed = plan_reminders(session, initiative, now)
    reminded = ReminderSent.slot == slot
    if not_within is not None:
        reminded = or_(reminded, ReminderSent.sent_at >= now - not_within)
    done = set(
        session.scalars(select(ReminderSent.slack_user_id).where(ReminderSent.initiative_id == initiative.id, reminded))
    )
    due = [reminder for reminder in reminders if reminder.user_id not in done]
    run.already_reminded = [reminder.user_id for reminder in reminders if reminder.user_id in done]
    marked: set[str] = set()
    if due:
        rows = [{"initiative_id": initiative.id, "slack_user_id": r.user_id, "slot": slot, "sent_at": now} for r in due]
        marked = set(session.scalars(_MARK_SENT[session.get_bind().dialect.name], rows))
    for reminder in due:
        if reminder.user_id not in marked:
            run.already_reminded.append(reminder.user_id)
            continue
        enqueue(
            session,
            initiative_id=initiative.id,
            service=SERVICE,
            kind=KIND,
            key=reminder_key(initiative.id, slot, reminder.user_id),
            payload=reminder.payload(initiative.name),
        )
        run.sent.append(reminder.user_id)
    return run


def nudge_rule(initiative: Initiative) -> NudgeRule:
    """The file's `reporting.nudges` (only what it sets is stored), over the defaults."""
    given = initiative.nudges or {}
    default = NudgeRule()
    return NudgeRule(
        opening=bool(given.get("opening", default.opening)),
        days_before_due=given.get("days_before_due", default.days_before_due),
        days_after_due=given.get("days_after_due", default.days_after_due),
    )


def holidays_of(initiative: Initiative) -> frozenset[date]:
    return frozenset(date.fromisoformat(str(day)) for day in initiative.holidays or ())


def _action_items_day(initiative: Initiative, today: date) -> bool:
    """Action items keep the rhythm `schedule.reminders` names (`thu 10:00`: Thursdays), not a daily one."""
    try:
        days = parse_schedule(initiative.reminders_schedule).day_of_week
    except ScheduleError:
        return True
    # The schedule lists its days by name (`parse_schedule`), ranges and steps spelt out.
    return days == "*" or DAYS[today.weekday()] in days.split(",")


def _nudge_recipients(
    report: DueReport,
    members: Sequence[str],
    backup: str | None,
    rule: NudgeRule,
    today: date,
    holidays: frozenset[date],
) -> list[tuple[str, Nudge]]:
    window = window_for(report.period, report.indicator.lag)
    recipients: list[tuple[str, Nudge]] = []
    kind = nudge_on(window, rule, today, holidays)
    if kind is not None:
        recipients.extend((user, kind) for user in members)
    if backup and backup not in members and backup_due(window, rule, today, holidays):
        recipients.append((backup, Nudge.BACKUP))
    return recipients


def _missing_before(
    session: Session, initiative: Initiative, now: datetime, views: Sequence[IndicatorView]
) -> list[DueReport]:
    """The reports of the period before the one partners report now, still missing, from organizations
    asked for it (one named a reporter since is asked from a later period).

    A period's late nudge, and its backup's, can fall after the next period has ended: a holiday
    before a weekly period's late day (Thanksgiving moves it past the next Sunday), or a monthly one
    due 30 days after it. Only the period due now was looked at, so those nudges were never sent;
    they are sent on their day (or made up, as any), and nothing else of that period comes back.
    """
    views_by_frequency: dict[Frequency, list[IndicatorView]] = defaultdict(list)
    for view in views:
        views_by_frequency[view.frequency].append(view)
    zone = ZoneInfo(initiative.timezone)
    missing: list[DueReport] = []
    for same_frequency in views_by_frequency.values():
        due_now = same_frequency[0].window(initiative.timezone, now).period
        # Midday of the period due now: the period before it is then the last completed one.
        then = datetime.combine(due_now.start, time(12), tzinfo=zone)
        missing += [
            r
            for r in reporting_status(session, initiative, then, same_frequency)
            if not r.reported and (r.asked_from is None or r.period >= r.asked_from)
        ]
    return missing


def plan_nudges(
    session: Session, initiative: Initiative, now: datetime
) -> tuple[dict[str, dict[tuple[str, str, str], DueIndicator]], list[str]]:
    """The nudges that stand today and were not sent yet, per person; and who was left out for a snooze."""
    today = local_today(initiative.timezone, now)
    rule, holidays = nudge_rule(initiative), holidays_of(initiative)
    views = indicator_views(session, initiative.id)
    missing = [r for r in reporting_status(session, initiative, now, views) if not r.reported]
    missing += _missing_before(session, initiative, now, views)
    members = _members(session, initiative.id, {r.organization.id for r in missing})
    backups: dict[int, str | None] = {
        org_id: backup
        for org_id, backup in session.execute(
            select(Organization.id, Organization.backup_reporter).where(
                Organization.initiative_id == initiative.id,
                Organization.retired.is_(False),
                Organization.backup_reporter.is_not(None),
            )
        )
    }
    snoozed = _snoozes(session, initiative.id)
    sent = {
        (user, indicator_id, period, kind)
        for user, indicator_id, period, kind in session.execute(
            select(NudgeSent.slack_user_id, NudgeSent.indicator_id, NudgeSent.period, NudgeSent.kind).where(
                NudgeSent.initiative_id == initiative.id
            )
        )
    }
    # By indicator, organization and period: a period's late nudge and the next one's opening can
    # stand on the same day, and the DM lists both.
    due: dict[str, dict[tuple[str, str, str], DueIndicator]] = defaultdict(dict)
    snoozed_only: set[str] = set()
    for report in missing:
        period = str(report.period)
        org = report.organization
        for user, kind in _nudge_recipients(
            report, members.get(org.id, []), backups.get(org.id), rule, today, holidays
        ):
            if (user, period) in snoozed:
                snoozed_only.add(user)
                continue
            if (user, report.indicator.id, period, kind.value) in sent:
                continue
            due[user][(report.indicator.key, org.key, period)] = DueIndicator(
                key=report.indicator.key,
                name=report.indicator.name,
                period=period,
                period_label=report.period.label(),
                organization_key=org.key,
                organization_name=org.name,
                due=report.due.isoformat() if report.due else "",
                kind=kind.value,
                indicator_id=report.indicator.id,
            )
    return due, sorted(snoozed_only - set(due))


def to_nudge_today(session: Session, initiative: Initiative, now: datetime) -> list[str]:
    """Who the day's run would nudge: the people whose Slack status is worth a look first."""
    due, _ = plan_nudges(session, initiative, now)
    return sorted(due)


def queue_day(
    session: Session, initiative: Initiative, slot: str, now: datetime, away: Collection[str] = ()
) -> ReminderRun:
    """Queue the day's nudges in the caller's transaction: one DM per person at most, each nudge once."""
    run = ReminderRun(slot)
    due, run.snoozed = plan_nudges(session, initiative, now)
    today = local_today(initiative.timezone, now)
    actions = _action_items_due(session, initiative, today) if _action_items_day(initiative, today) else {}
    done = set(
        session.scalars(
            select(ReminderSent.slack_user_id).where(
                ReminderSent.initiative_id == initiative.id, ReminderSent.slot == slot
            )
        )
    )
    for user in sorted(set(due) | set(actions)):
        if user in away:
            run.away.append(user)
            continue
        if user in done:
            run.already_reminded.append(user)
            continue
        overdue, this_week = actions.get(user, ((), ()))
        reminder = Reminder(user, tuple(due.get(user, {}).values()), overdue, this_week)
        # One row per nudge, not per line of the DM: a backup of two organizations that report one
        # indicator (or a member of both) is nudged about it for each, and the row has no organization.
        nudged = {(item.indicator_id, item.period, item.kind) for item in reminder.indicators}
        for indicator_id, period, kind in sorted(nudged):
            session.add(
                NudgeSent(
                    initiative_id=initiative.id,
                    slack_user_id=user,
                    indicator_id=indicator_id,
                    period=period,
                    kind=kind,
                    sent_at=now,
                )
            )
        session.add(ReminderSent(initiative_id=initiative.id, slack_user_id=user, slot=slot, sent_at=now))
        enqueue(
            session,
            initiative_id=initiative.id,
            service=SERVICE,
            kind=KIND,
            key=reminder_key(initiative.id, slot, user),
            payload=reminder.payload(initiative.name),
        )
        run.sent.append(user)
    session.flush()
    return run


def send_reminders(
    services: CoreServices,
    initiative_id: int,
    slot: str,
    away: Collection[str] = (),
    *,
    claim: Callable[[Session], object] | None = None,
) -> ReminderRun | str:
    """The day's scheduled run: queue its nudges in one transaction (the outbox wakes on commit),
    which also makes `claim` (the scheduler's claim of the slot), so that both or neither are kept."""
    now = services.now()
    try:
        with services.db.unit_of_work() as session:
            if claim is not None:
                claim(session)
            initiative = session.get(Initiative, initiative_id)
            if initiative is None:
                return "the initiative no longer exists"
            run = queue_day(session, initiative, slot, now, away)
    except IntegrityError:
        # Another run of this slot committed first; its DMs are the ones that go out.
        log.info("reminders for slot %s were queued by another run", slot)
        return f"already queued by another run of slot {slot}"
    return run


# -- snoozing ------------------------------------------------------------------------------------


def parse_snooze_periods(text: str) -> list[Period]:
    """The periods a "Snooze for this period" button carries, e.g. `2026-11,2026-Q4`."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or len(parts) > MAX_SNOOZE_PERIODS:
        raise SnoozeError("That snooze button does not say which period to snooze; the next reminder will.")
    try:
        return [Period.parse(p) for p in parts]
    except PeriodError:
        raise SnoozeError("That snooze button names no period I know; the next reminder will have a new one.") from None


_SNOOZES: Table = Snooze.__table__  # type: ignore[assignment]
# A period snoozed already inserts nothing. On PostgreSQL a second click at the same moment waits for
# the first's commit at the unique key and then inserts nothing, where read-then-insert would fail on it.
_SNOOZE = {
    dialect.dialect.name: dialect.insert(_SNOOZES).on_conflict_do_nothing().returning(_SNOOZES.c.period)
    for dialect in (postgresql, sqlite)
}


def snooze(session: Session, initiative: Initiative, user_id: str, periods: Sequence[Period]) -> list[Period]:
    """No more reminders for `user_id` about these periods; returns the periods newly snoozed."""
    rows = [
        {"initiative_id": initiative.id, "slack_user_id": user_id, "period": str(p)} for p in dict.fromkeys(periods)
    ]
    if not rows:
        return []
    inserted = set(session.scalars(_SNOOZE[session.get_bind().dialect.name], rows))
    return [period for period in dict.fromkeys(periods) if str(period) in inserted]


@dataclass(frozen=True)
class UpcomingNudge:
    day: date
    kind: Nudge
    indicator_key: str
    period: Period
    due: date


def upcoming_nudges(session: Session, initiative: Initiative, now: datetime, count: int) -> list[UpcomingNudge]:
    """The next nudges by the calendar, earliest first: this window's still to come and the next one's.

    Who gets each depends on the day (reported or not, snoozed, away), so none is named here.
    """
    today = local_today(initiative.timezone, now)
    rule, holidays = nudge_rule(initiative), holidays_of(initiative)
    found = []
    for view in indicator_views(session, initiative.id):
        if not view.reporters:
            continue
        current = view.window(initiative.timezone, now).period
        for period in (current, current.next()):
            window = window_for(period, view.lag)
            for kind, day in nudge_days(window, rule, holidays).items():
                if day >= today:
                    found.append(UpcomingNudge(day, kind, view.key, period, window.due))
    found.sort(key=lambda n: (n.day, n.indicator_key, list(Nudge).index(n.kind)))
    return found[: max(0, count)]
