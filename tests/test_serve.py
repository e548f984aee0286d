"""What only a real `ci-slackbot serve` process shows: gunicorn's workers behind one port, signature
checks over real HTTP, health, and the answer of a signed command, on each database.

Behaviour tests serve the app in the test's own process (`AppServer`); these few keep the process
itself honest. Kill -9 and restarts are in test_outbox.py and test_sheets_mirror.py, several
processes on one database in test_scale_out.py and test_scheduler_e2e.py, Socket Mode in
test_socket_mode.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.harness import HOSPITAL, QUIET_SCHEDULER, Sandbox, ServeProcess, SlackSender, load_example, sign

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(
    module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, SlackSender]]:
    load_example(module_database_url)
    server = ServeProcess(module_database_url, {**sandbox.env(), **QUIET_SCHEDULER})
    server.start(tmp_path_factory.mktemp("serve"), ("--workers", "2"))
    try:
        yield server, SlackSender(server.events_url, sandbox.slack)
    finally:
        server.stop()


def test_two_gunicorn_workers_answer_health_and_signed_commands(served: tuple[ServeProcess, SlackSender]) -> None:
    server, send = served
    assert requests.get(f"{server.base}/healthz", timeout=5).json() == {"status": "ok"}

    def report(n: int) -> str:
        return str(send.ci(f"update er-visits {20 + n} 2026-0{n + 1}", user=HOSPITAL)["text"])

    # Enough at once that both workers take some: each answer is the partner's own.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(report, range(8)))
    assert all("er-visits" in answer or "ER visits" in answer for answer in answers), answers


def test_signatures_are_checked_over_http(served: tuple[ServeProcess, SlackSender], tmp_path: Path) -> None:
    server, _ = served
    body = b"command=%2Fci&text=help&user_id=U0CHLD0001&team_id=T0SANDBOX"
    kind = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = requests.post(server.events_url, data=body, headers={**kind, **sign(body, secret="wrong")}, timeout=5)
    stale_headers = {**kind, **sign(body, timestamp=int(time.time()) - 600)}
    stale = requests.post(server.events_url, data=body, headers=stale_headers, timeout=5)
    good = requests.post(server.events_url, data=body, headers={**kind, **sign(body)}, timeout=5)
    assert (forged.status_code, stale.status_code, good.status_code) == (401, 401, 200)
    assert "/ci update" in good.text


GARBAGE = [b"{not json", b"[1]", b"null", b"payload={bad", b"payload=null", b"\xff\xfe not utf-8", b""]


def test_garbage_and_forged_bodies_get_4xx_from_serve_and_leave_no_traceback(
    served: tuple[ServeProcess, SlackSender],
) -> None:
    """Checked before anything parses them: unsigned, badly signed or signed garbage never gets a 5xx."""
    server, _ = served
    statuses = []
    for body in GARBAGE:
        for kind in ("application/json", "application/x-www-form-urlencoded"):
            headers = {"Content-Type": kind}
            statuses.append(requests.post(server.events_url, data=body, headers=headers, timeout=5).status_code)
            bad_stamp = {**headers, "X-Slack-Request-Timestamp": "1e10", "X-Slack-Signature": "v0=00"}
            statuses.append(requests.post(server.events_url, data=body, headers=bad_stamp, timeout=5).status_code)
            signed = {**headers, **sign(body)}
            statuses.append(requests.post(server.events_url, data=body, headers=signed, timeout=5).status_code)
    assert statuses and all(400 <= status < 500 for status in statuses), statuses
    assert "Traceback" not in server.logs()


def test_a_replayed_signed_command_is_ignored_by_serve(served: tuple[ServeProcess, SlackSender]) -> None:
    server, _ = served
    body = b"command=%2Fci&text=help&user_id=U0CHLD0001&team_id=T0SANDBOX&channel_id=C0GENERAL"
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    first = requests.post(server.events_url, data=body, headers=headers, timeout=5)
    again = requests.post(server.events_url, data=body, headers=headers, timeout=5)
    assert first.status_code == 200 and "/ci update" in first.text
    assert again.status_code == 200 and again.content == b""
