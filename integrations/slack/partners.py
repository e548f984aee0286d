"""Which workspace's token reaches a person: their own, when it is one of the initiative's partner workspaces.

Partner organizations meet in Slack Connect channels and keep their own workspaces; an initiative
names those (`initiative.partner_workspaces`), and each installs the app (OAuth). Requests tell
which workspace a person is in, so replies and App Home use that workspace's token already
(`Services.slack_for(team)`). DMs the app starts (welcomes, reminders, notices) know only the user
ID: the person's own workspace is asked of Slack (users.info's `team_id`, kept a while with their
name in `Services.slack_names`), and a DM to someone of a partner workspace goes out with that
workspace's token, never the home workspace's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.services.initiatives import partner_workspaces

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)


def client_for_person(services: Services, initiative_id: int, user_id: str) -> WebClient:
    """The client for a DM to `user_id` of the initiative: their partner workspace's, else the initiative's.

    Raises `NotInstalledError` when the person's partner workspace no longer has the app: the home
    workspace's token is no way to reach them, and the item is parked with that cause instead.
    """
    home = cast(WebClient, services.slack_for_initiative(initiative_id))
    if services.workspaces is None:
        return home  # one workspace (SLACK_BOT_TOKEN): partner workspaces are served only with OAuth
    with services.db.unit_of_work() as session:
        partners = partner_workspaces(session, initiative_id)
    if not partners:
        return home
    team = services.slack_names.team(lambda: home, user_id)
    if team is None:
        log.warning("could not learn %s's workspace from Slack; their DM goes from the initiative's own", user_id)
        return home
    if team in partners:
        return cast(WebClient, services.slack_for(team))
    return home


def dm_each(services: Services, initiative_id: int, users: Iterable[str], about: str, **message: Any) -> int:
    """The same DM to each of `users` (backbone staff, say), each from their own workspace; how many got it.

    Each is tried whatever happened to the one before: one person who cannot be reached (a refusal, no
    token for their workspace, Slack unreachable) does not silence the rest. Failures are logged with
    `about`, what the message was about.
    """
    told = 0
    for user in users:
        try:
            client = client_for_person(services, initiative_id, user)
            client.chat_postMessage(channel=user, unfurl_links=False, **message)
            told += 1
        except SlackApiError as exc:
            log.error("could not tell %s about %s: %s", user, about, exc.response.get("error"))
        except Exception as exc:  # no token for the person's workspace, Slack unreachable
            log.error("could not reach Slack to tell %s about %s: %r", user, about, exc)
    return told
