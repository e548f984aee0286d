"""Who SLACK_BOT_TOKEN is: its workspace's team ID, its bot user and bot ID, from one auth.test.

The team ID decides which workspace the initiative loaded without `--team` belongs to, so it
is asked of Slack, never taken from a request: a request may name any team.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# After a failed auth.test, how long before a request may ask Slack again: while Slack is down,
# requests answer at once instead of each waiting on a call that will fail too.
RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class TokenOwner:
    team_id: str
    bot_user_id: str | None
    bot_id: str | None


class TokenIdentity:
    """auth.test of one bot token, asked once it answers, by one thread at a time."""

    def __init__(
        self, client: WebClient, *, retry_seconds: float = RETRY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._owner: TokenOwner | None = None
        self._tried_at: float | None = None
        self._lock = threading.Lock()

    def learn_in_background(self) -> None:
        """Ask Slack now, off the request path, so that the first request does not wait for it."""
        threading.Thread(target=self.owner, name="auth-test", daemon=True).start()

    @property
    def known(self) -> TokenOwner | None:
        """What Slack answered, without asking it."""
        return self._owner

    def owner(self) -> TokenOwner | None:
        """What Slack answered; asked now if not yet (a request arriving meanwhile waits for that one call)."""
        if self._owner is not None:
            return self._owner
        with self._lock:
            if self._owner is not None:
                return self._owner
            now = self.clock()
            if self._tried_at is not None and now - self._tried_at < self.retry_seconds:
                return None
            self._tried_at = now
            try:
                response = self.client.auth_test()
            except (SlackApiError, OSError) as exc:
                log.warning("SLACK_BOT_TOKEN's workspace is unknown for now: auth.test failed: %s", exc)
                return None
            team = response.get("team_id")
            if not team:
                log.warning("SLACK_BOT_TOKEN's workspace is unknown: auth.test named no team")
                return None
            self._owner = TokenOwner(str(team), response.get("user_id"), response.get("bot_id"))
            return self._owner

    def team_id(self) -> str | None:
        owner = self.owner()
        return owner.team_id if owner is not None else None
