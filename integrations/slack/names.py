"""People's names as Slack knows them (users.info), for readers of Notion pages and the Sheet.

Asked off the request path (by the deliverers) and kept per process: names seldom
change, so each is kept a while (TTL) and the cache holds a bounded number of people,
the least recently used going first. A failed look-up is not kept: the next delivery
asks again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.installations import NotInstalledError

log = logging.getLogger(__name__)

TTL_SECONDS = 6 * 3600.0
MAX_PEOPLE = 5000
# Slack trouble never fails a Notion or Sheets write: the ID stands in for the name.
SLACK_UNAVAILABLE = (SlackApiError, OSError, KeyError, NotInstalledError)


def display_name(user: dict[str, object]) -> str:
    """The name people know someone by: their full name, else their display name, else their handle."""
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    assert isinstance(profile, dict)
    for name in (profile.get("real_name"), profile.get("display_name"), user.get("real_name"), user.get("name")):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return ""


class SlackNames:
    """user ID → name, from users.info, bounded in size and age."""

    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_people: int = MAX_PEOPLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_people = max_people
        self.clock = clock
        self._names: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, user_id: str) -> str | None:
        with self._lock:
            entry = self._names.get(user_id)
            if entry is None:
                return None
            name, until = entry
            if until <= self.clock():
                del self._names[user_id]
                return None
            self._names.move_to_end(user_id)
            return name

    def remember(self, user_id: str, name: str) -> None:
        with self._lock:
            self._names[user_id] = (name, self.clock() + self.ttl)
            self._names.move_to_end(user_id)
            while len(self._names) > self.max_people:
                self._names.popitem(last=False)

    def name(self, client: Callable[[], WebClient], user_id: str) -> str | None:
        """The person's name, or None when Slack will not say (no scope, not installed, Slack down)."""
        known = self.cached(user_id)
        if known is not None:
            return known or None
        try:
            user = client().users_info(user=user_id)["user"]
        except SLACK_UNAVAILABLE as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("no name for %s from users.info (%s)", user_id, error)
            return None
        name = display_name(user if isinstance(user, dict) else {})
        self.remember(user_id, name)
        return name or None
