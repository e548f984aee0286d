"""The foundation through the real `serve` process: signatures, health, help, roles, escaping."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import requests

from tests.harness import HOSPITAL, STRANGER, World, sign


def test_healthz_answers_200(world: World) -> None:
    response = requests.get(f"{world.server.base}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_signed_help_is_answered_well_under_three_seconds(world: World) -> None:
    started = time.perf_counter()
    answer = world.send.ci("help")
    elapsed = time.perf_counter() - started
    assert elapsed < 3
    text = json.dumps(answer)
    for command in ("/ci update", "/ci indicators", "/ci status", "/ci help"):
        assert command in text
    assert answer["response_type"] == "ephemeral"


def test_bare_ci_and_unknown_subcommands_list_the_commands(world: World) -> None:
    bare = json.dumps(world.send.ci(""))
    # `/ci` alone: the few commands a partner needs, and where the others are.
    assert "/ci update" in bare and "`/ci help`" in bare
    assert "/ci decide" not in bare
    unknown = world.send.ci("frobnicate now")
    text = json.dumps(unknown)
    assert "I don't know `/ci frobnicate`" in text
    assert "/ci indicators" in text


def _command_body() -> bytes:
    return urlencode({"command": "/ci", "text": "help", "user_id": HOSPITAL, "team_id": "T0SANDBOX"}).encode()


def test_forged_stale_and_unsigned_requests_get_401(world: World) -> None:
    body = _command_body()
    url = world.server.events_url
    kind = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = requests.post(url, data=body, headers={**kind, **sign(body, secret="not-the-secret")}, timeout=5)
    stale = requests.post(url, data=body, headers={**kind, **sign(body, timestamp=int(time.time()) - 600)}, timeout=5)
    unsigned = requests.post(url, data=body, headers=kind, timeout=5)
    tampered_headers = {**kind, **sign(body)}
    tampered = requests.post(url, data=body + b"&x=1", headers=tampered_headers, timeout=5)
    assert [r.status_code for r in (forged, stale, unsigned, tampered)] == [401, 401, 401, 401]


def test_a_user_in_no_organization_is_told_politely_who_can_add_them(world: World) -> None:
    answer = world.send.ci("update er-visits 12", user=STRANGER)
    text = answer["text"]
    assert "not listed as a member" in text
    assert "<@U0BACK0001>" in text  # the backbone staff who can add them
    assert answer["response_type"] == "ephemeral"


def test_user_text_never_reaches_slack_unescaped(world: World) -> None:
    answer = world.send.ci("update er-visits 17 <!channel> look & see <@U0BACK0001>")
    text = json.dumps(answer)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; look &amp; see" in text


def test_commands_are_acked_at_once_even_when_slack_is_slow(world: World) -> None:
    world.slack.faults.slow(2.5)
    try:
        started = time.perf_counter()
        response, _ = world.send.command("update", user=HOSPITAL)  # opens a modal after the ack
        elapsed = time.perf_counter() - started
    finally:
        world.slack.faults.restore()
    assert response.status_code == 200
    assert elapsed < 1.0, f"ack took {elapsed:.2f} s"


def test_metrics_count_commands_and_ack_latency(world: World) -> None:
    world.send.ci("help")
    world.send.ci("update nothing-here 1")
    text = requests.get(f"{world.server.base}/metrics", timeout=5).text
    assert 'ci_slackbot_commands_total{command="help",outcome="ok"}' in text
    assert 'ci_slackbot_commands_total{command="update",outcome="refused"}' in text
    count = next(line for line in text.splitlines() if line.startswith("ci_slackbot_ack_seconds_count"))
    assert float(count.split()[1]) >= 2
    assert "ci_slackbot_outbox_depth" in text


def test_an_at_channel_in_any_reply_is_defanged(world: World) -> None:
    # Slack turns a typed @channel into `<!channel>` markup before it reaches us.
    for text in ("update <!channel> 5", "update er-visits <!here>", "action add <!everyone> due <!channel>"):
        answer = world.send.ci(text)
        body = json.dumps(answer)
        assert "<!" not in body, (text, body)
