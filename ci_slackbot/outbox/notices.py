"""Telling the backbone team about parked items: once per cause, not once per item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.outbox.rows import FAILED
from ci_slackbot.store.models import OutboxItem, ParkedNotice

# A cause still parked is told again after this long, in case the first notice was missed.
TELL_AGAIN_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Parked:
    """An outbox item just parked, as the notice needs it."""

    item_id: int
    initiative_id: int
    service: str
    kind: str
    cause: str
    message: str  # what failed and what to do


def default_cause(service: str, kind: str) -> str:
    """The cause of an item parked without a known one (it kept failing, or failed in a way not recognised)."""
    return f"{service}:{kind}:failed"


def _notice_of(parked: Parked) -> tuple[ColumnElement[bool], ...]:
    """The notice row of the item's cause: one per initiative, service and cause."""
    return (
        ParkedNotice.initiative_id == parked.initiative_id,
        ParkedNotice.service == parked.service,
        ParkedNotice.cause == parked.cause,
    )


def claim_notice(session: Session, parked: Parked, now: datetime) -> bool:
    """Whether the backbone team should be told of this cause now; if so, it is noted as told.

    Concurrent workers parking items of one cause both try: the unique row lets one of them win.
    """
    row = session.scalar(select(ParkedNotice).where(*_notice_of(parked)).with_for_update())
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    ParkedNotice(
                        initiative_id=parked.initiative_id, service=parked.service, cause=parked.cause, told_at=now
                    )
                )
        except IntegrityError:
            return False  # another worker noted it first, and tells
        return True
    if row.told_at is not None and now - row.told_at < TELL_AGAIN_AFTER:
        return False
    row.told_at = now
    return True


def untold(session: Session, parked: Parked) -> None:
    """The notice could not be posted: it stays to be told (`untold_notices`), and the next item
    parked for this cause tries again too."""
    session.execute(update(ParkedNotice).where(*_notice_of(parked)).values(told_at=None))


def untold_notices(session: Session) -> list[Parked]:
    """The causes whose notice could not be posted, each as its latest parked item, to tell again.

    Slack down long enough to park items is often down when the notice is tried too, and once it is
    back nothing parks any more: without this, nobody would ever be told. A cause whose items are
    no longer parked (retried meanwhile) has nothing left to tell, and its notice goes.
    """
    pending: list[Parked] = []
    for notice in session.scalars(select(ParkedNotice).where(ParkedNotice.told_at.is_(None))).all():
        latest = session.scalar(
            select(OutboxItem)
            .where(
                OutboxItem.initiative_id == notice.initiative_id,
                OutboxItem.service == notice.service,
                OutboxItem.cause == notice.cause,
                OutboxItem.status == FAILED,
            )
            .order_by(OutboxItem.id.desc())
            .limit(1)
        )
        if latest is None:
            session.delete(notice)
            continue
        pending.append(
            Parked(latest.id, notice.initiative_id, notice.service, latest.kind, notice.cause, latest.last_error or "")
        )
    return pending


def resolve_notices(session: Session, initiative_id: int, cause: str | None = None) -> None:
    """The parked items were sent again: if they fail again, the backbone team is told again."""
    query = delete(ParkedNotice).where(ParkedNotice.initiative_id == initiative_id)
    if cause is not None:
        query = query.where(ParkedNotice.cause == cause)
    session.execute(query)
