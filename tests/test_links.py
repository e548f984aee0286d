"""Links and text others see: only Slack's permalinks become links, only Slack's response URLs are
posted to, link text cannot break out of its link, and invisible direction marks are dropped."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from ci_slackbot.domain.links import is_response_url, is_slack_permalink, origin_prefix
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import Decision
from integrations.slack.escape import escape, link
from tests.harness import BACKBONE, HOSPITAL, NURSE, World, wait_for

DECISIONS_CHANNEL = "C0DECIDE01"
PERMALINK = "https://sandbox.slack.com/archives/C0GENERAL/p1700000000000100"


def _slack_link(mrkdwn: str) -> tuple[str, str, str]:
    """A mrkdwn string read as Slack reads a link: (url, text, what follows the link)."""
    start = mrkdwn.index("<")
    end = mrkdwn.index(">", start)
    url, _, text = mrkdwn[start + 1 : end].partition("|")
    return url, text, mrkdwn[end + 1 :]


def test_link_text_with_a_pipe_or_a_bracket_stays_inside_the_link() -> None:
    url, text, after = _slack_link(link(PERMALINK, "ok|javascript:alert(1)> <!channel>"))
    assert url == PERMALINK
    assert "|" not in text and text == "ok∣javascript:alert(1)&gt; &lt;!channel&gt;"
    assert after == ""


def test_a_url_that_would_break_the_link_syntax_is_shown_as_text() -> None:
    assert link("https://x.slack.com/archives/C|evil", "the message") == "the message"
    assert link("https://x.slack.com/archives/C>x", "m") == "m"


@pytest.mark.parametrize(
    ("url", "permalink", "response"),
    [
        (PERMALINK, True, False),
        ("https://acme.enterprise.slack.com/archives/C1/p1", True, False),
        ("https://hooks.slack.com/commands/T1/1/abc", False, True),
        ("javascript:alert(1)", False, False),
        ("http://sandbox.slack.com/archives/C1/p1", False, False),
        ("https://slack.com.evil.example/archives/C1", False, False),
        ("https://evil.example/?x=.slack.com/archives/", False, False),
        ("https://user@x.slack.com/archives/C1/p1", False, False),
        ("https://hooks.slack.com.evil.example/x", False, False),
        ("https://x.slack.com/files/U1/F1/a.png", False, False),
    ],
)
def test_only_slack_urls_are_trusted(url: str, permalink: bool, response: bool) -> None:
    assert is_slack_permalink(url) is permalink
    assert is_response_url(url) is response


def test_a_stand_in_host_is_trusted_through_the_settings() -> None:
    assert origin_prefix("https://slack.com/api/") is None
    local = Settings(SLACK_API_URL="http://127.0.0.1:8123/api/")
    assert local.trusted_url_prefixes == ("http://127.0.0.1:8123/",)
    assert is_response_url("http://127.0.0.1:8123/_response/abc", local.trusted_url_prefixes)
    assert not is_response_url("http://127.0.0.1:9999/_response/abc", local.trusted_url_prefixes)
    named = Settings(CI_SLACKBOT_TRUSTED_URL_PREFIXES="https://proxy.example/slack/, ")
    assert named.trusted_url_prefixes == ("https://proxy.example/slack/",)
    assert Settings().trusted_url_prefixes == ()


def test_bidi_controls_and_zero_width_characters_are_dropped_on_output() -> None:
    hidden = "".join(chr(c) for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069))
    hidden += "".join(chr(c) for c in (0x200E, 0x200F, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF))
    assert escape(f"pay{hidden}txt.exe & <b>") == "paytxt.exe &amp; &lt;b&gt;"


def _announcement(world: World, marker: str) -> dict[str, Any]:
    found = wait_for(lambda: [m for m in world.slack.messages(DECISIONS_CHANNEL) if marker in json.dumps(m)])
    return found[0]


def test_a_javascript_permalink_in_private_metadata_is_never_linked(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    metadata = {"permalink": "javascript:alert(1)", "author": NURSE, "channel": "C0GENERAL", "ts": "1.2"}
    text = f"We adopt the \u202eplan\u202c with a\u200b hidden mark ({marker})"
    response = world.send.submit(
        BACKBONE,
        {"type": "modal", "callback_id": "record_decision", "private_metadata": json.dumps(metadata)},
        {"decision_text": {"text": {"type": "plain_text_input", "value": text}}},
    )
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    announcement = json.dumps(_announcement(world, marker), ensure_ascii=False)
    assert "javascript" not in announcement and "the original message" not in announcement
    assert "\u202e" not in announcement and "\u200b" not in announcement
    assert f"We adopt the plan with a hidden mark ({marker})" in announcement
    db = world.db()
    with db.unit_of_work() as session:
        decision = session.scalars(select(Decision).where(Decision.text.contains(marker))).one()
        assert decision.source_permalink is None and decision.text == text  # stored as typed
    db.dispose()


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[str, list[str]]]:
    """A host that is not Slack, recording every request made to it."""
    hits: ClassVar[list[str]] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hits
    server.shutdown()
    server.server_close()


def test_a_response_url_on_a_foreign_host_is_never_called(world: World, foreign: tuple[str, list[str]]) -> None:
    url, hits = foreign
    ts = "1700000000.000100"
    response = world.send.interaction(
        {
            "type": "message_action",
            "callback_id": "record_decision",
            "trigger_id": world.slack.new_trigger_id(HOSPITAL),
            "user": {"id": HOSPITAL},
            "channel": {"id": "C0GENERAL"},
            "message": {"type": "message", "ts": ts, "user": NURSE, "text": "A partner's idea"},
            "response_url": url,
        }
    )
    assert response.status_code == 200
    # The refusal still reaches the person, by direct message instead.
    wait_for(lambda: [m for m in world.slack.dms(HOSPITAL) if "Only backbone staff" in json.dumps(m)])
    form = {
        "team_id": world.send.team,
        "channel_id": "C0GENERAL",
        "user_id": HOSPITAL,
        "command": "/ci",
        "text": "indicator er-visits",
        "response_url": url,
        "trigger_id": world.slack.new_trigger_id(HOSPITAL),
    }
    answer = world.send.post(urlencode(form).encode(), "application/x-www-form-urlencoded")
    assert answer.status_code == 200 and "Asthma emergency visits" in answer.text
    assert "The chart follows" not in answer.text  # nowhere to send it
    assert hits == []
