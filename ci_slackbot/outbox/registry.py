"""Which deliverer delivers which kind of item, each service's policy, and its rate limiter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ci_slackbot.outbox.limiter import RateLimiter
from ci_slackbot.outbox.notices import Parked
from ci_slackbot.outbox.pacing import SharedPace
from ci_slackbot.outbox.policy import Policy
from ci_slackbot.outbox.rows import Item
from ci_slackbot.store.db import Database

if TYPE_CHECKING:
    from ci_slackbot.settings import Settings
    from ci_slackbot.wiring import CoreServices

# The process's services, as the deliverers take them: the outbox only passes them on, so a
# registry of deliverers written for the whole `Services` hands them the whole `Services`.
H = TypeVar("H", bound="CoreServices")

# A deliverer gets a batch of items (one, unless its policy batches) and returns
# a result per item id; it raises DeliveryError for the whole batch.
Deliverer = Callable[[H, Sequence[Item]], dict[int, dict[str, Any]]]
# Told, after the commit, of the items a worker has just parked (to tell the people who can fix it).
ParkedHook = Callable[[H, Sequence[Parked]], None]


@dataclass
class Registry(Generic[H]):
    deliverers: dict[tuple[str, str], Deliverer[H]] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    # The database whose `service_paces` the shared policies pace through (see `bind`).
    database: Database | None = None
    on_parked: ParkedHook[H] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, service: str, kind: str, deliverer: Deliverer[H]) -> None:
        self.deliverers[(service, kind)] = deliverer

    def policy(self, service: str) -> Policy:
        return self.policies.get(service, Policy())

    def limiter(self, service: str) -> RateLimiter:
        """The one rate limiter of a service in this process, shared by its worker and its adapter.

        For a `shared` policy, once the registry is bound to a database, the limiter takes
        its slots from the database, where the other processes take theirs.
        """
        with self._lock:
            limiter = self.limiters.get(service)
            if limiter is None:
                policy = self.policy(service)
                limiter = self.limiters[service] = RateLimiter(policy.rate, policy.burst)
                limiter.shared = self._shared_pace(service)
            return limiter

    def bind(self, database: Database) -> Registry[H]:
        """Pace the shared policies through `database` (the first database bound stays)."""
        with self._lock:
            if self.database is None:
                self.database = database
                for service, limiter in self.limiters.items():
                    if limiter.shared is None:
                        limiter.shared = self._shared_pace(service)
        return self

    def _shared_pace(self, service: str) -> SharedPace | None:
        policy = self.policy(service)
        if not policy.shared or policy.rate is None or self.database is None:
            return None
        return SharedPace(self.database, service, policy.rate, policy.burst)

    def tune(self, settings: Settings) -> Registry[H]:
        """Apply the deployment's outbox settings to every policy (and to the default one)."""
        for service in {s for s, _ in self.deliverers} | set(self.policies):
            self.policies[service] = self.policy(service).tuned(settings)
        return self
