"""Reading the Slack user groups organizations follow, and bringing their members in step.

Run by the scheduler (ci_slackbot/jobs.py `run_usergroups`): hourly, and at once when an
organization starts following a group. Slack is asked outside any transaction: first
usergroups.list (enabled groups only, which gives each group's @handle), then
usergroups.users.list for each group followed; each organization's members are then changed in a
short transaction of their own through `services.usergroups.follow_members`, authored by the group.

A user group belongs to one workspace, and only that workspace's token reads it (usergroups.list
lists the calling workspace's groups). A partner organization keeps its people, and so its groups,
in its own workspace: the groups of every partner workspace the initiative names and that installed
the app are read too, each with its own token, and the form offers them by workspace.

A group that cannot be read (deleted or disabled, the scope missing, a plan without user groups)
changes no member: the backbone team is told by DM, once a day per group and reason, as parked
deliveries are (`outbox.claim_notice`); once the group reads again, a later loss is told again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.outbox import Parked, claim_notice, untold
from ci_slackbot.outbox.notices import resolve_notices
from ci_slackbot.services.initiatives import partner_workspaces
from ci_slackbot.services.people import who_is
from ci_slackbot.services.usergroups import Followed, follow_members, followed_usergroups
from ci_slackbot.store.models import Initiative
from integrations.slack.installations import NotInstalledError
from integrations.slack.partners import dm_each
from integrations.slack.usergroup_blocks import problem_notice

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

# Slack's answers that mean the group cannot be followed until someone acts; anything else (a
# timeout, a 5xx, a rate limit) is tried again at the next run, and the log says so.
_TOLD = {"missing_scope": "missing_scope", "plan_upgrade_required": "plan_upgrade_required"}


@dataclass(frozen=True)
class UsergroupChoice:
    """A user group of the workspace, as the organization form offers it."""

    id: str
    handle: str
    name: str
    members: int
    workspace: str = ""  # a partner workspace's name; "" for the initiative's own


@dataclass(frozen=True)
class _Source:
    """A workspace whose user groups an initiative's organizations may follow."""

    team: str | None  # a partner workspace's team ID; None for the initiative's own
    name: str
    client: WebClient


def _sources(services: Services, initiative_id: int) -> list[_Source]:
    """The initiative's own workspace, then each partner workspace it names that has the app
    (OAuth only: with SLACK_BOT_TOKEN alone there is one workspace). Raises `NotInstalledError` when
    the initiative's own workspace has not."""
    sources = [_Source(None, "", services.slack_for_initiative(initiative_id))]
    if services.workspaces is None:
        return sources
    with services.db.unit_of_work() as session:
        partners = partner_workspaces(session, initiative_id)
        names = dict(services.workspaces.store.installed_teams(session)) if partners else {}
    for team in partners:
        if team not in names:
            continue  # named, not (or no longer) installed: nothing there can be read
        try:
            sources.append(_Source(team, names[team], services.slack_for(team)))
        except NotInstalledError:
            continue
    return sources


def usergroup_choices(services: Services, initiative_id: int) -> list[UsergroupChoice]:
    """The enabled user groups of the initiative's workspace, by handle, then those of its partner
    workspaces, by workspace: what the organization form's select offers (call it before opening
    the form, outside the request's transaction).

    Raises `SlackApiError` for the form to say why there are none: `missing_scope` (install again
    for `usergroups:read`), `plan_upgrade_required` (the workspace's plan has no user groups). A
    partner workspace that cannot list its groups only leaves them out (logged).
    """
    choices = []
    for source in _sources(services, initiative_id):
        try:
            listed = source.client.usergroups_list(include_count=True)
        except SlackApiError as exc:
            if source.team is None:
                raise
            log.warning("the user groups of partner workspace %s cannot be listed: %s", source.team, _error(exc))
            continue
        for group in listed.get("usergroups") or []:
            count = str(group.get("user_count") or "0")
            choices.append(
                UsergroupChoice(
                    id=str(group.get("id") or ""),
                    handle=str(group.get("handle") or ""),
                    name=str(group.get("name") or ""),
                    members=int(count) if count.isdigit() else 0,
                    workspace=source.name,
                )
            )
    # The initiative's own workspace's groups first, then each partner's, by handle within each.
    with_ids = [c for c in choices if c.id]
    return sorted(with_ids, key=lambda c: (c.workspace != "", c.workspace.lower(), c.handle.lower()))


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error", ""))


def notice_cause(problem: str, usergroup: str) -> str:
    return f"usergroup:{problem}:{usergroup}"


def sync_usergroups(services: Services, initiative_id: int) -> str:
    """Bring every organization of the initiative that follows a user group in step with it; what happened."""
    with services.db.unit_of_work() as session:
        followed = followed_usergroups(session, initiative_id)
    if not followed:
        return "no organization follows a user group"
    try:
        sources = _sources(services, initiative_id)
    except NotInstalledError as exc:  # the workspace removed the app: nothing to read until it is back
        return str(exc)
    groups: dict[str, tuple[dict[str, Any], WebClient]] = {}
    unread: list[str] = []  # why a workspace could not list its groups: a followed group may be there
    for source in sources:
        try:
            # Enabled groups only (no include_disabled): a disabled group is followed no more.
            listed = source.client.usergroups_list()
        except SlackApiError as exc:
            code = _error(exc)
            if code not in _TOLD and source.team is None:
                raise  # tried again at the next run; the log says so
            if code not in _TOLD:
                log.warning("the user groups of partner workspace %s cannot be listed: %s", source.team, code)
            unread.append(_TOLD.get(code, ""))
            continue
        for group in listed.get("usergroups") or []:
            groups.setdefault(str(group.get("id")), (group, source.client))
    outcomes = []
    for item in followed:
        if item.usergroup in groups:
            group, client = groups[item.usergroup]
            outcomes.append(_follow(services, initiative_id, item, group, client))
        elif told := next((problem for problem in unread if problem), None):
            _tell(services, initiative_id, item, told)
            outcomes.append(f"{item.organization_key}: user groups cannot be read: {told}")
        elif unread:  # a partner workspace did not answer: the group may be there, so it is not gone
            outcomes.append(f"{item.organization_key}: {item.usergroup} not found yet, members kept")
        else:
            _tell(services, initiative_id, item, "gone")
            outcomes.append(f"{item.organization_key}: {item.usergroup} is gone, members kept")
    return "; ".join(outcomes)


def _follow(services: Services, initiative_id: int, item: Followed, group: dict[str, Any], client: WebClient) -> str:
    read_at = services.now()  # before asking: what Slack answers is at least this recent
    try:
        users = [str(u) for u in client.usergroups_users_list(usergroup=item.usergroup).get("users") or []]
    except SlackApiError as exc:
        code = _error(exc)
        if code == "no_such_subteam":  # gone between the two calls
            _tell(services, initiative_id, item, "gone")
            return f"{item.organization_key}: {item.usergroup} is gone, members kept"
        if code in _TOLD:
            _tell(services, initiative_id, item, _TOLD[code])
            return f"{item.organization_key}: {code}"
        raise
    handle = str(group.get("handle") or item.usergroup)
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        if initiative is None:
            return "the initiative no longer exists"
        report = follow_members(
            session, initiative, item.organization_key, item.usergroup, handle, users, read_at=read_at
        )
        # The group reads again: should it vanish later, the backbone team is told again.
        for problem in ("gone", *_TOLD.values()):
            resolve_notices(session, initiative_id, notice_cause(problem, item.usergroup))
    if report is None:
        return f"{item.organization_key}: in step with @{handle}"
    return f"{item.organization_key}: members set to @{handle}'s {len(set(users))}"


def _tell(services: Services, initiative_id: int, item: Followed, problem: str) -> None:
    """A DM to each backbone staff member, once a day per group and problem."""
    notice = Parked(
        item_id=0,
        initiative_id=initiative_id,
        service="slack",
        kind="usergroup",
        cause=notice_cause(problem, item.usergroup),
        message=f"user group {item.usergroup} ({item.organization_key}): {problem}",
    )
    with services.db.unit_of_work() as session:
        if not claim_notice(session, notice, services.now()):
            return
        initiative = session.get(Initiative, initiative_id)
        staff = who_is(session, initiative, "").backbone_contacts if initiative is not None else ()
    log.warning("%s: the backbone team is told", notice.message)
    message = problem_notice(problem, item.usergroup, item.organization_name)
    if not dm_each(services, initiative_id, staff, notice.message, **message):
        with services.db.unit_of_work() as session:
            untold(session, notice)  # the next run tries to tell again
