"""Getting a generated chart to the person who asked, in a conversation they can see it in.

A file uploaded without a channel is visible only to the app that uploaded it,
and a block that shows it to anyone else is refused with `invalid_blocks` /
"invalid slack file" (slackapi/bolt-python#1251, slackapi/python-slack-sdk#1658
and #1797). So the chart is shared, the way Slack documents as working
(`files_upload_v2` with a channel, i.e. files.completeUploadExternal's
`channel_id`): into the conversation where the command was typed when the app
is in it, or else into the person's DM with the app (`conversations.open`),
and the command's private answer then says where it is.

Who sees the chart decides what it may show: in a shared conversation it is
drawn as a channel post would show the numbers; in the person's own DM with the
app, as their private answer does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from integrations.slack.delivery import answer_through
from integrations.slack.escape import escape

log = logging.getLogger(__name__)

# Answers that mean "not here": the app is not in that conversation (or cannot see it, or it is a
# DM between other people, or not a conversation id at all). The DM with the app is the way left.
NOT_HERE = {"not_in_channel", "channel_not_found", "is_archived", "invalid_arguments", "restricted_action"}


@dataclass(frozen=True)
class Chart:
    filename: str
    title: str
    alt: str
    comment: str  # posted with the file (mrkdwn, already escaped)


@dataclass(frozen=True)
class Shared:
    file_id: str
    channel: str
    permalink: str | None
    in_dm: bool  # the person's DM with the app, not the conversation the command was typed in


def _error(exc: SlackApiError | SlackRequestError) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "") or f"HTTP {exc.response.status_code}")
    return "the upload failed"


def _upload(client: WebClient, channel: str, chart: Chart, png: bytes) -> Shared:
    answer = client.files_upload_v2(
        content=png,
        filename=chart.filename,
        title=chart.title,
        alt_txt=chart.alt[:1000],
        channel=channel,
        initial_comment=chart.comment,
    )
    file: dict[str, Any] = answer.get("file") or {}
    return Shared(str(file.get("id") or ""), channel, file.get("permalink"), in_dm=False)


def _reply(response_url: str | None, text: str) -> None:
    if not response_url:
        return
    answer_through(response_url, text=text, response_type="ephemeral", replace_original=False)


def share_chart(
    client: WebClient,
    *,
    channel: str | None,
    user: str,
    response_url: str | None,
    chart: Chart,
    draw: Callable[[bool], bytes],
) -> Shared | None:
    """Share the chart where `user` typed the command, else in their DM with the app; None if neither worked.

    `draw(for_a_conversation)` gives the PNG: True when people other than `user` will see it.
    The person was told the chart follows: whatever stops it, they are told that it will not.
    """
    try:
        return _share(client, channel, user, response_url, chart, draw)
    except Exception:
        # Drawing, or the upload's own POST to files.slack.com (a 5xx, a timeout), which the SDK's
        # retries do not cover: this runs after the ack, where nobody else would tell them.
        log.exception("the chart could not be made or shared")
        _reply(response_url, ":warning: The chart could not be made this time. Ask for it again in a minute.")
        return None


def _share(  # `share_chart`'s work, which it wraps
    client: WebClient,
    channel: str | None,
    user: str,
    response_url: str | None,
    chart: Chart,
    draw: Callable[[bool], bytes],
) -> Shared | None:
    if channel:
        try:
            # A D… conversation the app can post in is its DM with this person: nobody else sees it.
            return _upload(client, channel, chart, draw(not channel.startswith("D")))
        except (SlackApiError, SlackRequestError) as exc:
            error = _error(exc)
            if error not in NOT_HERE:
                log.warning("chart upload failed: %s", error)
                _reply(response_url, f":warning: The chart could not be uploaded (Slack said `{error}`). Try later.")
                return None
    try:
        dm = str(client.conversations_open(users=user)["channel"]["id"])
        shared = _upload(client, dm, chart, draw(False))
    except (SlackApiError, SlackRequestError, KeyError) as exc:
        error = _error(exc) if not isinstance(exc, KeyError) else "no DM"
        log.warning("chart upload to the DM failed: %s", error)
        _reply(response_url, f":warning: The chart could not be sent to you (Slack said `{error}`). Try again later.")
        return None
    where = f"<{shared.permalink}|{escape(chart.title)}>" if shared.permalink else f"*{escape(chart.title)}*"
    _reply(
        response_url,
        f":chart_with_upwards_trend: I am not in this conversation, so I sent you the chart in our DM: {where}",
    )
    return Shared(shared.file_id, dm, shared.permalink, in_dm=True)
