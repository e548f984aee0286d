"""People's names as Slack knows them (users.info), for readers of Notion pages and the Sheet,
and the workspace each person belongs to (their `team_id`), for DMs to partner workspaces.

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
    """user ID → name (and their own workspace's team ID), from users.info, bounded in size and age."""

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
        self._teams: dict[str, str] = {}  # for the people in `_names`, who are forgotten with them
        self._lock = threading.Lock()

    def cached(self, user_id: str) -> str | None:
        with self._lock:
            entry = self._names.get(user_id)
            if entry is None:
                return None
            name, until = entry
            if until <= self.clock():
                del self._names[user_id]
                self._teams.pop(user_id, None)
                return None
            self._names.move_to_end(user_id)
            return name

    def remember(self, user_id: str, name: str, team: str | None = None) -> None:
        with self._lock:
            self._names[user_id] = (name, self.clock() + self.ttl)
            self._names.move_to_end(user_id)
            if team:
                self._teams[user_id] = team
            while len(self._names) > self.max_people:
                gone, _ = self._names.popitem(last=False)
                self._teams.pop(gone, None)

    def team(self, client: Callable[[], WebClient], user_id: str) -> str | None:
        """The team ID of the person's own workspace (a Slack Connect partner's is their organization's),
        or None when Slack will not say."""
        if self.cached(user_id) is not None:
            with self._lock:
                if user_id in self._teams:
                    return self._teams[user_id]
        self.name(client, user_id, fresh=True)
        with self._lock:
            return self._teams.get(user_id)

    def name(self, client: Callable[[], WebClient], user_id: str, *, fresh: bool = False) -> str | None:
        """The person's name, or None when Slack will not say (no scope, not installed, Slack down)."""
        known = None if fresh else self.cached(user_id)
        if known is not None:
            return known or None
        try:
            user = client().users_info(user=user_id)["user"]
        except SLACK_UNAVAILABLE as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("no name for %s from users.info (%s)", user_id, error)
            return None
        user = user if isinstance(user, dict) else {}
        name = display_name(user)
        team = user.get("team_id")
        self.remember(user_id, name, team if isinstance(team, str) else None)
        return name or None
