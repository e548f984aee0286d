"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), the sandbox, and the app
served in-process (or by a real `serve` process where a test needs one)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("CI_SLACKBOT_TEST_POSTGRES_URL")


def _create_pg_database() -> tuple[str, str]:
    assert PG_URL
    name = f"ci_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def _drop_pg_database(name: str) -> None:
    assert PG_URL
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _database(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need CI_SLACKBOT_TEST_POSTGRES_URL")
        url, name = _create_pg_database()
        yield url
        _drop_pg_database(name)
    else:
        yield f"sqlite:///{directory / 'ci.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    yield from _database(request, tmp_path)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _database(request, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def sandbox(module_database_url: str) -> Iterator[object]:
    # One sandbox per backend run, so that state from the SQLite run never leaks into the PostgreSQL one.
    from tests.harness import Sandbox

    box = Sandbox.start()
    yield box
    box.stop()


def _world(
    database_url: str,
    sandbox: object,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    in_process: bool = True,
) -> Iterator[object]:
    from tests.harness import QUIET_SCHEDULER, AppServer, Sandbox, ServeProcess, SlackSender, World, load_example

    assert isinstance(sandbox, Sandbox)
    load_example(database_url)
    env = {**sandbox.env(), **QUIET_SCHEDULER, **(extra_env or {})}
    server = AppServer(database_url, env) if in_process else ServeProcess(database_url, env)
    server.start(log_dir)
    world = World(sandbox, database_url, server, SlackSender(server.events_url, sandbox.slack))
    try:
        yield world
    finally:
        server.stop()
        if world.server is not server:  # a test replaced it (a restart after kill -9, say)
            world.server.stop()


@pytest.fixture(scope="module")
def world(module_database_url: str, sandbox: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The example initiative served by the app in this process, shared by a test module."""
    yield from _world(module_database_url, sandbox, tmp_path_factory.mktemp("logs"))


@pytest.fixture
def serve_env() -> dict[str, str]:
    """Extra environment for `fresh_world`'s server (short backoffs, say): override it in a module."""
    return {}


@pytest.fixture
def fresh_world(database_url: str, tmp_path: Path, serve_env: dict[str, str]) -> Iterator[object]:
    """Like `world`, with its own stand-ins, database and app for one test."""
    from tests.harness import Sandbox

    box = Sandbox.start()
    try:
        yield from _world(database_url, box, tmp_path, serve_env)
    finally:
        box.stop()


@pytest.fixture
def served_world(database_url: str, tmp_path: Path, serve_env: dict[str, str]) -> Iterator[object]:
    """Like `fresh_world`, served by a real `ci-slackbot serve` process: for what only a process shows
    (kill -9 and restart, gunicorn, several processes on one database)."""
    from tests.harness import Sandbox

    box = Sandbox.start()
    try:
        yield from _world(database_url, box, tmp_path, serve_env, in_process=False)
    finally:
        box.stop()


# Modules that wait longest (real-time quotas, restarts, several `serve` processes) start first, so
# that the rest fills the other workers around them instead of leaving one to finish alone.
SLOWEST_FIRST = (
    "tests/test_sheets_mirror.py",
    "tests/test_scale_out.py",
    "tests/test_scheduler_e2e.py",
    "tests/test_outbox.py",
    "tests/test_notion_mirror.py",
    "tests/test_demo.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: place for place, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadscope`, a module's tests on one backend go to one worker, in order.

    Tests of a module share its `world` (and other module-scoped fixtures) and may rely on what an
    earlier one left there, so they stay together; splitting the scope by backend as well lets the
    SQLite and PostgreSQL runs of the slowest modules (the Sheets mirror waits out Google's quota in
    real time) go to two workers instead of queueing one behind the other.
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleAndBackend(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            backend = re.search(r"\[(sqlite|postgres)\b", nodeid)
            return f"{module}[{backend.group(1)}]" if backend else module

    return ModuleAndBackend(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """pytest sets and deletes `PYTEST_CURRENT_TEST` in `os.environ` around every test phase, while the
    in-process servers' threads keep working: requests reads the environment for proxies on every call,
    and iterating `os.environ` while another thread deletes a key raises KeyError (pytest-dev/pytest#10876,
    tolstislon/testrail-api#69). A Sheets delivery failed so, now and then, and its traceback failed
    whichever test was running. The variable is only informational, and nothing here reads it.
    """
    import _pytest.runner

    _pytest.runner._update_current_test_var = lambda item, when: None  # type: ignore[assignment]
