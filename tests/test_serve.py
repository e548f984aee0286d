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
