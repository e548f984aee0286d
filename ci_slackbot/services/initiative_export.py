"""The initiative as the database holds it, written back in the schema `ci-slackbot init` reads.

Whatever set the initiative up (a file or Slack), loading the exported file changes nothing, and
exporting again gives the same file: an optional field is written only when it differs from what
leaving it out means, so a default never appears in one export and not in the next.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.services.initiatives import DEFAULT_TEAM, partner_workspaces, reporting_file_fields
from ci_slackbot.store.models import (
    Activity,
    Goal,
    Indicator,
    IndicatorReporter,
    Initiative,
    Membership,
    Organization,
    Strategy,
    Workspace,
)


def export_initiative_file(session: Session, initiative: Initiative) -> dict[str, Any]:
    """The initiative file (as a plain mapping, in the file's order of sections) for what is stored.

    Retired goals, strategies, organizations and indicators are left out: a file that lacks them
    retires them, which is what they are. Activities added in Slack are not the file's and stay out.
    """
    reporting = reporting_file_fields(session, initiative)
    goals = list(
        session.scalars(
            select(Goal).where(Goal.initiative_id == initiative.id, Goal.retired.is_(False)).order_by(Goal.position)
        )
    )
    orgs = list(
        session.scalars(
            select(Organization)
            .where(Organization.initiative_id == initiative.id, Organization.retired.is_(False))
            .order_by(Organization.position, Organization.id)
        )
    )
    out: dict[str, Any] = {"initiative": _initiative_section(session, initiative)}
    out["goals"], strategies = _goal_sections(session, goals)
    out["organizations"] = _organization_sections(session, initiative, orgs, goals, strategies, reporting)
    out["indicators"] = _indicator_sections(session, initiative, orgs, goals, reporting)
    channels = {
        name: value
        for name, value in (("digest", initiative.digest_channel), ("decisions", initiative.decisions_channel))
        if value
    }
    if channels:
        out["channels"] = channels
    out["schedule"] = {"digest": initiative.digest_schedule, "reminders": initiative.reminders_schedule}
    if "reporting" in reporting:
        out["reporting"] = reporting["reporting"]
    if "holidays" in reporting:
        out["holidays"] = [date.fromisoformat(day) for day in reporting["holidays"]]
    notion = {
        name: value
        for name, value in (
            ("agenda_page", initiative.notion_agenda_page),
            ("decisions_database", initiative.notion_decisions_database),
            ("actions_database", initiative.notion_actions_database),
            ("systems_changes_database", initiative.notion_systems_changes_database),
            ("community_voice_database", initiative.notion_community_voice_database),
        )
        if value
    }
    if notion:
        out["notion"] = notion
    if initiative.sheets_spreadsheet_id:
        out["sheets"] = {"spreadsheet_id": initiative.sheets_spreadsheet_id}
    return out


def _initiative_section(session: Session, initiative: Initiative) -> dict[str, Any]:
    section: dict[str, Any] = {
        "name": initiative.name,
        "timezone": initiative.timezone,
        "backbone": initiative.backbone_org_key,
    }
    if initiative.vision:
        section["vision"] = initiative.vision
    if initiative.problem:
        section["problem"] = initiative.problem
    team = session.scalar(select(Workspace.team_id).where(Workspace.id == initiative.workspace_id))
    # The default workspace is what a file without `team_id` loads into; naming it would be refused.
    if team and team != DEFAULT_TEAM:
        section["team_id"] = team
    # Written only when there are some: a file without them means none, and exports stay a fixed point.
    partners = partner_workspaces(session, initiative.id)
    if partners:
        section["partner_workspaces"] = partners
    return section


def _goal_sections(session: Session, goals: list[Goal]) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """The goals, and for each goal id its strategies' ids in order (an activity names its strategy by number)."""
    sections: list[dict[str, Any]] = []
    strategy_ids: dict[int, list[int]] = {}
    for goal in goals:
        strategies = list(
            session.scalars(
                select(Strategy)
                .where(Strategy.goal_id == goal.id, Strategy.retired.is_(False))
                .order_by(Strategy.position)
            )
        )
        strategy_ids[goal.id] = [s.id for s in strategies]
        section: dict[str, Any] = {"key": goal.key, "title": goal.title}
        if goal.description:
            section["description"] = goal.description
        if strategies:
            section["strategies"] = [s.text for s in strategies]
        sections.append(section)
    return sections, strategy_ids


def _organization_sections(
    session: Session,
    initiative: Initiative,
    orgs: list[Organization],
    goals: list[Goal],
    strategies: dict[int, list[int]],
    reporting: dict[str, Any],
) -> list[dict[str, Any]]:
    goal_keys = {g.id: g.key for g in goals}
    members: dict[int, list[str]] = {}
    for org_id, user in session.execute(
        select(Membership.organization_id, Membership.slack_user_id)
        .where(Membership.initiative_id == initiative.id)
        .order_by(Membership.slack_user_id)
    ):
        members.setdefault(org_id, []).append(user)
    activities: dict[int, list[dict[str, Any]]] = {}
    for activity in session.scalars(
        select(Activity)
        .where(Activity.initiative_id == initiative.id, Activity.from_file.is_(True))
        .order_by(Activity.id)
    ):
        if activity.goal_id not in goal_keys:
            continue
        item: dict[str, Any] = {"goal": goal_keys[activity.goal_id], "text": activity.text}
        numbers = strategies.get(activity.goal_id, [])
        if activity.strategy_id is not None and activity.strategy_id in numbers:
            item["strategy"] = numbers.index(activity.strategy_id) + 1
        activities.setdefault(activity.organization_id, []).append(item)
    sections = []
    for org in orgs:
        section: dict[str, Any] = {"key": org.key, "name": org.name}
        if org.sector:
            section["sector"] = org.sector
        section["members"] = members.get(org.id, [])
        if org.key in reporting["organizations"]:
            section["backup"] = reporting["organizations"][org.key]
        if org.id in activities:
            section["activities"] = activities[org.id]
        if org.usergroup:
            section["usergroup"] = org.usergroup
        sections.append(section)
    return sections


def _number(value: float) -> float | int:
    """A whole number as the file would have it (`22`, not `22.0`); loading reads either as the same float."""
    return int(value) if float(value).is_integer() else value


def _indicator_sections(
    session: Session,
    initiative: Initiative,
    orgs: list[Organization],
    goals: list[Goal],
    reporting: dict[str, Any],
) -> list[dict[str, Any]]:
    goal_keys = {g.id: g.key for g in goals}
    # Reporters have no order of their own in the store: the organizations' order gives a stable one.
    org_order = {o.id: (position, o.key) for position, o in enumerate(orgs)}
    reporters: dict[int, list[tuple[int, str]]] = {}
    for indicator_id, org_id in session.execute(
        select(IndicatorReporter.indicator_id, IndicatorReporter.organization_id).where(
            IndicatorReporter.initiative_id == initiative.id
        )
    ):
        if org_id in org_order:
            reporters.setdefault(indicator_id, []).append(org_order[org_id])
    sections = []
    for ind in session.scalars(
        select(Indicator)
        .where(Indicator.initiative_id == initiative.id, Indicator.retired.is_(False))
        .order_by(Indicator.position, Indicator.id)
    ):
        section: dict[str, Any] = {"key": ind.key, "name": ind.name}
        if ind.goal_id in goal_keys:
            section["goal"] = goal_keys[ind.goal_id]
        if ind.unit:
            section["unit"] = ind.unit
        section["direction"] = ind.direction
        section["frequency"] = ind.frequency
        if ind.minimum is not None:
            section["min"] = _number(ind.minimum)
        if ind.maximum is not None:
            section["max"] = _number(ind.maximum)
        for name, period, value in (
            ("baseline", ind.baseline_period, ind.baseline_value),
            ("target", ind.target_period, ind.target_value),
        ):
            if period is not None and value is not None:
                section[name] = {"period": period, "value": _number(value)}
        section["reporters"] = [key for _, key in sorted(reporters.get(ind.id, []))]
        if ind.breakdowns:
            section["breakdowns"] = list(ind.breakdowns)
        if ind.source:
            section["source"] = ind.source
        if ind.small_number_threshold is not None:
            section["small_number_threshold"] = _number(ind.small_number_threshold)
        if not ind.headline:
            section["headline"] = False
        if ind.rollup is not None:
            section["rollup"] = ind.rollup
        if ind.rollup_owner is not None:
            section["owner"] = ind.rollup_owner
        if ind.key in reporting["indicators"]:
            section["due_after_days"] = reporting["indicators"][ind.key]
        if ind.equity_lens is not None:
            section["equity_lens"] = ind.equity_lens
        if ind.group_targets:
            section["group_targets"] = {key: _number(value) for key, value in sorted(ind.group_targets.items())}
        sections.append(section)
    return sections
