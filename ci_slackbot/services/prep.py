"""Meeting prep: what the next meeting should look at, written as a Notion page under the agenda hub.

The content is gathered when `/ci prep` is asked for (a snapshot, like minutes)
and travels in the outbox row, so the page says what was true at that moment
even if Notion is down for a while. Queries go straight to the tables, but for
decisions and the stories told with the numbers, read through their services.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.measurement import Direction, Point, expected_value, format_value, is_on_track
from ci_slackbot.domain.periods import Frequency, Period, PeriodError
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.decisions import decisions_since
from ci_slackbot.services.measurement import indicator_views
from ci_slackbot.services.stories import stories_since
from ci_slackbot.store.models import (
    ActionItem,
    Indicator,
    IndicatorReporter,
    IndicatorValue,
    Initiative,
    MeetingPrep,
    Organization,
)

NOTION_PAGE_KIND = "prep_page"
# Without an earlier prep, "decisions since the last meeting" looks back this far.
FIRST_LOOKBACK = timedelta(days=30)
MAX_ITEMS = 200  # a section lists at most this many lines; the page says how many more


class PrepError(InputError):
    """A prep that cannot be made; the message says what to set up."""


@dataclass(frozen=True)
class PrepSection:
    heading: str
    lines: tuple[str, ...]
    when_empty: str


@dataclass(frozen=True)
class PrepStory:
    """A story told with a number since the last meeting, whole, for discussion."""

    indicator: str  # "Name (key)"
    where: str  # "Oct 2026, Dallas ISD Health Services, zip 75216"
    story: str
    told_by: str  # a Slack user ID: the page's writer names the person
    told_on: str  # YYYY-MM-DD in the initiative's time zone
    curve: tuple[tuple[str, str], ...]  # the Turn-the-Curve notes given, (label, text)


@dataclass(frozen=True)
class PrepContent:
    title: str
    intro: str
    sections: tuple[PrepSection, ...]
    stories: tuple[PrepStory, ...] = ()

    def payload(self) -> dict[str, object]:
        return asdict(self)


def prep_key(prep_id: int) -> str:
    return f"prep:{prep_id}:notion"


def prep_link_key(prep_id: int) -> str:
    return f"prep:{prep_id}:link"


def _capped(lines: list[str]) -> tuple[str, ...]:
    if len(lines) <= MAX_ITEMS:
        return tuple(lines)
    return (*lines[:MAX_ITEMS], f"…and {len(lines) - MAX_ITEMS} more")


def _period_or_none(frequency: Frequency, text: str | None) -> Period | None:
    if not text:
        return None
    try:
        period = Period.parse(text)
    except PeriodError:
        return None
    return period if period.frequency is frequency else None


def not_reported(session: Session, initiative: Initiative, now: datetime) -> list[str]:
    """Indicators with a reporting organization that has no value for the period partners report now:
    the last completed one (`IndicatorView.window`), as the reminders and the digest count it, not the
    one still running, which nobody can have reported yet."""
    orgs = _organization_names(session, initiative.id)
    reported = {
        (indicator_id, org_id, period)
        for indicator_id, org_id, period in session.execute(
            select(IndicatorValue.indicator_id, IndicatorValue.organization_id, IndicatorValue.period)
            .where(IndicatorValue.initiative_id == initiative.id, IndicatorValue.withdrawn == false())
            .distinct()
        )
    }
    reporters: dict[int, list[int]] = {}
    for indicator_id, org_id in session.execute(
        select(IndicatorReporter.indicator_id, IndicatorReporter.organization_id).where(
            IndicatorReporter.initiative_id == initiative.id
        )
    ):
        reporters.setdefault(indicator_id, []).append(org_id)
    lines = []
    for indicator in indicator_views(session, initiative.id):
        period = indicator.window(initiative.timezone, now).period
        missing = [
            orgs[org_id]
            for org_id in reporters.get(indicator.id, [])
            if org_id in orgs and (indicator.id, org_id, str(period)) not in reported
        ]
        if missing:
            lines.append(f"{indicator.name} ({indicator.key}), {period.label()}: waiting for {', '.join(missing)}")
    return lines


def off_track(session: Session, initiative: Initiative) -> list[str]:
    """Each organization's latest whole-population value that is behind the line from baseline to target."""
    orgs = _organization_names(session, initiative.id)
    lines = []
    for indicator in _indicators(session, initiative.id):
        frequency = Frequency(indicator.frequency)
        baseline_period = _period_or_none(frequency, indicator.baseline_period)
        target_period = _period_or_none(frequency, indicator.target_period)
        if baseline_period is None or target_period is None:
            continue
        if indicator.baseline_value is None or indicator.target_value is None:
            continue
        baseline = Point(baseline_period, indicator.baseline_value)
        target = Point(target_period, indicator.target_value)
        latest: dict[int, IndicatorValue] = {}
        for value in session.scalars(
            select(IndicatorValue)
            .where(
                IndicatorValue.indicator_id == indicator.id,
                IndicatorValue.breakdown_key == "",
                IndicatorValue.withdrawn == false(),
            )
            .order_by(IndicatorValue.period_start)
        ):
            latest[value.organization_id] = value  # ordered by period: the last one wins
        for org_id, value in latest.items():
            period = _period_or_none(frequency, value.period)
            if period is None:
                continue
            try:
                expected = expected_value(baseline, target, period)
            except ValueError:
                continue
            if not is_on_track(Direction(indicator.direction), expected, value.value):
                lines.append(
                    f"{indicator.name} ({indicator.key}), {orgs.get(org_id, 'unknown organization')}: "
                    f"{format_value(value.value, indicator.unit)} in {period.label()}, "
                    f"expected {format_value(round(expected, 2), indicator.unit)} by then"
                )
    return lines


def overdue_actions(session: Session, initiative: Initiative, now: datetime) -> list[str]:
    today = now.astimezone(ZoneInfo(initiative.timezone)).date()
    items = session.scalars(
        select(ActionItem)
        .where(ActionItem.initiative_id == initiative.id, ActionItem.status == "open", ActionItem.due < today)
        .order_by(ActionItem.due, ActionItem.id)
    )
    return [f"#{item.id} {item.text} — owner {item.owner}, due {item.due.isoformat()}" for item in items if item.due]


def _organization_names(session: Session, initiative_id: int) -> dict[int, str]:
    query = select(Organization.id, Organization.name).where(Organization.initiative_id == initiative_id)
    return {org_id: name for org_id, name in session.execute(query)}


def _indicators(session: Session, initiative_id: int) -> list[Indicator]:
    return list(
        session.scalars(
            select(Indicator)
            .where(Indicator.initiative_id == initiative_id, Indicator.retired.is_(False))
            .order_by(Indicator.position)
        )
    )


def last_prep(session: Session, initiative_id: int) -> MeetingPrep | None:
    return session.scalar(
        select(MeetingPrep)
        .where(MeetingPrep.initiative_id == initiative_id)
        .order_by(MeetingPrep.requested_at.desc(), MeetingPrep.id.desc())
        .limit(1)
    )


def gather(session: Session, initiative: Initiative, now: datetime, since: datetime) -> PrepContent:
    local = now.astimezone(ZoneInfo(initiative.timezone))
    decisions = [
        f"{d.recorded_at.astimezone(ZoneInfo(initiative.timezone)).date().isoformat()}: {d.text.splitlines()[0][:300]}"
        for d in decisions_since(session, initiative.id, since)
    ]
    since_local = since.astimezone(ZoneInfo(initiative.timezone))
    stories = tuple(
        PrepStory(
            indicator=f"{line.indicator_name} ({line.indicator_key})",
            where=", ".join(p for p in (line.period.label(), line.organization, line.breakdown) if p),
            story=line.text,
            told_by=line.told_by,
            told_on=line.told_at.astimezone(ZoneInfo(initiative.timezone)).date().isoformat(),
            curve=tuple(line.curve.items()),
        )
        for line in stories_since(session, initiative.id, since)[:MAX_ITEMS]
    )
    return PrepContent(
        title=f"Meeting prep — {local.date().isoformat()}",
        intro=(
            f"What the next {initiative.name} meeting should look at, "
            f"as of {local:%Y-%m-%d %H:%M} ({initiative.timezone})."
        ),
        sections=(
            PrepSection(
                "Indicators not reported yet",
                _capped(not_reported(session, initiative, now)),
                "Every organization has reported for the current period.",
            ),
            PrepSection("Indicators off track", _capped(off_track(session, initiative)), "No indicator is off track."),
            PrepSection(
                "Overdue action items", _capped(overdue_actions(session, initiative, now)), "No action item is overdue."
            ),
            PrepSection(
                f"Decisions since {since_local.date().isoformat()}",
                _capped(decisions),
                "No decisions were recorded since then.",
            ),
        ),
        stories=stories,
    )


def request_prep(
    session: Session, initiative: Initiative, requested_by: str, *, reply_to: str, now: datetime
) -> tuple[MeetingPrep, PrepContent]:
    """Record a prep and queue its Notion page; the page's deliverer sends its link to `reply_to` once it exists."""
    if not initiative.notion_agenda_page:
        raise PrepError(
            "Meeting prep pages go under the agenda hub in Notion, and none is set: "
            "add `notion: agenda_page: <page id>` to the initiative file and load it with `ci-slackbot init`."
        )
    previous = last_prep(session, initiative.id)
    since = previous.requested_at if previous is not None else now - FIRST_LOOKBACK
    prep = MeetingPrep(initiative_id=initiative.id, requested_by=requested_by, requested_at=now, since=since)
    session.add(prep)
    session.flush()
    content = gather(session, initiative, now, since)
    enqueue(
        session,
        initiative_id=initiative.id,
        service="notion",
        kind=NOTION_PAGE_KIND,
        key=prep_key(prep.id),
        payload={
            "prep_id": prep.id,
            "parent_page": initiative.notion_agenda_page,
            "content": content.payload(),
            "reply_to": reply_to,
        },
    )
    return prep, content
