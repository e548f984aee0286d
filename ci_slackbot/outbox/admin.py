"""What `ci-slackbot outbox`, `/ci status` and the metrics read of the outbox, and putting parked rows back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ci_slackbot.outbox.notices import default_cause, resolve_notices
from ci_slackbot.outbox.rows import DELIVERING, FAILED, PENDING, utcnow
from ci_slackbot.store.models import OutboxItem


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
    now = utcnow()
    ages = {service: (now - first).total_seconds() for service, first in oldest_by_service.items()}
    return Health(pending, failed, max(ages.values()) if ages else None, by_service, ages)


def items(
    session: Session, statuses: Sequence[str] = (PENDING, DELIVERING, FAILED), *, limit: int = 50
) -> list[OutboxItem]:
    """Outbox rows in these states, oldest first (for `ci-slackbot outbox`)."""
    query = select(OutboxItem).where(OutboxItem.status.in_(statuses)).order_by(OutboxItem.id).limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class ParkedCause:
    """Parked items of an initiative that failed for one reason."""

    service: str
    cause: str
    count: int
    last_error: str  # what failed and what to do, from the latest of them
    kinds: tuple[str, ...]


def parked_causes(session: Session, initiative_id: int) -> list[ParkedCause]:
    """The initiative's parked items grouped by cause, the causes with the most items first."""
    rows = session.execute(
        select(OutboxItem.service, OutboxItem.cause, OutboxItem.kind, OutboxItem.last_error, OutboxItem.id)
        .where(OutboxItem.initiative_id == initiative_id, OutboxItem.status == FAILED)
        .order_by(OutboxItem.id)
    ).all()
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row.service, row.cause or default_cause(row.service, row.kind)), []).append(row)
    causes = [
        ParkedCause(service, cause, len(group), group[-1].last_error or "", tuple(sorted({r.kind for r in group})))
        for (service, cause), group in grouped.items()
    ]
    return sorted(causes, key=lambda c: (-c.count, c.service, c.cause))


def retry_failed(
    session: Session, ids: Sequence[int] = (), *, initiative_id: int | None = None, cause: str | None = None
) -> int:
    """Put parked items back in the queue (all of them, those with these ids, or an initiative's of one cause);
    returns how many. Their notices are resolved: failing again, they are told again."""
    query = update(OutboxItem).where(OutboxItem.status == FAILED)
    if ids:
        query = query.where(OutboxItem.id.in_(ids))
    if initiative_id is not None:
        query = query.where(OutboxItem.initiative_id == initiative_id)
    if cause is not None:
        if cause.endswith(":failed"):
            service, _, rest = cause.partition(":")
            kind = rest.rsplit(":", 1)[0]
            query = query.where(
                (OutboxItem.cause == cause)
                | (OutboxItem.cause.is_(None) & (OutboxItem.service == service) & (OutboxItem.kind == kind))
            )
        else:
            query = query.where(OutboxItem.cause == cause)
    requeued = query.values(status=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None, cause=None)
    rows = session.execute(
        requeued.returning(OutboxItem.id, OutboxItem.initiative_id).execution_options(synchronize_session=False)
    ).all()
    for initiative in {row.initiative_id for row in rows}:
        resolve_notices(session, initiative, cause)
    return len(rows)
