"""Ack latency of signed `/ci update` requests from 32 concurrent clients, beside a bare Bolt app.

Four servers run on the same stack (gunicorn with gthread workers, as many workers and
threads each, Bolt's WSGI adapter), one after the other on the same cores:

- `ci-slackbot serve` on the example initiative: every request records (or corrects) a value
  in one transaction, queues its Sheets row, and acks with the whole answer (change, progress,
  on track) — the ack is the reply the partner reads;
- the same with queued commands (CI_SLACKBOT_QUEUE_COMMANDS): the ack only appends the command
  to the journal; `serve`'s command runners (niced) record it and post the answer to the
  command's response_url, which points at a receiver in a process of its own, as Slack is.
  Its load ends when the last answer has come, and the answers' latency is printed too;
- a bare Bolt app that only acks, configured as ours is (`process_before_response=True`:
  the listener runs on the request's own thread and the response goes as soon as it returns);
- the same bare app with Bolt's defaults, where the request thread polls for the ack every 10 ms.

Two loads, each from `--clients` clients holding one keep-alive connection apiece:

- `closed`: every client sends its next request as soon as the last one is answered (the most
  the server can take; latency is then mostly time spent queued behind the other clients);
- `--rate N` (open loop): N requests a second in all, each client on its own schedule; latency
  counts from when a request was due, so a server that falls behind is not flattered.

The clients run in a process of their own, one asyncio loop writing pre-signed requests, so
that as little as possible of the two cores goes to making the load. Run:

    python bench/ack_latency.py [--clients 32] [--requests 60] [--workers 2] [--rate 100] [--rounds 1] [--database URL]

Prints p50/p99 latency and throughput for each server and load, and the ratios to the bare app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ci_slackbot.sandbox.world import (
    SIGNING_SECRET,
    Sandbox,
    ServeProcess,
    free_port,
    load_example,
    sign,
    wait_for,
)
from ci_slackbot.web import request_threads

BARE_APP = """
import os
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False,
          process_before_response=os.environ["BARE_PROCESS_BEFORE_RESPONSE"] == "1",
          authorize=lambda enterprise_id, team_id: __import__("slack_bolt").authorization.AuthorizeResult(
              enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bare"))
@app.command("/ci")
def ack_only(ack):
    ack(text="ok")
api = SlackRequestHandler(app)
"""

OURS = "ci-slackbot, answer in the ack"
QUEUED = "ci-slackbot, queued commands"
BARE = "bare Bolt app (as ours)"

MONTHS = [f"{year}-{month:02d}" for year in (2025, 2026) for month in range(1, 13)][:23]  # to 2026-11
# Partners of the example initiative and the monthly indicators they report.
REPORTERS = [
    ("U0CHLD0001", "er-visits"),
    ("U0NBRS0001", "home-assessments"),
    ("U0CHLD0002", "home-visits"),
    ("U0CITY0001", "home-assessments"),
    ("U0NBRS0002", "home-visits"),
]


def command_body(client: int, k: int, response_url: str) -> bytes:
    """Client `client`'s `k`-th report: its own partner, indicator and ZIP code, month after month;
    after 23 months it corrects its earlier values. So each request is a first report or a correction,
    as partners send them, and clients do not all queue on the same few rows."""
    user, indicator = REPORTERS[client % len(REPORTERS)]
    value = 10 + (client * 7 + k * 3) % 40
    return urlencode(
        {
            "command": "/ci",
            "text": f"update {indicator} {value} {MONTHS[k % len(MONTHS)]} zip={75200 + client} bench run",
            "user_id": user,
            "team_id": "T0SANDBOX",
            "channel_id": "C0BENCH",
            "response_url": response_url,
            "trigger_id": f"bench.{client}.{k}",
        }
    ).encode()


# -- the load, in a process of its own ------------------------------------------------------


def signed_request(host: str, path: str, client: int, k: int, response_url: str) -> bytes:
    body = command_body(client, k, response_url)
    headers = {
        "Host": host,
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
        **sign(body, SIGNING_SECRET),
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + body


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP message off the connection, body and all; its first line (empty: the peer hung up)."""
    first_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return first_line


async def read_response(reader: asyncio.StreamReader) -> int:
    return int((await read_message(reader)).split()[1])


async def receive_answers() -> None:
    """Where the response_urls point, in a process of its own as Slack is: prints its port, reads how many
    answers to wait for from stdin (once the load knows how many commands were acked), then, once they
    came (or ten minutes passed), prints when each arrived (what Slack would show the partner)."""
    answered: dict[str, float] = {}
    complete = asyncio.Event()
    expected = 1 << 30

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await read_message(reader):
                answered.setdefault(request_line.split()[1].decode(), time.perf_counter())
                if len(answered) >= expected:
                    complete.set()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the sender hung up, or every answer is in and the server is closing
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    expected = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    if len(answered) >= expected:
        complete.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(complete.wait(), 600)
    server.close()
    print(json.dumps(answered), flush=True)


async def drive(
    url: str, clients: int, per_client: int, rate: float | None, seed: int, answer_port: int
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    def answer_url(c: int, k: int) -> str:
        return f"http://127.0.0.1:{answer_port}/answer/{c}/{k}"

    # Signed up front: the timestamps stay well inside Slack's five minutes for a run this long.
    prepared = [
        [signed_request(f"{host}:{port}", parts.path, c, seed + k, answer_url(c, seed + k)) for k in range(per_client)]
        for c in range(clients)
    ]
    interval = clients / rate if rate else 0.0
    latencies: list[float] = []
    asked: dict[str, float] = {}  # answer path -> when the request was sent (or due)
    errors: dict[str, int] = {}  # by status; "reset" when the connection was lost
    started = time.perf_counter()

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        due = started + random.Random(c).uniform(0, interval)
        for k, request in enumerate(prepared[c]):
            if rate:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            status = 0
            for _attempt in range(2):
                try:
                    if reader.at_eof():
                        raise ConnectionResetError  # closed while idle
                    writer.write(request)
                    status = await read_response(reader)
                    break
                except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                    # gunicorn closes a connection idle for 2 s (its keep-alive): sent again on a new
                    # one, as HTTP clients do. A second failure (a worker restarted, say) is counted.
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
            # Open loop: from when the request was due, so time spent waiting to send counts too.
            origin = min(due, sent) if rate else sent
            latencies.append(time.perf_counter() - origin)
            if status == 200:  # a command not acked is never answered
                asked[urlsplit(answer_url(c, seed + k)).path] = origin
            if status != 200:
                kind = str(status) if status else "reset"
                errors[kind] = errors.get(kind, 0) + 1
            due += interval
        writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors, "asked": asked, "started": started}


def run_load(
    url: str, clients: int, per_client: int, rate: float | None, seed: int, answers: bool = False
) -> dict[str, object]:
    """The load from a child process, so the stand-ins' threads in this one do not slow the clients.

    `answers`: wait for every answer at its response_url (queued commands) and time them too. The
    answers go to a process of their own, so that taking them does not slow the load."""
    receiver = None
    answer_port = 9  # nothing listens: an answer in the ack needs no response_url
    if answers:
        receiver = subprocess.Popen(
            [sys.executable, __file__, "--receive"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert receiver.stdout is not None
        answer_port = int(receiver.stdout.readline())
    args = [sys.executable, __file__, "--drive", url, "--clients", str(clients), "--requests", str(per_client)]
    args += ["--seed", str(seed), "--rate", str(rate or 0), "--answer-port", str(answer_port)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        if receiver is not None:
            receiver.kill()
        raise SystemExit(f"the load against {url} failed:\n{done.stderr}")
    result = dict(json.loads(done.stdout))
    asked: dict[str, float] = result.pop("asked")
    started = float(result.pop("started"))
    if receiver is not None:
        # perf_counter is the system's monotonic clock on Linux: the same in every process.
        answered: dict[str, float] = json.loads(receiver.communicate(f"{len(asked)}\n")[0])
        result["answer_latencies"] = [answered[path] - origin for path, origin in asked.items() if path in answered]
        result["answer_elapsed"] = max(answered.values(), default=started) - started
        result["unanswered"] = len(asked) - len(answered)
    return result


# -- the servers --------------------------------------------------------------------------------


def start_bare(
    directory: Path, workers: int, threads: int, process_before_response: bool
) -> tuple[subprocess.Popen[bytes], str]:
    directory.mkdir(exist_ok=True)
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "bare_app:api", "-b", f"127.0.0.1:{port}", "-k", "gthread"]
    command += ["--threads", str(threads), "-w", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        cwd=directory,
        env={
            **os.environ,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "PYTHONPATH": str(directory),
            "BARE_PROCESS_BEFORE_RESPONSE": "1" if process_before_response else "0",
        },
    )

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 404
        except requests.RequestException:
            return False

    wait_for(up, timeout=30)
    return process, f"http://127.0.0.1:{port}/slack/events"


def summary(name: str, result: dict[str, object]) -> dict[str, float]:
    ordered = sorted(result["latencies"])  # type: ignore[call-overload]
    elapsed = float(result["elapsed"])  # type: ignore[arg-type]
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(ordered) / elapsed
    errors: dict[str, int] = result["errors"]  # type: ignore[assignment]
    detail = f" ({', '.join(f'{kind}: {n}' for kind, n in sorted(errors.items()))})" if errors else ""
    print(
        f"  {name:<34} n={len(ordered):5d}  p50={p50 * 1000:7.1f} ms  p99={p99 * 1000:7.1f} ms  "
        f"{rate:7.1f} req/s  errors={sum(errors.values())}{detail}"
    )
    return {"p50": p50, "p99": p99, "rate": rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=60, help="per client and load")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of every server")
    parser.add_argument(
        "--threads",
        type=int,
        help="request threads of each worker of every server (default: serve's with queued commands, 4; "
        "answering in the ack, serve's own default is 8 on PostgreSQL)",
    )
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second of the open-loop load (0: none)")
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each load this many times on every server, in turn (the order reversed every other round), "
        "and pool the figures: on a machine whose speed drifts, the servers then share its slow and fast spells",
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="deliver the outbox from a `ci-slackbot worker` process instead of inside the serve workers",
    )
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--answer-port", type=int, default=9, help=argparse.SUPPRESS)
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.drive:
        result = asyncio.run(
            drive(args.drive, args.clients, args.requests, args.rate or None, args.seed, args.answer_port)
        )
        print(json.dumps(result))
        return 0
    if args.receive:
        asyncio.run(receive_answers())
        return 0

    sandbox = Sandbox.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        load_example(url)
        env = {**sandbox.env(), "LOG_LEVEL": "WARNING"}
        worker = None
        if args.separate_worker:
            env["CI_SLACKBOT_BACKGROUND"] = "false"
            worker = subprocess.Popen(
                [sys.executable, "-m", "ci_slackbot", "worker"],
                env={**os.environ, **env, "DATABASE_URL": url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        # Every server on the same stack: as many workers and threads each.
        threads = args.threads or request_threads(url, queued=True)
        serve_args = ("--workers", str(args.workers), "--threads", str(threads))
        server = ServeProcess(url, env).start(Path(tmp), extra_args=serve_args)
        queued_env = {**env, "CI_SLACKBOT_QUEUE_COMMANDS": "1", "CI_SLACKBOT_COMMAND_JOURNAL": f"{tmp}/journal"}
        queued = ServeProcess(url, queued_env).start(Path(tmp), extra_args=serve_args)
        bare, bare_url = start_bare(Path(tmp) / "bare", args.workers, threads, process_before_response=True)
        default, default_url = start_bare(Path(tmp) / "default", args.workers, threads, process_before_response=False)
        servers = {
            OURS: server.events_url,
            QUEUED: queued.events_url,
            BARE: bare_url,
            "bare Bolt app (Bolt defaults)": default_url,
        }
        loads: list[tuple[str, float | None]] = [("closed loop", None)]
        if args.rate:
            loads.append((f"open loop, {args.rate:g} req/s", args.rate))
        try:
            print(
                f"{args.clients} clients × {args.requests} signed /ci commands a load, {args.workers} gunicorn "
                f"workers × {threads} threads a server, {os.cpu_count()} cores, database {url.split(':')[0]}, "
                "outbox delivered "
                + ("by a `ci-slackbot worker`" if worker else "inside the serve workers")
                + " (the queued server's by its command runners)"
            )
            seed = 0
            for name, target in servers.items():  # warm up: imports, pools, the first statements
                run_load(target, 4, 10, None, seed, answers=name == QUEUED)
                seed += 40
            for label, rate in loads:
                print(label + (f", {args.rounds} rounds pooled" if args.rounds > 1 else ""))
                pooled: dict[str, dict[str, Any]] = {
                    name: {"latencies": [], "elapsed": 0.0, "errors": {}, "answer_latencies": [], "answer_elapsed": 0.0}
                    for name in servers
                }
                round_ratios: dict[str, list[float]] = {OURS: [], QUEUED: []}
                unanswered = 0
                for round_ in range(args.rounds):
                    order = list(servers.items())[:: -1 if round_ % 2 else 1]
                    rates = {}
                    for name, target in order:
                        # A queued server's load ends when its last answer arrives, so that its
                        # backlog does not run on into the next server's turn.
                        result = run_load(target, args.clients, args.requests, rate, seed, answers=name == QUEUED)
                        seed += args.clients * args.requests
                        into = pooled[name]
                        into["latencies"] += result["latencies"]
                        into["elapsed"] += float(result["elapsed"])  # type: ignore[arg-type]
                        into["answer_latencies"] += result.get("answer_latencies", [])
                        into["answer_elapsed"] += float(result.get("answer_elapsed", 0.0))  # type: ignore[arg-type]
                        unanswered += int(result.get("unanswered", 0))  # type: ignore[call-overload]
                        for kind, count in result["errors"].items():  # type: ignore[attr-defined]
                            into["errors"][kind] = into["errors"].get(kind, 0) + count
                        rates[name] = len(result["latencies"]) / float(result["elapsed"])  # type: ignore[arg-type]
                    for name in round_ratios:
                        round_ratios[name].append(rates[name] / rates[BARE])
                figures = {name: summary(name, pooled[name]) for name in servers}
                answer = pooled[QUEUED]
                answered = summary(
                    "  … its answers at the response_url",
                    {"latencies": answer["answer_latencies"], "elapsed": answer["answer_elapsed"], "errors": {}},
                )
                if unanswered:
                    print(f"  {unanswered} queued commands were never answered")
                bare_figures = figures[BARE]
                for name in (OURS, QUEUED):
                    ours = figures[name]
                    print(
                        f"  {name} / bare (as ours): p50 {ours['p50'] / bare_figures['p50']:.2f}×, "
                        f"p99 {ours['p99'] / bare_figures['p99']:.2f}×, "
                        f"throughput {ours['rate'] / bare_figures['rate']:.2f}×"
                    )
                    if args.rounds > 1:
                        print("    throughput ratio by round: " + ", ".join(f"{r:.2f}×" for r in round_ratios[name]))
                print(
                    f"  answers, queued / in the ack: p50 {answered['p50'] / figures[OURS]['p50']:.2f}×, "
                    f"p99 {answered['p99'] / figures[OURS]['p99']:.2f}×"
                )
            # Errors the app logged, and gunicorn's own plain-text line for a worker it killed.
            problems = [
                line
                for line in (server.logs() + queued.logs()).splitlines()
                if '"level": "ERROR"' in line or "WORKER TIMEOUT" in line
            ]
            if problems:
                print(f"{len(problems)} errors in the server log:")
                for line in sorted({p[20:300] for p in problems}):
                    print("   ", line)
        finally:
            for process in (bare, default):
                process.terminate()
                process.wait(10)
            server.stop()
            queued.stop()
            if worker is not None:
                worker.terminate()
                worker.wait(10)
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
