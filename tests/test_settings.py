"""Settings: exactly the contract's names, from the environment or a `.env` file, and a one-line
stop naming a missing secret and where to get it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_slackbot.settings import MissingSettingError, Settings

# The contract's table (../shared/CONTRACT.md, "Settings"): name → (field, default).
CONTRACT = {
    "DATABASE_URL": ("database_url", "sqlite:///ci_slackbot.db"),
    "SLACK_BOT_TOKEN": ("slack_bot_token", None),
    "SLACK_SIGNING_SECRET": ("slack_signing_secret", None),
    "SLACK_APP_TOKEN": ("slack_app_token", None),
    "SLACK_API_URL": ("slack_api_url", "https://slack.com/api/"),
    "NOTION_TOKEN": ("notion_token", None),
    "NOTION_API_URL": ("notion_api_url", "https://api.notion.com"),
    "GOOGLE_SERVICE_ACCOUNT_FILE": ("google_service_account_file", None),
    "SHEETS_API_URL": ("sheets_api_url", "https://sheets.googleapis.com"),
}
# Issue 8 (many workspaces) adds the OAuth install flow's settings, all optional, beside the contract's.
OAUTH = {"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SCOPES", "SLACK_REDIRECT_URI"}
# A value for each that its validation keeps as it is.
SAMPLE = {
    "DATABASE_URL": "postgresql://ci@db.example.org/ci",
    "SLACK_BOT_TOKEN": "xoxb-111-222-abc",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "SLACK_APP_TOKEN": "xapp-1-A111-222-def",
    "SLACK_API_URL": "http://127.0.0.1:9001/api/",
    "NOTION_TOKEN": "ntn_secret_value",
    "NOTION_API_URL": "http://127.0.0.1:9002",
    "GOOGLE_SERVICE_ACCOUNT_FILE": "/etc/ci-slackbot/service-account.json",
    "SHEETS_API_URL": "http://127.0.0.1:9003",
}
# The contract's prefixes; anything beyond the contract lives under CI_SLACKBOT_ (or is LOG_LEVEL).
CONTRACT_PREFIXES = ("DATABASE_", "SLACK_", "NOTION_", "GOOGLE_", "SHEETS_")


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, and a working directory without a .env file."""
    for name in os.environ:
        if name.startswith(CONTRACT_PREFIXES) or name.startswith("CI_SLACKBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def values(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, field) for name, (field, _) in CONTRACT.items()}


def test_the_settings_use_exactly_the_contract_names() -> None:
    aliases = {field: info.alias for field, info in Settings.model_fields.items()}
    for name, (field, _) in CONTRACT.items():
        assert aliases[field] == name
    in_contract_namespace = {alias for alias in aliases.values() if alias and alias.startswith(CONTRACT_PREFIXES)}
    assert in_contract_namespace == set(CONTRACT) | OAUTH
    beyond = {alias for alias in aliases.values() if alias not in CONTRACT and alias not in OAUTH}
    assert all(alias.startswith("CI_SLACKBOT_") or alias == "LOG_LEVEL" for alias in beyond), beyond


def test_defaults_are_the_contracts(no_settings: Path) -> None:
    settings = Settings()
    assert values(settings) == {name: default for name, (_, default) in CONTRACT.items()}
    assert not settings.notion_enabled
    assert not settings.sheets_enabled


def test_every_name_loads_from_the_environment(no_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SAMPLE.items():
        monkeypatch.setenv(name, value)
    assert values(Settings()) == SAMPLE


def test_every_name_loads_from_a_dot_env_file(no_settings: Path) -> None:
    lines = [f"{name}={value}" for name, value in SAMPLE.items()]
    (no_settings / ".env").write_text("# written by the deploy\n" + "\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings()
    assert values(settings) == SAMPLE
    assert settings.notion_enabled and settings.sheets_enabled


def test_the_environment_wins_over_the_dot_env_file(no_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (no_settings / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nNOTION_TOKEN=from-file\n", encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    settings = Settings()
    assert settings.slack_bot_token == "xoxb-from-env"
    assert settings.notion_token == "from-file"


def test_pasted_secrets_are_trimmed_and_empty_ones_are_unset(no_settings: Path) -> None:
    (no_settings / ".env").write_text("SLACK_BOT_TOKEN= xoxb-123 \nNOTION_TOKEN=\nSHEETS_API_URL=\n", encoding="utf-8")
    settings = Settings()
    assert settings.slack_bot_token == "xoxb-123"
    assert settings.notion_token is None and not settings.notion_enabled
    assert settings.sheets_api_url == "https://sheets.googleapis.com" and not settings.sheets_enabled


def test_a_slack_api_url_without_its_slash_still_reaches_the_methods(no_settings: Path) -> None:
    # slack_sdk joins "auth.test" onto the base URL; ".../api" would lose its last segment.
    assert Settings(SLACK_API_URL="http://127.0.0.1:9001/api").slack_api_url == "http://127.0.0.1:9001/api/"


def test_sheets_turn_on_with_a_service_account_or_an_api_url(no_settings: Path) -> None:
    assert Settings(GOOGLE_SERVICE_ACCOUNT_FILE="/keys/sa.json").sheets_enabled
    assert Settings(SHEETS_API_URL="http://127.0.0.1:9003").sheets_enabled


def test_require_names_the_first_missing_setting_and_where_to_get_it(no_settings: Path) -> None:
    settings = Settings(SLACK_BOT_TOKEN="xoxb-1")
    settings.require("SLACK_BOT_TOKEN")
    with pytest.raises(MissingSettingError) as missing:
        settings.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
    assert str(missing.value).startswith("SLACK_SIGNING_SECRET is not set")
    assert "Signing Secret" in str(missing.value)


# -- start-up stops with one line ----------------------------------------------------------


def start(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONTRACT_PREFIXES)}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ci_slackbot", *command],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("command", "given", "missing", "where"),
    [
        (["serve", "--port", "0"], {}, "SLACK_BOT_TOKEN", "Bot User OAuth Token"),
        (["serve", "--port", "0"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET", "Signing Secret"),
        (["run"], {}, "SLACK_BOT_TOKEN", "Bot User OAuth Token"),
        (["run"], {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "SLACK_APP_TOKEN", "App-Level Tokens"),
    ],
)
def test_a_missing_secret_stops_start_up_with_one_line(
    command: list[str], given: dict[str, str], missing: str, where: str, tmp_path: Path
) -> None:
    done = start(command, given, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert missing in lines[0] and where in lines[0]
    assert "api.slack.com/apps" in lines[0]
    assert done.stdout == ""
    # It stopped before touching anything: no database was created in the working directory.
    assert list(tmp_path.iterdir()) == []
