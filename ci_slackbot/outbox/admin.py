"""What `ci-slackbot outbox`, `/ci status` and the metrics read of the outbox, and putting parked rows back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

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


def retry_failed(session: Session, ids: Sequence[int] = ()) -> int:
    """Put parked items back in the queue (all of them, or those with these ids); returns how many."""
    query = update(OutboxItem).where(OutboxItem.status == FAILED)
    if ids:
        query = query.where(OutboxItem.id.in_(ids))
    result = session.execute(query.values(status=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None))
    return int(getattr(result, "rowcount", 0) or 0)
