"""The weekly digest as plain data: where each goal stands, the stories told with the numbers,
who still owes a report, action items, decisions, agenda changes, gaps, links and the chart's numbers.

Built from the store only — no Slack here; `integrations/slack/digest_blocks.py`
renders it.

"Since the last digest" is measured from the last claimed digest run
(`JobRun`, job `digest`, scheduled or posted by hand), whose `claimed_at` is the
moment its data was read, so nothing recorded in between is missed or repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.links import is_slack_permalink
from ci_slackbot.domain.measurement import Direction, Point, Trend, format_value
from ci_slackbot.domain.periods import Period
from ci_slackbot.services.actions import actions_summary
from ci_slackbot.services.activities import activities_map
from ci_slackbot.services.agenda import agenda_changed_since
from ci_slackbot.services.change_log import TargetChange, target_changes_since
from ci_slackbot.services.community_voice import CommunityStoryLine, visible_community_stories
from ci_slackbot.services.equity import IndicatorEquity, equity_by_indicator
from ci_slackbot.services.measurement import (
    STANDING_PERIODS,
    DueReport,
    Standing,
    indicator_views,
    reporting_status,
    standings,
)
from ci_slackbot.services.stories import StoryLine, stories_since
from ci_slackbot.services.systems_changes import ChangeView, confirmed_since
from ci_slackbot.services.wishes import WishView, wish_views
from ci_slackbot.store.models import AgendaCache, Decision, Initiative, JobRun

log = logging.getLogger(__name__)

DIGEST_JOB = "digest"
# Without an earlier digest, "since the last digest" means the past week.
FIRST_WINDOW = timedelta(days=7)
# Small multiples stop being readable past this many panels; the chart says how many were left out.
CHART_PANELS = 6
# Points per chart panel: two years of months is plenty for a weekly glance.
CHART_POINTS = 24
# Decisions read for one digest; the count says how many more there were.
DECISIONS_READ = 100


@dataclass(frozen=True)
class IndicatorLine:
    """One indicator in the digest: latest value, change, progress and on-track mark."""

    key: str
    name: str
    unit: str
    direction: Direction
    latest: Point | None
    previous: Point | None
    progress: float | None
    on_track: bool | None
    trend: Trend
    headline: bool
    partners: str = ""  # `4 of 5 partners reported` when the latest figure misses some
    per_partner: str = ""  # each partner's latest value, where the indicator's rule does not combine them
    equity: IndicatorEquity | None = None  # the gap between the groups of its equity lens


@dataclass(frozen=True)
class GoalDigest:
    key: str | None
    title: str
    indicators: tuple[IndicatorLine, ...]


@dataclass(frozen=True)
class MissingReports:
    """An organization that has not reported yet for the current period, and what it owes."""

    organization: str
    indicators: tuple[str, ...]  # indicator keys with their period, e.g. "er-visits (Mar 2026)"


@dataclass(frozen=True)
class Reporting:
    due: int
    reported: int
    missing: tuple[MissingReports, ...]  # past their due date
    pending: int = 0  # not in yet, but not due yet either
    next_due: date | None = None  # the earliest due date among those pending


@dataclass(frozen=True)
class ActionLine:
    id: int
    text: str
    owner: str
    organization: str | None
    due: date | None
    closed_at: datetime | None


@dataclass(frozen=True)
class ActionsDigest:
    done_this_week: tuple[ActionLine, ...]
    due_next_week: tuple[ActionLine, ...]
    overdue: tuple[ActionLine, ...]
    open_count: int


@dataclass(frozen=True)
class DecisionLine:
    id: int
    text: str
    recorded_at: datetime
    link: str | None


@dataclass(frozen=True)
class Gap:
    """A strategy nobody works on."""

    goal_key: str
    goal_title: str
    number: int
    text: str


@dataclass(frozen=True)
class ChartPanel:
    """One headline indicator's numbers for the chart; travels as JSON in the outbox."""

    key: str
    name: str
    unit: str
    direction: Direction
    points: tuple[Point, ...]
    baseline: Point | None
    target: Point | None

    def to_json(self) -> dict[str, Any]:
        def point(p: Point | None) -> list[Any] | None:
            return None if p is None else [str(p.period), p.value]

        return {
            "key": self.key,
            "name": self.name,
            "unit": self.unit,
            "direction": self.direction.value,
            "points": [point(p) for p in self.points],
            "baseline": point(self.baseline),
            "target": point(self.target),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChartPanel:
        def point(raw: Any) -> Point | None:
            return None if raw is None else Point(Period.parse(str(raw[0])), float(raw[1]))

        return cls(
            key=str(data["key"]),
            name=str(data.get("name", "")),
            unit=str(data.get("unit", "")),
            direction=Direction(data.get("direction", "increase")),
            points=tuple(p for p in (point(raw) for raw in data.get("points", [])) if p is not None),
            baseline=point(data.get("baseline")),
            target=point(data.get("target")),
        )


@dataclass(frozen=True)
class Links:
    notion_hub: str | None
    sheet: str | None
    decisions_channel: str | None


@dataclass(frozen=True)
class Digest:
    initiative_id: int
    initiative_name: str
    timezone: str
    as_of: datetime  # when the data was read (UTC)
    since: datetime  # the previous digest, or a week before `as_of`
    today: date  # `as_of` in the initiative's time zone
    digest_channel: str | None
    goals: tuple[GoalDigest, ...]
    reporting: Reporting
    actions: ActionsDigest
    decisions: tuple[DecisionLine, ...]
    decisions_total: int
    agenda_changed: bool
    agenda_url: str | None
    gaps: tuple[Gap, ...]
    links: Links
    chart: tuple[ChartPanel, ...]
    chart_left_out: int
    # The stories told with the numbers reported since the last digest, and by whom.
    stories: tuple[StoryLine, ...] = ()
    # Systems changes confirmed since the last digest, and the data development agenda (open
    # wishes, and those promoted since the last digest).
    systems_changes: tuple[ChangeView, ...] = ()
    wishes: tuple[WishView, ...] = ()
    # The community's stories recorded since the last digest that may be shared (consent given),
    # newest first; never one kept within the backbone team.
    community_stories: tuple[CommunityStoryLine, ...] = ()
    # Changes to the set-up since the last digest that partners should hear of (changed targets).
    setup_changes: tuple[TargetChange, ...] = ()

    @property
    def indicator_count(self) -> int:
        return sum(len(g.indicators) for g in self.goals)


def last_digest_at(session: Session, initiative_id: int) -> datetime | None:
    """When the data of the last digest (scheduled or by hand) was read."""
    found = session.scalar(
        select(func.max(JobRun.claimed_at)).where(JobRun.initiative_id == initiative_id, JobRun.job == DIGEST_JOB)
    )
    if found is None:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def notion_page_url(page_id: str) -> str:
    return f"https://www.notion.so/{page_id.replace('-', '')}"


def sheet_url(spreadsheet_id: str) -> str:
    return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}"


def _indicator_line(standing: Standing, equity: IndicatorEquity | None = None) -> IndicatorLine:
    view = standing.indicator
    return IndicatorLine(
        key=view.key,
        name=view.name,
        unit=view.unit,
        direction=view.direction,
        latest=standing.latest,
        previous=standing.previous,
        progress=standing.progress,
        on_track=standing.on_track,
        trend=standing.trend,
        headline=view.headline,
        partners=standing.partners_phrase(),
        per_partner=", ".join(
            f"{p.organization} {format_value(p.point.value, view.unit)} ({p.point.period.label()})"
            for p in standing.per_partner[:6]
        ),
        equity=equity,
    )


def goal_digests(
    all_standings: Sequence[Standing], equity: Mapping[int, IndicatorEquity] | None = None
) -> tuple[GoalDigest, ...]:
    # Standings come in goal order, then indicator order (see `indicator_views`).
    order: list[str | None] = []
    titles: dict[str | None, str] = {}
    lines: dict[str | None, list[IndicatorLine]] = {}
    for standing in all_standings:
        key = standing.indicator.goal_key
        if key not in lines:
            order.append(key)
            lines[key] = []
            titles[key] = standing.indicator.goal_title or "Other indicators"
        lines[key].append(_indicator_line(standing, (equity or {}).get(standing.indicator.id)))
    return tuple(GoalDigest(key, titles[key], tuple(lines[key])) for key in order)


def reporting_summary(reports: Sequence[DueReport]) -> Reporting:
    """Who has reported the periods due; only a report past its due date is named as missing."""
    missing: dict[int, tuple[str, list[str]]] = {}
    for report in reports:
        if not report.missing:
            continue
        _, owed = missing.setdefault(report.organization.id, (report.organization.name, []))
        owed.append(f"{report.indicator.key} ({report.period.label()})")
    pending = [r for r in reports if not r.reported and not r.late]
    dues = [r.due for r in pending if r.due is not None]
    return Reporting(
        due=len(reports),
        reported=sum(1 for r in reports if r.reported),
        missing=tuple(MissingReports(name, tuple(owed)) for name, owed in missing.values()),
        pending=len(pending),
        next_due=min(dues) if dues else None,
    )


def action_line(view: Any) -> ActionLine:
    return ActionLine(
        id=int(view.id),
        text=str(view.text),
        owner=str(view.owner),
        organization=view.organization_name,
        due=view.due,
        closed_at=view.closed_at,
    )


def _actions(session: Session, initiative_id: int, today: date) -> ActionsDigest:
    summary = actions_summary(session, initiative_id, today)
    return ActionsDigest(
        done_this_week=tuple(action_line(v) for v in summary.done_this_week),
        due_next_week=tuple(action_line(v) for v in summary.due_next_week),
        overdue=tuple(action_line(v) for v in summary.overdue),
        open_count=int(summary.open_count),
    )


def _permalink(decision: Decision) -> str | None:
    """The decision's source message, when it is a Slack permalink (rows stored before the check included)."""
    link = decision.source_permalink
    return link if link and is_slack_permalink(link) else None


def _decisions(session: Session, initiative_id: int, since: datetime) -> tuple[tuple[DecisionLine, ...], int]:
    where = (Decision.initiative_id == initiative_id, Decision.recorded_at > since)
    total = session.scalar(select(func.count()).select_from(Decision).where(*where)) or 0
    rows = session.scalars(
        select(Decision).where(*where).order_by(Decision.recorded_at, Decision.id).limit(DECISIONS_READ)
    )
    lines = tuple(DecisionLine(d.id, d.text, d.recorded_at, d.notion_url or _permalink(d)) for d in rows)
    return lines, int(total)


def _agenda(session: Session, initiative_id: int, since: datetime) -> tuple[bool, str | None]:
    changed, url = agenda_changed_since(session, initiative_id, since)
    return bool(changed), url


def _gaps(session: Session, initiative_id: int) -> tuple[Gap, ...]:
    activities = activities_map(session, initiative_id)
    titles = {goal.key: goal.title for goal in activities.goals}
    return tuple(Gap(cell.goal_key, titles.get(cell.goal_key, ""), cell.number, cell.text) for cell in activities.gaps)


def _chart(
    session: Session, initiative_id: int, all_standings: Sequence[Standing]
) -> tuple[tuple[ChartPanel, ...], int]:
    # Headline indicators with at least one value; the others would be empty panels.
    candidates = [s for s in all_standings if s.indicator.headline and s.series]
    # Only the panels drawn need their longer series, read for them alone.
    drawn = standings(session, initiative_id, [s.indicator for s in candidates[:CHART_PANELS]], recent=CHART_POINTS)
    panels = tuple(
        ChartPanel(
            key=s.indicator.key,
            name=s.indicator.name,
            unit=s.indicator.unit,
            direction=s.indicator.direction,
            points=s.series,
            baseline=s.indicator.baseline,
            target=s.indicator.target,
        )
        for s in drawn
    )
    return panels, max(0, len(candidates) - CHART_PANELS)


def build_digest(session: Session, initiative: Initiative, now: datetime, *, since: datetime | None = None) -> Digest:
    """Everything the digest says, read in one go from the store."""
    since = since or last_digest_at(session, initiative.id) or now - FIRST_WINDOW
    today = now.astimezone(ZoneInfo(initiative.timezone)).date()
    views = indicator_views(session, initiative.id)
    all_standings = standings(session, initiative.id, views, recent=STANDING_PERIODS)
    decisions, decisions_total = _decisions(session, initiative.id, since)
    agenda_changed, agenda_url = _agenda(session, initiative.id, since)
    cache_url = session.scalar(select(AgendaCache.url).where(AgendaCache.initiative_id == initiative.id))
    panels, left_out = _chart(session, initiative.id, all_standings)
    return Digest(
        initiative_id=initiative.id,
        initiative_name=initiative.name,
        timezone=initiative.timezone,
        as_of=now,
        since=since,
        today=today,
        digest_channel=initiative.digest_channel,
        goals=goal_digests(all_standings, equity_by_indicator(session, views)),
        reporting=reporting_summary(reporting_status(session, initiative, now, views)),
        actions=_actions(session, initiative.id, today),
        decisions=decisions,
        decisions_total=decisions_total,
        agenda_changed=agenda_changed,
        agenda_url=agenda_url or cache_url,
        gaps=_gaps(session, initiative.id),
        links=Links(
            notion_hub=(
                cache_url or notion_page_url(initiative.notion_agenda_page) if initiative.notion_agenda_page else None
            ),
            sheet=sheet_url(initiative.sheets_spreadsheet_id) if initiative.sheets_spreadsheet_id else None,
            decisions_channel=initiative.decisions_channel,
        ),
        chart=panels,
        chart_left_out=left_out,
        stories=tuple(stories_since(session, initiative.id, since, views)),
        systems_changes=tuple(confirmed_since(session, initiative.id, since)),
        wishes=tuple(wish_views(session, initiative.id, promoted_since=since)),
        community_stories=tuple(visible_community_stories(session, initiative.id, None, since=since)),
        setup_changes=tuple(target_changes_since(session, initiative.id, since, now)),
    )
