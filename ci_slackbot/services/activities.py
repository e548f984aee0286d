"""Mutually reinforcing activities: what each organization does toward each goal and strategy.

Activities come from the initiative file (under each organization, applied by
`services.initiatives`) and from `/ci activity add`. The map lays goals and
their strategies against organizations, and shows the gaps (strategies nobody
works on) and the possible overlaps (strategies many organizations work on).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.services.actions import parse_number, shown
from ci_slackbot.services.decisions import find_goal
from ci_slackbot.services.people import NotAllowedError, OrgRef, Person
from ci_slackbot.store.models import Activity, Goal, Initiative, Organization, Strategy

MAX_TEXT = 500
OVERLAP_THRESHOLD = 3  # organizations on one strategy from which the map calls it a possible overlap


class ActivityError(InputError):
    """An activity that cannot be recorded; the message says how to write it right."""


@dataclass(frozen=True)
class ActivityView:
    id: int
    organization: OrgRef
    goal_key: str
    strategy_number: int | None
    text: str
    from_file: bool
    strategy_text: str | None = None


@dataclass(frozen=True)
class StrategyCell:
    """One strategy of a goal and who works on it."""

    goal_key: str
    number: int
    text: str
    activities: tuple[ActivityView, ...]

    @property
    def organizations(self) -> tuple[OrgRef, ...]:
        seen: dict[int, OrgRef] = {}
        for activity in self.activities:
            seen.setdefault(activity.organization.id, activity.organization)
        return tuple(seen.values())

    @property
    def label(self) -> str:
        return f"{self.goal_key}.{self.number}"


@dataclass(frozen=True)
class GoalRow:
    key: str
    title: str
    strategies: tuple[StrategyCell, ...]
    goal_level: tuple[ActivityView, ...]  # toward the goal, not one of its strategies

    @property
    def organizations(self) -> tuple[OrgRef, ...]:
        seen: dict[int, OrgRef] = {}
        for activity in (*self.goal_level, *(a for s in self.strategies for a in s.activities)):
            seen.setdefault(activity.organization.id, activity.organization)
        return tuple(seen.values())


@dataclass(frozen=True)
class ActivitiesMap:
    goals: tuple[GoalRow, ...]
    organizations: tuple[OrgRef, ...]  # every active organization, in the file's order
    overlap_threshold: int

    @property
    def gaps(self) -> tuple[StrategyCell, ...]:
        """Strategies no organization works on."""
        return tuple(s for g in self.goals for s in g.strategies if not s.activities)

    @property
    def overlaps(self) -> tuple[StrategyCell, ...]:
        """Strategies at least `overlap_threshold` organizations work on: worth a conversation."""
        return tuple(s for g in self.goals for s in g.strategies if len(s.organizations) >= self.overlap_threshold)

    def contributions(self, org_id: int) -> tuple[str, ...]:
        """Where one organization contributes: strategy labels (`G1.2`) and goal keys for goal-level work."""
        out: list[str] = []
        for goal in self.goals:
            if any(a.organization.id == org_id for a in goal.goal_level):
                out.append(goal.key)
            out.extend(s.label for s in goal.strategies if any(o.id == org_id for o in s.organizations))
        return tuple(out)


def _active_strategies(session: Session, goal_id: int) -> list[Strategy]:
    return list(
        session.scalars(
            select(Strategy).where(Strategy.goal_id == goal_id, Strategy.retired.is_(False)).order_by(Strategy.position)
        )
    )


def _organization_for(session: Session, initiative_id: int, person: Person, org_key: str | None) -> OrgRef:
    if org_key is None:
        return person.organizations[0]
    wanted = org_key.strip().lower()
    for org in person.organizations:
        if org.key == wanted:
            return org
    row = session.scalar(
        select(Organization).where(
            Organization.initiative_id == initiative_id, Organization.key == wanted, Organization.retired.is_(False)
        )
    )
    if row is None:
        known = ", ".join(
            f"`{k}`"
            for k in session.scalars(
                select(Organization.key)
                .where(Organization.initiative_id == initiative_id, Organization.retired.is_(False))
                .order_by(Organization.position)
            )
        )
        raise ActivityError(f"This initiative has no organization {shown(org_key, 'like that')}. They are: {known}.")
    if not person.is_backbone:
        raise NotAllowedError(
            f"You can add activities for your own organization only; {row.name} adds its own "
            "(or backbone staff do it for them)."
        )
    return OrgRef(row.id, row.key, row.name)


def add_activity(
    session: Session,
    initiative: Initiative,
    person: Person,
    goal_key: str,
    text: str,
    now: datetime,
    strategy: int | None = None,
    org_key: str | None = None,
) -> ActivityView:
    """Record what an organization does toward a goal (or one of its strategies).

    The organization is the person's own (their first, as for action items), or
    `org_key`: one of theirs, or any organization for backbone staff, who keep the map.
    """
    person.require_member()
    org = _organization_for(session, initiative.id, person, org_key)
    goal = find_goal(session, initiative.id, goal_key)
    text = " ".join(text.split())
    if not text:
        raise ActivityError(f"Say what {org.name} does toward {goal.key}: `/ci activity add {goal.key} Home visits`.")
    if len(text) > MAX_TEXT:
        raise ActivityError(f"That activity is {len(text)} characters long; describe it in under {MAX_TEXT}.")
    strategy_row: Strategy | None = None
    if strategy is not None:
        strategies = _active_strategies(session, goal.id)
        if not strategies:
            raise ActivityError(f"Goal {goal.key} has no strategies: leave out `strategy` and its number.")
        strategy_row = next((s for s in strategies if s.position == strategy), None)
        if strategy_row is None:
            numbers = ", ".join(str(s.position) for s in strategies)
            raise ActivityError(
                f"Goal {goal.key} has no strategy {strategy}: use one of {numbers} (`/ci agenda` lists them)."
            )
    same_strategy = (
        Activity.strategy_id == strategy_row.id if strategy_row is not None else Activity.strategy_id.is_(None)
    )
    # The organization's row locked until the commit (PostgreSQL; SQLite's write turn already does it):
    # two people adding the same activity at once would both find no copy and both add it.
    session.execute(select(Organization.id).where(Organization.id == org.id).with_for_update())
    duplicate = session.scalar(
        select(Activity.id).where(
            Activity.organization_id == org.id, Activity.goal_id == goal.id, same_strategy, Activity.text == text
        )
    )
    if duplicate is not None:
        raise ActivityError(f"{org.name} already lists that activity under {goal.key}.")
    activity = Activity(
        initiative_id=initiative.id,
        organization_id=org.id,
        goal_id=goal.id,
        strategy_id=strategy_row.id if strategy_row else None,
        text=text,
        from_file=False,
        created_by=person.user_id,
        created_at=now,
    )
    session.add(activity)
    session.flush()
    return ActivityView(
        id=activity.id,
        organization=org,
        goal_key=goal.key,
        strategy_number=strategy_row.position if strategy_row else None,
        text=text,
        from_file=False,
        strategy_text=strategy_row.text if strategy_row else None,
    )


def parse_activity_id(text: str) -> int:
    return parse_number(text, what="an activity number", where="`/ci map G1` shows, like `7`", error=ActivityError)


def end_activity(session: Session, initiative: Initiative, person: Person, activity_id: int) -> ActivityView:
    """Take an activity its organization no longer does off the map.

    Only activities added in Slack: the file's own are the file's to change. The row is
    deleted, not kept: the map says who does what now, and nothing was mirrored from it.
    """
    person.require_member()
    row = session.get(Activity, activity_id)
    if row is None or row.initiative_id != initiative.id:
        raise ActivityError(
            f"There is no activity #{activity_id} on the map; `/ci map G1` (or another goal) lists them."
        )
    if row.from_file:
        raise ActivityError(
            f"Activity #{activity_id} comes from the initiative file: the backbone removes it there "
            "and runs `ci-slackbot init` again."
        )
    if not person.is_backbone and all(o.id != row.organization_id for o in person.organizations):
        raise NotAllowedError("Only the organization that does this activity (or backbone staff) can end it.")
    org = session.get(Organization, row.organization_id)
    goal = session.get(Goal, row.goal_id)
    strategy = session.get(Strategy, row.strategy_id) if row.strategy_id else None
    assert org is not None and goal is not None
    ended = ActivityView(
        id=row.id,
        organization=OrgRef(org.id, org.key, org.name),
        goal_key=goal.key,
        strategy_number=strategy.position if strategy else None,
        text=row.text,
        from_file=False,
        strategy_text=strategy.text if strategy else None,
    )
    session.delete(row)
    return ended


def activities_map(session: Session, initiative_id: int, overlap_threshold: int = OVERLAP_THRESHOLD) -> ActivitiesMap:
    """Goals and strategies against organizations; retired goals, strategies and organizations left out."""
    orgs = [
        OrgRef(o.id, o.key, o.name)
        for o in session.scalars(
            select(Organization)
            .where(Organization.initiative_id == initiative_id, Organization.retired.is_(False))
            .order_by(Organization.position)
        )
    ]
    org_by_id = {o.id: o for o in orgs}
    goals = list(
        session.scalars(
            select(Goal).where(Goal.initiative_id == initiative_id, Goal.retired.is_(False)).order_by(Goal.position)
        )
    )
    strategies: dict[int, list[Strategy]] = defaultdict(list)
    for strategy in session.scalars(
        select(Strategy)
        .where(Strategy.initiative_id == initiative_id, Strategy.retired.is_(False))
        .order_by(Strategy.position)
    ):
        strategies[strategy.goal_id].append(strategy)
    strategy_number = {s.id: s.position for rows in strategies.values() for s in rows}
    strategy_text = {s.id: s.text for rows in strategies.values() for s in rows}
    goal_key = {g.id: g.key for g in goals}
    by_goal: dict[int, list[ActivityView]] = defaultdict(list)
    by_strategy: dict[int, list[ActivityView]] = defaultdict(list)
    for activity in session.scalars(
        select(Activity).where(Activity.initiative_id == initiative_id).order_by(Activity.id)
    ):
        org = org_by_id.get(activity.organization_id)
        if org is None or activity.goal_id not in goal_key:
            continue  # a retired organization or goal
        if activity.strategy_id is not None and activity.strategy_id not in strategy_number:
            continue  # a strategy since removed from the file
        view = ActivityView(
            id=activity.id,
            organization=org,
            goal_key=goal_key[activity.goal_id],
            strategy_number=strategy_number.get(activity.strategy_id) if activity.strategy_id else None,
            text=activity.text,
            from_file=activity.from_file,
            strategy_text=strategy_text.get(activity.strategy_id) if activity.strategy_id else None,
        )
        if activity.strategy_id is None:
            by_goal[activity.goal_id].append(view)
        else:
            by_strategy[activity.strategy_id].append(view)
    position = {o.id: i for i, o in enumerate(orgs)}

    def ordered(views: list[ActivityView]) -> tuple[ActivityView, ...]:
        return tuple(sorted(views, key=lambda v: (position[v.organization.id], v.id)))

    rows = tuple(
        GoalRow(
            key=goal.key,
            title=goal.title,
            strategies=tuple(
                StrategyCell(goal.key, s.position, s.text, ordered(by_strategy[s.id])) for s in strategies[goal.id]
            ),
            goal_level=ordered(by_goal[goal.id]),
        )
        for goal in goals
    )
    return ActivitiesMap(goals=rows, organizations=tuple(orgs), overlap_threshold=max(1, overlap_threshold))
