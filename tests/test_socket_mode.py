"""`ci-slackbot run` builds the app for Socket Mode: no signing secret, no signature checks.

Over HTTP every request must be signed; over Socket Mode requests come through
the WebSocket opened with the app token and carry no signature, so the app
must neither ask for a signing secret nor refuse them. A wrong app token
stops `run` with a line that says what to fix, not a traceback.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from slack_bolt import App, BoltRequest

from ci_slackbot.app import create_app
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.settings import MissingSettingError, Settings
from ci_slackbot.web import WebApp
from tests.harness import BOT_TOKEN, HOSPITAL, TEAM, Sandbox, free_port, load_example


def _services(tmp_path: Path, api_url: str) -> Services:
    url = f"sqlite:///{tmp_path / 'ci.db'}"
    load_example(url)
    settings = Settings(
        DATABASE_URL=url,
        SLACK_BOT_TOKEN="xoxb-socket",
        SLACK_APP_TOKEN="xapp-1-socket",
        SLACK_API_URL=api_url,
        CI_SLACKBOT_BACKGROUND=False,
    )
    return bootstrap(settings)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    # auth.test names SLACK_BOT_TOKEN's workspace, the one the initiative loaded without --team belongs to.
    slack = SlackStandIn(bot_token="xoxb-socket", team_id=TEAM)
    slack.start()
    built = _services(tmp_path, slack.url)
    yield built
    built.db.dispose()
    slack.stop()


@pytest.fixture
def services_without_slack(tmp_path: Path) -> Iterator[Services]:
    # Nothing listens there: the app's start-up auth.test fails at once, in the background.
    built = _services(tmp_path, f"http://127.0.0.1:{free_port()}/api/")
    yield built
    built.db.dispose()


COMMAND = {
    "command": "/ci",
    "text": "help",
    "team_id": TEAM,
    "user_id": HOSPITAL,
    "channel_id": "C0GENERAL",
    "response_url": "http://127.0.0.1:9/response",
    "trigger_id": "1.2.3",
}


def answer_text(app: App, request: BoltRequest) -> tuple[int, str]:
    response = app.dispatch(request)
    return response.status, response.body if isinstance(response.body, str) else json.dumps(response.body)


def test_the_socket_mode_app_builds_without_a_signing_secret(services: Services) -> None:
    assert services.settings.slack_signing_secret is None
    app = create_app(services, socket_mode=True)
    status, body = answer_text(app, BoltRequest(body=dict(COMMAND), mode="socket_mode"))
    assert status == 200
    assert "/ci update" in body  # the help, answered through the real router


def test_while_slack_has_not_named_the_bot_token_workspace_a_command_is_refused_privately(
    services_without_slack: Services,
) -> None:
    # Which workspace the initiative loaded without --team belongs to is Slack's to say, not the request's.
    app = create_app(services_without_slack, socket_mode=True)
    status, body = answer_text(app, BoltRequest(body=dict(COMMAND), mode="socket_mode"))
    assert status == 200
    assert "cannot confirm which Slack workspace this is" in body and '"ephemeral"' in body
    assert "/ci update" not in body


def test_the_http_app_still_requires_a_signing_secret(services: Services) -> None:
    with pytest.raises(MissingSettingError, match="SLACK_SIGNING_SECRET"):
        create_app(services)


def test_the_http_app_refuses_an_unsigned_request(services: Services) -> None:
    """Over HTTP the signature is checked by `WebApp`, before Bolt parses the body."""
    services.settings.slack_signing_secret = "http-secret"
    body = urlencode(COMMAND).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    WebApp(services)(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["401 Unauthorized"]


def run_command(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
    clean.update(env)
    clean["DATABASE_URL"] = f"sqlite:///{cwd / 'ci.db'}"
    clean["CI_SLACKBOT_BACKGROUND"] = "false"
    return subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "run"], env=clean, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_run_with_a_bot_token_as_the_app_token_stops_with_one_line(tmp_path: Path) -> None:
    done = run_command({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-1"}, tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "SLACK_APP_TOKEN must be an app-level token (xapp-…)" in lines[0]


def test_run_with_an_app_token_slack_refuses_says_so_without_a_traceback(tmp_path: Path) -> None:
    box = Sandbox.start()
    try:
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1-revoked", "SLACK_API_URL": box.slack.url}
        done = run_command(env, tmp_path)
        assert [call["method"] for call in box.slack.calls("apps.connections.open")] == ["apps.connections.open"]
    finally:
        box.stop()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ci-slackbot: Slack refused SLACK_APP_TOKEN (invalid_auth)")
    assert "Socket Mode" in last and "App-Level Tokens" in last
