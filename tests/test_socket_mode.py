"""`ci-slackbot run` builds the app for Socket Mode: no signing secret, no signature checks.

Over HTTP every request must be signed; over Socket Mode requests come through
the WebSocket opened with the app token and carry no signature, so the app
must neither ask for a signing secret nor refuse them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest

from ci_slackbot.app import create_app
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.settings import MissingSettingError, Settings
from tests.harness import HOSPITAL, TEAM, free_port, load_example


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    url = f"sqlite:///{tmp_path / 'ci.db'}"
    load_example(url)
    settings = Settings(
        DATABASE_URL=url,
        SLACK_BOT_TOKEN="xoxb-socket",
        SLACK_APP_TOKEN="xapp-1-socket",
        # Nothing listens there: the app's start-up auth.test fails at once, in the background.
        SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
        CI_SLACKBOT_BACKGROUND=False,
    )
    built = bootstrap(settings)
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


def test_the_http_app_still_requires_a_signing_secret(services: Services) -> None:
    with pytest.raises(MissingSettingError, match="SLACK_SIGNING_SECRET"):
        create_app(services)


def test_the_http_app_refuses_an_unsigned_request(services: Services) -> None:
    services.settings.slack_signing_secret = "http-secret"
    app = create_app(services)
    request = BoltRequest(body=urlencode(COMMAND), headers={"content-type": "application/x-www-form-urlencoded"})
    status, _ = answer_text(app, request)
    assert status == 401
