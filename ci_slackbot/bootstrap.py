"""The one place where everything is wired: settings in, services out.

Tests and the demo build `Settings(...)` and call `bootstrap()`; nothing is
created at import time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from sqlalchemy import Insert
from sqlalchemy.orm import Session

from ci_slackbot.observability import Metrics, redact_also
from ci_slackbot.outbox import OutboxSignal, Registry
from ci_slackbot.services.config_cache import ConfigCache
from ci_slackbot.services.initiatives import find_initiative, find_initiative_along
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from commands import build_router
from commands.router import Router
from integrations.slack.names import SlackNames

if TYPE_CHECKING:
    import gspread

    from ci_slackbot.runtime import Background
    from ci_slackbot.scheduler import Scheduler
    from ci_slackbot.store.models import Initiative
    from integrations.notion import NotionAdapter
    from integrations.slack.identity import TokenIdentity
    from integrations.slack.installations import Workspaces

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    # SLACK_BOT_TOKEN's client. Calls made for a workspace use `slack_for(team_id)` or
    # `slack_for_initiative(id)` instead, which are this client unless the app is installed by OAuth.
    slack: WebClient
    router: Router
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Wakes the outbox workers as soon as something is enqueued in this process.
    outbox_signal: OutboxSignal = field(default_factory=OutboxSignal)
    metrics: Metrics = field(default_factory=Metrics)
    # Indicators and people per initiative revision, so that a command does not read them again.
    config: ConfigCache = field(default_factory=ConfigCache)
    # Set when the app installs into many workspaces by OAuth (SLACK_CLIENT_ID/SECRET): a token per workspace.
    workspaces: Workspaces | None = None
    # Who SLACK_BOT_TOKEN is (auth.test), when it is set: the initiative loaded without `--team` is its workspace's.
    token_identity: TokenIdentity | None = None

    # The rest is built on first use, by the module that needs it, once a process: building
    # them here would make every command and test pay for clients it may never use.
    # Set by `ci_slackbot.runtime.start_background`: its stop event ends waits for a rate limit.
    background: Background | None = None
    # Set by `ci_slackbot.scheduler.start_scheduler`, where the scheduler runs in this process.
    scheduler: Scheduler | None = None
    notion_adapter: NotionAdapter | None = None  # see `integrations.notion.adapter_of`
    sheets_client: gspread.Client | None = None  # see `integrations.sheets`
    # Slack user id -> name (users.info), for Notion pages and the Sheet; bounded in size and age.
    slack_names: SlackNames = field(default_factory=SlackNames)
    # Held while one of the parts above is built, so that two threads never build it twice.
    building: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _registry: Registry[Services] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.outbox_signal.watch(self.db.sessions)

    def now(self) -> datetime:
        return self.clock()

    def outbox_registry(self) -> Registry[Services]:
        """The process's registry: every service's deliverers and policies, tuned by its settings.

        One a process, so that every request to a service, delivery or not, takes its turn
        from the same rate limiter; shared paces go through this process's database.
        """
        with self.building:
            if self._registry is None:
                self._registry = build_outbox_registry(self.settings).bind(self.db)
            return self._registry

    def slack_for(self, team_id: str | None) -> WebClient:
        """The Web API client for calls made for a workspace: it carries that workspace's bot token.

        One workspace (SLACK_BOT_TOKEN): always `slack`. Many (OAuth): the workspace's installation,
        cached; `integrations.slack.installations.NotInstalledError` when the app is not installed there.
        """
        if self.workspaces is None:
            return self.slack
        return self.workspaces.client(team_id)

    def initiative_of(self, session: Session, team_id: str, token_team: str | None) -> Initiative | None:
        """The initiative a request from workspace `team_id` may see: the one loaded for that team, or,
        in SLACK_BOT_TOKEN's own workspace (`token_team`, asked of Slack before any transaction) only,
        the one loaded without `--team`; with OAuth, also the one naming `team_id` among its partner
        workspaces. (Not with SLACK_BOT_TOKEN alone: a partner's requests would be answered with
        another workspace's token, which the partner workspace never installed.)"""
        return find_initiative(session, team_id, default_owner=token_team, partners=self.workspaces is not None)

    def initiative_along(
        self, session: Session, team_id: str, token_team: str | None, along: Insert, values: dict[str, object]
    ) -> tuple[Initiative | None, bool]:
        """`initiative_of`, with `along` made by the same statement (`find_initiative_along`)."""
        return find_initiative_along(
            session, team_id, along, values, default_owner=token_team, partners=self.workspaces is not None
        )

    def token_team(self) -> str | None:
        """SLACK_BOT_TOKEN's workspace, as Slack's auth.test named it; None without the token or an answer."""
        return self.token_identity.team_id() if self.token_identity is not None else None

    def slack_for_initiative(self, initiative_id: int) -> WebClient:
        """`slack_for` the workspace an initiative belongs to (for the outbox and scheduled jobs)."""
        if self.workspaces is None:
            return self.slack
        return self.workspaces.client_for_initiative(initiative_id)


def web_client(settings: Settings, token: str | None) -> WebClient:
    """A Web API client for SLACK_API_URL with `token` (None: a client that carries none)."""
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    # Slack answers 429 with Retry-After; the SDK only retries connection errors by default.
    client.retry_handlers = [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)]
    return client


def slack_client(settings: Settings, token: str | None = None) -> WebClient:
    return web_client(settings, token or settings.slack_bot_token)


def build_outbox_registry(settings: Settings) -> Registry[Services]:
    from integrations import deliverers

    return deliverers.build_registry().tune(settings)


def bootstrap(settings: Settings, *, migrate: bool = True) -> Services:
    redact_also(
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.slack_client_secret,
        settings.notion_token,
    )
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    from integrations.slack.identity import TokenIdentity

    slack = slack_client(settings)
    workspaces = None
    identity = TokenIdentity(slack) if settings.slack_bot_token else None
    if settings.oauth_enabled:
        from integrations.slack.installations import Workspaces

        workspaces = Workspaces(settings, db.engine, lambda token: web_client(settings, token))
        identity = workspaces.identity
    return Services(
        settings=settings,
        db=db,
        slack=slack,
        router=build_router(),
        workspaces=workspaces,
        token_identity=identity,
    )
