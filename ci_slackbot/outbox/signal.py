"""Waking a process's outbox workers the moment something is enqueued."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

# Where `enqueue` notes, in the session, the services that have new rows once it commits.
ENQUEUED = "outbox_services"


class OutboxSignal:
    """Wakes a process's outbox workers as soon as something is enqueued, by service.

    Once it `watch`es a session factory, every commit that enqueued wakes the workers of
    the services it enqueued for, and only those: a claim is a write transaction, and
    waking every worker after every command would queue several empty claims a command
    on SQLite's write turn, beside the commands themselves.
    """

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, service: str) -> threading.Event:
        """The event a worker for `service` waits on."""
        with self._lock:
            return self._events.setdefault(service, threading.Event())

    def notify(self, services: Iterable[str]) -> None:
        for service in services:
            self.event(service).set()

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Wake the workers after each commit of these sessions, for what the transaction enqueued."""
        event.listen(sessions, "after_commit", self._committed)

    def _committed(self, session: Session) -> None:
        self.notify(session.info.pop(ENQUEUED, ()))

    def set(self) -> None:
        """Wake every worker (to stop them)."""
        with self._lock:
            events = list(self._events.values())
        for waiting in events:
            waiting.set()

    def is_set(self) -> bool:
        """Whether a wake-up is waiting for some worker."""
        with self._lock:
            return any(waiting.is_set() for waiting in self._events.values())
