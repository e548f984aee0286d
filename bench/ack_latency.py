"""Ack latency of signed `/ci update` requests from concurrent clients, against a bare Bolt app.

Both servers run on the same stack (gunicorn, gthread workers, Bolt's WSGI
adapter); the bare app only acks. Run:

    python bench/ack_latency.py [--clients 32] [--requests 40] [--workers 2] [--database URL]

Prints p50/p99 latency and throughput for each, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.sandbox.world import (
    SIGNING_SECRET,
    Sandbox,
    ServeProcess,
    free_port,
    sign,
    wait_for,
)
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.store.db import Database

BARE_APP = """
import os
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False,
          authorize=lambda enterprise_id, team_id: __import__("slack_bolt").authorization.AuthorizeResult(
              enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bare"))
@app.command("/ci")
def ack_only(ack):
    ack(text="ok")
api = SlackRequestHandler(app)
"""

PERIODS = [f"2026-{m:02d}" for m in range(1, 11)]
USERS = ["U0CHLD0001", "U0CHLD0002"]


def command_body(i: int) -> bytes:
    period = PERIODS[i % len(PERIODS)]
    return urlencode(
        {
            "command": "/ci",
            "text": f"update er-visits {15 + (i % 7) * 0.5} {period} bench run",
            "user_id": USERS[i % 2],
            "team_id": "T0SANDBOX",
            "channel_id": "C0BENCH",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": f"bench.{i}",
        }
    ).encode()


def hammer(url: str, clients: int, per_client: int) -> tuple[list[float], float, int]:
    def one_client(c: int) -> tuple[list[float], int]:
        session = requests.Session()
        latencies, errors = [], 0
        for k in range(per_client):
            body = command_body(c * per_client + k)
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}
            started = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=10)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one_client, range(clients)))
    elapsed = time.perf_counter() - started
    latencies = [lat for r in results for lat in r[0]]
    return latencies, elapsed, sum(r[1] for r in results)


def summary(name: str, latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    rate = len(ordered) / elapsed
    print(
        f"{name:<28} n={len(ordered):5d}  p50={p50 * 1000:7.1f} ms  p99={p99 * 1000:7.1f} ms  "
        f"{rate:7.1f} req/s  errors={errors}"
    )
    return {"p50": p50, "p99": p99, "rate": rate}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    sandbox = Sandbox.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.upgrade()
        with db.unit_of_work() as session:
            apply_initiative(
                session, load_initiative_file(Path(__file__).parent.parent / "ci_slackbot/examples/initiative.yml")
            )
        db.dispose()
        env = {**sandbox.env(), "LOG_LEVEL": "WARNING"}
        server = ServeProcess(url, env).start(Path(tmp), extra_args=("--workers", str(args.workers)))

        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bare_app:api",
                "-b",
                f"127.0.0.1:{bare_port}",
                "-k",
                "gthread",
                "--threads",
                "32",
                "-w",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            cwd=bare_dir,
            env={**os.environ, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "PYTHONPATH": str(bare_dir)},
        )
        try:

            def bare_up() -> bool:
                try:
                    return requests.get(f"http://127.0.0.1:{bare_port}/", timeout=1).status_code == 404
                except requests.RequestException:
                    return False

            wait_for(bare_up, timeout=30)
            print(
                f"{args.clients} clients × {args.requests} signed /ci commands, {args.workers} gunicorn workers, "
                f"{os.cpu_count()} cores, database {url.split(':')[0]}"
            )
            hammer(server.events_url, 4, 5)  # warm up both
            hammer(f"http://127.0.0.1:{bare_port}/slack/events", 4, 5)
            app = summary("ci-slackbot /ci update", *hammer(server.events_url, args.clients, args.requests))
            base = summary(
                "bare Bolt app (ack only)",
                *hammer(f"http://127.0.0.1:{bare_port}/slack/events", args.clients, args.requests),
            )
            print(
                f"p99 ratio ci-slackbot / bare: {app['p99'] / base['p99']:.2f}×   "
                f"p50 ratio: {app['p50'] / base['p50']:.2f}×"
            )
            problems = [line for line in server.logs().splitlines() if '"level": "ERROR"' in line or "WARNING" in line]
            if problems:
                print(f"{len(problems)} errors in the server log:")
                for line in sorted({p[20:300] for p in problems}):
                    print("   ", line)
        finally:
            bare.terminate()
            bare.wait(10)
            server.stop()
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
