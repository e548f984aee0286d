"""Commands acked at once and carried out after the ack (CI_SLACKBOT_QUEUE_COMMANDS).

By default a `/ci` command's answer is its ack (ARCHITECTURE.md, "Decisions"). A deployment
that serves many coalitions can instead have each command committed to `queued_commands`
and acked empty, so that an ack costs one INSERT however busy the database is; a pool
of workers then carries the command out and posts its answer through its response_url.

Nothing is lost and nothing is done twice:
- the row is committed before the ack, with a claim for the process that took it; if that
  process dies, the claim runs out and any process's sweep runs the command;
- the command's own transaction sets `done_at` and the answer, only where `done_at` is
  still empty, so two runs of one command commit once (the other rolls back);
- an answer not yet posted is posted again by the sweep (the answer a partner reads may
  then come twice, never the work). Past the response_url's 30 minutes it goes to her DM.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import QueuedCommand

log = logging.getLogger(__name__)

# Long enough for any one command's transaction and its answer; a dead process's commands wait this long.
LEASE = timedelta(seconds=30)
# Slack honours a response_url for 30 minutes; later answers go to the partner's DM.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
# Runs of one command (or posts of one answer) before it is given up: a command that fails
# this often would fail again, and its partner is told so.
MAX_ATTEMPTS = 5
# An answer that cannot be posted is tried again this often, for this long (its work is done).
ANSWER_RETRY = timedelta(seconds=10)
ANSWER_GIVEN_UP = timedelta(hours=2)
KEEP_ANSWERED = timedelta(days=7)
SWEEP_SECONDS = 5.0

GIVEN_UP = (
    ":warning: Your command `{command}` could not be carried out and nothing was changed. "
    "Please try again; if it keeps happening, tell the backbone team."
)

# What a worker does with a command: run it in a transaction that calls `finish(session, answer)`
# before committing (False from finish: another run got there first, so roll back), and return
# the work to do once it is committed, if any.
Finish = Callable[[Session, dict[str, Any]], bool]
Run = Callable[[dict[str, Any], Finish], Callable[[], None] | None]
# Post an answer: (the command as Slack sent it, the message, whether its response_url has expired).
Answer = Callable[[dict[str, Any], dict[str, Any], bool], None]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def command_text(body: dict[str, Any]) -> str:
    return f"{body.get('command') or '/ci'} {body.get('text') or ''}".strip()[:200]


@dataclass
class CommandQueue:
    db: Database
    run: Run
    answer: Answer
    executor: ThreadPoolExecutor
    lease: timedelta = LEASE
    # Ids this process has in hand (queued on its pool or running), which its sweep leaves alone.
    _in_hand: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, body: dict[str, Any]) -> int:
        """Commit the command with this process's claim on it, then hand it to the pool. Before the ack."""
        with self.db.unit_of_work() as session:
            command_id = int(
                session.execute(
                    insert(QueuedCommand)
                    .values(
                        team_id=str(body.get("team_id") or "")[:32],
                        user_id=str(body.get("user_id") or "")[:32],
                        payload=body,
                        received_at=_now(),
                        claimed_until=_now() + self.lease,
                        attempts=1,
                        answer={},
                    )
                    .returning(QueuedCommand.id)
                ).scalar_one()
            )
        self._hand(command_id, body)
        return command_id

    def _hand(self, command_id: int, body: dict[str, Any] | None) -> None:
        with self._lock:
            self._in_hand.add(command_id)
        self.executor.submit(self._work, command_id, body)

    def _work(self, command_id: int, body: dict[str, Any] | None) -> None:
        try:
            self.process(command_id, body)
        except Exception:
            log.exception("queued command failed", extra={"command_id": command_id})
        finally:
            with self._lock:
                self._in_hand.discard(command_id)

    def process(self, command_id: int, body: dict[str, Any] | None = None) -> None:
        """Carry the command out and answer it. `body` given: the claim is already ours (`accept`)."""
        if body is None:
            row = self._claim(command_id)
            if row is None:
                return  # another process has it, or it is finished
            if row.done_at is not None:
                self._post(row)
                return
            if row.attempts > MAX_ATTEMPTS:
                self._give_up(row)
                return
            body = row.payload

        # Two runs of one command may race (a claim ran out under a backlog); only one commits its
        # finish, and only that one answers. Its stamp tells which.
        stamp = _now()

        def finish(session: Session, message: dict[str, Any]) -> bool:
            done = session.execute(
                update(QueuedCommand)
                .where(QueuedCommand.id == command_id, QueuedCommand.done_at.is_(None))
                .values(done_at=stamp, answer=message, claimed_until=_now() + self.lease)
            )
            return bool(getattr(done, "rowcount", 0) == 1)

        after = self.run(body, finish)
        row = self._reload(command_id)
        if row is None or row.done_at is None or _aware(row.done_at) != stamp:
            # Not committed (the database failed: the sweep runs it again once the claim runs
            # out), or another run finished it and answers it.
            return
        self._post(row)
        if after is not None:
            after()

    def _claim(self, command_id: int) -> QueuedCommand | None:
        now = _now()
        with self.db.unit_of_work() as session:
            claimed = session.execute(
                update(QueuedCommand)
                .where(
                    QueuedCommand.id == command_id,
                    QueuedCommand.answered_at.is_(None),
                    or_(QueuedCommand.claimed_until.is_(None), QueuedCommand.claimed_until < now),
                )
                .values(claimed_until=now + self.lease, attempts=QueuedCommand.attempts + 1)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return session.get(QueuedCommand, command_id)

    def _post(self, row: QueuedCommand) -> None:
        """Post a finished command's answer, and record that it went (or why not)."""
        age = _now() - _aware(row.received_at)
        error: str | None = None
        if row.answer.get("text") or row.answer.get("blocks"):
            try:
                self.answer(row.payload, row.answer, age > RESPONSE_URL_LIFETIME)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("answer to a queued command failed: %s", error, extra={"command_id": row.id})
        with self.db.unit_of_work() as session:
            if error is None or age > ANSWER_GIVEN_UP:
                values: dict[str, Any] = {"answered_at": _now(), "last_error": error}
            else:
                # Let the claim run out soon, so that the sweep tries again (Slack may be down for minutes).
                values = {"last_error": error, "claimed_until": _now() + ANSWER_RETRY}
            session.execute(update(QueuedCommand).where(QueuedCommand.id == row.id).values(**values))

    def _give_up(self, row: QueuedCommand) -> None:
        message = {"text": GIVEN_UP.format(command=command_text(row.payload)), "response_type": "ephemeral"}
        with self.db.unit_of_work() as session:
            session.execute(
                update(QueuedCommand)
                .where(QueuedCommand.id == row.id, QueuedCommand.done_at.is_(None))
                .values(done_at=_now(), answer=message)
            )
        log.error("queued command given up after %d runs", row.attempts - 1, extra={"command_id": row.id})
        refreshed = self._reload(row.id)
        if refreshed is not None:
            self._post(refreshed)

    def _reload(self, command_id: int) -> QueuedCommand | None:
        with self.db.sessions() as session:
            return session.get(QueuedCommand, command_id)

    def sweep(self) -> int:
        """Take up commands whose claim ran out (a process died, a run or an answer failed); prune old ones.

        Returns how many were taken up."""
        now = _now()
        with self.db.sessions() as session:
            stale = list(
                session.scalars(
                    select(QueuedCommand.id)
                    .where(QueuedCommand.answered_at.is_(None), QueuedCommand.claimed_until < now)
                    .order_by(QueuedCommand.id)
                    .limit(500)
                )
            )
        with self._lock:
            stale = [command_id for command_id in stale if command_id not in self._in_hand]
        for command_id in stale:
            self._hand(command_id, None)
        with self.db.unit_of_work() as session:
            session.execute(delete(QueuedCommand).where(QueuedCommand.answered_at < now - KEEP_ANSWERED))
        return len(stale)

    def waiting(self) -> tuple[int, float | None]:
        """Commands not answered yet, and the age in seconds of the oldest (for /metrics)."""
        with self.db.sessions() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(QueuedCommand.received_at)).where(QueuedCommand.answered_at.is_(None))
            ).one()
        return int(count), ((_now() - _aware(oldest)).total_seconds() if oldest is not None else None)


def start_sweeper(services: Any, stop: threading.Event) -> Callable[[], None] | None:
    """The background loop of a process that takes commands (`serve`, `run`)."""
    queue: CommandQueue | None = services.extras.get("command_queue")
    if queue is None:
        return None

    def loop() -> None:
        while not stop.wait(SWEEP_SECONDS):
            try:
                queue.sweep()
            except Exception:
                log.exception("sweeping the command queue failed")

    thread = threading.Thread(target=loop, name="command-sweep", daemon=True)
    thread.start()

    def stopper() -> None:
        stop.set()
        thread.join(timeout=5)

    return stopper
