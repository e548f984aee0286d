"""Reading the Slack user groups organizations follow, and bringing their members in step.

Run by the scheduler (ci_slackbot/jobs.py `run_usergroups`): hourly, and at once when an
organization starts following a group. Slack is asked outside any transaction: first
usergroups.list (enabled groups only, which gives each group's @handle), then
usergroups.users.list for each group followed; each organization's members are then changed in a
short transaction of their own through `services.usergroups.follow_members`, authored by the group.

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
from ci_slackbot.services.people import who_is
from ci_slackbot.services.usergroups import Followed, follow_members, followed_usergroups
from ci_slackbot.store.models import Initiative
from integrations.slack.installations import NotInstalledError
from integrations.slack.partners import client_for_person
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


def usergroup_choices(services: Services, initiative_id: int) -> list[UsergroupChoice]:
    """The enabled user groups of the initiative's workspace, by handle: what the organization form's
    select offers (call it before opening the form, outside the request's transaction).

    Raises `SlackApiError` for the form to say why there are none: `missing_scope` (install again
    for `usergroups:read`), `plan_upgrade_required` (the workspace's plan has no user groups).
    """
    listed = services.slack_for_initiative(initiative_id).usergroups_list(include_count=True)
    choices = []
    for group in listed.get("usergroups") or []:
        count = str(group.get("user_count") or "0")
        choices.append(
            UsergroupChoice(
                id=str(group.get("id") or ""),
                handle=str(group.get("handle") or ""),
                name=str(group.get("name") or ""),
                members=int(count) if count.isdigit() else 0,
            )
        )
    return sorted((c for c in choices if c.id), key=lambda c: (c.handle.lower(), c.id))


def notice_cause(problem: str, usergroup: str) -> str:
    return f"usergroup:{problem}:{usergroup}"


def sync_usergroups(services: Services, initiative_id: int) -> str:
    """Bring every organization of the initiative that follows a user group in step with it; what happened."""
    with services.db.unit_of_work() as session:
        followed = followed_usergroups(session, initiative_id)
    if not followed:
        return "no organization follows a user group"
    try:
        client = services.slack_for_initiative(initiative_id)
    except NotInstalledError as exc:  # the workspace removed the app: nothing to read until it is back
        return str(exc)
    try:
        # Enabled groups only (no include_disabled): a disabled group is followed no more.
        listed = client.usergroups_list()
    except SlackApiError as exc:
        code = str(exc.response.get("error", ""))
        if code not in _TOLD:
            raise
        for item in followed:
            _tell(services, initiative_id, item, _TOLD[code])
        return f"user groups cannot be read: {code}"
    groups: dict[str, dict[str, Any]] = {str(g.get("id")): g for g in listed.get("usergroups") or []}
    outcomes = [_follow(services, initiative_id, item, groups.get(item.usergroup), client) for item in followed]
    return "; ".join(outcomes)


def _follow(
    services: Services, initiative_id: int, item: Followed, group: dict[str, Any] | None, client: WebClient
) -> str:
    if group is None:
        _tell(services, initiative_id, item, "gone")
        return f"{item.organization_key}: {item.usergroup} is gone, members kept"
    try:
        users = [str(u) for u in client.usergroups_users_list(usergroup=item.usergroup).get("users") or []]
    except SlackApiError as exc:
        code = str(exc.response.get("error", ""))
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
        report = follow_members(session, initiative, item.organization_key, item.usergroup, handle, users)
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
    told = 0
    try:
        for user in staff:
            client = client_for_person(services, initiative_id, user)  # a partner workspace's staff too
            try:
                client.chat_postMessage(channel=user, unfurl_links=False, **message)
                told += 1
            except SlackApiError as exc:
                log.error(
                    "could not tell backbone member %s about %s: %s", user, notice.message, exc.response.get("error")
                )
    except Exception as exc:  # no token for the workspace, Slack unreachable
        log.error("could not reach Slack to tell the backbone team about %s: %r", notice.message, exc)
    if not told:
        with services.db.unit_of_work() as session:
            untold(session, notice)  # the next run tries to tell again
