"""Loading an initiative file into the store, finding an initiative, and who a user is in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from ci_slackbot.initiative_file import InitiativeFile
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

DEFAULT_TEAM = "default"


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for label, items in (("added", self.created), ("changed", self.updated), ("retired", self.retired)):
            if items:
                out.append(f"{label}: {', '.join(items)}")
        return out or ["no changes"]


def find_initiative(session: Session, team_id: str | None) -> Initiative | None:
    """The initiative of a workspace; teams without one of their own use the default one."""
    teams = [team_id, DEFAULT_TEAM] if team_id else [DEFAULT_TEAM]
    found = {team: initiative for initiative, team in session.execute(_INITIATIVE_OF_TEAMS, {"teams": teams})}
    return next((found[team] for team in teams if team in found), None)


# Built once: every request runs it, and building a statement costs more than running it here.
_INITIATIVE_OF_TEAMS = (
    select(Initiative, Workspace.team_id)
    .join(Workspace)
    .where(Workspace.team_id.in_(bindparam("teams", expanding=True)))
)


def all_initiatives(session: Session) -> list[Initiative]:
    return list(session.scalars(select(Initiative).order_by(Initiative.id)))


def _set(obj: object, report: ApplyReport, label: str, **values: object) -> None:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    if changed and label not in report.created:
        report.updated.append(label)


def apply_initiative(
    session: Session, data: InitiativeFile, team_id: str | None = None, now: datetime | None = None
) -> tuple[Initiative, ApplyReport]:
    """Create or update the initiative from its file. Never deletes reported data.

    Indicators, goals and organizations missing from the file are retired:
    their history stays, they stop being asked for. An organization newly named as
    a reporter is asked from `now` on (the time of the call by default).
    """
    report = ApplyReport()
    asked_since = now or datetime.now(UTC)
    team = team_id or data.initiative.team_id or DEFAULT_TEAM
    workspace = session.scalar(select(Workspace).where(Workspace.team_id == team))
    if workspace is None:
        workspace = Workspace(team_id=team)
        session.add(workspace)
        session.flush()
    initiative = session.scalar(select(Initiative).where(Initiative.workspace_id == workspace.id))
    if initiative is None:
        initiative = Initiative(workspace_id=workspace.id, name=data.initiative.name, backbone_org_key="")
        session.add(initiative)
        report.created.append("initiative")
    _set(
        initiative,
        report,
        "initiative",
        name=data.initiative.name,
        timezone=data.initiative.timezone,
        backbone_org_key=data.initiative.backbone,
        vision=data.initiative.vision.strip(),
        problem=data.initiative.problem.strip(),
        digest_channel=data.channels.digest,
        decisions_channel=data.channels.decisions,
        digest_schedule=data.schedule.digest,
        reminders_schedule=data.schedule.reminders,
        notion_agenda_page=data.notion.agenda_page if data.notion else None,
        notion_decisions_database=data.notion.decisions_database if data.notion else None,
        notion_actions_database=data.notion.actions_database if data.notion else None,
        sheets_spreadsheet_id=data.sheets.spreadsheet_id if data.sheets else None,
    )
    session.flush()
    iid = initiative.id

    goals = {g.key: g for g in session.scalars(select(Goal).where(Goal.initiative_id == iid))}
    strategies_by_goal: dict[str, list[Strategy]] = {}
    for position, section in enumerate(data.goals):
        goal = goals.get(section.key)
        label = f"goal {section.key}"
        if goal is None:
            goal = Goal(initiative_id=iid, key=section.key, title=section.title)
            session.add(goal)
            goals[section.key] = goal
            report.created.append(label)
        _set(
            goal,
            report,
            label,
            title=section.title,
            description=section.description.strip(),
            position=position,
            retired=False,
        )
        session.flush()
        existing = {s.position: s for s in session.scalars(select(Strategy).where(Strategy.goal_id == goal.id))}
        kept: list[Strategy] = []
        for number, text in enumerate(section.strategies, start=1):
            strategy = existing.pop(number, None)
            if strategy is None:
                strategy = Strategy(initiative_id=iid, goal_id=goal.id, position=number, text=text)
                session.add(strategy)
            _set(strategy, report, label, text=text, retired=False)
            kept.append(strategy)
        for strategy in existing.values():
            _set(strategy, report, label, retired=True)
        strategies_by_goal[section.key] = kept
    for key, goal in goals.items():
        if key not in {g.key for g in data.goals} and not goal.retired:
            goal.retired = True
            report.retired.append(f"goal {key}")

    orgs = {o.key: o for o in session.scalars(select(Organization).where(Organization.initiative_id == iid))}
    for position, org_section in enumerate(data.organizations):
        org = orgs.get(org_section.key)
        label = f"organization {org_section.key}"
        if org is None:
            org = Organization(initiative_id=iid, key=org_section.key, name=org_section.name)
            session.add(org)
            orgs[org_section.key] = org
            report.created.append(label)
        _set(org, report, label, name=org_section.name, sector=org_section.sector, position=position, retired=False)
        session.flush()
        members = set(session.scalars(select(Membership.slack_user_id).where(Membership.organization_id == org.id)))
        wanted = set(org_section.members)
        for user in sorted(wanted - members):
            session.add(Membership(initiative_id=iid, organization_id=org.id, slack_user_id=user))
        if wanted != members:
            session.execute(
                delete(Membership).where(
                    Membership.organization_id == org.id, Membership.slack_user_id.in_(members - wanted)
                )
            )
            if label not in report.created:
                report.updated.append(f"{label} members")
        # Activities from the file are replaced as a whole; ones added in Slack stay.
        session.execute(delete(Activity).where(Activity.organization_id == org.id, Activity.from_file.is_(True)))
        for activity in org_section.activities:
            goal = goals[activity.goal]
            strategy = strategies_by_goal[activity.goal][activity.strategy - 1] if activity.strategy else None
            session.add(
                Activity(
                    initiative_id=iid,
                    organization_id=org.id,
                    goal_id=goal.id,
                    strategy_id=strategy.id if strategy else None,
                    text=activity.text,
                    from_file=True,
                )
            )
    for key, org in orgs.items():
        if key not in {o.key for o in data.organizations} and not org.retired:
            org.retired = True
            session.execute(delete(Membership).where(Membership.organization_id == org.id))
            report.retired.append(f"organization {key}")
    session.flush()

    indicators = {i.key: i for i in session.scalars(select(Indicator).where(Indicator.initiative_id == iid))}
    for position, ind_section in enumerate(data.indicators):
        indicator = indicators.get(ind_section.key)
        label = f"indicator {ind_section.key}"
        if indicator is None:
            indicator = Indicator(
                initiative_id=iid,
                key=ind_section.key,
                name=ind_section.name,
                direction=ind_section.direction,
                frequency=ind_section.frequency,
            )
            session.add(indicator)
            indicators[ind_section.key] = indicator
            report.created.append(label)
        _set(
            indicator,
            report,
            label,
            name=ind_section.name,
            goal_id=goals[ind_section.goal].id,
            unit=ind_section.unit,
            direction=ind_section.direction,
            frequency=ind_section.frequency,
            minimum=ind_section.min,
            maximum=ind_section.max,
            baseline_period=ind_section.baseline.period if ind_section.baseline else None,
            baseline_value=ind_section.baseline.value if ind_section.baseline else None,
            target_period=ind_section.target.period if ind_section.target else None,
            target_value=ind_section.target.value if ind_section.target else None,
            breakdowns=list(ind_section.breakdowns),
            source=ind_section.source,
            small_number_threshold=ind_section.small_number_threshold,
            headline=ind_section.headline,
            position=position,
            retired=False,
        )
        session.flush()
        current = set(
            session.scalars(
                select(IndicatorReporter.organization_id).where(IndicatorReporter.indicator_id == indicator.id)
            )
        )
        wanted_orgs = {orgs[r].id for r in ind_section.reporters}
        for org_id in sorted(wanted_orgs - current):
            session.add(
                IndicatorReporter(
                    initiative_id=iid, indicator_id=indicator.id, organization_id=org_id, since=asked_since
                )
            )
        if current - wanted_orgs:
            session.execute(
                delete(IndicatorReporter).where(
                    IndicatorReporter.indicator_id == indicator.id,
                    IndicatorReporter.organization_id.in_(current - wanted_orgs),
                )
            )
        if wanted_orgs != current and label not in report.created:
            report.updated.append(f"{label} reporters")
    for key, indicator in indicators.items():
        if key not in {i.key for i in data.indicators} and not indicator.retired:
            indicator.retired = True
            report.retired.append(f"indicator {key}")
    if report.created or report.updated or report.retired:
        initiative.revision = (initiative.revision or 0) + 1
    session.flush()
    return initiative, report
