"""Showing a generated file (a chart) to one person, in an ephemeral reply, without posting it anywhere.

The file is uploaded with `files_upload_v2` and no channel, so it is shared
nowhere and only the app can see it; the ephemeral reply then shows it with an
image block that points at the file (`slack_file: {id}`).

Slack finishes processing an upload asynchronously: a block that references a
file a moment too early is refused with `invalid_blocks` (slackapi/python-slack-sdk#1521,
slackapi/slack-github-action#413). So we wait until `files.info` reports the
file's type, and retry the reply a few times if it is refused anyway. A
response_url takes five replies in 30 minutes, so the retries stay well under that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from integrations.slack import blocks as bk

log = logging.getLogger(__name__)

PROCESSING_WAIT = 10.0  # seconds to wait for Slack to finish processing the upload
REPLY_ATTEMPTS = 3


def _processed(client: WebClient, file_id: str, timeout: float) -> None:
    """Wait (bounded) until Slack says what kind of file it is, the sign that processing is over."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            info = client.files_info(file=file_id)
            if (info.get("file") or {}).get("mimetype"):
                return
        except SlackApiError as exc:
            # Without files:read we cannot ask; carry on and let the reply's retries absorb the delay.
            log.info("files.info for %s failed: %s", file_id, exc.response.get("error"))
            return
        if time.monotonic() + delay > deadline:
            return
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def _reply(response_url: str, text: str, blocks: list[bk.Block] | None) -> tuple[int, str]:
    message: dict[str, Any] = {"text": text, "response_type": "ephemeral", "replace_original": False}
    if blocks:
        message["blocks"] = blocks
    response = WebhookClient(response_url, timeout=10).send_dict(message)
    return response.status_code, response.body or ""


def show_file_privately(
    client: WebClient,
    response_url: str,
    *,
    content: bytes,
    filename: str,
    title: str,
    alt: str,
    message: Callable[[str], tuple[str, list[bk.Block]]],
    processing_wait: float = PROCESSING_WAIT,
) -> str | None:
    """Upload `content` without sharing it and reply with `message(file_id)`; the file id, or None on failure."""
    try:
        upload = client.files_upload_v2(content=content, filename=filename, title=title, alt_txt=alt[:1000])
        file_id = str((upload.get("file") or {}).get("id") or "")
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown error")
        log.warning("chart upload failed: %s", error)
        _reply(
            response_url, f":warning: The chart could not be uploaded (Slack said `{error}`). Try again later.", None
        )
        return None
    if not file_id:
        log.warning("chart upload returned no file id")
        return None
    _processed(client, file_id, processing_wait)
    text, blocks = message(file_id)
    for attempt in range(REPLY_ATTEMPTS):
        status, body = _reply(response_url, text, blocks)
        if status == 200:
            return file_id
        if "invalid_blocks" not in body:
            # expired_url, used_url, …: another try cannot help.
            log.warning("chart reply refused: %s %s", status, body[:300])
            return None
        time.sleep(1.0 * (attempt + 1))
    log.warning("Slack kept refusing the chart's image block for file %s", file_id)
    _reply(response_url, ":warning: The chart was drawn but Slack would not show it yet. Try again in a minute.", None)
    return None
