"""PostgreSQL's pooled connections: pinged before use only after sitting idle, and replaced when the ping fails."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from ci_slackbot.app import Dispatcher
from ci_slackbot.bootstrap import Services
from ci_slackbot.store import db as db_module
from ci_slackbot.store.db import Database, normalise_url
from commands.router import Reply
from tests.harness import HOSPITAL, World


def _postgres(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose: the pool's ping is PostgreSQL's")
    return database_url


def _pings(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ping the pool sends, as it sends it."""
    sent: list[Any] = []
    ping = db.engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return sent


def test_a_connection_used_a_moment_ago_is_not_pinged_again(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(_postgres(database_url))
    try:
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
        pings = _pings(db, monkeypatch)
        for _ in range(3):
            with db.engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
        assert pings == []  # the same connection, back in the pool a moment before each use
    finally:
        db.dispose()


def test_an_idle_connection_the_server_closed_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(_postgres(database_url))
    admin = create_engine(normalise_url(database_url))
    try:
        with db.engine.connect() as connection:
            lost = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost}).scalar() is True
        # Every pooled connection counts as idle past the limit now: it is pinged, found closed, replaced.
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        pings = _pings(db, monkeypatch)
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != lost
        assert pings and pings[0].broken  # the closed one was pinged, and set aside
    finally:
        admin.dispose()
        db.dispose()


def test_a_command_on_a_connection_the_database_dropped_is_answered(
    fresh_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no ping for busy connections, a command right after the database dropped them is still
    answered: whichever statement meets a dead connection first (often the replay check's) makes
    SQLAlchemy replace the pool, and the Dispatcher runs a request that met one once more."""
    world = fresh_world
    url = _postgres(world.database_url)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600.0)  # no connection counts as idle
    assert "Recorded" in world.send.ci("update er-visits 15.1 2026-10", user=HOSPITAL)["text"]
    admin = create_engine(normalise_url(url))
    try:
        with admin.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        assert dropped  # the app's pooled connections, as a database restart leaves them
    finally:
        admin.dispose()
    answer = world.send.ci("update er-visits 15.2 2026-10", user=HOSPITAL)
    assert "Recorded" in answer["text"], answer
    assert "went wrong" not in answer["text"]


def test_a_request_that_met_a_dropped_connection_runs_once_more(fresh_world: World) -> None:
    """The Dispatcher's half of it, met directly: the first attempt's connection was lost (nothing
    was committed), the second runs on a fresh one; any other database error is answered at once."""
    services = fresh_world.server.services
    assert isinstance(services, Services)
    dispatcher = Dispatcher(services)
    attempts: list[int] = []

    def lost_once(session: Any) -> Reply:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError(
                "SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True
            )
        return Reply(text="done")

    assert dispatcher._guarded(lost_once).text == "done" and len(attempts) == 2

    def always_broken(session: Any) -> Reply:
        attempts.append(1)
        raise OperationalError("SELECT 1", {}, Exception("disk full"))

    attempts.clear()
    answer = dispatcher._guarded(always_broken)
    assert answer.failed and "went wrong" in answer.text and len(attempts) == 1
