"""The answer to signed `/ci update`s from concurrent clients, beside a bare Bolt app, on SQLite and PostgreSQL.

What a partner reads is the answer to her command, and `ci-slackbot serve` gives it in the ack:
every request records (or corrects) a value of the example initiative in one transaction, queues
its Sheets row, and acks with the whole answer (change, progress, on track). The time until the
HTTP response is so the time until the answer. Beside it, on the same stack (gunicorn with gthread
workers, as many workers and threads each, Bolt's WSGI adapter), a bare Bolt app that only acks,
configured as ours is (`process_before_response=True`): the least any answer could take.

Two loads, each from `--clients` clients holding one keep-alive connection apiece:

- `closed`: every client sends its next request as soon as the last one is answered (the most
  the server can take; latency is then mostly time spent queued behind the other clients);
- `--rate N` (open loop): N requests a second in all, each client on its own schedule; latency
  counts from when a request was due, so a server that falls behind is not flattered.

The clients run in a process of their own, one asyncio loop writing pre-signed requests, so
that as little as possible of the two cores goes to making the load. Run:

    python bench/ack_latency.py [--clients 32] [--requests 60] [--workers 2] [--rate 100] [--rounds 1]
                                [--database sqlite] [--database postgresql://…]

Prints p50/p99 latency and throughput for each server, load and database, and the ratios to the bare app.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
from ci_slackbot.web import REQUEST_THREADS

BARE_APP = """
import os
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False,
          process_before_response=True,
          authorize=lambda enterprise_id, team_id: __import__("slack_bolt").authorization.AuthorizeResult(
              enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bare"))
@app.command("/ci")
def ack_only(ack):
    ack(text="ok")
api = SlackRequestHandler(app)
"""

OURS = "ci-slackbot serve"
BARE = "bare Bolt app"
# Nothing listens there: the answer is in the ack, and /ci update posts nothing to its response_url.
RESPONSE_URL = "http://127.0.0.1:9/commands/answer"

MONTHS = [f"{year}-{month:02d}" for year in (2025, 2026) for month in range(1, 13)][:23]  # to 2026-11
# Partners of the example initiative and the monthly indicators they report.
REPORTERS = [
    ("U0CHLD0001", "er-visits"),
    ("U0NBRS0001", "home-assessments"),
    ("U0CHLD0002", "home-visits"),
    ("U0CITY0001", "home-assessments"),
    ("U0NBRS0002", "home-visits"),
]


def command_body(client: int, k: int) -> bytes:
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
            "response_url": RESPONSE_URL,
            "trigger_id": f"bench.{client}.{k}",
        }
    ).encode()


# -- the load, in a process of its own ------------------------------------------------------


def signed_request(host: str, path: str, client: int, k: int) -> bytes:
    body = command_body(client, k)
    headers = {
        "Host": host,
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(body)),
        **sign(body, SIGNING_SECRET),
    }
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + body


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """One HTTP message off the connection, body and all: its first line (empty: the peer hung up),
    and whether the peer said it closes the connection after it (`Connection: close`)."""
    first_line = await reader.readline()
    length, closes = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            closes = True
    await reader.readexactly(length)
    return first_line, closes


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    first_line, closes = await read_message(reader)
    return int(first_line.split()[1]), closes


async def drive(url: str, clients: int, per_client: int, rate: float | None, seed: int) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    # Signed up front: the timestamps stay well inside Slack's five minutes for a run this long.
    prepared = [
        [signed_request(f"{host}:{port}", parts.path, c, seed + k) for k in range(per_client)] for c in range(clients)
    ]
    interval = clients / rate if rate else 0.0
    # No garbage collection while the clients run: a full one in this process (10-48 ms, for its imports
    # alone; three a run) held every answer that arrived meanwhile, and the pause was counted in their
    # latency as if the server had taken it (once, the slowest 1% of a run were all sent within 100 ms
    # and answered during a 96 ms collection of the measuring process, timed with gc.callbacks).
    # Nothing a run allocates needs collecting before it ends.
    gc.collect()
    gc.freeze()
    gc.disable()
    latencies: list[float] = []
    errors: dict[str, int] = {}  # by status; "reset" when the connection was lost
    started = time.perf_counter()

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        due = started + random.Random(c).uniform(0, interval)
        closing = False
        for request in prepared[c]:
            if rate:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            status, closes = 0, False
            if closing:
                # The server said it closes the connection after its last answer: as HTTP clients
                # do, this request goes on a new one, and the time to connect counts in its latency.
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            for _attempt in range(2):
                try:
                    if reader.at_eof():
                        raise ConnectionResetError  # closed while idle
                    writer.write(request)
                    status, closes = await read_response(reader)
                    break
                except (ConnectionError, asyncio.IncompleteReadError, IndexError):
                    # gunicorn closes a connection idle for 2 s (its keep-alive): sent again on a new
                    # one, as HTTP clients do. A second failure (a worker restarted, say) is counted.
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
            # Open loop: from when the request was due, so time spent waiting to send counts too.
            latencies.append(time.perf_counter() - (min(due, sent) if rate else sent))
            if status != 200:
                kind = str(status) if status else "reset"
                errors[kind] = errors.get(kind, 0) + 1
            closing = closes
            due += interval
        writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    gc.enable()
    return {"latencies": latencies, "elapsed": elapsed, "errors": errors}


def run_load(url: str, clients: int, per_client: int, rate: float | None, seed: int) -> dict[str, Any]:
    """The load from a child process, so the stand-ins' threads in this one do not slow the clients."""
    args = [sys.executable, __file__, "--drive", url, "--clients", str(clients), "--requests", str(per_client)]
    args += ["--seed", str(seed), "--rate", str(rate or 0)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the load against {url} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


# -- the servers --------------------------------------------------------------------------------


def start_bare(directory: Path, workers: int, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    directory.mkdir(exist_ok=True)
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "bare_app:api", "-b", f"127.0.0.1:{port}", "-k", "gthread"]
    command += ["--threads", str(threads), "-w", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        cwd=directory,
        env={**os.environ, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "PYTHONPATH": str(directory)},
    )

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 404
        except requests.RequestException:
            return False

    wait_for(up, timeout=30)
    return process, f"http://127.0.0.1:{port}/slack/events"


def summary(name: str, result: dict[str, Any]) -> dict[str, float]:
    ordered = sorted(result["latencies"])
    elapsed = float(result["elapsed"])
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(ordered) / elapsed
    errors: dict[str, int] = result["errors"]
    detail = f" ({', '.join(f'{kind}: {n}' for kind, n in sorted(errors.items()))})" if errors else ""
    print(
        f"  {name:<34} n={len(ordered):5d}  p50={p50 * 1000:7.1f} ms  p99={p99 * 1000:7.1f} ms  "
        f"{rate:7.1f} req/s  errors={sum(errors.values())}{detail}"
    )
    return {"p50": p50, "p99": p99, "rate": rate}


def bench_database(args: argparse.Namespace, sandbox: Sandbox, database: str, tmp: Path) -> None:
    """Both servers on one database, each load in turn on each, and the figures side by side."""
    url = f"sqlite:///{tmp}/bench.db" if database == "sqlite" else database
    load_example(url)
    # RESPONSE_URL stands for Slack's hooks.slack.com, which the app trusts: untrusted, every request
    # would log a warning that no real one does.
    env = {**sandbox.env(), "LOG_LEVEL": "WARNING", "CI_SLACKBOT_TRUSTED_URL_PREFIXES": RESPONSE_URL}
    worker = None
    if args.separate_worker:
        env["CI_SLACKBOT_BACKGROUND"] = "false"
        worker = subprocess.Popen(
            [sys.executable, "-m", "ci_slackbot", "worker"],
            env={**os.environ, **env, "DATABASE_URL": url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    # Both servers on the same stack: serve's own number of threads (REQUEST_THREADS), or --threads.
    threads = args.threads or REQUEST_THREADS
    server = ServeProcess(url, env).start(tmp, extra_args=("--workers", str(args.workers), "--threads", str(threads)))
    bare, bare_url = start_bare(tmp / "bare", args.workers, threads)
    servers = {OURS: server.events_url, BARE: bare_url}
    loads: list[tuple[str, float | None]] = [("closed loop", None)]
    if args.rate:
        loads.append((f"open loop, {args.rate:g} req/s", args.rate))
    try:
        print(
            f"\n{url.split(':')[0]}: {args.clients} clients × {args.requests} signed /ci updates a load, "
            f"{args.workers} gunicorn workers × {threads} threads a server, {os.cpu_count()} cores, outbox delivered "
            + ("by a `ci-slackbot worker`" if worker else "inside the serve workers")
        )
        seed = 0
        for target in servers.values():  # warm up: imports, pools, the first statements
            run_load(target, 4, 10, None, seed)
            seed += 40
        for label, rate in loads:
            print(label + (f", {args.rounds} rounds pooled" if args.rounds > 1 else ""))
            pooled: dict[str, dict[str, Any]] = {
                name: {"latencies": [], "elapsed": 0.0, "errors": {}} for name in servers
            }
            for round_ in range(args.rounds):
                # The order reversed every other round, so that both servers share the machine's slow spells.
                for name, target in list(servers.items())[:: -1 if round_ % 2 else 1]:
                    result = run_load(target, args.clients, args.requests, rate, seed)
                    seed += args.clients * args.requests
                    into = pooled[name]
                    into["latencies"] += result["latencies"]
                    into["elapsed"] += float(result["elapsed"])
                    for kind, count in result["errors"].items():
                        into["errors"][kind] = into["errors"].get(kind, 0) + count
            ours, bare_figures = (
                summary(OURS + " (the answer)", pooled[OURS]),
                summary(BARE + " (an ack)", pooled[BARE]),
            )
            print(
                f"  serve / bare: p50 {ours['p50'] / bare_figures['p50']:.2f}×, "
                f"p99 {ours['p99'] / bare_figures['p99']:.2f}×, throughput {ours['rate'] / bare_figures['rate']:.2f}×"
            )
        # Errors the app logged, and gunicorn's own plain-text line for a worker it killed.
        problems = [
            line for line in server.logs().splitlines() if '"level": "ERROR"' in line or "WORKER TIMEOUT" in line
        ]
        if problems:
            print(f"{len(problems)} errors in the server log:")
            for line in sorted({p[20:300] for p in problems}):
                print("   ", line)
    finally:
        bare.terminate()
        bare.wait(10)
        server.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=60, help="per client and load")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of every server")
    parser.add_argument(
        "--threads", type=int, help="request threads of each worker of every server (default: serve's own)"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second of the open-loop load (0: none)")
    parser.add_argument(
        "--database",
        action="append",
        help="`sqlite` (a fresh SQLite file) or a PostgreSQL URL, whose database gets the example initiative; "
        "give it twice to bench both, one after the other (default: sqlite)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each load this many times on both servers, in turn, and pool the figures: on a machine "
        "whose speed drifts, the servers then share its slow and fast spells",
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="deliver the outbox from a `ci-slackbot worker` process instead of inside the serve workers",
    )
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.drive:
        print(json.dumps(asyncio.run(drive(args.drive, args.clients, args.requests, args.rate or None, args.seed))))
        return 0

    sandbox = Sandbox.start()
    try:
        for database in args.database or ["sqlite"]:
            with tempfile.TemporaryDirectory() as tmp:
                bench_database(args, sandbox, database, Path(tmp))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
