"""Who may set up a workspace's first initiative: whoever installed the app there, and the
workspace's admins and owners (Slack's `users.info`: is_admin, is_owner, is_primary_owner).

Asked of Slack before a request's transaction (never inside it), on every click and submission of
the first set-up, so that a right lost in Slack is lost here at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from integrations.slack.escape import mention
from integrations.slack.installations import NotInstalledError

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

UNCONFIRMED = (
    "Slack did not tell me whether you are an admin of this workspace just now, so nothing was set up. "
    "Please try again in a minute."
)


@dataclass(frozen=True)
class Founder:
    """Slack's verdict on one person: may they set up the workspace's initiative, and their time zone."""

    allowed: bool
    installer: str | None
    zone: str | None
    refusal: str

    @staticmethod
    def refused_text(installer: str | None) -> str:
        who = f"{mention(installer)} (who installed the app)" if installer else "whoever installed the app"
        return (
            f"This workspace has no collective impact initiative yet, and only {who} or a workspace admin "
            "or owner can set it up, from the app's Home tab. Ask one of them."
        )


def founder(services: Services, team_id: str, user_id: str) -> Founder:
    """What Slack says of `user_id` in `team_id`: installer, admin or owner may set up; others not."""
    installer = services.workspaces.installer(team_id) if services.workspaces is not None else None
    try:
        user = services.slack_for(team_id).users_info(user=user_id).get("user") or {}
    except (SlackApiError, NotInstalledError) as exc:
        # Slack did not answer (or the app was removed meanwhile): no right is assumed.
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else "not installed"
        log.warning("users.info failed for the first set-up: %s", reason)
        if user_id == installer:
            return Founder(True, installer, None, "")
        return Founder(False, installer, None, UNCONFIRMED)
    zone = user.get("tz") if isinstance(user.get("tz"), str) else None
    # A person of another workspace (Slack Connect) is not this workspace's admin, whatever their flags.
    here = user.get("team_id") in (None, team_id)
    admin = here and any(user.get(flag) is True for flag in ("is_admin", "is_owner", "is_primary_owner"))
    if user_id == installer or (admin and not user.get("deleted")):
        return Founder(True, installer, zone, "")
    return Founder(False, installer, zone, Founder.refused_text(installer))
