"""The durable outbox: every write to Slack, Notion or Sheets is a row first.

A row is added in the same transaction as the change that causes it, so a
crash can never keep the change and lose the write. Workers in each app
process (or `ci-slackbot worker`) claim due rows, deliver them, and mark them
done. Claims are leases, renewed while the delivery runs: a worker killed
mid-delivery leaves its rows to be claimed again when the lease runs out (half a
minute), which is why every deliverer must be
idempotent (look the record up by its key before creating it again). Every
claim is counted (`claims`, never reset), so a deliverer can tell a row's very
first claim, when no earlier attempt can have reached the service and the
look-up can be skipped, from every later one (`Item.claimed_before`).

On PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
processes share the work without waiting on each other; on SQLite the claim
is one UPDATE, which SQLite serialises.

Services with a limit per account rather than per process (Notion) pace their
requests through the database (`SharedPace`): every process takes its request
slots from one row, so together they keep to the limit.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Float,
    Table,
    bindparam,
    case,
    cast,
    event,
    extract,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem, ServicePace

if TYPE_CHECKING:
    from ci_slackbot.wiring import CoreServices

log = logging.getLogger(__name__)

PENDING, DELIVERING, DONE, FAILED = "pending", "delivering", "done", "failed"

# The longest a delivery keeps renewing its lease (`Outbox.renewing`), in seconds.
MAX_HOLD = 30 * 60.0

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
    pausing the rest of the service. `sent_nothing` says that no request for any of
    the items was sent before it was raised: then the claim is not counted either
    (see `claimed_before`), and the next one still counts as the first.
    """

    def __init__(self, message: str, *, delay: float = 2.0, sent_nothing: bool = False) -> None:
        super().__init__(message)
        self.delay = delay
        self.sent_nothing = sent_nothing


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
    # False only on a row's very first claim: then no earlier attempt can have reached the
    # service, and a deliverer may create without first looking for what it would create.
    claimed_before: bool = True


@dataclass(frozen=True)
class Policy:
    """How hard to try: backoff doubles from `base` up to `cap`, with jitter."""

    max_attempts: int = 12
    base: float = 1.0
    cap: float = 120.0
    lease: float = 30.0  # kept alive while the delivery runs (`Outbox.renewing`)
    batch: int = 1
    rate: float | None = None  # requests a second on average, client-side
    burst: float = 1.0
    # The deliverer takes a token from `Registry.limiter(service)` for every request
    # it makes (one delivery may need several), so the worker does not take one per claim.
    paced_by_deliverer: bool = False
    # The rate is for every process on the database together (`SharedPace`), not for each.
    shared: bool = False

    def __post_init__(self) -> None:
        if self.shared and not self.paced_by_deliverer:
            # A worker takes its token before it knows whether anything is due: taken from the
            # shared pace, every idle poll of every process would use up a slot of the service.
            raise ValueError("a shared pace is taken per request: it needs paced_by_deliverer=True")

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


# The process's services, as the deliverers take them: the outbox only passes them on, so a
# registry of deliverers written for the whole `Services` hands them the whole `Services`.
H = TypeVar("H", bound="CoreServices")

# A deliverer gets a batch of items (one, unless its policy batches) and returns
# a result per item id; it raises DeliveryError for the whole batch.
Deliverer = Callable[[H, Sequence[Item]], dict[int, dict[str, Any]]]


@dataclass
class Registry(Generic[H]):
    deliverers: dict[tuple[str, str], Deliverer[H]] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    # The database whose `service_paces` the shared policies pace through (see `bind`).
    database: Database | None = None
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

    def tune(self, settings: Any) -> Registry[H]:
        """Apply the deployment's outbox settings to every policy (and to the default one)."""
        for service in {s for s, _ in self.deliverers} | set(self.policies):
            self.policies[service] = self.policy(service).tuned(settings)
        return self


# Built once, on the table rather than the mapped class (an ORM-enabled statement runs the ORM's
# machinery even for plain columns): every recorded value and decision runs them.
_OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
_BY_KEY = select(_OUTBOX.c.id, _OUTBOX.c.status).where(_OUTBOX.c.idempotency_key == bindparam("key"))
# Insert unless the key is queued already: one statement for a new key, the common case. On
# PostgreSQL it also waits for a concurrent transaction that holds the same key and then does
# nothing, where a plain INSERT would fail on the unique constraint.
_INSERT_NEW = {
    dialect.dialect.name: dialect.insert(_OUTBOX)
    .on_conflict_do_nothing(index_elements=[_OUTBOX.c.idempotency_key])
    .returning(_OUTBOX.c.id)
    for dialect in (postgresql, sqlite)
}
_ITEM_COLUMNS = (
    _OUTBOX.c.id,
    _OUTBOX.c.initiative_id,
    _OUTBOX.c.service,
    _OUTBOX.c.kind,
    _OUTBOX.c.idempotency_key,
    _OUTBOX.c.payload,
    _OUTBOX.c.attempts,
)
_SETTLE_DONE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("id_"), _OUTBOX.c.claimed_by == bindparam("me"))
    .values(
        status=DONE,
        delivered_at=bindparam("at"),
        result=bindparam("result_", type_=_OUTBOX.c.result.type),
        last_error=None,
        claimed_by=None,
        claimed_until=None,
    )
)


def enqueue(
    session: Session,
    *,
    initiative_id: int,
    service: str,
    kind: str,
    key: str,
    payload: dict[str, Any],
    replace_pending: bool = False,
) -> int:
    """Add a write to the outbox in the caller's transaction; a key already queued is not added twice.
    Returns the row's id.

    With `replace_pending`, a still-pending row with the same key gets the new
    payload (a correction made before the first one was delivered).
    """
    session.info.setdefault(ENQUEUED, set()).add(service)
    # A plain INSERT, not an ORM object: most commands enqueue, and flushing one costs a fifth of such a command.
    new_id = session.execute(
        _INSERT_NEW[session.get_bind().dialect.name],
        {
            "initiative_id": initiative_id,
            "service": service,
            "kind": kind,
            "idempotency_key": key,
            "payload": payload,
            "status": PENDING,
        },
    ).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = session.execute(_BY_KEY, {"key": key}).one()
    if replace_pending and existing.status in (PENDING, FAILED):
        row = session.get_one(OutboxItem, existing.id)
        row.payload = payload
        row.status = PENDING
        row.attempts = 0
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
    return int(existing.id)


def _now() -> datetime:
    return datetime.now(UTC)


def database_clock(session: Session) -> ColumnElement[float]:
    """The database's "now" in seconds since the epoch, as an SQL expression.

    One clock for every process that shares the database, wherever they run.
    PostgreSQL's `clock_timestamp()` is the moment of evaluation (so a statement that
    waited for a row lock sees the time after the wait); SQLite's 'now' has
    millisecond precision and is the same throughout one statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("epoch", func.clock_timestamp()), Float)
    return cast((func.julianday("now") - 2440587.5) * 86400.0, Float)


class SharedPace:
    """Request slots of one service, taken by every process on a database from one row.

    A rate of `rate` a second with bursts of `burst` (the generic cell rate algorithm):
    the row holds the theoretical time of the next request, `next_slot`. Taking a slot
    is one atomic UPDATE … RETURNING, `next_slot = max(next_slot, now) + 1/rate`, and the
    caller waits until its slot, `burst - 1` intervals before the old `next_slot` at the
    earliest. So whichever processes ask, and however many, the service sees at most
    `burst` requests at once and `rate` a second on average; each caller waits about as
    long as the callers queued before it need (a few intervals), never holding a lock.
    """

    # A `next_slot` further ahead than this is not a queue but a clock that went back: start again from now.
    HORIZON = 60.0

    def __init__(self, db: Database, service: str, rate: float, burst: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("a shared pace needs a positive rate")
        self.db = db
        self.service = service
        self.interval = 1.0 / rate
        self.tolerance = (max(1.0, burst) - 1.0) * self.interval
        self._row_exists = False

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait for it (0 when it is now)."""
        if not self._row_exists:
            self._ensure_row()
        with self.db.unit_of_work() as session:
            now = database_clock(session)
            queued = (ServicePace.next_slot > now) & (ServicePace.next_slot < now + self.HORIZON)
            taken = session.execute(
                update(ServicePace)
                .where(ServicePace.service == self.service)
                .values(next_slot=case((queued, ServicePace.next_slot), else_=now) + self.interval)
                .returning(ServicePace.next_slot, now.label("now"))
                .execution_options(synchronize_session=False)
            ).one_or_none()
        if taken is None:  # the row was deleted meanwhile: add it again, and go now
            self._row_exists = False
            return 0.0
        next_slot, at = float(taken[0]), float(taken[1])
        return max(0.0, next_slot - self.interval - self.tolerance - at)

    def _ensure_row(self) -> None:
        with self.db.unit_of_work() as session:
            found = session.scalar(select(ServicePace.id).where(ServicePace.service == self.service))
        if found is None:
            try:
                with self.db.unit_of_work() as session:
                    session.add(ServicePace(service=self.service, next_slot=0.0))
            except IntegrityError:
                pass  # another process added it first
        self._row_exists = True


class RateLimiter:
    """Client-side pacing, so we stay under a service's limit instead of bouncing off it.

    With `shared` set, the rate is kept by every process on the database together:
    each request's slot comes from the database. A Retry-After pause stays this process's.
    """

    def __init__(self, rate: float | None, burst: float = 1.0, shared: SharedPace | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.paused_until = 0.0
        self.shared = shared

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
            shared = None
            with self.lock:
                now = time.monotonic()
                if now < self.paused_until:
                    delay = self.paused_until - now
                elif self.rate is None or not take:
                    return True
                elif self.shared is not None:
                    shared = self.shared
                else:
                    self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                    self.stamp = now
                    if self.tokens >= 1:
                        self.tokens -= 1
                        return True
                    delay = (1 - self.tokens) / self.rate
            if shared is not None:
                # Taken outside the lock: the database round trip must not hold up pause().
                wait = shared.reserve()
                return not stop.wait(wait) if wait > 0 else not stop.is_set()
            stop.wait(min(delay, 0.5))
        return False


def claimed_before(claims: int, status: str, attempts: int) -> bool:
    """Whether a row about to be claimed was claimed before, so that an earlier try may have reached the service.

    `claims` is the count that says so: one per claim, never reset (only a claim that
    ended in `NotReady(sent_nothing=True)` is taken back). `attempts` would not do: a
    worker killed mid-delivery counts none (its lease just runs out), nor do a 429 or a
    NotReady, and `retry_failed` and a replaced payload set it back to 0. A row still
    `delivering` is one whose lease ran out. Those two also catch rows claimed by a
    process that does not count claims yet, during a rolling upgrade.
    """
    return claims > 0 or status == DELIVERING or attempts > 0


class Outbox(Generic[H]):
    """Claims, delivers and settles outbox rows for one service."""

    def __init__(self, services: H, registry: Registry[H], service: str) -> None:
        self.services = services
        self.db = services.db
        self.registry = registry
        self.service = service
        self.policy = registry.policy(service)
        self.limiter = registry.bind(self.db).limiter(service)
        self.worker_id = f"{services.node}:{service}:{threading.get_ident()}"

    def claim(self) -> list[Item]:
        now = _now()
        due = or_(
            (OutboxItem.status == PENDING) & (OutboxItem.next_attempt_at <= now),
            (OutboxItem.status == DELIVERING) & (OutboxItem.claimed_until < now),
        )
        # Columns, not ORM objects, and one UPDATE for the batch: a Sheets batch is hundreds of rows,
        # and the claim holds SQLite's write turn (every command waits behind it).
        query = (
            select(*_ITEM_COLUMNS, _OUTBOX.c.claims, _OUTBOX.c.status)
            .where(OutboxItem.service == self.service, due)
            .order_by(OutboxItem.id)
            .limit(self.policy.batch)
        )
        with self.db.unit_of_work() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:
                query = query.with_for_update(skip_locked=True)
            candidates = session.execute(query).all()
            if not candidates:
                return []
            # Whether each row was claimed before this claim, judged from the row as it was.
            before = {c.id: claimed_before(c.claims, c.status, c.attempts) for c in candidates}
            # On PostgreSQL the rows are locked; on SQLite one UPDATE is atomic and the transaction
            # began IMMEDIATE, with the write lock: either way the rows read are the rows claimed.
            session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_(list(before)), *([] if postgres else [due]))
                .values(
                    status=DELIVERING,
                    claimed_by=self.worker_id,
                    claimed_until=now + timedelta(seconds=self.policy.lease),
                    claims=_OUTBOX.c.claims + 1,
                )
            )
            return [
                Item(
                    c.id,
                    c.initiative_id,
                    c.service,
                    c.kind,
                    c.idempotency_key,
                    dict(c.payload),
                    c.attempts,
                    claimed_before=before[c.id],
                )
                for c in candidates
            ]

    def deliver(self, items: Sequence[Item]) -> None:
        by_kind: dict[str, list[Item]] = {}
        for item in items:
            by_kind.setdefault(item.kind, []).append(item)
        with self.renewing(items):
            self._deliver_by_kind(by_kind)

    @contextmanager
    def renewing(self, items: Sequence[Item]) -> Iterator[None]:
        """Keep the lease on `items` alive while they are being delivered.

        The lease is what a crash costs: rows claimed by a killed process wait for it to run
        out. Renewed every third of it, it can be short (30 s) and a delivery can still take
        longer than that (a long decision is many Notion requests at 3 a second) without
        another worker taking its rows in the middle. Renewal stops after `MAX_HOLD`, so a
        delivery that hangs does not hold its rows for ever.
        """
        done = threading.Event()
        ids = [item.id for item in items]

        def renew() -> None:
            started = time.monotonic()
            while not done.wait(self.policy.lease / 3) and time.monotonic() - started < MAX_HOLD:
                try:
                    self._extend_lease(ids)
                except Exception:  # the database is away: the lease may run out, and the rows be taken again
                    log.warning("outbox: could not renew the lease on %s item(s) of %s", len(ids), self.service)

        thread = threading.Thread(target=renew, name=f"outbox-lease-{self.service}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            # Not joined: a renewal still under way finds the rows settled (no longer claimed by us)
            # and changes nothing, and waiting for it could wait on a write turn this thread holds.
            done.set()

    def _extend_lease(self, ids: Sequence[int]) -> None:
        with self.db.unit_of_work() as session:
            session.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.id.in_(list(ids)),
                    _OUTBOX.c.claimed_by == self.worker_id,
                    _OUTBOX.c.status == DELIVERING,
                )
                .values(claimed_until=_now() + timedelta(seconds=self.policy.lease))
            )

    def _deliver_by_kind(self, by_kind: dict[str, list[Item]]) -> None:
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
            if error is None:
                # One statement for the whole batch (a Sheets batch holds hundreds of rows): settling
                # them one by one holds the write turn, and every command behind it, for half a second.
                # A row whose lease ran out and that someone else took is left alone.
                session.execute(
                    _SETTLE_DONE,
                    [
                        {"id_": item.id, "me": self.worker_id, "at": now, "result_": (results or {}).get(item.id, {})}
                        for item in items
                    ],
                )
                return
            ids = [item.id for item in items]
            for row in session.scalars(select(OutboxItem).where(OutboxItem.id.in_(ids))):
                if row.claimed_by != self.worker_id:
                    continue  # our lease ran out and someone else took it
                row.claimed_by = None
                row.claimed_until = None
                row.last_error = str(error)[:2000]
                if isinstance(error, NotReady):
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=error.delay)
                    if error.sent_nothing:
                        row.claims = max(0, row.claims - 1)  # this claim reached nothing: it does not count
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
        signal = self.services.outbox_signal.event(self.service)
        while not stop.is_set():
            try:
                delivered = self.run_once(stop)
            except Exception:
                log.exception("outbox worker for %s hit an error", self.service)
                delivered = 0
            if not delivered:
                signal.wait(poll)
                signal.clear()


def start_workers(services: H, stop: threading.Event) -> Callable[[], None]:
    registry = services.outbox_registry()
    poll = float(services.settings.outbox_poll)
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
