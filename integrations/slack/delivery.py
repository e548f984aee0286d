"""Delivering outbox items to Slack: channel posts, DMs and thread replies."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient
from sqlalchemy import select

from ci_slackbot.outbox import FAILED, DeliveryError, Item, NotReady, Policy, Registry
from ci_slackbot.store.models import OutboxItem
from integrations.slack.escape import defang
from integrations.slack.installations import NotInstalledError
from integrations.slack.parked import explain
from integrations.slack.partners import client_for_person

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

# Errors that will not go away by trying again.
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "invalid_auth",
    "account_inactive",
    "user_not_found",
    # The person named is a bot user: no bot can DM one (HubSpot/slack-client#90).
    "cannot_dm_bot",
    "msg_too_long",
    # The blocks come to more than Slack's total for one message (slackapi/bolt-js #2509, #2867):
    # the same payload is refused every time, so it is parked at once, not retried.
    "msg_blocks_too_long",
    "no_text",
    "invalid_arguments",
    # The workspace removed the app (or revoked its token): nothing is sent there until it is installed again.
    "token_revoked",
}


def slack_error(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    error = str(exc.response.get("error", "")) if exc.response.data else ""
    if status == 429:
        retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
        return DeliveryError(f"Slack rate limit ({error})", retry_after=retry_after)
    return DeliveryError(f"Slack answered {status} {error}", retryable=error not in PERMANENT)


class ChannelPace:
    """This process's posts into each conversation, kept to about one a second with a short burst.

    Slack's chat.postMessage "generally allows posting one message per second per channel", short bursts
    above that, and answers 429 beyond (docs.slack.dev/apis/web-api/rate-limits). A digest, its chart and its
    thread replies all go to one channel: waiting here for the channel's turn costs at most a second a post,
    where a 429 would pause every Slack delivery of the process. A burst of 2 stays under what Slack allows.
    """

    def __init__(self, rate: float = 1.0, burst: float = 2.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[tuple[int, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def reserve(self, initiative_id: int, channel: str) -> float:
        """Take the conversation's next turn: the seconds to wait before posting (0: now)."""
        # A user id posts into the app's DM with that user, the same conversation as its D… id.
        key = (initiative_id, f"D{channel}" if channel[:1] in ("U", "W") else channel)
        with self._lock:
            now = self.clock()
            tokens, stamp = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate) - 1
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 10_000:  # conversations long quiet are full again: forget them
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / self.rate}
            return 0.0 if tokens >= 0 else -tokens / self.rate


CHANNEL_PACE = ChannelPace()


def answer_through(response_url: str, **message: Any) -> bool:
    """Post to a command's or a click's response_url; False when Slack did not take it.

    `WebhookClient.send` returns Slack's answer rather than raising: a response_url used up (5 posts)
    or expired (30 minutes) answers 404 `expired_url`, and a 429 or a 5xx is possible too. Unchecked,
    the answer vanished without a line in the log. A 429 is waited out (its Retry-After) and tried again.
    """
    try:
        client = WebhookClient(
            response_url,
            timeout=10,
            retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
        )
        response = client.send(**message)
    except OSError as exc:  # unreachable after the retry: a network error, a timeout
        log.warning("an answer through the response_url could not be sent: %r", exc)
        return False
    if response.status_code != 200:
        log.warning("Slack refused an answer through the response_url: %s %s", response.status_code, response.body[:80])
        return False
    return True


def post_to_person(client: WebClient, user: str, **message: Any) -> None:
    """Post into the person's DM with the app at Slack's pace for one conversation (about one a second),
    shared by every answer and confirmation sent there: a quick run of form submissions would otherwise
    meet a 429 that outlasts the client's retries, and the person would miss what was recorded."""
    time.sleep(CHANNEL_PACE.reserve(0, user))
    client.chat_postMessage(channel=user, **message)


def client_for(services: Services, item: Item) -> WebClient:
    """The Web API client of the workspace the item's initiative belongs to; for a DM (a user ID as
    the channel), that of the person's own workspace when it is one of the initiative's partner
    workspaces (`partners.client_for_person`).

    Parks the item at once (no retries) when the app is no longer installed there: a removed app
    does not come back by waiting, and `ci-slackbot outbox retry` sends it after a new install.
    """
    channel = str(item.payload.get("channel") or "")
    try:
        if channel[:1] in ("U", "W"):
            return client_for_person(services, item.initiative_id, channel)
        return cast(WebClient, services.slack_for_initiative(item.initiative_id))
    except NotInstalledError as exc:
        raise DeliveryError(str(exc), retryable=False, cause="slack:not_installed:") from exc


def _thread_ts(services: Services, payload: dict[str, Any]) -> str | None:
    key = payload.get("thread_of")
    if not key:
        return payload.get("thread_ts")
    with services.db.unit_of_work() as session:
        parent = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
        ts = (parent.result or {}).get("ts") if parent is not None else None
        parked = parent is None or parent.status == FAILED
        cause = parent.cause if parent is not None else None
    if not ts and parked:
        # Parked too, for its parent's cause (retried with it, told once with it): once the parent
        # is posted, this goes out after it.
        raise DeliveryError(f"the message {key} this replies to was not posted", retryable=False, cause=cause)
    if not ts:
        # Not a failure: the parent is still queued. Waiting must not use up attempts.
        raise NotReady(f"waiting for the message {key} to be posted first")
    return str(ts)


def post_message(services: Services, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    for item in items:
        payload = item.payload
        message: dict[str, Any] = {"channel": payload["channel"], "text": payload.get("text", "")}
        if payload.get("blocks"):
            message["blocks"] = payload["blocks"]
        thread_ts = _thread_ts(services, payload)
        if thread_ts:
            message["thread_ts"] = thread_ts
        message["unfurl_links"] = False
        message = cast(dict[str, Any], defang(message))
        client = client_for(services, item)
        time.sleep(CHANNEL_PACE.reserve(item.initiative_id, str(payload["channel"])))
        try:
            response = client.chat_postMessage(**message)
        except SlackApiError as exc:
            raise explain(slack_error(exc), exc, str(payload["channel"])) from exc
        results[item.id] = {"channel": response.get("channel"), "ts": response.get("ts")}
    return results


def register(registry: Registry[Services]) -> None:
    registry.register("slack", "post", post_message)
    # chat.postMessage allows about one message a second a channel; pace ourselves a little faster than that overall.
    registry.policies["slack"] = Policy(rate=5.0, burst=5, base=1.0, cap=60.0)
