"""PostgreSQL's pooled connections: pinged before use only after sitting idle, and replaced when the ping fails."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from ci_slackbot.store import db as db_module
from ci_slackbot.store.db import Database, normalise_url


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
