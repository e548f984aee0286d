"""What a Notion page needs from Slack: links to messages, people's names, a post once it exists."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.outbox import enqueue
from integrations.notion.text import JSON
from integrations.slack.installations import NotInstalledError

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

# A page without a Slack link or a name is better than no page: Slack trouble never fails a Notion write.
SLACK_UNAVAILABLE = (SlackApiError, OSError, KeyError, NotInstalledError)


def _slack(services: Services, initiative_id: int) -> WebClient:
    """The initiative's workspace's Web API client (its bot token when the app is installed by OAuth)."""
    return services.slack_for_initiative(initiative_id)


def slack_permalink(services: Services, initiative_id: int, channel: str, ts: str) -> str | None:
    try:
        return str(_slack(services, initiative_id).chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except SLACK_UNAVAILABLE:
        log.warning("no permalink for %s/%s", channel, ts)
        return None


def slack_name(services: Services, initiative_id: int, user_id: str) -> str:
    """A person's name for Notion readers, with their Slack ID; the ID alone when Slack won't say."""
    name = services.slack_names.name(lambda: _slack(services, initiative_id), user_id)
    return f"{name} ({user_id})" if name else user_id


def enqueue_follow_up(services: Services, initiative_id: int, key: str, payload: JSON) -> None:
    """Queue a Slack post from inside a delivery. Its key makes a retried delivery add nothing."""
    with services.db.unit_of_work() as session:
        enqueue(session, initiative_id=initiative_id, service="slack", kind="post", key=key, payload=payload)
