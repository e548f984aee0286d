"""Talking to the app the way Slack does, and the three stand-ins wired together.

Used by the test bench and by `ci-slackbot demo`: signed slash commands,
interactions and events, and a `Sandbox` of Slack, Notion and Sheets
stand-ins seeded with what the example initiative expects to find.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests

from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.sandbox.notion import NotionStandIn
from ci_slackbot.sandbox.sheets import SheetsStandIn
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.store.db import Database

SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox"
NOTION_TOKEN = "secret_sandbox"
TEAM = "T0SANDBOX"
# The app's OAuth credentials, as the Slack stand-in knows them (for installs into many workspaces).
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "sandbox-client-secret"
HOSPITAL = "U0CHLD0001"

T = TypeVar("T")

AGENDA_PAGE = "00000000-0000-0000-0000-00000000a9e0"
DECISIONS_DB = "00000000-0000-0000-0000-0000000dec15"
SPREADSHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def event_envelope(team: str, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """An Events API delivery of `event` from workspace `team`, as Slack wraps it."""
    return {
        "token": "legacy",
        "team_id": team,
        "api_app_id": "A0SANDBOX",
        "type": "event_callback",
        "event_id": event_id or ("Ev" + uuid.uuid4().hex[:10].upper()),
        "event_time": int(time.time()),
        "event": event,
    }


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SlackSender:
    """Sends what Slack sends: signed slash commands, interactions and events."""

    url: str
    slack: SlackStandIn
    team: str = TEAM
    secret: str = SIGNING_SECRET

    def post(
        self, body: bytes, content_type: str, *, headers: dict[str, str] | None = None, signed: bool = True
    ) -> requests.Response:
        all_headers = {"Content-Type": content_type}
        if signed:
            all_headers.update(sign(body, self.secret))
        all_headers.update(headers or {})
        return requests.post(self.url, data=body, headers=all_headers, timeout=10)

    def command(
        self, text: str, user: str = HOSPITAL, *, channel: str = "C0GENERAL", team: str | None = None
    ) -> tuple[requests.Response, str]:
        """Send `/ci <text>`; returns the HTTP response and the response_url key."""
        key = uuid.uuid4().hex
        form = {
            "token": "legacy",
            "team_id": team or self.team,
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/ci",
            "text": slack_escape(text),
            "api_app_id": "A0SANDBOX",
            "response_url": self.slack.response_url(key, channel=channel, user=user, team_id=team or self.team),
            "trigger_id": self.slack.new_trigger_id(user, team_id=team or self.team),
        }
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded"), key

    def ci(self, text: str, user: str = HOSPITAL, **kwargs: Any) -> dict[str, Any]:
        """Send `/ci <text>` and return the immediate JSON answer (the ack body)."""
        response, _ = self.command(text, user, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else {}

    def interaction(self, payload: dict[str, Any]) -> requests.Response:
        payload.setdefault("team", {"id": self.team, "domain": "sandbox"})
        payload.setdefault("api_app_id", "A0SANDBOX")
        payload.setdefault("token", "legacy")
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded")

    def click(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        view: dict[str, Any] | None = None,
        response_key: str | None = None,
    ) -> requests.Response:
        """Press a button; what the app sends to the click's response_url is kept under `response_key`."""
        key = response_key or uuid.uuid4().hex
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "team_id": self.team},
            "trigger_id": self.slack.new_trigger_id(user, team_id=self.team),
            "response_url": self.slack.response_url(key, channel="C0GENERAL", user=user, team_id=self.team),
            "channel": {"id": "C0GENERAL"},
            "container": {"type": "message"},
            "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b"}],
        }
        if view is not None:
            payload["view"] = view
            payload["container"] = {"type": "view", "view_id": view.get("id", "V0")}
        return self.interaction(payload)

    def submit(
        self, user: str, view: dict[str, Any], values: dict[str, dict[str, Any]], *, private_metadata: str | None = None
    ) -> requests.Response:
        """Submit a modal the app opened; `values` is `{block_id: {action_id: element_state}}`."""
        submitted = dict(view)
        submitted["state"] = {"values": values}
        if private_metadata is not None:
            submitted["private_metadata"] = private_metadata
        submitted.setdefault("id", "V" + uuid.uuid4().hex[:10].upper())
        response = self.interaction(
            {
                "type": "view_submission",
                "user": {"id": user, "team_id": self.team},
                "view": submitted,
                # Slack gives every submission a trigger of its own, so that two are never the same request.
                "trigger_id": self.slack.new_trigger_id(user, team_id=self.team),
            }
        )
        if response.status_code == 200:
            # Slack acts on the answer: closes the view, or updates it, or shows the errors.
            try:
                answer = response.json() if response.content else {}
            except ValueError:
                answer = {}
            self.slack.submission_answered(user, submitted["id"], answer, team_id=self.team, submitted=submitted)
        return response

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> requests.Response:
        envelope = event_envelope(self.team, event, event_id=event_id)
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(json.dumps(envelope).encode(), "application/json", headers=headers)


def slack_escape(text: str) -> str:
    """What Slack does to slash-command text with should_escape: `&`, `<`, `>` become entities,
    while mentions it formats itself (`<@U…>`, `<#C…>`, `<!channel>` for @channel) stay as markup."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith(("<@", "<#", "<!"), i) and ">" in text[i:]:
            end = text.index(">", i)
            out.append(text[i : end + 1])
            i = end + 1
            continue
        out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(text[i], text[i]))
        i += 1
    return "".join(out)


@dataclass
class Sandbox:
    slack: SlackStandIn
    notion: NotionStandIn
    sheets: SheetsStandIn

    @classmethod
    def start(cls) -> Sandbox:
        slack = SlackStandIn(bot_token=BOT_TOKEN, team_id=TEAM, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        notion = NotionStandIn(token=NOTION_TOKEN)
        sheets = SheetsStandIn()
        slack.start()
        notion.start()
        sheets.start()
        sandbox = cls(slack, notion, sheets)
        sandbox.seed_example()
        return sandbox

    def seed_example(self) -> None:
        """What the backbone already has: the agenda hub page, a decisions database, the sheet."""
        self.notion.add_page(
            "Breathe Easy Dallas — agenda hub",
            page_id=AGENDA_PAGE,
            blocks=[
                {
                    "type": "heading_1",
                    "heading_1": {"rich_text": [{"type": "text", "text": {"content": "Our agenda"}}]},
                },
                {
                    "type": "paragraph",
                    "paragraph": {"rich_text": [{"type": "text", "text": {"content": "Every child breathes easy."}}]},
                },
            ],
        )
        self.notion.add_database(AGENDA_PAGE, "Decisions", {"Name": {"title": {}}}, database_id=DECISIONS_DB)
        self.sheets.create_spreadsheet("Breathe Easy Dallas data", spreadsheet_id=SPREADSHEET)

    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.slack.url,
            "NOTION_TOKEN": NOTION_TOKEN,
            "NOTION_API_URL": self.notion.url,
            "SHEETS_API_URL": self.sheets.url,
        }

    def oauth_env(self) -> dict[str, str]:
        """`env()` for a deployment serving many workspaces: installs by OAuth, no SLACK_BOT_TOKEN."""
        env = {k: v for k, v in self.env().items() if k != "SLACK_BOT_TOKEN"}
        env.update({"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET})
        return env

    def stop(self) -> None:
        for stand_in in (self.slack, self.notion, self.sheets):
            stand_in.stop()


# The example initiative the package ships (a copy of the one in shared/examples), as the demo loads it.
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "initiative.yml"


def load_example(database_url: str, path: Path = EXAMPLE, team: str | None = None) -> None:
    """Bring a database up to date and load an initiative file into it (for `team`, with many workspaces)."""
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        apply_initiative(session, load_initiative_file(path), team)
    db.dispose()


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll until `predicate()` is truthy; fail with a clear message at the deadline."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    """A real `ci-slackbot serve` in its own process."""

    database_url: str
    env_extra: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.base}/slack/events"

    def start(self, log_dir: Path, extra_args: tuple[str, ...] = ()) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
        env.update(self.env_extra)
        env["DATABASE_URL"] = self.database_url
        env.setdefault("LOG_LEVEL", "WARNING")
        self.log_path = log_dir / f"serve-{self.port}.log"
        log = self.log_path.open("wb")
        extras = list(extra_args)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ci_slackbot", "serve", "--host", "127.0.0.1", "--port", str(self.port), *extras],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._healthy, timeout=30)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.logs()}")
        try:
            return requests.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.process and self.process.poll() is None:
            # gunicorn's master and worker: kill the whole group we started.
            for pid in children_of(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers, say), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
