"""The outbox table: a row's states, what a deliverer sees of a row, and adding one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CTE, ColumnElement, Integer, Table, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ci_slackbot.outbox.signal import ENQUEUED
from ci_slackbot.store.models import OutboxItem

PENDING, DELIVERING, DONE, FAILED = "pending", "delivering", "done", "failed"


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


# Built once, on the table rather than the mapped class (an ORM-enabled statement runs the ORM's
# machinery even for plain columns): every recorded value and decision runs them.
OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
_BY_KEY = select(OUTBOX.c.id, OUTBOX.c.status).where(OUTBOX.c.idempotency_key == bindparam("key"))
# Insert unless the key is queued already: one statement for a new key, the common case. On
# PostgreSQL it also waits for a concurrent transaction that holds the same key and then does
# nothing, where a plain INSERT would fail on the unique constraint.
_INSERT_NEW = {
    dialect.dialect.name: dialect.insert(OUTBOX)
    .on_conflict_do_nothing(index_elements=[OUTBOX.c.idempotency_key])
    .returning(OUTBOX.c.id)
    for dialect in (postgresql, sqlite)
}


# The columns `queued_along` fills, in the order its row selects them.
_ALONG_COLUMNS = [
    "initiative_id",
    "service",
    "kind",
    "idempotency_key",
    "payload",
    "status",
    "attempts",
    "claims",
    "next_attempt_at",
    "result",
    "created_at",
]


def queued_along(
    name: str,
    initiative_id: ColumnElement[int],
    service: str,
    kind: str,
    key: ColumnElement[str],
    payload: ColumnElement[Any],
) -> CTE:
    """An outbox row added by another statement, on PostgreSQL: a WITH that inserts, named `name`;
    a key already queued is not added twice, as with `enqueue`. The statement's parameters also take
    `queued_times(name)`; the caller then calls `note_enqueued`.

    The row is what `enqueue` adds, its defaults spelled out: a WITH's INSERT gets no Python-side
    defaults from SQLAlchemy.
    """
    now = bindparam(f"{name}_now", type_=OUTBOX.c.created_at.type)
    # The constants written into the SQL, not sent as parameters: the statement stays short enough for
    # psycopg to keep its parsed text (`measurement._REPORT_POSTGRES`), and they are the code's own words.
    for word in (service, kind, PENDING):
        if not word.isidentifier():
            raise ValueError(f"not a plain word: {word!r}")
    row = select(
        initiative_id,
        literal_column(f"'{service}'", OUTBOX.c.service.type),
        literal_column(f"'{kind}'", OUTBOX.c.kind.type),
        key,
        payload,
        literal_column(f"'{PENDING}'", OUTBOX.c.status.type),
        literal_column("0", Integer),
        literal_column("0", Integer),
        now,
        literal_column("'{}'::json", OUTBOX.c.result.type),
        now,
    )
    return (
        postgresql.insert(OUTBOX)
        .from_select(_ALONG_COLUMNS, row, include_defaults=False)
        .on_conflict_do_nothing(index_elements=[OUTBOX.c.idempotency_key])
        .cte(name)
    )


def queued_times(name: str) -> dict[str, datetime]:
    """The parameter of `queued_along(name, …)`'s times: now, as `enqueue` stamps its rows."""
    return {f"{name}_now": utcnow()}


def note_enqueued(session: Session, service: str) -> None:
    """Wake `service`'s outbox workers once `session` commits (`enqueue` does it for its own rows)."""
    session.info.setdefault(ENQUEUED, set()).add(service)


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
    note_enqueued(session, service)
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
            key=f"{key}#{utcnow().timestamp():.6f}",
            payload=payload,
        )
    return int(existing.id)


def utcnow() -> datetime:
    return datetime.now(UTC)
