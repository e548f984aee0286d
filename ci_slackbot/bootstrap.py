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
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from ci_slackbot.observability import Metrics
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from commands import build_router
from commands.router import Router

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    slack: WebClient
    router: Router
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Wakes the outbox workers as soon as something is enqueued in this process.
    outbox_signal: threading.Event = field(default_factory=threading.Event)
    extras: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)

    def now(self) -> datetime:
        return self.clock()


def slack_client(settings: Settings, token: str | None = None) -> WebClient:
    client = WebClient(token=token or settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
    # Slack answers 429 with Retry-After; the SDK only retries connection errors by default.
    client.retry_handlers = [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)]
    return client


def bootstrap(settings: Settings, *, migrate: bool = True) -> Services:
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    return Services(settings=settings, db=db, slack=slack_client(settings), router=build_router())
