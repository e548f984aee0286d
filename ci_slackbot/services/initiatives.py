"""Loading an initiative file into the store, finding an initiative, and who a user is in it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.initiative_file import (
    ActivitySection,
    GoalSection,
    IndicatorSection,
    InitiativeFile,
    InitiativeFileError,
    OrganizationSection,
)
from ci_slackbot.services.change_log import FILE_AUTHOR, announce_changes, log_change
from ci_slackbot.store.models import (
    Activity,
    Goal,
    Indicator,
    IndicatorReporter,
    Initiative,
    Membership,
    Organization,
    PartnerWorkspace,
    Strategy,
    Workspace,
)

DEFAULT_TEAM = "default"


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # For the change log: per subject (`indicator er-visits`, `organization hwac members`…), the
    # changed fields' values before and after; before is None for what was created.
    changes: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = field(default_factory=dict)

    def record(self, subject: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Adds to the subject's change: a field changed twice keeps its first `before`."""
        if subject not in self.changes:
            self.changes[subject] = (None if before is None else dict(before), dict(after))
            return
        old, new = self.changes[subject]
        if old is not None and before is not None:
            for name, value in before.items():
                old.setdefault(name, value)
        new.update(after)

    def lines(self) -> list[str]:
        out = []
        for label, items in (("added", self.created), ("changed", self.updated), ("retired", self.retired)):
            if items:
                out.append(f"{label}: {', '.join(items)}")
        return out or ["no changes"]


def find_initiative(
    session: Session, team_id: str | None, *, default_owner: str | None = None, partners: bool = False
) -> Initiative | None:
    """The initiative of a Slack workspace: the one loaded for its team ID.

    The initiative loaded without `--team` (the `default` workspace row) belongs to one workspace
    only, `default_owner`: the workspace of SLACK_BOT_TOKEN, which the caller learned from Slack.
    Any other workspace, even one that installed the app, has none until one is loaded for it,
    unless `partners` (many workspaces, by OAuth) and an initiative names it among its
    `partner_workspaces`: a partner organization's own workspace sees that initiative.
    `team_id=None` asks for the default initiative itself (the CLI and offline tools).
    """
    teams = _teams_of(team_id, default_owner)
    if teams is None:
        return None
    found = {team: initiative for initiative, team in session.execute(_INITIATIVE_OF_TEAMS, {"teams": teams})}
    return _chosen(session, found, teams, team_id, partners)


def find_initiative_along(
    session: Session,
    team_id: str,
    along: Insert,
    values: dict[str, object],
    *,
    default_owner: str | None = None,
    partners: bool = False,
) -> tuple[Initiative | None, bool]:
    """`find_initiative`, with `along` (an INSERT … RETURNING, on PostgreSQL) made by the same
    statement, in the same round trip: a WITH that inserts. Also whether `along` wrote its row.

    The INSERT is made whatever the look-up finds, as it would be on its own.
    """
    teams = _teams_of(team_id, default_owner)
    rows = session.execute(_initiative_of_teams_along(along), {"teams": teams or [], **values}).all()
    wrote = bool(rows[0].written)  # one row at least: the look-up is outer-joined to the INSERT's count
    if teams is None:
        return None, wrote
    found = {row.team_id: row.Initiative for row in rows if row.Initiative is not None}
    return _chosen(session, found, teams, team_id, partners), wrote


def _teams_of(team_id: str | None, default_owner: str | None) -> list[str] | None:
    """The workspace rows a request from `team_id` may see, in order; None: none at all."""
    if team_id is None:
        return [DEFAULT_TEAM]
    if not team_id or team_id == DEFAULT_TEAM:
        # No Slack team is called `default`: a request naming it is not the bot token's workspace.
        return None
    return [team_id, DEFAULT_TEAM] if team_id == default_owner else [team_id]


def _chosen(
    session: Session, found: dict[str, Initiative], teams: list[str], team_id: str | None, partners: bool
) -> Initiative | None:
    own = next((found[team] for team in teams if team in found), None)
    if own is not None or not partners or team_id is None:
        return own
    # Loading refuses a team named by two initiatives, or named by one and another's own: at most one row.
    return session.scalar(_INITIATIVE_OF_PARTNER, {"team": team_id})


# Built once: every request runs it, and building a statement costs more than running it here.
_INITIATIVE_OF_TEAMS = (
    select(Initiative, Workspace.team_id)
    .join(Workspace)
    .where(Workspace.team_id.in_(bindparam("teams", expanding=True)))
)


@functools.cache
def _initiative_of_teams_along(along: Insert) -> Select[Any]:
    """`_INITIATIVE_OF_TEAMS` beside what `along` wrote: one row per workspace found, or one with no
    initiative; `written` counts the rows `along` returned (0 or 1)."""
    wrote = along.cte("along")
    written = select(func.count().label("written")).select_from(wrote).subquery("wrote")
    return (
        select(written.c.written, Initiative, Workspace.team_id)
        .select_from(written)
        .outerjoin(Workspace, Workspace.team_id.in_(bindparam("teams", expanding=True)))
        .outerjoin(Initiative, Initiative.workspace_id == Workspace.id)
    )


_INITIATIVE_OF_PARTNER = (
    select(Initiative)
    .join(PartnerWorkspace, PartnerWorkspace.initiative_id == Initiative.id)
    .where(PartnerWorkspace.team_id == bindparam("team"))
)


def partner_workspaces(session: Session, initiative_id: int) -> list[str]:
    """The team IDs an initiative names besides its own workspace, in the file's order."""
    return list(
        session.scalars(
            select(PartnerWorkspace.team_id)
            .where(PartnerWorkspace.initiative_id == initiative_id)
            .order_by(PartnerWorkspace.position, PartnerWorkspace.id)
        )
    )


def all_initiatives(session: Session) -> list[Initiative]:
    return list(session.scalars(select(Initiative).order_by(Initiative.id)))


def _set(obj: object, report: ApplyReport, label: str, subject: str | None = None, **values: object) -> None:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            setattr(obj, name, value)
            before[name], after[name] = old, value
    created = label in report.created
    if after and not created:
        report.updated.append(label)
    if after:
        report.record(subject or label, None if created else before, after)


def apply_initiative(
    session: Session,
    data: InitiativeFile,
    team_id: str | None = None,
    now: datetime | None = None,
    *,
    author: str = FILE_AUTHOR,
) -> tuple[Initiative, ApplyReport]:
    """Create or update the initiative from its file. Never deletes reported data.

    Indicators, goals and organizations missing from the file are retired:
    their history stays, they stop being asked for. An organization newly named as
    a reporter is asked from `now` on (the time of the call by default).

    Each change enters the change log under `author`; on an initiative that existed
    before, the changes that matter to partners are announced (`announce_changes`).
    """
    report = ApplyReport()
    asked_since = now or datetime.now(UTC)
    team = team_id or data.initiative.team_id or DEFAULT_TEAM
    _check_workspace_claims(session, team, data.initiative.partner_workspaces)
    workspace = _workspace(session, team)
    initiative = _apply_initiative_row(session, workspace, data, report)
    _apply_partner_workspaces(session, initiative, team, data.initiative.partner_workspaces, report)
    goals, strategies = _apply_goals(session, initiative.id, data, report)
    orgs = _apply_organizations(session, initiative.id, data, goals, strategies, report)
    _apply_indicators(session, initiative.id, data, goals, orgs, asked_since, report)
    if report.created or report.updated or report.retired:
        initiative.revision = (initiative.revision or 0) + 1
    session.flush()
    entries = [
        log_change(session, initiative, author, subject, before, after, at=asked_since)
        for subject, (before, after) in report.changes.items()
    ]
    # A new initiative's members learn of it from the backbone team, not from a burst of DMs.
    if entries and "initiative" not in report.created:
        announce_changes(session, initiative, entries)
    return initiative, report


def _check_workspace_claims(session: Session, team: str, partners: Sequence[str]) -> None:
    """A Slack workspace belongs to one initiative at most: as its own, or named as a partner.

    Otherwise a request from it could not say which initiative it meant (and would see another's
    data), so the load is refused, in the file's terms (`InitiativeFileError`), changing nothing.
    """
    owners = {
        owner: name
        for owner, name in session.execute(
            select(Workspace.team_id, Initiative.name)
            .join(Initiative, Initiative.workspace_id == Workspace.id)
            .where(Workspace.team_id.in_([team, *partners]))
        )
    }
    named = {
        partner: (owner, name)
        for partner, owner, name in session.execute(
            select(PartnerWorkspace.team_id, Workspace.team_id, Initiative.name)
            .join(Initiative, Initiative.id == PartnerWorkspace.initiative_id)
            .join(Workspace, Workspace.id == Initiative.workspace_id)
            .where(PartnerWorkspace.team_id.in_([team, *partners]))
        )
    }
    problems = []
    if team in named and named[team][0] != team:
        owner, name = named[team]
        problems.append(
            f"initiative.team_id: the workspace `{team}` is a partner workspace of “{name}” (team {owner}); "
            f"a workspace belongs to one initiative: take it out of that initiative's `partner_workspaces` first"
        )
    for i, partner in enumerate(partners):
        where = f"initiative.partner_workspaces[{i}]"
        if partner == team:
            problems.append(f"{where}: `{partner}` is this initiative's own workspace; name only partners' here")
        elif partner in owners:
            problems.append(
                f"{where}: `{partner}` is the workspace of the initiative “{owners[partner]}”; "
                "a workspace belongs to one initiative"
            )
        elif partner in named and named[partner][0] != team:
            owner, name = named[partner]
            problems.append(
                f"{where}: `{partner}` is named already by the initiative “{name}” (team {owner}); "
                "a workspace belongs to one initiative: take it out of that one's `partner_workspaces` first"
            )
    if problems:
        raise InitiativeFileError(problems)


def _apply_partner_workspaces(
    session: Session, initiative: Initiative, owner_team: str, wanted: Sequence[str], report: ApplyReport
) -> None:
    rows = {
        row.team_id: row
        for row in session.scalars(select(PartnerWorkspace).where(PartnerWorkspace.initiative_id == initiative.id))
    }
    before = [row.team_id for row in sorted(rows.values(), key=lambda r: (r.position, r.id))]
    session.execute(
        delete(PartnerWorkspace).where(
            PartnerWorkspace.initiative_id == initiative.id, PartnerWorkspace.team_id.not_in(list(wanted))
        )
    )
    for position, team in enumerate(wanted):
        if team in rows:
            rows[team].position = position
    added = [
        PartnerWorkspace(initiative_id=initiative.id, team_id=team, position=position)
        for position, team in enumerate(wanted)
        if team not in rows
    ]
    if added:
        try:
            # In a savepoint: another initiative naming the same workspace at this moment passed the
            # check too; on PostgreSQL this insert waits for it at the unique key, and fails once it
            # has committed. Checked again then, the file's problem says which initiative has it.
            with session.begin_nested():
                session.add_all(added)
        except IntegrityError:
            _check_workspace_claims(session, owner_team, wanted)
            raise
    after = list(wanted)
    if after != before:
        created = "initiative" in report.created
        if not created:
            report.updated.append("initiative partner workspaces")
        report.record("initiative", None if created else {"partner_workspaces": before}, {"partner_workspaces": after})
    session.flush()


def _workspace(session: Session, team: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.team_id == team))
    if workspace is None:
        workspace = Workspace(team_id=team)
        session.add(workspace)
        session.flush()
    return workspace


def _apply_initiative_row(
    session: Session, workspace: Workspace, data: InitiativeFile, report: ApplyReport
) -> Initiative:
    """The initiative itself: its description, channels, schedule and outside services."""
    # Locked first, as `change_setup` locks it before reading the set-up: two changes at once then take
    # their rows in one order and wait for each other, never each for the other. Read again once locked
    # (an object the session holds keeps its values otherwise): its revision is the one to count on
    # from, or two changes at once (`ci-slackbot init` beside an App Home form) would write the same.
    initiative = session.scalar(
        select(Initiative)
        .where(Initiative.workspace_id == workspace.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
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
        notion_systems_changes_database=data.notion.systems_changes_database if data.notion else None,
        notion_community_voice_database=data.notion.community_voice_database if data.notion else None,
        sheets_spreadsheet_id=data.sheets.spreadsheet_id if data.sheets else None,
        report_due_after=data.reporting.due_after_days.given(),
        nudges=data.reporting.nudges.model_dump(exclude_defaults=True),
        holidays=sorted({day.isoformat() for day in data.holidays}),
    )
    session.flush()
    return initiative


def _apply_goals(
    session: Session, iid: int, data: InitiativeFile, report: ApplyReport
) -> tuple[dict[str, Goal], dict[str, list[Strategy]]]:
    """Goals by key (retired ones too) and each goal's strategies in the file's order."""
    goals = {g.key: g for g in session.scalars(select(Goal).where(Goal.initiative_id == iid))}
    strategies_by_goal: dict[str, list[Strategy]] = {}
    for position, section in enumerate(data.goals):
        goal = _apply_goal(session, iid, goals, section, position, report)
        strategies_by_goal[section.key] = _apply_strategies(session, iid, goal, section.strategies, report)
    _retire_missing(goals, {g.key for g in data.goals}, "goal", report)
    return goals, strategies_by_goal


def _apply_goal(
    session: Session, iid: int, goals: dict[str, Goal], section: GoalSection, position: int, report: ApplyReport
) -> Goal:
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
    return goal


def _apply_strategies(
    session: Session, iid: int, goal: Goal, texts: Sequence[str], report: ApplyReport
) -> list[Strategy]:
    """A goal's strategies, known by their number: a number the file no longer has is retired."""
    label = f"goal {goal.key}"
    existing = {s.position: s for s in session.scalars(select(Strategy).where(Strategy.goal_id == goal.id))}
    kept: list[Strategy] = []
    for number, text in enumerate(texts, start=1):
        strategy = existing.pop(number, None)
        if strategy is None:
            strategy = Strategy(initiative_id=iid, goal_id=goal.id, position=number, text=text)
            session.add(strategy)
        _set(strategy, report, label, f"{label} strategy {number}", text=text, retired=False)
        kept.append(strategy)
    for strategy in existing.values():
        _set(strategy, report, label, f"{label} strategy {strategy.position}", retired=True)
    return kept


def _apply_organizations(
    session: Session,
    iid: int,
    data: InitiativeFile,
    goals: dict[str, Goal],
    strategies: dict[str, list[Strategy]],
    report: ApplyReport,
) -> dict[str, Organization]:
    """Organizations by key (retired ones too), with their members and their activities from the file.

    An organization gone from the file is retired and loses its members; its reported values stay.
    """
    orgs = {o.key: o for o in session.scalars(select(Organization).where(Organization.initiative_id == iid))}
    for position, section in enumerate(data.organizations):
        org = _apply_organization(session, iid, orgs, section, position, report)
        _apply_members(session, iid, org, section.members, report)
        _replace_file_activities(session, iid, org, section.activities, goals, strategies, report)
    for org in _retire_missing(orgs, {o.key for o in data.organizations}, "organization", report):
        session.execute(delete(Membership).where(Membership.organization_id == org.id))
    session.flush()
    return orgs


def _apply_organization(
    session: Session,
    iid: int,
    orgs: dict[str, Organization],
    section: OrganizationSection,
    position: int,
    report: ApplyReport,
) -> Organization:
    org = orgs.get(section.key)
    label = f"organization {section.key}"
    if org is None:
        org = Organization(initiative_id=iid, key=section.key, name=section.name)
        session.add(org)
        orgs[section.key] = org
        report.created.append(label)
    _set(
        org,
        report,
        label,
        name=section.name,
        sector=section.sector,
        backup_reporter=section.backup,
        usergroup=section.usergroup,
        position=position,
        retired=False,
    )
    session.flush()
    return org


def _apply_members(session: Session, iid: int, org: Organization, members: Sequence[str], report: ApplyReport) -> None:
    label = f"organization {org.key}"
    current = set(session.scalars(select(Membership.slack_user_id).where(Membership.organization_id == org.id)))
    wanted = set(members)
    for user in sorted(wanted - current):
        session.add(Membership(initiative_id=iid, organization_id=org.id, slack_user_id=user))
    if wanted != current:
        session.execute(
            delete(Membership).where(
                Membership.organization_id == org.id, Membership.slack_user_id.in_(current - wanted)
            )
        )
        if label not in report.created:
            report.updated.append(f"{label} members")
        report.record(f"{label} members", {"members": sorted(current)}, {"members": sorted(wanted)})


def _replace_file_activities(
    session: Session,
    iid: int,
    org: Organization,
    activities: Sequence[ActivitySection],
    goals: dict[str, Goal],
    strategies: dict[str, list[Strategy]],
    report: ApplyReport,
) -> None:
    """Activities from the file are replaced as a whole; ones added in Slack stay."""
    before = _file_activities(session, org)
    session.execute(delete(Activity).where(Activity.organization_id == org.id, Activity.from_file.is_(True)))
    for activity in activities:
        goal = goals[activity.goal]
        strategy = strategies[activity.goal][activity.strategy - 1] if activity.strategy else None
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
    after = [activity.model_dump(exclude_defaults=True) for activity in activities]
    if after != before:
        report.record(f"organization {org.key} activities", {"activities": before}, {"activities": after})
        if f"organization {org.key}" not in report.created:
            report.updated.append(f"organization {org.key} activities")


def _file_activities(session: Session, org: Organization) -> list[dict[str, Any]]:
    """The organization's activities from the file, as the file writes them."""
    iid = org.initiative_id
    goal_keys = {gid: key for gid, key in session.execute(select(Goal.id, Goal.key).where(Goal.initiative_id == iid))}
    positions = {
        sid: number
        for sid, number in session.execute(select(Strategy.id, Strategy.position).where(Strategy.initiative_id == iid))
    }
    out: list[dict[str, Any]] = []
    for activity in session.scalars(
        select(Activity).where(Activity.organization_id == org.id, Activity.from_file.is_(True)).order_by(Activity.id)
    ):
        item: dict[str, Any] = {"goal": goal_keys.get(activity.goal_id), "text": activity.text}
        if activity.strategy_id is not None:
            item["strategy"] = positions.get(activity.strategy_id)
        out.append(item)
    return out


def _apply_indicators(
    session: Session,
    iid: int,
    data: InitiativeFile,
    goals: dict[str, Goal],
    orgs: dict[str, Organization],
    asked_since: datetime,
    report: ApplyReport,
) -> None:
    indicators = {i.key: i for i in session.scalars(select(Indicator).where(Indicator.initiative_id == iid))}
    keys = {o.id: o.key for o in orgs.values()}
    for position, section in enumerate(data.indicators):
        indicator = _apply_indicator(session, iid, indicators, section, position, goals, report)
        reporters = {orgs[r].id for r in section.reporters}
        _apply_reporters(session, iid, indicator, reporters, asked_since, report, keys)
    _retire_missing(indicators, {i.key for i in data.indicators}, "indicator", report)


def _apply_indicator(
    session: Session,
    iid: int,
    indicators: dict[str, Indicator],
    section: IndicatorSection,
    position: int,
    goals: dict[str, Goal],
    report: ApplyReport,
) -> Indicator:
    indicator = indicators.get(section.key)
    label = f"indicator {section.key}"
    if indicator is None:
        indicator = Indicator(
            initiative_id=iid,
            key=section.key,
            name=section.name,
            direction=section.direction,
            frequency=section.frequency,
        )
        session.add(indicator)
        indicators[section.key] = indicator
        report.created.append(label)
    _set(
        indicator,
        report,
        label,
        name=section.name,
        goal_id=goals[section.goal].id,
        unit=section.unit,
        direction=section.direction,
        frequency=section.frequency,
        minimum=section.min,
        maximum=section.max,
        baseline_period=section.baseline.period if section.baseline else None,
        baseline_value=section.baseline.value if section.baseline else None,
        target_period=section.target.period if section.target else None,
        target_value=section.target.value if section.target else None,
        breakdowns=list(section.breakdowns),
        source=section.source,
        small_number_threshold=section.small_number_threshold,
        headline=section.headline,
        rollup=section.rollup,
        rollup_owner=section.owner,
        due_after_days=section.due_after_days,
        equity_lens=section.equity_lens,
        group_targets=_group_targets(section),
        position=position,
        retired=False,
    )
    if label in report.changes:
        # The log names the goal by its key, as the file does, not by a row id.
        keys = {g.id: k for k, g in goals.items()}
        for values in report.changes[label]:
            if values is not None and "goal_id" in values:
                values["goal"] = keys.get(values.pop("goal_id"))
    session.flush()
    return indicator


def _group_targets(section: IndicatorSection) -> dict[str, Any]:
    """Group targets by canonical breakdown key, so that they match the values reported (`zip=75216`)."""
    out: dict[str, Any] = {}
    for key, value in section.group_targets.items():
        dimension, _, group = key.partition("=")
        out[f"{dimension.strip()}={group.strip()}"] = value
    return out


def _apply_reporters(
    session: Session,
    iid: int,
    indicator: Indicator,
    wanted: set[int],
    asked_since: datetime,
    report: ApplyReport,
    org_keys: dict[int, str],
) -> None:
    """The organizations asked for an indicator; one newly asked is asked from `asked_since` on."""
    label = f"indicator {indicator.key}"
    current = set(
        session.scalars(select(IndicatorReporter.organization_id).where(IndicatorReporter.indicator_id == indicator.id))
    )
    for org_id in sorted(wanted - current):
        session.add(
            IndicatorReporter(initiative_id=iid, indicator_id=indicator.id, organization_id=org_id, since=asked_since)
        )
    if current - wanted:
        session.execute(
            delete(IndicatorReporter).where(
                IndicatorReporter.indicator_id == indicator.id,
                IndicatorReporter.organization_id.in_(current - wanted),
            )
        )
    if wanted != current and label not in report.created:
        report.updated.append(f"{label} reporters")
    if wanted != current:
        report.record(
            f"{label} reporters",
            {"reporters": sorted(org_keys[i] for i in current)},
            {"reporters": sorted(org_keys[i] for i in wanted)},
        )


_Retirable = TypeVar("_Retirable", Goal, Organization, Indicator)


def _retire_missing(rows: dict[str, _Retirable], kept: set[str], kind: str, report: ApplyReport) -> list[_Retirable]:
    """Retire the rows whose key the file no longer has; returns those retired just now."""
    retired: list[_Retirable] = []
    for key, row in rows.items():
        if key not in kept and not row.retired:
            row.retired = True
            report.retired.append(f"{kind} {key}")
            report.record(f"{kind} {key}", {"retired": False}, {"retired": True})
            retired.append(row)
    return retired


def reporting_file_fields(session: Session, initiative: Initiative) -> dict[str, Any]:
    """The reporting windows as the initiative file writes them, only what differs from the defaults:
    `reporting`, `holidays`, each indicator's `due_after_days` and each organization's `backup`
    (by key). Loading a file with these gives the same initiative again."""
    fields: dict[str, Any] = {}
    reporting: dict[str, Any] = {}
    if initiative.report_due_after:
        reporting["due_after_days"] = dict(initiative.report_due_after)
    if initiative.nudges:
        reporting["nudges"] = dict(initiative.nudges)
    if reporting:
        fields["reporting"] = reporting
    if initiative.holidays:
        fields["holidays"] = list(initiative.holidays)
    fields["indicators"] = {
        key: days
        for key, days in session.execute(
            select(Indicator.key, Indicator.due_after_days).where(
                Indicator.initiative_id == initiative.id, Indicator.retired.is_(False)
            )
        )
        if days is not None
    }
    fields["organizations"] = {
        key: backup
        for key, backup in session.execute(
            select(Organization.key, Organization.backup_reporter).where(
                Organization.initiative_id == initiative.id, Organization.retired.is_(False)
            )
        )
        if backup is not None
    }
    return fields
