"""Pacing shared by every process on a database: request slots of a service taken from one row."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Float, case, cast, extract, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ServicePace


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

    def pause(self, seconds: float) -> None:
        """The service asked for a pause (Retry-After): no slot, in any process, before it ends."""
        if not self._row_exists:
            self._ensure_row()
        # Kept within the horizon, or `reserve` would take the pause for a clock that went back.
        wait = min(max(0.0, seconds), self.HORIZON - 1.0)
        with self.db.unit_of_work() as session:
            now = database_clock(session)
            # `reserve` lets a burst go up to `tolerance` before `next_slot`: none of it before the pause ends.
            resume = now + wait + self.tolerance
            session.execute(
                update(ServicePace)
                .where(ServicePace.service == self.service)
                .values(next_slot=case((ServicePace.next_slot > resume, ServicePace.next_slot), else_=resume))
                .execution_options(synchronize_session=False)
            )

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
