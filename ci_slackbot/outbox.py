"""The durable outbox: every write to Slack, Notion or Sheets is a row first.

A row is added in the same transaction as the change that causes it, so a
crash can never keep the change and lose the write. Workers in each app
process (or `ci-slackbot worker`) claim due rows, deliver them, and mark them
done. Claims are leases: a worker killed mid-delivery leaves its rows to be
claimed again when the lease runs out, which is why every deliverer must be
idempotent (look the record up by its key before creating it again).

On PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
processes share the work without waiting on each other; on SQLite the claim
is one UPDATE, which SQLite serialises.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ci_slackbot.store.models import OutboxItem

log = logging.getLogger(__name__)

PENDING, DELIVERING, DONE, FAILED = "pending", "delivering", "done", "failed"


class DeliveryError(Exception):
    """A failed delivery. Retryable ones are tried again later; others are parked at once.

    `retry_after` means the service itself asked us to wait (HTTP 429): the whole
    service is paused that long, and the wait does not count as a failed attempt,
    so a storm of 429s can never park an item.
    """

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotReady(DeliveryError):
    """Something this item needs is not there yet (the message it replies to, say).

    Tried again after `delay` seconds, without counting an attempt and without
    pausing the rest of the service.
    """

    def __init__(self, message: str, *, delay: float = 2.0) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class Item:
    """What a deliverer sees of an outbox row (detached from any session)."""

    id: int
    initiative_id: int
    service: str
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Policy:
    """How hard to try: backoff doubles from `base` up to `cap`, with jitter."""

    max_attempts: int = 12
    base: float = 1.0
    cap: float = 120.0
    lease: float = 60.0
    batch: int = 1
    rate: float | None = None  # requests a second on average, client-side
    burst: float = 1.0
    # The deliverer takes a token from `Registry.limiter(service)` for every request
    # it makes (one delivery may need several), so the worker does not take one per claim.
    paced_by_deliverer: bool = False

    def backoff(self, attempts: int) -> float:
        delay = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.5, 1.5)

    def tuned(self, settings: Any) -> Policy:
        """This policy with the deployment's overrides (the CI_SLACKBOT_OUTBOX_* settings) applied."""
        overrides = {
            name: value
            for name, value in (
                ("base", getattr(settings, "outbox_backoff_base", None)),
                ("cap", getattr(settings, "outbox_backoff_cap", None)),
                ("max_attempts", getattr(settings, "outbox_max_attempts", None)),
                ("lease", getattr(settings, "outbox_lease", None)),
            )
            if value is not None
        }
        return dataclasses.replace(self, **overrides) if overrides else self


# A deliverer gets a batch of items (one, unless its policy batches) and returns
# a result per item id; it raises DeliveryError for the whole batch.
Deliverer = Callable[[Any, Sequence[Item]], dict[int, dict[str, Any]]]


@dataclass
class Registry:
    deliverers: dict[tuple[str, str], Deliverer] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, service: str, kind: str, deliverer: Deliverer) -> None:
        self.deliverers[(service, kind)] = deliverer

    def policy(self, service: str) -> Policy:
        return self.policies.get(service, Policy())

    def limiter(self, service: str) -> RateLimiter:
        """The one rate limiter of a service in this process, shared by its worker and its adapter."""
        with self._lock:
            limiter = self.limiters.get(service)
            if limiter is None:
                policy = self.policy(service)
                limiter = self.limiters[service] = RateLimiter(policy.rate, policy.burst)
            return limiter

    def tune(self, settings: Any) -> Registry:
        """Apply the deployment's outbox settings to every policy (and to the default one)."""
        for service in {s for s, _ in self.deliverers} | set(self.policies):
            self.policies[service] = self.policy(service).tuned(settings)
        return self


def enqueue(
    session: Session,
    *,
    initiative_id: int,
    service: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    replace_pending: bool = False,
) -> OutboxItem:
    """Add a write to the outbox in the caller's transaction; a key already queued is not added twice.

    With `replace_pending`, a still-pending row with the same key gets the new
    payload (a correction made before the first one was delivered).
    """
    existing = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == key))
    if existing is not None:
        if replace_pending and existing.status in (PENDING, FAILED):
            existing.payload = payload
            existing.status = PENDING
            existing.attempts = 0
        elif replace_pending and existing.status in (DONE, DELIVERING):
            # Delivered (or being delivered) already: the change is a new write.
            return enqueue(
                session,
                initiative_id=initiative_id,
                service=service,
                kind=kind,
                key=f"{key}#{_now().timestamp():.6f}",
                payload=payload,
            )
        return existing
    item = OutboxItem(
        initiative_id=initiative_id, service=service, kind=kind, idempotency_key=key, payload=payload, status=PENDING
    )
    session.add(item)
    session.flush()
    return item


def _now() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """Client-side pacing, so we stay under a service's limit instead of bouncing off it."""

    def __init__(self, rate: float | None, burst: float = 1.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The service said Retry-After: nobody in this process calls it before then."""
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def pause_left(self) -> float:
        """Seconds until the service may be called again after a Retry-After (0 when it may now)."""
        with self.lock:
            return max(0.0, self.paused_until - time.monotonic())

    def wait(self, stop: threading.Event, *, take: bool = True) -> bool:
        """Block until a request may go (and take its token); False if `stop` is set first.

        With `take=False` only a Retry-After pause is waited out.
        """
        while not stop.is_set():
            with self.lock:
                now = time.monotonic()
                if now < self.paused_until:
                    delay = self.paused_until - now
                elif self.rate is None or not take:
                    return True
                else:
                    self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                    self.stamp = now
                    if self.tokens >= 1:
                        self.tokens -= 1
                        return True
                    delay = (1 - self.tokens) / self.rate
            stop.wait(min(delay, 0.5))
        return False


class Outbox:
    """Claims, delivers and settles outbox rows for one service."""

    def __init__(self, services: Any, registry: Registry, service: str) -> None:
        self.services = services
        self.db = services.db
        self.registry = registry
        self.service = service
        self.policy = registry.policy(service)
        self.limiter = registry.limiter(service)
        self.worker_id = f"{services.node}:{service}:{threading.get_ident()}"

    def claim(self) -> list[Item]:
        now = _now()
        due = or_(
            (OutboxItem.status == PENDING) & (OutboxItem.next_attempt_at <= now),
            (OutboxItem.status == DELIVERING) & (OutboxItem.claimed_until < now),
        )
        with self.db.unit_of_work() as session:
            query = (
                select(OutboxItem)
                .where(OutboxItem.service == self.service, due)
                .order_by(OutboxItem.id)
                .limit(self.policy.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
                rows = list(session.scalars(query))
            else:
                ids = list(session.scalars(query.with_only_columns(OutboxItem.id)))
                if not ids:
                    return []
                # One UPDATE is atomic in SQLite: a row claimed by another process is skipped.
                session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_(ids), due)
                    .values(
                        status=DELIVERING,
                        claimed_by=self.worker_id,
                        claimed_until=now + timedelta(seconds=self.policy.lease),
                    )
                    .execution_options(synchronize_session=False)
                )
                rows = list(
                    session.scalars(
                        select(OutboxItem).where(
                            OutboxItem.id.in_(ids),
                            OutboxItem.claimed_by == self.worker_id,
                            OutboxItem.status == DELIVERING,
                        )
                    )
                )
            for row in rows:
                row.status = DELIVERING
                row.claimed_by = self.worker_id
                row.claimed_until = now + timedelta(seconds=self.policy.lease)
            return [
                Item(r.id, r.initiative_id, r.service, r.kind, r.idempotency_key, dict(r.payload), r.attempts)
                for r in rows
            ]

    def deliver(self, items: Sequence[Item]) -> None:
        by_kind: dict[str, list[Item]] = {}
        for item in items:
            by_kind.setdefault(item.kind, []).append(item)
        for kind, group in by_kind.items():
            deliverer = self.registry.deliverers.get((self.service, kind))
            if deliverer is None:
                self._settle(group, error=DeliveryError(f"no deliverer for {self.service}/{kind}", retryable=False))
                continue
            try:
                results = deliverer(self.services, group)
            except NotReady as exc:
                self._settle(group, error=exc)
            except DeliveryError as exc:
                if exc.retry_after:
                    self.limiter.pause(exc.retry_after)
                self._settle(group, error=exc)
            except Exception as exc:  # a bug or an unexpected answer: retry, but say so
                log.exception("outbox delivery of %s/%s failed", self.service, kind)
                self._settle(group, error=DeliveryError(repr(exc)))
            else:
                self._settle(group, results=results)

    def _settle(
        self,
        items: Sequence[Item],
        *,
        results: dict[int, dict[str, Any]] | None = None,
        error: DeliveryError | None = None,
    ) -> None:
        now = _now()
        with self.db.unit_of_work() as session:
            for item in items:
                row = session.get(OutboxItem, item.id)
                if row is None or row.claimed_by != self.worker_id:
                    continue  # our lease ran out and someone else took it
                row.claimed_by = None
                row.claimed_until = None
                if error is None:
                    row.status = DONE
                    row.delivered_at = now
                    row.result = (results or {}).get(item.id, {})
                    row.last_error = None
                    continue
                row.last_error = str(error)[:2000]
                if isinstance(error, NotReady):
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=error.delay)
                    continue
                if error.retryable and error.retry_after:
                    # The service asked us to wait: honour it (plus a little jitter, so that
                    # several processes do not all come back in the same instant).
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=error.retry_after * random.uniform(1.0, 1.2))
                    continue
                row.attempts += 1
                if not error.retryable or row.attempts >= self.policy.max_attempts:
                    row.status = FAILED
                    log.warning("outbox item %s (%s/%s) parked: %s", row.id, row.service, row.kind, error)
                else:
                    delay = max(error.retry_after or 0.0, self.policy.backoff(row.attempts))
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=delay)

    def run_once(self, stop: threading.Event) -> int:
        per_claim = not self.policy.paced_by_deliverer
        if not self.limiter.wait(stop, take=per_claim):
            return 0
        items = self.claim()
        if items:
            self.deliver(items)
        elif per_claim:
            # Nothing claimed: give the token back by not consuming more than one per poll.
            with self.limiter.lock:
                self.limiter.tokens = min(self.limiter.capacity, self.limiter.tokens + 1)
        return len(items)

    def run(self, stop: threading.Event, poll: float = 1.0) -> None:
        signal: threading.Event = self.services.outbox_signal
        while not stop.is_set():
            try:
                delivered = self.run_once(stop)
            except Exception:
                log.exception("outbox worker for %s hit an error", self.service)
                delivered = 0
            if not delivered:
                signal.wait(poll)
                signal.clear()


def registry_of(services: Any) -> Registry:
    """The process's registry, tuned by its settings; built once and kept in `services.extras`.

    Adapters use it to reach their service's shared rate limiter, so that every
    request to a service from this process, delivery or not, is paced together.
    """
    registry: Registry | None = services.extras.get("outbox_registry")
    if registry is None:
        # The wiring (which integration delivers what) lives in bootstrap, not here.
        registry = services.extras.setdefault("outbox_registry", services.outbox_registry())
    return registry


def start_workers(services: Any, stop: threading.Event) -> Callable[[], None]:
    registry = registry_of(services)
    poll = float(getattr(services.settings, "outbox_poll", 1.0))
    threads = []
    for service in sorted({s for s, _ in registry.deliverers}):
        worker = Outbox(services, registry, service)
        thread = threading.Thread(
            target=worker.run, args=(stop,), kwargs={"poll": poll}, name=f"outbox-{service}", daemon=True
        )
        thread.start()
        threads.append(thread)

    def stopper() -> None:
        stop.set()
        services.outbox_signal.set()
        for thread in threads:
            thread.join(timeout=5)

    return stopper


@dataclass(frozen=True)
class Health:
    pending: int  # not delivered yet: due, waiting for a retry, or being delivered
    failed: int  # parked: needs `ci-slackbot outbox retry`
    oldest_pending_seconds: float | None
    by_service: dict[str, dict[str, int]]  # service -> status -> count
    oldest_by_service: dict[str, float] = field(default_factory=dict)  # service -> age of its oldest pending item


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def health(session: Session, initiative_id: int | None = None) -> Health:
    """How the outbox is doing: counts by service and status, and how long the oldest item has waited."""
    query = select(OutboxItem.service, OutboxItem.status, func.count(), func.min(OutboxItem.created_at)).group_by(
        OutboxItem.service, OutboxItem.status
    )
    if initiative_id is not None:
        query = query.where(OutboxItem.initiative_id == initiative_id)
    by_service: dict[str, dict[str, int]] = {}
    oldest_by_service: dict[str, datetime] = {}
    pending = failed = 0
    for service, status, count, first in session.execute(query):
        by_service.setdefault(service, {})[status] = count
        if status in (PENDING, DELIVERING):
            pending += count
            if first is not None:
                first = _aware(first)
                known = oldest_by_service.get(service)
                oldest_by_service[service] = first if known is None else min(known, first)
        elif status == FAILED:
            failed += count
    now = _now()
    ages = {service: (now - first).total_seconds() for service, first in oldest_by_service.items()}
    return Health(pending, failed, max(ages.values()) if ages else None, by_service, ages)


def items(
    session: Session, statuses: Sequence[str] = (PENDING, DELIVERING, FAILED), *, limit: int = 50
) -> list[OutboxItem]:
    """Outbox rows in these states, oldest first (for `ci-slackbot outbox`)."""
    query = select(OutboxItem).where(OutboxItem.status.in_(statuses)).order_by(OutboxItem.id).limit(limit)
    return list(session.scalars(query))


def retry_failed(session: Session, ids: Sequence[int] = ()) -> int:
    """Put parked items back in the queue (all of them, or those with these ids); returns how many."""
    query = update(OutboxItem).where(OutboxItem.status == FAILED)
    if ids:
        query = query.where(OutboxItem.id.in_(ids))
    result = session.execute(query.values(status=PENDING, attempts=0, next_attempt_at=_now(), last_error=None))
    return int(getattr(result, "rowcount", 0) or 0)
