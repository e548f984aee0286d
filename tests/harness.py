"""The test bench: stand-ins for Slack, Notion and Sheets, the app served in the test's own process
(or, for what only a process shows, a real `ci-slackbot serve`), and a sender that signs requests
the way Slack does."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.runtime import Background, start_background
from ci_slackbot.sandbox.notion import NotionStandIn
from ci_slackbot.sandbox.sheets import SheetsStandIn
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.sandbox.world import (  # noqa: F401 - re-exported for tests
    AGENDA_PAGE,
    BOT_TOKEN,
    DECISIONS_DB,
    NOTION_TOKEN,
    SIGNING_SECRET,
    SPREADSHEET,
    TEAM,
    Sandbox,
    ServeProcess,
    SlackSender,
    free_port,
    sign,
    slack_escape,
    wait_for,
)
from ci_slackbot.sandbox.world import load_example as sandbox_load_example
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem
from ci_slackbot.web import WebApp
from tests.paths import EXAMPLE

# People from the example initiative.
BACKBONE = "U0BACK0001"
NURSE = "U0DISD0001"  # Dallas ISD
HOSPITAL = "U0CHLD0001"  # Children's Health
NEIGHBOR = "U0NBRS0001"  # Neighbors United
CITY = "U0CITY0001"
STRANGER = "U0NOBODY01"


T = TypeVar("T")

# Test servers run no digest or reminders by the calendar: a test that happens to run on a
# Monday morning would otherwise get a real weekly digest. Tests of the scheduler set their own.
QUIET_SCHEDULER = {"CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": "off", "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off"}


def bot_client(slack: SlackStandIn) -> WebClient:
    """The bot's own Web API client, for a test that posts as Slack users would see the app post: it
    waits out a 429 as slack_sdk's users do (the stand-in paces posts into a channel as Slack does)."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    return client


def outbox_row(db: Database, item_id: int) -> OutboxItem:
    """An outbox row as it is now, detached from any session."""
    with db.unit_of_work() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        session.expunge(row)
        return row


def load_example(database_url: str, path: Path = EXAMPLE, team: str | None = None) -> None:
    """The sandbox's `load_example`, with shared/examples/initiative.yml (the one that must load) by default."""
    sandbox_load_example(database_url, path, team)


def app_settings(database_url: str, env: dict[str, str]) -> Settings:
    """Settings from `env` alone, as `serve` would read them from its environment: nothing leaks in
    from this process's own environment or a stray `.env` file."""
    return _IsolatedSettings.model_validate({**env, "DATABASE_URL": database_url})


class _IsolatedSettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class _QuietRequests(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Captured(logging.Handler):
    """What the app logs while it serves, kept for `AppServer.logs()` as `serve` writes it to its log file."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class AppServer:
    """The app served from this test's own process: `WebApp` (Bolt, /healthz, /metrics) on a threaded
    loopback HTTP server, with the outbox workers and the scheduler on threads, as `serve` runs them.

    Signed requests reach the real app through real HTTP, yet breakpoints, coverage and tracebacks
    reach the code under test, and a world starts in tens of milliseconds rather than seconds. What
    only a process shows (gunicorn, kill -9, several processes) is `ServeProcess`'s."""

    database_url: str
    env_extra: dict[str, str]
    port: int = 0
    services: Services | None = None
    _httpd: _ThreadingWSGIServer | None = None
    _web: WebApp | None = None
    _background: Background | None = None
    _captured: _Captured = field(default_factory=_Captured)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base}/slack/events"

    def start(self, log_dir: Path | None = None) -> AppServer:
        logging.getLogger().addHandler(self._captured)
        settings = app_settings(self.database_url, self.env_extra)
        self.services = bootstrap(settings)
        self._web = web = WebApp(self.services)
        if settings.background_jobs:
            self._background = start_background(self.services)
        self._httpd = make_server("127.0.0.1", 0, web, server_class=_ThreadingWSGIServer, handler_class=_QuietRequests)
        self.port = self._httpd.server_port
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"app-{self.port}", daemon=True
        ).start()
        return self

    def logs(self) -> str:
        return "\n".join(self._captured.lines)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._web is not None:
            # Its answers after the ack go out now, while the stand-ins are still up: later in this
            # process they would fail, and be logged into whichever test runs then.
            self._web.close()
            self._web = None
        if self._background is not None:
            self._background.stop()
            self._background = None
        if self.services is not None:
            self.services.db.dispose()
            self.services = None
        logging.getLogger().removeHandler(self._captured)

    def kill(self) -> None:
        raise NotImplementedError("kill -9 needs a process of its own: use the served_world fixture (ServeProcess)")


@dataclass
class World:
    """Everything an end-to-end test drives: the stand-ins, the database, the server and a sender."""

    sandbox: Sandbox
    database_url: str
    server: AppServer | ServeProcess
    send: SlackSender

    @property
    def slack(self) -> SlackStandIn:
        return self.sandbox.slack

    @property
    def notion(self) -> NotionStandIn:
        return self.sandbox.notion

    @property
    def sheets(self) -> SheetsStandIn:
        return self.sandbox.sheets

    def db(self) -> Database:
        return Database(self.database_url)


class clock_at:
    """Set the served app's clock (`Services.clock`) for a block: `with clock_at(world, when): …`."""

    def __init__(self, world: World, when: datetime) -> None:
        self.services = world.server.services
        self.when = when

    def __enter__(self) -> None:
        assert isinstance(self.services, Services), "only an in-process app (AppServer) has a settable clock"
        self.saved = self.services.clock
        self.services.clock = lambda: self.when

    def __exit__(self, *exc: object) -> None:
        assert isinstance(self.services, Services)
        self.services.clock = self.saved
