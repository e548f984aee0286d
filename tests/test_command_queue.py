"""Queued commands (CI_SLACKBOT_QUEUE_COMMANDS): acked empty once written to the journal, carried out
by the command runner, answered through the response_url — and never lost or done twice, across
crashes, races, database and Slack outages."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select

from ci_slackbot.app import command_runner
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.command_journal import CommandJournal, JournalReader
from ci_slackbot.command_queue import CommandQueue, CommandRunner
from ci_slackbot.sandbox.world import SPREADSHEET, children_of
from ci_slackbot.services.sheet_layout import VALUES_TAB
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database, normalise_url
from ci_slackbot.store.models import ActionItem, IndicatorValue, QueuedCommand
from tests.harness import HOSPITAL, TEAM, Sandbox, ServeProcess, World, load_example, wait_for

QUEUED = {"CI_SLACKBOT_QUEUE_COMMANDS": "1", "CI_SLACKBOT_COMMAND_LEASE": "1"}


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    # A journal of the test's own: another test's leftovers are not this database's commands.
    return {**QUEUED, "CI_SLACKBOT_COMMAND_JOURNAL": str(tmp_path / "journal")}


def _journal_lines(directory: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.glob("*.jsonl"))


def _rows(world: World) -> list[QueuedCommand]:
    db = world.db()
    try:
        with db.sessions() as session:
            return list(session.scalars(select(QueuedCommand).order_by(QueuedCommand.id)))
    finally:
        db.dispose()


def _count(db: Database, query: Any) -> int:
    with db.sessions() as session:
        return int(session.scalar(query) or 0)


def _actions_titled(db: Database, prefix: str) -> list[str]:
    with db.sessions() as session:
        return list(session.scalars(select(ActionItem.text).where(ActionItem.text.like(f"{prefix}%"))))


def test_a_queued_command_is_acked_empty_and_answered_through_its_response_url(fresh_world: World) -> None:
    world = fresh_world
    response, key = world.send.command("update er-visits 17.2 2026-10")
    assert response.status_code == 200
    assert response.content == b""  # the ack carries nothing: the answer comes after the work
    answers = wait_for(lambda: world.slack.responses(key))
    assert len(answers) == 1
    assert answers[0]["response_type"] == "ephemeral"
    assert "Recorded 17.2" in answers[0]["text"]
    assert any(b.get("type") == "actions" for b in answers[0]["blocks"])  # the Undo button rides along
    [row] = wait_for(lambda: [r for r in _rows(world) if r.answered_at is not None])
    assert row.done_at is not None and row.user_id == HOSPITAL and row.team_id == TEAM
    assert row.last_error is None
    assert "token" not in row.payload  # Slack's verification token is never written to disk
    db = world.db()
    try:
        assert _count(db, select(func.count()).select_from(IndicatorValue).where(IndicatorValue.value == 17.2)) == 1
    finally:
        db.dispose()


def _runners(server: ServeProcess) -> list[int]:
    assert server.process is not None
    return [pid for pid in children_of(server.process.pid) if b"command-runner" in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _values_tab(world: World) -> list[list[Any]]:
    if VALUES_TAB not in world.sheets.worksheet_titles(SPREADSHEET):
        return []
    return list(world.sheets.values(SPREADSHEET, VALUES_TAB))


def test_the_runners_mirror_the_value_and_a_dead_runner_is_started_again(fresh_world: World) -> None:
    world = fresh_world
    _, key = world.send.command("update er-visits 17.9 2026-10")
    wait_for(lambda: world.slack.responses(key))
    # serve's workers only take acks: the runners deliver the outbox, so the Sheets row comes from them.
    wait_for(lambda: any("17.9" in map(str, row) for row in _values_tab(world)))
    [runner] = _runners(world.server)  # one a gunicorn worker
    os.kill(runner, signal.SIGKILL)
    wait_for(lambda: _runners(world.server) not in ([], [runner]), timeout=30)
    _, key = world.send.command("update er-visits 18.1 2026-10")
    [answer] = wait_for(lambda: world.slack.responses(key), timeout=30)
    assert "Recorded 18.1" in answer["text"]
    [again] = _runners(world.server)
    world.server.stop()
    wait_for(lambda: not Path(f"/proc/{again}").exists() or b"command-runner" not in _cmdline(again))


@pytest.mark.parametrize("serve_env", [{**QUEUED, "CI_SLACKBOT_COMMAND_JOURNAL": "/dev/null/journal"}])
def test_a_journal_that_cannot_be_written_leaves_the_answer_in_the_ack(fresh_world: World) -> None:
    world = fresh_world
    response, key = world.send.command("update er-visits 16.4 2026-10")
    assert response.status_code == 200
    assert "Recorded 16.4" in response.json()["text"]  # answered in the ack, as without the queue
    assert world.slack.responses(key) == []
    assert "could not be written to the journal" in world.server.logs()


def test_a_refused_queued_command_is_answered_privately_and_changes_nothing(fresh_world: World) -> None:
    world = fresh_world
    db = world.db()
    try:
        before = _count(db, select(func.count()).select_from(IndicatorValue))
        response, key = world.send.command("update er-visits seventeen")
        assert response.status_code == 200 and response.content == b""
        [answer] = wait_for(lambda: world.slack.responses(key))
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith(":warning:")
        assert "Write a number like" in answer["text"]  # says how to write it right
        assert _count(db, select(func.count()).select_from(IndicatorValue)) == before
        # The refusal is settled like any other command: done, answered, not run again.
        wait_for(lambda: all(r.answered_at is not None for r in _rows(world)))
    finally:
        db.dispose()


def test_commands_that_open_a_form_are_still_answered_in_the_ack(fresh_world: World) -> None:
    world = fresh_world
    response, key = world.send.command("update")
    assert response.status_code == 200
    # views.open needs the command's trigger_id within 3 s: no queue for that.
    wait_for(lambda: world.slack.views(HOSPITAL))
    assert _rows(world) == []
    assert world.slack.responses(key) == []


def test_metrics_show_the_queue(fresh_world: World) -> None:
    world = fresh_world
    _, key = world.send.command("update er-visits 18 2026-10")
    wait_for(lambda: world.slack.responses(key))
    wait_for(lambda: all(r.answered_at is not None for r in _rows(world)))
    text = requests.get(f"{world.server.base}/metrics", timeout=5).text
    assert "ci_slackbot_command_queue_depth 0" in text
    # Counted as the ack took it; how it went is in its answer (and the runner's logs).
    assert 'ci_slackbot_commands_total{command="update",outcome="queued"} 1' in text


def test_kill_9_with_commands_queued_and_answers_unsent_loses_none_and_doubles_none(
    fresh_world: World, tmp_path: Path, serve_env: dict[str, str]
) -> None:
    world = fresh_world
    # Each answer takes 2 s, so the command workers are stuck answering while the rest wait in the pool:
    # at the kill, some commands are done but not answered, and most are acked but not carried out.
    world.slack.faults.slow(2.0)
    prefix = f"kill-{uuid.uuid4().hex[:6]}"
    keys = []
    for n in range(12):
        response, key = world.send.command(f"action add {prefix} call family {n:02d}")
        assert response.status_code == 200 and response.content == b""
        keys.append(key)
    world.server.kill()  # gunicorn, its workers and its command runners
    world.slack.faults.restore()
    assert _journal_lines(Path(serve_env["CI_SLACKBOT_COMMAND_JOURNAL"])) == 12  # each written before its ack
    rows = _rows(world)
    assert len(rows) < 12 or any(r.done_at is None for r in rows), "all the work was done: no crash was tested"

    world.server = ServeProcess(world.database_url, world.server.env_extra).start(tmp_path)
    # The new runners store the journal lines not stored yet, and their sweep takes up the dead ones'
    # commands once their 1 s claims have run out.
    wait_for(lambda: len(_rows(world)) == 12 and all(r.answered_at is not None for r in _rows(world)), timeout=60)
    db = world.db()
    try:
        titles = _actions_titled(db, prefix)
        assert sorted(titles) == sorted(f"{prefix} call family {n:02d}" for n in range(12))  # each once
    finally:
        db.dispose()
    for key in keys:
        answers = world.slack.responses(key)
        # An answer in flight at the kill may have reached Slack and be posted again; the work, never.
        assert 1 <= len(answers) <= 2, (key, answers)
        assert all(a["text"].startswith("Added action item #") for a in answers)


def test_answers_wait_out_a_slack_outage_and_the_work_is_done_once(fresh_world: World) -> None:
    world = fresh_world
    world.slack.faults.outage(503)
    prefix = f"outage-{uuid.uuid4().hex[:6]}"
    _, key = world.send.command(f"action add {prefix} book the gym")
    wait_for(lambda: any(r.done_at is not None and r.last_error for r in _rows(world)))
    assert world.slack.responses(key) == []
    world.slack.faults.restore()
    # The sweep posts it again (every 10 s an answer fails), once Slack is back.
    [answer] = wait_for(lambda: world.slack.responses(key), timeout=30)
    assert answer["text"].startswith("Added action item #")
    db = world.db()
    try:
        assert _actions_titled(db, prefix) == [f"{prefix} book the gym"]
    finally:
        db.dispose()


@contextmanager
def _queue_held(database_url: str) -> Iterator[None]:
    """Nobody else writes the command queue while inside: to the runner, a database that is down."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("LOCK TABLE queued_commands IN ACCESS EXCLUSIVE MODE")
            yield
            connection.rollback()
    finally:
        engine.dispose()


def test_acks_go_out_while_the_database_is_held_and_the_work_follows_once(
    fresh_world: World, serve_env: dict[str, str]
) -> None:
    world = fresh_world
    prefix = f"held-{uuid.uuid4().hex[:6]}"
    keys = []
    with _queue_held(world.database_url):
        for n in range(3):
            started = time.monotonic()
            response, key = world.send.command(f"action add {prefix} item {n}")
            assert response.status_code == 200 and response.content == b""
            assert time.monotonic() - started < 3.0  # inside Slack's 3 s, with the database out of reach
            keys.append(key)
        assert _journal_lines(Path(serve_env["CI_SLACKBOT_COMMAND_JOURNAL"])) == 3
        assert all(world.slack.responses(key) == [] for key in keys)  # nothing could be carried out yet
    for key in keys:
        [answer] = wait_for(lambda key=key: world.slack.responses(key), timeout=60)
        assert answer["text"].startswith("Added action item #")
    db = world.db()
    try:
        assert sorted(_actions_titled(db, prefix)) == [f"{prefix} item {n}" for n in range(3)]
    finally:
        db.dispose()


# -- in one process: the journal and the queue, against the Slack stand-in --------------------------


@pytest.fixture(name="box")
def box_fixture() -> Iterator[Sandbox]:
    started = Sandbox.start()
    yield started
    started.stop()


@pytest.fixture
def services(database_url: str, box: Sandbox, tmp_path: Path) -> Iterator[Services]:
    load_example(database_url)
    settings = Settings(
        **box.env(),
        DATABASE_URL=database_url,
        CI_SLACKBOT_QUEUE_COMMANDS=True,
        CI_SLACKBOT_COMMAND_JOURNAL=str(tmp_path / "journal"),
        CI_SLACKBOT_BACKGROUND=False,
    )
    built = bootstrap(settings)
    yield built
    built.db.dispose()


@pytest.fixture
def runner(services: Services) -> Iterator[CommandRunner]:
    made = command_runner(services)
    yield made
    made.queue.executor.shutdown(wait=True)


@pytest.fixture
def queue(runner: CommandRunner) -> CommandQueue:
    return runner.queue


def _body(box: Sandbox, text: str) -> tuple[dict[str, Any], str]:
    key = uuid.uuid4().hex
    return {
        "team_id": TEAM,
        "user_id": HOSPITAL,
        "channel_id": "C0GENERAL",
        "command": "/ci",
        "text": text,
        "response_url": box.slack.response_url(key, channel="C0GENERAL", user=HOSPITAL, team_id=TEAM),
    }, key


def _store(services: Services, body: dict[str, Any], *, received: datetime | None = None) -> int:
    """A command as a runner that died right after storing it left it: stored, its claim run out."""
    moment = received or datetime.now(UTC) - timedelta(minutes=1)
    with services.db.unit_of_work() as session:
        row = QueuedCommand(
            key=uuid.uuid4().hex,
            team_id=TEAM,
            user_id=HOSPITAL,
            payload=body,
            received_at=moment,
            claimed_until=moment + timedelta(seconds=30),
            attempts=1,
        )
        session.add(row)
        session.flush()
        return row.id


def _drain(runners: list[CommandRunner], services: Services, count: int) -> None:
    """Pump until `count` commands are answered."""

    def answered() -> bool:
        for each in runners:
            each.pump()
        return _count(services.db, select(func.count()).where(QueuedCommand.answered_at.is_not(None))) >= count

    wait_for(answered, timeout=60)


def test_a_journal_line_read_again_is_carried_out_once(services: Services, box: Sandbox, runner: CommandRunner) -> None:
    journal = CommandJournal(runner.reader.directory)
    prefix = f"again-{uuid.uuid4().hex[:6]}"
    body, key = _body(box, f"action add {prefix} print the forms")
    journal.append(body)
    _drain([runner], services, 1)
    # A runner restarted knows no offsets: it reads the line again, and stores nothing new.
    fresh = CommandRunner(runner.queue, JournalReader(runner.reader.directory))
    assert fresh.pump() == 0
    assert _actions_titled(services.db, prefix) == [f"{prefix} print the forms"]
    assert len(box.slack.responses(key)) == 1
    journal.close()


def test_two_runners_on_one_journal_carry_out_each_command_once(services: Services, box: Sandbox) -> None:
    runners = [command_runner(services), command_runner(services)]
    journal = CommandJournal(runners[0].reader.directory, rotate_bytes=500)  # a few lines a file
    prefix = f"pair-{uuid.uuid4().hex[:6]}"
    keys = []
    for n in range(20):
        body, key = _body(box, f"action add {prefix} task {n:02d}")
        journal.append(body)
        keys.append(key)
    files = len(list(runners[0].reader.directory.glob("*.jsonl")))
    assert files > 3, "the journal did not rotate: finished files were not tested"
    start = threading.Barrier(2)

    def pump(each: CommandRunner) -> None:
        start.wait()
        each.pump()

    threads = [threading.Thread(target=pump, args=(each,)) for each in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    _drain(runners, services, 20)
    assert sorted(_actions_titled(services.db, prefix)) == [f"{prefix} task {n:02d}" for n in range(20)]
    assert [len(box.slack.responses(key)) for key in keys] == [1] * 20
    # Every finished file is gone; the one still being written stays.
    for each in runners:
        each.pump()
    assert len(list(runners[0].reader.directory.glob("*.jsonl"))) == 1
    journal.close()
    for each in runners:
        each.pump()
    assert list(runners[0].reader.directory.glob("*.jsonl")) == []
    for each in runners:
        each.queue.executor.shutdown(wait=True)


def test_a_journal_file_left_idle_is_let_go_and_deleted_once_stored(
    services: Services, box: Sandbox, runner: CommandRunner
) -> None:
    # A file kept open for good would keep its lines for good, and the queue forgets answered
    # commands after a week: a runner restarted later would read them again as new.
    directory = runner.reader.directory
    journal = CommandJournal(directory, idle_seconds=0.2)
    prefix = f"idle-{uuid.uuid4().hex[:6]}"
    body, _ = _body(box, f"action add {prefix} tidy the shelf")
    journal.append(body)
    _drain([runner], services, 1)

    def deleted() -> bool:
        runner.pump()
        return list(directory.glob("*.jsonl")) == []

    wait_for(deleted, timeout=10)
    body, _ = _body(box, f"action add {prefix} then the desk")
    journal.append(body)  # a new file, once the writer is busy again
    _drain([runner], services, 2)
    assert sorted(_actions_titled(services.db, prefix)) == [f"{prefix} then the desk", f"{prefix} tidy the shelf"]
    journal.close()


def test_a_dead_writers_cut_off_last_line_is_dropped_and_its_file_deleted(
    services: Services, box: Sandbox, runner: CommandRunner, caplog: pytest.LogCaptureFixture
) -> None:
    journal = CommandJournal(runner.reader.directory)
    prefix = f"cut-{uuid.uuid4().hex[:6]}"
    body, _ = _body(box, f"action add {prefix} whole line")
    journal.append(body)
    _drain([runner], services, 1)
    [path] = runner.reader.directory.glob("*.jsonl")
    with path.open("ab") as file:
        file.write(b"not json\n")  # a line nobody can read, while its writer lives: logged and passed, once
    for _ in range(3):
        runner.pump()
    with path.open("ab") as file:
        file.write(b'{"text": "action add never ack')  # the worker died inside its write: no ack went
    journal.close()  # its lock goes with it, as with a killed process
    runner.pump()
    assert _actions_titled(services.db, prefix) == [f"{prefix} whole line"]
    assert list(runner.reader.directory.glob("*.jsonl")) == []
    assert _count(services.db, select(func.count()).select_from(QueuedCommand)) == 1
    assert sum("unreadable line" in record.getMessage() for record in caplog.records) == 1


def test_two_runs_of_one_command_commit_once_and_answer_once(
    services: Services, box: Sandbox, queue: CommandQueue
) -> None:
    prefix = f"race-{uuid.uuid4().hex[:6]}"
    body, key = _body(box, f"action add {prefix} draft the flyer")
    command_id = _store(services, body)
    # Both believe they hold the claim (one from the sweep, one whose claim ran out in a backlog).
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        queue.process(command_id, body)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert _actions_titled(services.db, prefix) == [f"{prefix} draft the flyer"]
    assert len(box.slack.responses(key)) == 1
    with services.db.sessions() as session:
        row = session.get(QueuedCommand, command_id)
        assert row is not None and row.answered_at is not None


def test_the_sweep_takes_up_only_commands_whose_claim_ran_out(
    services: Services, box: Sandbox, queue: CommandQueue
) -> None:
    prefix = f"sweep-{uuid.uuid4().hex[:6]}"
    dead_body, dead_key = _body(box, f"action add {prefix} dead process")
    dead = _store(services, dead_body)
    live_body, live_key = _body(box, f"action add {prefix} live process")
    live = _store(services, live_body, received=datetime.now(UTC))  # its claim still runs
    assert queue.sweep() >= 1
    wait_for(lambda: box.slack.responses(dead_key))
    assert _actions_titled(services.db, prefix) == [f"{prefix} dead process"]
    assert box.slack.responses(live_key) == []
    with services.db.sessions() as session:
        assert session.get(QueuedCommand, live).done_at is None  # type: ignore[union-attr]
        assert session.get(QueuedCommand, dead).answered_at is not None  # type: ignore[union-attr]


def test_an_answer_past_the_response_urls_life_goes_to_the_partners_dm(
    services: Services, box: Sandbox, queue: CommandQueue
) -> None:
    prefix = f"late-{uuid.uuid4().hex[:6]}"
    body, key = _body(box, f"action add {prefix} after the outage")
    command_id = _store(services, body, received=datetime.now(UTC) - timedelta(minutes=40))
    queue.process(command_id)
    assert box.slack.responses(key) == []
    [dm] = box.slack.dms(HOSPITAL)
    assert dm["text"].startswith("Added action item #")
    assert _actions_titled(services.db, prefix) == [f"{prefix} after the outage"]


def test_a_command_that_keeps_failing_is_given_up_with_an_answer(
    services: Services, box: Sandbox, queue: CommandQueue
) -> None:
    body, key = _body(box, "action add never carried out")
    command_id = _store(services, body)
    with services.db.unit_of_work() as session:
        row = session.get(QueuedCommand, command_id)
        assert row is not None
        row.attempts = 5  # five runs died (a process killed each time, say)
    queue.process(command_id)
    [answer] = box.slack.responses(key)
    assert "could not be carried out and nothing was changed" in answer["text"]
    assert "`/ci action add never carried out`" in answer["text"]
    assert _actions_titled(services.db, "never carried out") == []
