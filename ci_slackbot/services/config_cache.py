"""What an initiative's file defines — its indicators and who belongs to which organization — kept
in memory between commands.

Every `/ci` command needs both, and they change only when the backbone team runs
`ci-slackbot init`, often from another process. That bumps `initiatives.revision`
whenever anything changes, and each request reads the initiative row anyway, so an
entry is used only while its revision is the one in the database: a change is seen
by the very next command, in every process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ci_slackbot.services.measurement import IndicatorView, indicator_views
from ci_slackbot.services.people import Person, who_is
from ci_slackbot.store.models import Initiative

# Past this many people in one initiative's entry, it is cleared rather than grown: a bound on memory
# against commands sent by ever new user ids, far above any real coalition's size.
MAX_PEOPLE = 5000


@dataclass
class _Entry:
    revision: int
    indicators: tuple[IndicatorView, ...] | None = None
    people: dict[str, Person] = field(default_factory=dict)


class ConfigCache:
    """Indicator views and people per initiative, valid for one revision of the initiative."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, initiative: Initiative) -> _Entry:
        revision = initiative.revision or 0
        with self._lock:
            entry = self._entries.get(initiative.id)
            if entry is None or entry.revision != revision:
                entry = self._entries[initiative.id] = _Entry(revision)
            return entry

    def indicators(self, session: Session, initiative: Initiative) -> list[IndicatorView]:
        """The initiative's current (not retired) indicators, as `indicator_views` gives them."""
        entry = self._entry(initiative)
        if entry.indicators is None:
            # Built outside the lock: two threads may both build it once; either result is the same.
            entry.indicators = tuple(indicator_views(session, initiative.id))
        return list(entry.indicators)

    def person(self, session: Session, initiative: Initiative, user_id: str) -> Person:
        """Who `user_id` is in the initiative, as `who_is` says."""
        entry = self._entry(initiative)
        person = entry.people.get(user_id)
        if person is None:
            person = who_is(session, initiative, user_id)
            with self._lock:
                if len(entry.people) >= MAX_PEOPLE:
                    entry.people.clear()
                entry.people[user_id] = person
        return person
