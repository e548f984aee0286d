"""The worker: claims due rows of one service, delivers them, and settles them."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Generic

from sqlalchemy import bindparam, or_, select, update

from ci_slackbot.outbox.errors import DeliveryError, NotReady
from ci_slackbot.outbox.notices import Parked, default_cause
from ci_slackbot.outbox.registry import H, Registry
from ci_slackbot.outbox.rows import DELIVERING, DONE, FAILED, OUTBOX, PENDING, Item, utcnow
from ci_slackbot.store.models import OutboxItem

log = logging.getLogger(__name__)

# The longest a delivery keeps renewing its lease (`Outbox.renewing`), in seconds.
MAX_HOLD = 30 * 60.0

# Built once, on the table like the statements of `rows`: every claim and settlement runs them.
_ITEM_COLUMNS = (
    OUTBOX.c.id,
    OUTBOX.c.initiative_id,
    OUTBOX.c.service,
    OUTBOX.c.kind,
    OUTBOX.c.idempotency_key,
    OUTBOX.c.payload,
    OUTBOX.c.attempts,
)
_SETTLE_DONE = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("id_"), OUTBOX.c.claimed_by == bindparam("me"))
    .values(
        status=DONE,
        delivered_at=bindparam("at"),
        result=bindparam("result_", type_=OUTBOX.c.result.type),
        last_error=None,
        claimed_by=None,
        claimed_until=None,
    )
)


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
        now = utcnow()
        due = or_(
            (OutboxItem.status == PENDING) & (OutboxItem.next_attempt_at <= now),
            (OutboxItem.status == DELIVERING) & (OutboxItem.claimed_until < now),
        )
        # Columns, not ORM objects, and one UPDATE for the batch: a Sheets batch is hundreds of rows,
        # and the claim holds SQLite's write turn (every command waits behind it).
        query = (
            select(*_ITEM_COLUMNS, OUTBOX.c.claims, OUTBOX.c.status)
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
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(list(before)), *([] if postgres else [due]))
                .values(
                    status=DELIVERING,
                    claimed_by=self.worker_id,
                    claimed_until=now + timedelta(seconds=self.policy.lease),
                    claims=OUTBOX.c.claims + 1,
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
                update(OUTBOX)
                .where(
                    OUTBOX.c.id.in_(list(ids)),
                    OUTBOX.c.claimed_by == self.worker_id,
                    OUTBOX.c.status == DELIVERING,
                )
                .values(claimed_until=utcnow() + timedelta(seconds=self.policy.lease))
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
                    self.limiter.throttled(exc.retry_after)
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
        now = utcnow()
        parked: list[Parked] = []
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
                    row.cause = (error.cause or default_cause(row.service, row.kind))[:200]
                    parked.append(Parked(row.id, row.initiative_id, row.service, row.kind, row.cause, str(error)))
                    log.warning("outbox item %s (%s/%s) parked: %s", row.id, row.service, row.kind, error)
                else:
                    delay = max(error.retry_after or 0.0, self.policy.backoff(row.attempts))
                    row.status = PENDING
                    row.next_attempt_at = now + timedelta(seconds=delay)
        if parked and self.registry.on_parked is not None:
            # After the commit, outside any transaction: telling the backbone team is a Web API call.
            try:
                self.registry.on_parked(self.services, parked)
            except Exception:
                log.exception("outbox: could not tell the backbone team that %s item(s) were parked", len(parked))

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
