"""Reminders: one combined DM per person with what they have to report, and their action items due.

At `schedule.reminders` the scheduler claims the slot (`ci_slackbot.jobs`) and
calls `send_reminders(services, initiative_id, slot)`. Each member of an
organization that has not yet reported an indicator for its current period
gets ONE direct message listing everything due — every indicator of every
organization they belong to — with a button per indicator that opens the
`/ci update` modal on it, and a "Snooze for this period" button. Owners of
action items that are overdue or due within the week get them in the same DM
(or a DM of their own when nothing else is due), when the action items area
is in this build.

- Nobody who has reported is reminded: an indicator is due for a person only
  while their organization has no value at all for the current period.
- Nobody gets two DMs from one run: a `ReminderSent` row (unique per
  initiative, person and slot) is written with the outbox row, whose key
  `reminder:{initiative}:{slot}:{user}` is unique too. A run of a slot that
  already ran for someone skips them.
- A snooze is per period (`2026-11`, `2026-Q4`): a snoozed person is not
  reminded about indicators of those periods again, and is reminded as usual
  when the next period opens. Action items are deadlines people set
  themselves, so a snooze of reporting reminders does not silence them.

The outbox row carries the data, not Block Kit (services know no Slack): the
deliverer in `integrations.slack.reminders` renders the DM when it sends it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.periods import Period, PeriodError
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.actions import owner_items_due
from ci_slackbot.services.measurement import reporting_status
from ci_slackbot.store.models import ActionItem, Initiative, Membership, Organization, ReminderSent, Snooze

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
            labels = ", ".join(sorted({i.period_label for i in self.indicators}))
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
            "indicators": [i.__dict__ for i in self.indicators],
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

    def __str__(self) -> str:
        text = f"{len(self.sent)} reminder DM{'s' if len(self.sent) != 1 else ''} queued"
        extra = []
        if self.already_reminded:
            extra.append(f"{len(self.already_reminded)} already reminded in slot {self.slot}")
        if self.snoozed:
            extra.append(f"{len(self.snoozed)} snoozed")
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


def queue_reminders(session: Session, initiative: Initiative, slot: str, now: datetime) -> ReminderRun:
    """Plan and queue this slot's DMs in the caller's transaction (one per person at most)."""
    run = ReminderRun(slot)
    reminders, run.snoozed = plan_reminders(session, initiative, now)
    done = set(
        session.scalars(
            select(ReminderSent.slack_user_id).where(
                ReminderSent.initiative_id == initiative.id, ReminderSent.slot == slot
            )
        )
    )
    for reminder in reminders:
        if reminder.user_id in done:
            run.already_reminded.append(reminder.user_id)
            continue
        session.add(ReminderSent(initiative_id=initiative.id, slack_user_id=reminder.user_id, slot=slot, sent_at=now))
        enqueue(
            session,
            initiative_id=initiative.id,
            service=SERVICE,
            kind=KIND,
            key=reminder_key(initiative.id, slot, reminder.user_id),
            payload=reminder.payload(initiative.name),
        )
        run.sent.append(reminder.user_id)
    session.flush()
    return run


def send_reminders(services: CoreServices, initiative_id: int, slot: str) -> ReminderRun | str:
    """The scheduled run for one slot: queue the DMs in one transaction and wake the outbox."""
    now = services.now()
    try:
        with services.db.unit_of_work() as session:
            initiative = session.get(Initiative, initiative_id)
            if initiative is None:
                return "the initiative no longer exists"
            run = queue_reminders(session, initiative, slot, now)
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


def snooze(session: Session, initiative: Initiative, user_id: str, periods: Sequence[Period]) -> list[Period]:
    """No more reminders for `user_id` about these periods; returns the periods newly snoozed."""
    existing = set(
        session.scalars(
            select(Snooze.period).where(Snooze.initiative_id == initiative.id, Snooze.slack_user_id == user_id)
        )
    )
    added = []
    for period in periods:
        if str(period) in existing:
            continue
        session.add(Snooze(initiative_id=initiative.id, slack_user_id=user_id, period=str(period)))
        existing.add(str(period))
        added.append(period)
    session.flush()
    return added
