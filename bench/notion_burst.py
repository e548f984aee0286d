"""Notion: 100 decisions in a burst, through a real `ci-slackbot serve`, against Notion's real limit.

The example initiative is served against the Notion stand-in at Notion's documented
rate (3 requests a second per integration, with short bursts: the stand-in allows 10
saved up, and answers 429 with Retry-After beyond that). Backbone staff send
`--decisions` signed `/ci decide` commands from `--clients` concurrent clients; the
serve process's outbox writes one Notion page per decision and posts the
announcements and the "it's in Notion" thread replies to Slack. With
`--processes N`, N serve processes share the database (and Notion's one limit),
and the commands go round-robin to them, as a load balancer would send them.

Printed: the acks; Notion requests in all, per decision and by endpoint (the app's
read of the agenda page at start is among them, as GET /v1/pages and /v1/blocks);
429s from Notion and from Slack; seconds until every page exists and until every
outbox row is delivered, beside the floor that Notion's rate sets (requests / 3 a second).

The Slack stand-in is lenient about chat.postMessage by default; `--strict-slack`
gives it Slack's own one-message-a-second-per-channel limit, under which the 100
announcements, not Notion, set the pace (each page links to its announcement).

Run:

    python bench/notion_burst.py [--decisions 100] [--clients 16] [--processes 1] [--strict-slack] [--database URL]

SQLite by default (a fresh file in a temporary folder); `--postgres` uses a fresh
database on CI_SLACKBOT_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.measurement import describe, fresh_database
from ci_slackbot.outbox import DONE, FAILED
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.sandbox.world import (
    BOT_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    DECISIONS_DB,
    TEAM,
    Sandbox,
    ServeProcess,
    SlackSender,
    load_example,
    wait_for,
)
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem

BACKBONE = "U0BACK0001"
NOTION_RATE = 3.0
# Quiet: no digest or reminders by the calendar while the burst runs.
QUIET = {"CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": "off", "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off"}


def start_sandbox(strict_slack: bool) -> Sandbox:
    sandbox = Sandbox.start()
    if strict_slack:
        # Swap in a Slack stand-in that keeps Slack's own posting limit.
        sandbox.slack.stop()
        sandbox.slack = SlackStandIn(
            bot_token=BOT_TOKEN,
            team_id=TEAM,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            strict_rate_limits=True,
        )
        sandbox.slack.start()
    return sandbox


def outbox_state(db: Database) -> Counter[tuple[str, str]]:
    with db.unit_of_work() as session:
        return Counter(
            (service, status) for service, status in session.execute(select(OutboxItem.service, OutboxItem.status))
        )


def run(url: str, decisions: int, clients: int, processes: int, strict_slack: bool, log_dir: Path) -> None:
    sandbox = start_sandbox(strict_slack)
    load_example(url)
    db = Database(url)
    servers = [ServeProcess(url, {**sandbox.env(), **QUIET}) for _ in range(processes)]
    for server in servers:
        server.start(log_dir)
    notion, slack = sandbox.notion, sandbox.slack
    try:
        senders = [SlackSender(server.events_url, slack) for server in servers]
        marker = uuid.uuid4().hex[:8]
        requests_before, throttled_before = notion.request_count(), notion.throttled_count
        logged_before = len(notion.requests())
        slack_calls_before = len(slack.calls())

        def decide(i: int) -> float:
            started = time.perf_counter()
            answer = senders[i % processes].ci(
                f"decide Bench decision {i:03d} ({marker}): the pilot extends to school {i}", user=BACKBONE
            )
            assert "is recorded" in answer.get("text", ""), answer
            return time.perf_counter() - started

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            acks = list(pool.map(decide, range(decisions)))
        sent = time.monotonic() - started

        first_page: float | None = None

        def all_pages() -> bool:
            nonlocal first_page
            count = len(notion.pages_in(DECISIONS_DB))
            if count and first_page is None:
                first_page = time.monotonic() - started
            return count >= decisions

        wait_for(all_pages, timeout=1800, interval=0.1)
        pages_done = time.monotonic() - started

        def settled() -> bool:
            state = outbox_state(db)
            parked = sum(n for (_, status), n in state.items() if status == FAILED)
            if parked:
                raise AssertionError(f"{parked} outbox rows parked: {state}")
            return all(status == DONE for (_, status) in state)

        wait_for(settled, timeout=1800, interval=0.1)
        all_done = time.monotonic() - started

        requests = notion.request_count() - requests_before
        by_endpoint = Counter(
            f"{entry.method} /{'/'.join(entry.path.strip('/').split('/')[:2])}"
            for entry in notion.requests()[logged_before:]
        )
        slack_429 = sum(1 for c in slack.calls()[slack_calls_before:] if c["status"] == 429)
        print(
            f"  {decisions} decisions from {clients} clients to {processes} serve process(es), sent in {sent:.1f} s; "
            f"ack {describe(acks)}"
        )
        print(
            f"  Notion requests: {requests} ({requests / decisions:.2f} per decision) — "
            + ", ".join(f"{k}: {v}" for k, v in sorted(by_endpoint.items()))
        )
        print(f"  Notion 429s: {notion.throttled_count - throttled_before}; Slack 429s: {slack_429}")
        print(
            f"  first page after {first_page or 0:.1f} s; all {decisions} pages after {pages_done:.1f} s; "
            f"every outbox row (pages, announcements, link replies) delivered after {all_done:.1f} s"
        )
        print(
            f"  floor at {NOTION_RATE:g} requests/s: {requests / NOTION_RATE:.1f} s for these {requests} requests; "
            f"{decisions / NOTION_RATE:.1f} s for one request per decision"
        )
        print(f"  pages in Notion: {len(notion.pages_in(DECISIONS_DB))} (expected {decisions})")
    finally:
        for server in servers:
            server.stop()
        db.dispose()
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="serve processes sharing the database")
    parser.add_argument("--strict-slack", action="store_true", help="Slack's one post a second per channel")
    parser.add_argument("--postgres", action="store_true", help="a fresh database on CI_SLACKBOT_TEST_POSTGRES_URL")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database")
    args = parser.parse_args()
    kind = "postgresql" if args.postgres else "sqlite"
    processes = f", {args.processes} serve processes" if args.processes > 1 else ""
    print(f"== {args.database or kind}{processes}{' (strict Slack limits)' if args.strict_slack else ''}")
    with tempfile.TemporaryDirectory() as logs, fresh_database(kind, args.database) as url:
        run(url, args.decisions, args.clients, max(1, args.processes), args.strict_slack, Path(logs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
