"""Scale-out: three `serve` processes behind one URL share one PostgreSQL database.

What the issue asks of several processes, shown with three real `ci-slackbot serve`
processes on the same database and the same stand-ins, the test playing the load
balancer (it round-robins its signed requests across them):

- a scheduled digest slot, which all three fire at the same instant, is posted once,
  with one chart;
- a burst of `/ci update` and `/ci decide` from concurrent clients through all three
  ends as exactly one Sheets row per value, one Notion page per decision, and one
  announcement (and one Notion link reply) per decision in the decisions channel:
  no outbox row is delivered twice, though all three processes' workers claim from
  the same table.

SQLite is one file on one machine, so this runs on PostgreSQL only.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.jobs import slot_key
from ci_slackbot.outbox import DONE, FAILED
from ci_slackbot.services.sheet_layout import VALUES_COLUMNS, VALUES_TAB
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Decision, IndicatorValue, OutboxItem
from tests.conftest import PG_URL
from tests.harness import BACKBONE, DECISIONS_DB, HOSPITAL, SPREADSHEET, Sandbox, ServeProcess, SlackSender, wait_for
from tests.test_scheduler_e2e import DIGEST_CHANNEL, _counts, _digests, cron_at, load_example_with_values

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not PG_URL, reason="several serve processes share PostgreSQL: set CI_SLACKBOT_TEST_POSTGRES_URL"
    ),
]

PROCESSES = 3
UPDATES = 60
DECISIONS = 24
CLIENTS = 9
TZ = "America/Chicago"
DECISIONS_CHANNEL = "C0DECIDE01"
VALUE_ID = VALUES_COLUMNS.index("Value ID")
# Quick retries: the three processes share Notion's 3 requests a second, and a 429 should cost
# seconds here, not the minutes a production backoff allows.
FAST_RETRIES = {
    "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.2",
    "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "2",
    "CI_SLACKBOT_OUTBOX_POLL": "0.2",
}


class RoundRobin:
    """One "URL" for three processes: each request goes to the next process, as a load balancer would."""

    def __init__(self, senders: list[SlackSender]) -> None:
        self._next = itertools.cycle(senders)
        self._lock = threading.Lock()

    def ci(self, text: str, user: str) -> requests.Response:
        with self._lock:
            sender = next(self._next)
        response, _ = sender.command(text, user)
        return response


@pytest.fixture
def stand_ins() -> Iterator[Sandbox]:
    box = Sandbox.start()
    yield box
    box.stop()


def start_all(database_url: str, env: dict[str, str], log_dir: Path) -> list[ServeProcess]:
    """Start the processes side by side (each waits for its /healthz), so the slot can be near."""
    processes = [ServeProcess(database_url, env) for _ in range(PROCESSES)]
    with ThreadPoolExecutor(PROCESSES) as pool:
        list(pool.map(lambda p: p.start(log_dir), processes))
    return processes


def values_in_sheet(box: Sandbox) -> Counter[int]:
    if VALUES_TAB not in box.sheets.worksheet_titles(SPREADSHEET):
        return Counter()
    return Counter(int(row[VALUE_ID]) for row in box.sheets.values(SPREADSHEET, VALUES_TAB)[1:] if row)


def page_keys(box: Sandbox) -> Counter[str]:
    return Counter(
        "".join(t["plain_text"] for t in page["properties"]["ci-slackbot key"]["rich_text"])
        for page in box.notion.pages_in(DECISIONS_DB)
    )


def stored(database_url: str, marker: str) -> tuple[list[int], list[tuple[int, int]]]:
    """The ids of the values and (initiative, id) of the decisions the burst recorded."""
    db = Database(database_url)
    with db.unit_of_work() as session:
        values = list(session.scalars(select(IndicatorValue.id).where(IndicatorValue.note.contains(marker))))
        decisions = [
            (d.initiative_id, d.id) for d in session.scalars(select(Decision).where(Decision.text.contains(marker)))
        ]
    db.dispose()
    return values, decisions


def outbox_settled(database_url: str) -> bool:
    db = Database(database_url)
    with db.unit_of_work() as session:
        statuses = {
            status: count
            for status, count in session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
        }
        parked = session.scalars(select(OutboxItem.last_error).where(OutboxItem.status == FAILED)).all()
    db.dispose()
    assert not parked, f"parked outbox rows: {parked[:3]}"
    return set(statuses) <= {DONE}


def announcements(box: Sandbox, marker: str) -> list[dict[str, Any]]:
    return [
        m
        for m in box.slack.messages(DECISIONS_CHANNEL)
        if m.get("thread_ts") in (None, m["ts"]) and marker in json.dumps(m.get("blocks"))
    ]


def notion_link_replies(box: Sandbox, announcement_ts: str) -> list[dict[str, Any]]:
    return [
        r
        for r in box.slack.messages(DECISIONS_CHANNEL, thread_ts=announcement_ts)
        if r["ts"] != announcement_ts and "notion.so" in r["text"]
    ]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_three_processes_post_one_digest_and_mirror_every_write_once(
    database_url: str, stand_ins: Sandbox, tmp_path: Path
) -> None:
    box = stand_ins
    load_example_with_values(database_url)
    now = datetime.now(UTC)
    # The next whole minute at least 25 s away: time for three processes to start on two cores.
    slot_time = datetime.fromtimestamp(math.ceil((now + timedelta(seconds=25)).timestamp() / 60) * 60, UTC)
    slot = slot_key(slot_time, TZ)
    env = {
        **box.env(),
        **FAST_RETRIES,
        "CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": cron_at(slot_time),
        "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off",
        "LOG_LEVEL": "INFO",
    }
    processes = start_all(database_url, env, tmp_path)
    balancer = RoundRobin([SlackSender(p.events_url, box.slack) for p in processes])
    marker = f"so{uuid.uuid4().hex[:8]}"
    month = Period.current(Frequency.MONTHLY, TZ)

    def update(i: int) -> requests.Response:
        period = month.shift(-(1 + i % 6))
        return balancer.ci(f"update er-visits {10 + i % 30}.5 {period} zip=Z{i:03d} {marker} value {i}", HOSPITAL)

    def decide(j: int) -> requests.Response:
        return balancer.ci(f"decide {marker} decision {j:02d}: we meet on Tuesdays from now on", BACKBONE)

    # The burst: updates and decisions interleaved, from concurrent clients, through all three.
    work = [lambda i=i: update(i) for i in range(UPDATES)] + [lambda j=j: decide(j) for j in range(DECISIONS)]
    work = [w for pair in itertools.zip_longest(work[:UPDATES], work[UPDATES:]) for w in pair if w is not None]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda job: job(), work))
        assert [a.status_code for a in answers] == [200] * len(work)
        texts = [a.json().get("text", "") for a in answers]
        assert sum("Recorded" in t for t in texts) == UPDATES, [t for t in texts if "Recorded" not in t][:3]
        assert sum("is recorded" in t for t in texts) == DECISIONS, [t for t in texts if "is recorded" not in t][:3]

        value_ids, decisions = stored(database_url, marker)
        assert len(value_ids) == UPDATES and len(decisions) == DECISIONS

        # The digest slot: all three processes fire it; one claims it.
        wait_for(lambda: _digests(box), timeout=(slot_time - datetime.now(UTC)).total_seconds() + 90)
        wait_for(lambda: [f for f in box.slack.files() if DIGEST_CHANNEL in f["channels"]], timeout=90)
        wait_for(lambda: all(f"digest slot {slot}" in p.logs() for p in processes), timeout=60)

        # Every write of the burst delivered: rows, pages, announcements and their link replies.
        wait_for(lambda: set(values_in_sheet(box)) >= set(value_ids), timeout=120, interval=0.5)
        wait_for(lambda: len(page_keys(box)) >= DECISIONS, timeout=180, interval=0.5)
        wait_for(lambda: outbox_settled(database_url), timeout=180, interval=0.5)
    finally:
        logs = [p.logs() for p in processes]
        for process in processes:
            process.stop()

    # Exactly one digest and one chart for the slot, claimed once, by one of the three.
    assert len(_digests(box)) == 1
    assert len([f for f in box.slack.files() if DIGEST_CHANNEL in f["channels"]]) == 1
    assert _counts(database_url, slot) == (1, 1, 1)
    ran_the_slot = [log for log in logs if f"digest slot {slot}" in log]
    queued = [log for log in logs if "queued for <#C0DIGEST01>" in log]
    assert len(queued) == 1, [line for log in logs for line in log.splitlines() if "digest slot" in line]
    assert len(ran_the_slot) == PROCESSES  # all three fired it: the claim, not luck, kept it to one

    # Every Sheets row once.
    in_sheet = values_in_sheet(box)
    assert {value_id: in_sheet[value_id] for value_id in value_ids} == dict.fromkeys(value_ids, 1)
    assert all(count == 1 for count in in_sheet.values()), in_sheet.most_common(3)

    # Every Notion decision page once.
    keys = page_keys(box)
    assert {f"decision-{i}-{d}": keys[f"decision-{i}-{d}"] for i, d in decisions} == {
        f"decision-{i}-{d}": 1 for i, d in decisions
    }
    assert all(count == 1 for count in keys.values()), keys.most_common(3)

    # Every announcement once, and its Notion link replied once in its thread.
    posted = announcements(box, marker)
    assert len(posted) == DECISIONS
    numbers = Counter(json.dumps(m["blocks"]).split(f"{marker} decision ")[1][:2] for m in posted)
    assert numbers == Counter(f"{j:02d}" for j in range(DECISIONS))
    assert [len(notion_link_replies(box, m["ts"])) for m in posted] == [1] * DECISIONS

    # And Slack posted each of those messages once: announcements, link replies, the digest
    # (a call Slack refused, a 429 say, posted nothing and is not counted).
    assert len([c for c in box.slack.calls("chat.postMessage") if c["ok"]]) == 2 * DECISIONS + 1
    assert all("command failed" not in log for log in logs)
    print(
        f"\n{PROCESSES} processes: {UPDATES} updates and {DECISIONS} decisions from {CLIENTS} clients; "
        f"Notion requests {box.notion.request_count()} (429s: {box.notion.throttled_count}), "
        f"Sheets write requests {box.sheets.write_requests} (429s: {box.sheets.throttled_count})"
    )
