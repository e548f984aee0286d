"""Slow and oversized requests against a real `ci-slackbot serve` (gunicorn, its default 1 worker and
4 threads on SQLite): dozens of clients that trickle their requests hold no request thread, and are
cut off; signed commands and /healthz are answered within Slack's 3 s meanwhile."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import requests

from ci_slackbot.connection_shares import ConnectionShares
from ci_slackbot.http_limits import KEEPALIVE_REQUESTS, MAX_BODY_BYTES, READ_DEADLINE
from ci_slackbot.sandbox.world import children_of
from tests.harness import HOSPITAL, QUIET_SCHEDULER, Sandbox, ServeProcess, SlackSender, load_example, sign, wait_for

pytestmark = pytest.mark.e2e

SLACK_ACK_LIMIT = 3.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def served(
    module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, SlackSender]]:
    load_example(module_database_url)
    server = ServeProcess(module_database_url, {**sandbox.env(), **QUIET_SCHEDULER})
    server.start(tmp_path_factory.mktemp("serve"))
    try:
        yield server, SlackSender(server.events_url, sandbox.slack)
    finally:
        server.stop()


@contextlib.contextmanager
def slow_clients(port: int, *, bodies: int, heads: int, idle: int) -> Iterator[list[socket.socket]]:
    """Connections that announce a 1,000,000-byte body and send a few bytes of it, that send only part
    of their headers, and that send nothing; a thread trickles a byte more to each of the first two
    kinds every 0.2 s until the block ends."""
    opened: list[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(bodies):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            opened.append(sock)
            sock.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000\r\n\r\nabc"
            )
        for _ in range(heads):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            opened.append(sock)
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        for _ in range(idle):
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))

        def trickle() -> None:
            while not stop.wait(0.2):
                for sock in opened[: bodies + heads]:
                    with contextlib.suppress(OSError):  # cut off by the server: that is the point
                        sock.send(b"a")

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            yield opened
        finally:
            stop.set()
            trickler.join(5)
    finally:
        for sock in opened:
            sock.close()


def still_open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed the connection."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # an answer, or b"" once closed
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def answer_of(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends before closing the connection, read within `timeout` seconds."""
    sock.settimeout(timeout)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            received += chunk
    return received


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def test_fifty_slow_clients_hold_no_thread_and_are_cut_off(served: tuple[ServeProcess, SlackSender]) -> None:
    server, send = served
    with slow_clients(server.port, bodies=25, heads=15, idle=10) as held:
        opened_at = time.monotonic()
        health, health_took = timed(lambda: requests.get(f"{server.base}/healthz", timeout=SLACK_ACK_LIMIT))
        help_answer, help_took = timed(lambda: send.ci("help", user=HOSPITAL))
        update_answer, update_took = timed(lambda: send.ci("update er-visits 17", user=HOSPITAL))
        assert health.status_code == 200
        assert "/ci update" in str(help_answer)
        assert "er-visits" in str(update_answer) or "ER visits" in str(update_answer), update_answer
        assert max(health_took, help_took, update_took) < SLACK_ACK_LIMIT, (health_took, help_took, update_took)
        # They were all still held while the commands were answered...
        assert time.monotonic() - opened_at < READ_DEADLINE
        assert all(still_open(sock) for sock in held)
        # ...and each is cut off once its request is READ_DEADLINE late, however it keeps trickling.
        answers = [answer_of(sock, READ_DEADLINE + 3) for sock in held]
        cut_after = time.monotonic() - opened_at
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), {a[:40] for a in answers}
    assert cut_after < READ_DEADLINE + 3


def test_a_body_over_the_cap_gets_413_at_once(served: tuple[ServeProcess, SlackSender]) -> None:
    server, _ = served
    body = b"payload=" + b"x" * MAX_BODY_BYTES
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    assert requests.post(server.events_url, data=body, headers=headers, timeout=10).status_code == 413
    # Refused on its Content-Length alone: nothing of the body needs to arrive.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\n\r\n")
        assert answer_of(sock, 2).startswith(b"HTTP/1.1 413 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello")
        assert answer_of(sock, 2).startswith(b"HTTP/1.1 411 ")


def test_a_signed_command_just_under_the_cap_is_still_answered(served: tuple[ServeProcess, SlackSender]) -> None:
    server, _ = served
    # A large but legal body: the form's own fields, then padding Slack's own fields could reach.
    body = b"command=%2Fci&text=help&user_id=" + HOSPITAL.encode() + b"&team_id=T0SANDBOX&pad=" + b"x" * 900_000
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    response, took = timed(lambda: requests.post(server.events_url, data=body, headers=headers, timeout=10))
    assert response.status_code == 200
    assert "/ci update" in response.text
    assert took < SLACK_ACK_LIMIT


def test_kept_alive_connections_and_expect_continue_are_served(served: tuple[ServeProcess, SlackSender]) -> None:
    server, _ = served
    with requests.Session() as session:
        statuses = [session.get(f"{server.base}/healthz", timeout=5).status_code for _ in range(5)]
    assert statuses == [200] * 5
    body = b"command=%2Fci&text=help&user_id=" + HOSPITAL.encode() + b"&team_id=T0SANDBOX"
    signature = "".join(f"{k}: {v}\r\n" for k, v in sign(body).items())
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        head = (
            "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"{signature}Expect: 100-continue\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = answer_of(sock, 5)
    # One 100 Continue only, then the answer itself.
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:60]
    assert b"/ci update" in answer


def test_a_kept_alive_connection_is_closed_after_its_share_of_answers(served: tuple[ServeProcess, SlackSender]) -> None:
    """So that clients holding their connections spread over the workers again: the last answer says
    `Connection: close`, and the server closes the connection after it."""
    server, _ = served
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    heads = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for _ in range(KEEPALIVE_REQUESTS):
            sock.sendall(request)
            head = b"".join(iter(reader.readline, b"\r\n")).lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            reader.read(length)
            heads.append(head)
        assert reader.read(1) == b""  # closed by the server
    assert all(head.startswith(b"http/1.1 200") for head in heads)
    assert [b"connection: close" in head for head in heads] == [False] * (KEEPALIVE_REQUESTS - 1) + [True]


def _held_by(workers: list[int], server_port: int, client_ports: list[int]) -> dict[int, int]:
    """How many of the clients' connections (by their local ports) each worker process holds, from
    /proc: the server side of a connection is the socket from `server_port` to the client's port."""
    inodes = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            inodes[f"socket:[{inode}]"] = int(remote.split(":")[1], 16)
    held = dict.fromkeys(workers, 0)
    for worker in workers:
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            with contextlib.suppress(OSError):
                if inodes.get(os.readlink(fd)) in client_ports:
                    held[worker] += 1
    return held


def _kept_alive(port: int) -> socket.socket:
    """A connection that has had one answer, and is kept alive."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    reader = sock.makefile("rb")
    head = b"".join(iter(reader.readline, b"\r\n")).lower()
    reader.read(int(head.split(b"content-length:")[1].split(b"\r\n")[0]))
    assert head.startswith(b"http/1.1 200") and b"connection: close" not in head  # kept alive
    return sock


def test_new_connections_go_to_the_worker_holding_fewest(
    module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Workers keep the connections they accept; if the first to wake took every new one, its clients
    would queue behind each other while the other worker idled (connection_shares.py)."""
    server = ServeProcess(module_database_url, {**sandbox.env(), **QUIET_SCHEDULER})
    server.start(tmp_path_factory.mktemp("serve2"), extra_args=("--workers", "2"))
    opened: list[socket.socket] = []
    try:
        assert server.process is not None
        wait_for(lambda: len(children_of(server.process.pid)) == 2, timeout=30)  # type: ignore[union-attr]
        workers = children_of(server.process.pid)  # type: ignore[union-attr]
        # Both serving first (a worker still starting up is not left connections): kept-alive
        # connections until each worker holds one, then closed.
        warming: list[socket.socket] = []
        deadline = time.monotonic() + 30
        while 0 in _held_by(workers, server.port, [s.getsockname()[1] for s in warming]).values():
            assert time.monotonic() < deadline, "a worker never took a connection"
            warming.append(_kept_alive(server.port))
        warm_ports = [sock.getsockname()[1] for sock in warming]
        for sock in warming:
            sock.close()
        wait_for(lambda: sum(_held_by(workers, server.port, warm_ports).values()) == 0)
        for _ in range(12):
            opened.append(_kept_alive(server.port))
        held = _held_by(workers, server.port, [s.getsockname()[1] for s in opened])
        assert sum(held.values()) == 12
        assert sorted(held.values()) == [6, 6], held
    finally:
        for sock in opened:
            sock.close()
        server.stop()


def test_a_worker_is_among_the_fewest_only_against_live_workers() -> None:
    shares = ConnectionShares(slots=2)
    first, second = shares.assign(), shares.assign()
    assert first is not None and second is not None
    assert shares.assign() is None  # a third worker (TTIN) accepts as gunicorn's own do
    first.record(3)
    assert first.among_fewest()  # the second is still starting up: it is not waited for
    second.record(2)
    assert (first.among_fewest(), second.among_fewest()) == (False, True)
    second.record(3)
    assert (first.among_fewest(), second.among_fewest()) == (True, True)  # a tie: whoever wakes first
    shares.release(second)  # exited: not waited for
    assert first.among_fewest()
    again = shares.assign()
    assert again is not None and again.slot == second.slot and first.among_fewest()
    again.record(0)
    assert not first.among_fewest()  # the new one serves, and holds none
