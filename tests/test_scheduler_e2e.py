"""The scheduler in real `serve` processes: one digest per slot across a restart, and with two
processes on one PostgreSQL database.

The slot is made testable without waiting for Monday with the documented override
`CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST`: a cron expression pinned to one minute of one day.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ci_slackbot.domain.periods import Period
from ci_slackbot.jobs import slot_key
from ci_slackbot.services.initiatives import find_initiative
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import JobRun, OutboxItem
from tests.conftest import PG_URL
from tests.harness import HOSPITAL, Sandbox, ServeProcess, load_example, wait_for

CHICAGO = ZoneInfo("America/Chicago")
DIGEST_CHANNEL = "C0DIGEST01"


def cron_at(moment: datetime) -> str:
    """A cron expression that fires once: at this minute of this day (in the initiative's zone)."""
    local = moment.astimezone(CHICAGO)
    return f"{local.minute} {local.hour} {local.day} {local.month} *"


def _env(sandbox: Sandbox, cron: str) -> dict[str, str]:
    return {
        **sandbox.env(),
        "CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": cron,
        "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off",
        "LOG_LEVEL": "INFO",
    }


def _digests(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        m
        for m in sandbox.slack.messages(DIGEST_CHANNEL)
        if any(b.get("type") == "header" and "weekly digest" in b["text"]["text"] for b in m.get("blocks") or [])
    ]


def _counts(database_url: str, slot: str) -> tuple[int, int, int]:
    """Digest claims of the slot, and outbox rows for its message and its chart."""
    db = Database(database_url)
    with db.unit_of_work() as session:
        # Only the digest's: the agenda refresh runs every 15 minutes and may share the slot's minute.
        claims = (
            session.scalar(select(func.count()).select_from(JobRun).where(JobRun.slot == slot, JobRun.job == "digest"))
            or 0
        )
        posts = (
            session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.idempotency_key.like(f"digest:%:{slot}"))
            )
            or 0
        )
        charts = (
            session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.idempotency_key.like(f"digest-chart:%:{slot}"))
            )
            or 0
        )
    db.dispose()
    return claims, posts, charts


def load_example_with_values(database_url: str) -> None:
    """The example initiative with two er-visits values, so that the digest has a chart."""
    load_example(database_url)
    now = datetime.now(UTC)
    db = Database(database_url)
    with db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        # Loaded before the slot the test uses: a slot before the initiative existed is never due.
        initiative.workspace.created_at = now - timedelta(days=1)
        er_visits = find_indicator(indicator_views(session, initiative.id), "er-visits")
        hospital = who_is(session, initiative, HOSPITAL)
        for period, value in (("2026-09", 17.9), ("2026-10", 17.1)):
            record_value(
                session, initiative, hospital, indicator=er_visits, value=value, period=Period.parse(period), now=now
            )
    db.dispose()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox.start()
    yield box
    box.stop()


def test_a_slot_missed_while_down_is_posted_once_across_restarts(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    load_example_with_values(database_url)
    moment = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    slot = slot_key(moment, "America/Chicago")
    env = _env(sandbox, cron_at(moment))
    first = ServeProcess(database_url, env).start(tmp_path)
    try:
        wait_for(lambda: _digests(sandbox), timeout=60)
        wait_for(lambda: f"digest slot {slot}" in first.logs() and "caught up" in first.logs(), timeout=30)
    finally:
        first.stop()
    second = ServeProcess(database_url, env).start(tmp_path)
    try:
        wait_for(
            lambda: f"digest slot {slot} (America/Chicago) for Breathe Easy Dallas already ran" in second.logs(),
            timeout=30,
        )
    finally:
        second.stop()
    assert len(_digests(sandbox)) == 1
    assert _counts(database_url, slot) == (1, 1, 1)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="two serve processes share PostgreSQL: set CI_SLACKBOT_TEST_POSTGRES_URL")
def test_two_processes_across_a_scheduled_slot_post_one_digest(
    database_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("this one is about several processes on PostgreSQL")
    load_example_with_values(database_url)
    now = datetime.now(UTC)
    # The next whole minute at least 20 s away: time for both processes to start before it.
    slot_time = datetime.fromtimestamp(math.ceil((now + timedelta(seconds=20)).timestamp() / 60) * 60, UTC)
    slot = slot_key(slot_time, "America/Chicago")
    env = _env(sandbox, cron_at(slot_time))
    processes = [ServeProcess(database_url, env).start(tmp_path), ServeProcess(database_url, env).start(tmp_path)]

    def slot_lines() -> list[list[str]]:
        # What each process logged about the slot: shown when an assertion fails.
        return [[line for line in p.logs().splitlines() if f"digest slot {slot}" in line] for p in processes]

    try:
        # Generous deadlines: these only poll, and a loaded CI machine starts processes slowly.
        wait_for(lambda: _digests(sandbox), timeout=(slot_time - now).total_seconds() + 90)
        # Both processes ran the slot: one queued the digest, the other found it claimed.
        wait_for(lambda: all(slot_lines()), timeout=60)
        queued = [lines for lines in slot_lines() if any("queued for <#C0DIGEST01>" in line for line in lines)]
        assert len(queued) == 1, slot_lines()
        wait_for(lambda: [f for f in sandbox.slack.files() if DIGEST_CHANNEL in f["channels"]], timeout=90)
    finally:
        for process in processes:
            process.stop()
    assert len(_digests(sandbox)) == 1
    assert len([f for f in sandbox.slack.files() if DIGEST_CHANNEL in f["channels"]]) == 1
    assert _counts(database_url, slot) == (1, 1, 1)
