"""Commands acked at once and carried out after the ack (CI_SLACKBOT_QUEUE_COMMANDS).

By default a `/ci` command's answer is its ack (ARCHITECTURE.md, "Decisions"). A deployment
that serves many coalitions, or takes bursts, can instead have each command written to the
command journal and acked empty (`command_journal`): the ack then costs what a bare Bolt
app's does and needs no database. The command runner, a process of its own that `serve`
starts at a lower CPU priority than its workers, stores the journal's lines here, carries
each command out and posts its answer through its response_url.

Nothing is lost and nothing is done twice:
- a journal line is stored under its own key, once however often it is read; the runner
  that stored it holds a claim on it; if that runner dies, the claim runs out and any
  runner's sweep runs the command;
- the command's own transaction sets `done_at` and the answer, only where `done_at` is
  still empty, so two runs of one command commit once (the other rolls back);
- an answer not yet posted is posted again by the sweep (the answer a partner reads may
  then come twice, never the work). Past the response_url's 30 minutes it goes to her DM.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ci_slackbot.command_journal import JournalEntry, JournalReader
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
# How often the runner looks for new journal lines: a command waits at most this long to start.
POLL_SECONDS = 0.02

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


RECEIVED_KEY = "ci_received_at"  # when the ack took the command, kept in its journal line


def _received(body: dict[str, Any], default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(float(body[RECEIVED_KEY]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return default


_QUEUED = cast(Table, QueuedCommand.__table__)

# A line read twice (a restarted runner, two runners on one journal) is stored once, and only
# the run that stored it carries it out.
_INSERT_NEW = {
    dialect.dialect.name: dialect.insert(_QUEUED)
    .on_conflict_do_nothing(index_elements=[_QUEUED.c.key])
    .returning(_QUEUED.c.id, _QUEUED.c.key)
    for dialect in (postgresql, sqlite)
}


# Built once, in Core: the runner runs them for every command.
_FINISH = (
    update(_QUEUED)
    .where(_QUEUED.c.id == bindparam("command"), _QUEUED.c.done_at.is_(None))
    .values(done_at=bindparam("stamp"), answer=bindparam("message"), claimed_until=bindparam("until"))
)
_ANSWERED = (
    update(_QUEUED)
    .where(_QUEUED.c.id == bindparam("command"))
    .values(answered_at=bindparam("at"), last_error=bindparam("error"))
)
_ANSWER_FAILED = (
    update(_QUEUED)
    .where(_QUEUED.c.id == bindparam("command"))
    .values(claimed_until=bindparam("until"), last_error=bindparam("error"))
)


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

    def take(self, entries: list[JournalEntry]) -> int:
        """Store journal entries not stored yet, with this process's claim, and hand those to the pool.

        One transaction for the lot: under a burst the runner reads many lines at a time.
        Returns how many were new."""
        if not entries:
            return 0
        now = _now()
        rows = [
            {
                "key": entry.key,
                "team_id": str(entry.body.get("team_id") or "")[:32],
                "user_id": str(entry.body.get("user_id") or "")[:32],
                "payload": entry.body,
                "received_at": _received(entry.body, now),
                "claimed_until": now + self.lease,
                "attempts": 1,
                "answer": {},
            }
            for entry in entries
        ]
        with self.db.unit_of_work() as session:
            statement = _INSERT_NEW[session.get_bind().dialect.name]
            stored = [(int(row.id), str(row.key)) for row in session.execute(statement, rows)]
        bodies = {entry.key: entry.body for entry in entries}
        for command_id, key in sorted(stored):
            self._hand(command_id, bodies[key])
        return len(stored)

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
        """Carry the command out and answer it. `body` given: the claim is already ours (`take`)."""
        received = _received(body or {}, _now())
        if body is None:
            row = self._claim(command_id)
            if row is None:
                return  # another process has it, or it is finished
            if row.done_at is not None:
                self._post(row.id, row.payload, row.answer, row.received_at)
                return
            if row.attempts > MAX_ATTEMPTS:
                self._give_up(row)
                return
            body, received = row.payload, row.received_at

        # Two runs of one command may race (a claim ran out under a backlog); only one commits its
        # finish, and only that one answers. The command returns normally only once committed.
        won: dict[str, dict[str, Any]] = {}

        def finish(session: Session, message: dict[str, Any]) -> bool:
            done = session.execute(
                _FINISH, {"command": command_id, "stamp": _now(), "message": message, "until": _now() + self.lease}
            )
            if getattr(done, "rowcount", 0) != 1:
                won.pop("answer", None)
                return False
            won["answer"] = message
            return True

        after = self.run(body, finish)
        if "answer" not in won:
            return  # another run finished it and answers it
        self._post(command_id, body, won["answer"], received)
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

    def _post(self, command_id: int, payload: dict[str, Any], answer: dict[str, Any], received: datetime) -> None:
        """Post a finished command's answer, and record that it went (or why not)."""
        age = _now() - _aware(received)
        error: str | None = None
        if answer.get("text") or answer.get("blocks"):
            try:
                self.answer(payload, answer, age > RESPONSE_URL_LIFETIME)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("answer to a queued command failed: %s", error, extra={"command_id": command_id})
        with self.db.unit_of_work() as session:
            if error is None or age > ANSWER_GIVEN_UP:
                session.execute(_ANSWERED, {"command": command_id, "at": _now(), "error": error})
            else:
                # Let the claim run out soon, so that the sweep tries again (Slack may be down for minutes).
                session.execute(_ANSWER_FAILED, {"command": command_id, "until": _now() + ANSWER_RETRY, "error": error})

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
            self._post(refreshed.id, refreshed.payload, refreshed.answer, refreshed.received_at)

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


def waiting(db: Database) -> tuple[int, float | None]:
    """Commands stored and not answered yet, and the age in seconds of the oldest (for /metrics)."""
    with db.sessions() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(QueuedCommand.received_at)).where(QueuedCommand.answered_at.is_(None))
        ).one()
    return int(count), ((_now() - _aware(oldest)).total_seconds() if oldest is not None else None)


@dataclass
class CommandRunner:
    """The loop of `ci-slackbot command-runner`: journal lines into the queue, and the sweep."""

    queue: CommandQueue
    reader: JournalReader
    poll_seconds: float = POLL_SECONDS
    sweep_seconds: float = SWEEP_SECONDS

    def pump(self) -> int:
        """Store and hand over every new journal line; returns how many were new."""
        taken = 0
        for batch in self.reader.batches():
            taken += self.queue.take(batch.entries)
            self.reader.stored(batch)
        return taken

    def run(self, stop: threading.Event, parent: int | None = None) -> None:
        """Until `stop` is set, or the process that started this one (`serve`) is gone."""
        next_sweep = 0.0
        failing = False
        while not stop.is_set():
            try:
                self.pump()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_seconds
                    self.queue.sweep()
                if failing:
                    log.info("the command queue is back: journal lines are being stored again")
                    failing = False
            except Exception:
                # The database is down, say: the lines stay in the journal, and come again.
                if not failing:
                    log.exception("storing commands from the journal failed; trying again every second")
                failing = True
                stop.wait(1.0)
            if parent is not None and os.getppid() != parent:
                log.warning("the serve process that started this command runner is gone; stopping")
                return
            stop.wait(self.poll_seconds)
