"""SQLite's write turn: one writer at a time across the threads of a process and across processes."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from ci_slackbot.store.db import Database, WriteTurn

ROUNDS = 150


def _take_turns(database: str | Database, marker: str, rounds: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Hold the turn `rounds` times; inside it, own `marker` exclusively and bump a counter in the database."""
    db = Database(database) if isinstance(database, str) else database
    overlaps = 0
    for _ in range(rounds):
        with db.unit_of_work() as session:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                overlaps += 1  # someone else is inside the turn too
                continue
            # A read, then a write from what was read: lost updates if two writers interleaved.
            count = session.execute(text("SELECT n FROM counter")).scalar_one()
            session.execute(text("UPDATE counter SET n = :n"), {"n": count + 1})
            os.close(fd)
            os.unlink(marker)
    if isinstance(database, str):
        db.dispose()
    results.put(overlaps)


def _counter_database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/turns.db"
    db = Database(url)
    with db.unit_of_work() as session:
        session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter VALUES (0)"))
    db.dispose()
    return url


def _count(url: str) -> int:
    db = Database(url)
    with db.unit_of_work() as session:
        count = int(session.execute(text("SELECT n FROM counter")).scalar_one())
    db.dispose()
    return count


def test_processes_take_the_write_turn_one_at_a_time(tmp_path: Path) -> None:
    url = _counter_database(tmp_path)
    marker = str(tmp_path / "inside")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [context.Process(target=_take_turns, args=(url, marker, ROUNDS, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    overlaps = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert overlaps == [0, 0, 0]
    assert _count(url) == 3 * ROUNDS
    assert (tmp_path / "turns.db-writer.lock").exists()


def test_threads_and_a_forked_child_share_one_turn(tmp_path: Path) -> None:
    """Threads of one `Database` queue on its lock; a child forked after the parent opened its lock file
    opens its own descriptor (one inherited from the parent would share the parent's lock, and exclude nothing)."""
    url = _counter_database(tmp_path)
    marker = str(tmp_path / "inside")
    db = Database(url)
    with db.unit_of_work():
        pass  # the parent has opened its lock file
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    child = context.Process(target=_take_turns, args=(url, marker, ROUNDS, results))
    child.start()
    threads = [threading.Thread(target=_take_turns, args=(db, marker, ROUNDS, results)) for _ in range(2)]
    for thread in threads:
        thread.start()
    overlaps = [results.get(timeout=120) for _ in range(3)]
    for thread in threads:
        thread.join(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert overlaps == [0, 0, 0]
    assert _count(url) == 3 * ROUNDS
    db.dispose()


def test_nested_turns_in_one_thread_do_not_deadlock(tmp_path: Path) -> None:
    turn = WriteTurn(tmp_path / "x.lock")
    with turn.held(), turn.held():
        pass
    done = threading.Event()

    def other() -> None:
        with turn.held():
            done.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set()  # the nested turn was given back whole


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_database_in_memory_has_no_lock_file(url: str, tmp_path: Path) -> None:
    db = Database(url)
    with db.unit_of_work() as session:
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    db.dispose()
