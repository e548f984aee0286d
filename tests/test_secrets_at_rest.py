"""Secrets at rest: a new SQLite file is readable by its owner only, and with CI_SLACKBOT_TOKEN_KEY
the workspaces' bot tokens are stored encrypted, with key rotation, and tokens stored before the
key was set keep working (and are sealed the first time they are read)."""

from __future__ import annotations

import functools
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import select, text

from ci_slackbot.settings import MissingSettingError, Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import slack_bots, slack_installations
from integrations.slack.installations import NotInstalledError, Workspaces
from tests.harness import BOT_TOKEN, HOSPITAL, SlackSender, wait_for
from tests.test_tenancy import NEWCOMER, _deployment
from tests.test_workspaces import installed_bots

TEAM_A = "T0SEALED01"
TOKEN_A = "xoxb-111111111111-2222222222222-AbCdEfGhIjKlMnOpQrStUvWx"
KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, which would make it 0644
    try:
        path = tmp_path / "ci.db"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        with db.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM slack_bots"))
            # WAL mode: the -wal and -shm files exist while a connection is open.
            assert (tmp_path / "ci.db-wal").exists() and (tmp_path / "ci.db-shm").exists()
            modes = {name: _mode(tmp_path / name) for name in ("ci.db", "ci.db-wal", "ci.db-shm")}
        db.dispose()
    finally:
        os.umask(previous)
    assert modes == {"ci.db": 0o600, "ci.db-wal": 0o600, "ci.db-shm": 0o600}


def _workspaces(database_url: str, key: str | None) -> Workspaces:
    settings = Settings(
        DATABASE_URL=database_url,
        SLACK_CLIENT_ID="1111111111.2222222222",
        SLACK_CLIENT_SECRET="sandbox-client-secret",
        CI_SLACKBOT_TOKEN_KEY=key,
    )
    db = Database(database_url)
    db.upgrade()
    return Workspaces(settings, db.engine, lambda token: None)  # type: ignore[arg-type, return-value]


def _install(workspaces: Workspaces, team: str = TEAM_A, token: str = TOKEN_A) -> None:
    workspaces.store.save(
        Installation(
            app_id="A0SANDBOX",
            team_id=team,
            bot_token=token,
            bot_id="B0SEALED01",
            bot_user_id="U0SEALBOT1",
            bot_scopes=["commands", "chat:write"],
            user_id="U0INSTALL1",
            installed_at=time.time(),
        )
    )


def _stored(database_url: str) -> set[str]:
    """Every bot token as the database holds it, in both tables."""
    db = Database(database_url)
    with db.engine.connect() as connection:
        bots = set(connection.execute(select(slack_bots.c.bot_token)).scalars())
        installations = set(connection.execute(select(slack_installations.c.bot_token)).scalars())
    db.dispose()
    return {str(value) for value in bots | installations}


def test_with_a_key_tokens_are_stored_encrypted_and_read_back(database_url: str) -> None:
    url = database_url
    workspaces = _workspaces(url, KEY_NEW)
    _install(workspaces)
    stored = _stored(url)
    assert len(stored) == 1 and TOKEN_A not in stored and next(iter(stored)).startswith("gAAAAA")
    assert workspaces.bot(TEAM_A).token == TOKEN_A
    found = workspaces.store.find_installation(enterprise_id=None, team_id=TEAM_A)
    assert found is not None and found.bot_token == TOKEN_A
    workspaces.engine.dispose()


def test_a_token_stored_before_the_key_keeps_working_and_is_sealed_when_read(database_url: str) -> None:
    url = database_url
    plain = _workspaces(url, None)
    _install(plain)
    assert _stored(url) == {TOKEN_A}  # no key: as before
    plain.engine.dispose()
    keyed = _workspaces(url, KEY_NEW)
    assert keyed.bot(TEAM_A).token == TOKEN_A
    keyed.forget(None)
    assert installed_bots(url)[TEAM_A].startswith("gAAAAA")
    assert keyed.store.find_installation(enterprise_id=None, team_id=TEAM_A).bot_token == TOKEN_A  # type: ignore[union-attr]
    assert TOKEN_A not in _stored(url)  # the installation row too, once read
    keyed.engine.dispose()


def test_keys_rotate_new_first_old_after_then_the_old_one_goes(database_url: str) -> None:
    url = database_url
    old = _workspaces(url, KEY_OLD)
    _install(old)
    sealed_with_old = _stored(url)
    old.engine.dispose()
    rotating = _workspaces(url, f"{KEY_NEW}, {KEY_OLD}")
    assert rotating.bot(TEAM_A).token == TOKEN_A
    assert rotating.store.find_installation(enterprise_id=None, team_id=TEAM_A) is not None
    assert _stored(url).isdisjoint(sealed_with_old)  # sealed again, with the new key
    rotating.engine.dispose()
    new_only = _workspaces(url, KEY_NEW)
    assert new_only.bot(TEAM_A).token == TOKEN_A
    new_only.engine.dispose()
    # A token whose key is gone is not sent to Slack as garbage: the workspace reads as not installed.
    lost = _workspaces(url, KEY_OLD)
    with pytest.raises(NotInstalledError):
        lost.bot(TEAM_A)
    lost.engine.dispose()
    unset = _workspaces(url, None)
    with pytest.raises(NotInstalledError):
        unset.bot(TEAM_A)
    unset.engine.dispose()


def test_a_malformed_key_stops_start_up_with_a_clear_line(tmp_path: Path) -> None:
    with pytest.raises(MissingSettingError, match="CI_SLACKBOT_TOKEN_KEY must be Fernet keys"):
        _workspaces(f"sqlite:///{tmp_path / 'k.db'}", "not-a-key")


def test_an_install_through_oauth_stores_the_token_encrypted_and_it_serves(database_url: str, tmp_path: Path) -> None:
    for deployment in _deployment(database_url, tmp_path, {"CI_SLACKBOT_TOKEN_KEY": KEY_NEW}):
        minted = deployment.sandbox.slack.tokens(NEWCOMER)
        assert minted and minted[0].startswith("xoxb-")
        stored = installed_bots(database_url)[NEWCOMER]
        assert stored != minted[0] and stored.startswith("gAAAAA") and minted[0] not in _stored(database_url)
        # The app reads it back to answer: with a token it could not read, Slack's request would be refused
        # as from a workspace where the app is not installed.
        answer = deployment.send(NEWCOMER).ci("help", user=HOSPITAL)
        assert "no collective impact initiative loaded yet" in answer["text"]
        assert BOT_TOKEN not in str(answer)
        sender: SlackSender = deployment.send(NEWCOMER)
        sender.event({"type": "app_home_opened", "user": HOSPITAL, "tab": "home", "channel": "DHOME"})
        wait_for(functools.partial(deployment.sandbox.slack.home, HOSPITAL, team=NEWCOMER), timeout=10)
        calls = [c for c in deployment.sandbox.slack.calls("views.publish") if c["team"] == NEWCOMER]
        assert calls and all(c["ok"] for c in calls)
