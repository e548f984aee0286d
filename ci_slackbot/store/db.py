"""Engines and sessions: SQLite by default (WAL, foreign keys, busy timeout), PostgreSQL at scale."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

try:
    import fcntl
except ImportError:  # Windows has no flock: there, processes fall back on SQLite's busy timeout
    fcntl = None  # type: ignore[assignment]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only, before SQLite creates it with the umask's
    mode (0644 as a rule): it holds the workspaces' bot tokens. SQLite gives the -wal and -shm
    files the database file's own mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):  # another process created it meanwhile
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        _create_private(make_url(url).database)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit one.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets readers work while the outbox writes; the busy timeout makes
            # concurrent writers wait for each other instead of failing.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with
            # "database is locked" when another process wrote in between; taking the
            # write lock up front makes concurrent writers queue on the busy timeout.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled connection is pinged before use only when it has been idle longer than this.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before it is used, as `pool_pre_ping` does, but only one that sat idle.

    `pool_pre_ping` sends `SELECT 1` at every checkout: two of a command's round trips, for a
    connection that was in use a few milliseconds earlier. One idle for longer may have been
    closed meanwhile (the server restarted, an idle timeout, the network), so it is still pinged,
    and replaced if the ping fails (SQLAlchemy's pessimistic disconnect handling: a checkout
    listener that raises `DisconnectionError` gets a fresh connection). A busy connection
    learns of a server restart from its next statement instead; SQLAlchemy then replaces every
    pooled connection, and the Dispatcher runs that request once more on a fresh one (`app.py`).
    """

    def mark(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc

    event.listen(engine.pool, "connect", mark)
    event.listen(engine.pool, "checkin", mark)
    event.listen(engine.pool, "checkout", check)


class WriteTurn:
    """One writer at a time on a SQLite file, taken in turn: threads queue on a lock, processes
    (several gunicorn workers, `ci-slackbot worker`) on flock(2) of a file beside the database.

    SQLite has one writer at a time, and its busy handler sleeps and retries with growing
    pauses (up to 100 ms a try), so a writer can lose again and again: under a burst some
    requests waited for over a second (bench/ack_latency.py, two workers). A waiter here is
    woken as soon as the turn is free.
    """

    def __init__(self, lock_file: Path | None) -> None:
        self.lock_file = lock_file
        self._threads = threading.RLock()
        self._depth = threading.local()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self.lock_file is None or fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            # A forked child opens its own: a descriptor inherited from the parent shares its lock.
            self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            depth = getattr(self._depth, "n", 0)
            fd = self._file() if depth == 0 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


class Database:
    """An engine and its session factory; `unit_of_work()` commits or rolls back."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._turn: WriteTurn | None = None
        if is_sqlite(self.engine):
            path = _sqlite_file(self.engine)
            self._turn = WriteTurn(path.with_name(path.name + "-writer.lock") if path else None)

    @contextmanager
    def serialised(self) -> Iterator[None]:
        """Hold the write turn on SQLite; nothing on PostgreSQL."""
        if self._turn is None:
            yield
            return
        with self._turn.held():
            yield

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with self.serialised():
            session = self.sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def upgrade(self) -> None:
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations; safe to run from several processes at once on PostgreSQL."""
    from alembic import command

    config = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        # Two processes starting together must not both create the tables.
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(744213)"))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
