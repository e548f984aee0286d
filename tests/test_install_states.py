"""OAuth states: every anonymous GET /slack/install stores one. Expired ones are purged, a process
issues a bounded number a minute (429 beyond, with Retry-After), and no more than a bounded number
live at once, so the table cannot be grown without bound by anyone who can reach the page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from ci_slackbot.store.db import Database
from ci_slackbot.store.models import slack_oauth_states
from integrations.slack.installations import STATES_PER_MINUTE, OAuthStateStore, TooManyInstallsError
from tests.test_tenancy import _deployment


def _count(database_url: str, *, expired: bool | None = None) -> int:
    db = Database(database_url)
    query = select(func.count()).select_from(slack_oauth_states)
    now = datetime.now(UTC).replace(tzinfo=None)
    if expired is True:
        query = query.where(slack_oauth_states.c.expire_at <= now)
    elif expired is False:
        query = query.where(slack_oauth_states.c.expire_at > now)
    with db.engine.connect() as connection:
        count = int(connection.execute(query).scalar() or 0)
    db.dispose()
    return count


def _add_expired(database_url: str, how_many: int) -> None:
    db = Database(database_url)
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None)
    with db.engine.begin() as connection:
        connection.execute(
            slack_oauth_states.insert(), [{"state": str(uuid.uuid4()), "expire_at": past} for _ in range(how_many)]
        )
    db.dispose()


def test_many_install_page_visits_do_not_grow_the_states_and_expired_ones_are_purged(
    database_url: str, tmp_path: Path
) -> None:
    for deployment in _deployment(database_url, tmp_path, {}):
        _add_expired(database_url, 200)  # left by visitors who never came back
        base = deployment.server.base
        answers = [requests.get(f"{base}/slack/install", timeout=10) for _ in range(3 * STATES_PER_MINUTE)]
        statuses = [answer.status_code for answer in answers]
        # The deployment's own install took one turn of this minute.
        assert statuses.count(200) == STATES_PER_MINUTE - 1, statuses
        refused = [answer for answer in answers if answer.status_code == 429]
        assert len(refused) == 2 * STATES_PER_MINUTE + 1
        assert all(answer.headers.get("Retry-After") == "60" for answer in refused)
        assert "Try again in a minute" in refused[0].text and "Set-Cookie" not in refused[0].headers
        assert _count(database_url, expired=True) == 0  # purged
        assert _count(database_url) <= STATES_PER_MINUTE
        assert not [line for line in deployment.server.logs().splitlines() if "Traceback" in line or "ERROR" in line]


def test_no_state_is_issued_while_too_many_are_live(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    minute = [0.0]
    store = OAuthStateStore(db.engine, expiration_seconds=600, per_minute=1000, max_live=5, clock=lambda: minute[0])
    issued = [store.issue() for _ in range(5)]
    with pytest.raises(TooManyInstallsError):
        store.issue()
    assert store.consume(issued[0])  # a finished install frees its place
    store.issue()
    # Per minute, per process: the limit counts the last 60 seconds.
    paced = OAuthStateStore(db.engine, per_minute=2, max_live=1000, clock=lambda: minute[0])
    paced.issue()
    paced.issue()
    with pytest.raises(TooManyInstallsError):
        paced.issue()
    minute[0] += 60.0
    paced.issue()
    db.dispose()
