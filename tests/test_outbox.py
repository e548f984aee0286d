"""The durable outbox: its rules on a real database, then Notion faults through the real `serve` process.

The fault tests run the server with short backoffs (`serve_env`), drive decisions
into a misbehaving Notion stand-in, and check that every page arrives once, whole.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, update
from sqlalchemy import text as sql

from ci_slackbot import outbox
from ci_slackbot.bootstrap import Services, bootstrap, build_outbox_registry
from ci_slackbot.outbox import DeliveryError, Item, NotReady, Outbox, Policy, Registry, SharedPace, enqueue
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database, alembic_config
from ci_slackbot.store.models import Decision, Initiative, OutboxItem, ServicePace
from tests.harness import (
    BACKBONE,
    DECISIONS_DB,
    QUIET_SCHEDULER,
    AppServer,
    ServeProcess,
    SlackSender,
    World,
    load_example,
    outbox_row,
    wait_for,
)

# -- the rules, on a real database ----------------------------------------------------------


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    load_example(database_url)
    built = bootstrap(Settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-unit"))
    yield built
    built.db.dispose()


def _initiative_id(services: Services) -> int:
    with services.db.unit_of_work() as session:
        return int(session.scalar(select(Initiative.id)))


def _queue(services: Services, count: int, service: str = "test") -> list[int]:
    initiative_id = _initiative_id(services)
    with services.db.unit_of_work() as session:
        return [
            enqueue(
                session,
                initiative_id=initiative_id,
                service=service,
                kind="write",
                key=f"{service}:{n}",
                payload={"n": n},
            )
            for n in range(count)
        ]


def test_a_commit_wakes_the_workers_of_what_it_enqueued_and_no_others(services: Services) -> None:
    sheets, notion = services.outbox_signal.event("sheets"), services.outbox_signal.event("notion")
    initiative_id = _initiative_id(services)
    with pytest.raises(RuntimeError), services.db.unit_of_work() as session:
        enqueue(session, initiative_id=initiative_id, service="sheets", kind="value", key="rolled-back", payload={})
        raise RuntimeError("the command failed")
    assert not sheets.is_set() and not notion.is_set()  # nothing was committed: nobody is woken
    with services.db.unit_of_work() as session:
        enqueue(session, initiative_id=initiative_id, service="sheets", kind="value", key="committed", payload={})
    assert sheets.is_set()
    assert not notion.is_set()


def _enqueue(session: Any, initiative_id: int, key: str, payload: dict[str, Any], **options: Any) -> int:
    return enqueue(
        session, initiative_id=initiative_id, service="test", kind="write", key=key, payload=payload, **options
    )


def test_a_key_is_queued_once_and_a_correction_replaces_it_only_while_it_waits(services: Services) -> None:
    initiative_id = _initiative_id(services)
    with services.db.unit_of_work() as session:
        first = _enqueue(session, initiative_id, "value:1", {"v": 1})
        assert _enqueue(session, initiative_id, "value:1", {"v": 2}) == first  # same transaction
    with services.db.unit_of_work() as session:
        assert _enqueue(session, initiative_id, "value:1", {"v": 3}) == first  # a later one
    assert _row(services, first).payload == {"v": 1}
    with services.db.unit_of_work() as session:
        assert _enqueue(session, initiative_id, "value:1", {"v": 4}, replace_pending=True) == first
    assert _row(services, first).payload == {"v": 4}
    with services.db.unit_of_work() as session:
        session.execute(update(OutboxItem).where(OutboxItem.id == first).values(status=outbox.DONE))
    with services.db.unit_of_work() as session:
        again = _enqueue(session, initiative_id, "value:1", {"v": 5}, replace_pending=True)
    assert again != first  # delivered already: the correction is a write of its own
    assert (_row(services, first).payload, _row(services, again).payload) == ({"v": 4}, {"v": 5})
    with services.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 2


def test_two_transactions_queueing_one_key_at_once_give_one_row_and_no_error(services: Services) -> None:
    if services.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock before a transaction reads, so enqueues cannot overlap")
    initiative_id = _initiative_id(services)
    first = services.db.sessions()
    first_id = _enqueue(first, initiative_id, "decision:7", {"from": "first"})
    second_id: list[int] = []
    failures: list[BaseException] = []

    def second() -> None:
        session = services.db.sessions()
        try:
            second_id.append(_enqueue(session, initiative_id, "decision:7", {"from": "second"}))
            session.commit()
        except BaseException as exc:
            failures.append(exc)
        finally:
            session.close()

    thread = threading.Thread(target=second)
    thread.start()

    def second_waits_on_the_key() -> bool:
        with services.db.engine.connect() as connection:
            return bool(connection.scalar(sql("SELECT count(*) FROM pg_locks WHERE NOT granted")))

    wait_for(second_waits_on_the_key, timeout=10)
    first.commit()
    first.close()
    thread.join(30)
    assert not failures and second_id == [first_id]
    assert _row(services, first_id).payload == {"from": "first"}


def _row(services: Services, item_id: int) -> OutboxItem:
    return outbox_row(services.db, item_id)


def _worker(services: Services, deliver: Any, policy: Policy | None = None) -> Outbox:
    registry = Registry()
    registry.register("test", "write", deliver)
    registry.policies["test"] = policy or Policy(base=1.0, cap=2.0, max_attempts=3)
    return Outbox(services, registry, "test")


def _make_due(services: Services, item_id: int) -> None:
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        row.next_attempt_at = services.now() - timedelta(seconds=1)


STOP = threading.Event()


def test_a_delivered_item_is_done_with_its_result(services: Services) -> None:
    (item_id,) = _queue(services, 1)
    worker = _worker(services, lambda s, items: {i.id: {"page": f"p{i.payload['n']}"} for i in items})
    assert worker.run_once(STOP) == 1
    row = _row(services, item_id)
    assert (row.status, row.result, row.attempts) == ("done", {"page": "p0"}, 0)
    assert worker.run_once(STOP) == 0  # nothing is delivered twice


def test_failures_back_off_then_park_and_retry_puts_them_back(services: Services) -> None:
    (item_id,) = _queue(services, 1)

    def broken(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        raise DeliveryError("503 from the service")

    worker = _worker(services, broken)
    for attempt in range(1, 4):
        worker.run_once(STOP)
        row = _row(services, item_id)
        assert row.attempts == attempt
        if attempt < 3:
            assert row.status == "pending" and row.next_attempt_at > services.now() + timedelta(seconds=0.4)
            _make_due(services, item_id)
    assert _row(services, item_id).status == "failed"
    with services.db.unit_of_work() as session:
        health = outbox.health(session)
        assert health.failed == 1 and health.by_service["test"] == {"failed": 1}
        assert [r.id for r in outbox.items(session, (outbox.FAILED,))] == [item_id]
        assert outbox.retry_failed(session) == 1
    row = _row(services, item_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)


def test_an_error_that_will_not_go_away_parks_at_once(services: Services) -> None:
    (item_id,) = _queue(services, 1)

    def rejected(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        raise DeliveryError("400 validation_error", retryable=False)

    _worker(services, rejected).run_once(STOP)
    row = _row(services, item_id)
    assert (row.status, row.attempts) == ("failed", 1)


def test_retry_after_is_honoured_without_using_up_attempts(services: Services) -> None:
    (item_id,) = _queue(services, 1)

    def throttled(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        raise DeliveryError("429", retry_after=2.0)

    worker = _worker(services, throttled)
    for _ in range(5):  # more 429s than max_attempts: still not parked
        worker.deliver(worker.claim())  # (run_once would first wait out the pause)
        row = _row(services, item_id)
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.next_attempt_at >= services.now() + timedelta(seconds=1.5)
        _make_due(services, item_id)
    # The whole service waits, not just this item.
    assert worker.limiter.paused_until > time.monotonic() + 1.5


def test_waiting_for_another_item_neither_counts_nor_pauses_the_service(services: Services) -> None:
    (item_id,) = _queue(services, 1)

    def not_yet(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        raise NotReady("the message it replies to is not posted yet", delay=5)

    worker = _worker(services, not_yet)
    worker.run_once(STOP)
    row = _row(services, item_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at >= services.now() + timedelta(seconds=4)
    assert worker.limiter.paused_until <= time.monotonic()


def test_a_crashed_workers_items_are_claimed_again_when_the_lease_runs_out(services: Services) -> None:
    (item_id,) = _queue(services, 1)
    crashed = _worker(services, lambda s, items: {}, Policy(lease=0.3))
    assert [i.id for i in crashed.claim()] == [item_id]  # claimed, then the process dies
    survivor = _worker(services, lambda s, items: {i.id: {"by": "survivor"} for i in items}, Policy(lease=0.3))
    assert survivor.claim() == []  # still leased
    time.sleep(0.4)
    assert survivor.run_once(STOP) == 1
    assert _row(services, item_id).result == {"by": "survivor"}


def test_a_delivery_longer_than_the_lease_keeps_its_items_till_it_ends(services: Services) -> None:
    (item_id,) = _queue(services, 1)
    release = threading.Event()

    def slow(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        release.wait(30)  # a long Notion body, say: many appends at 3 a second
        return {i.id: {"by": "slow"} for i in items}

    slow_worker = _worker(services, slow, Policy(lease=0.6))
    delivering = threading.Thread(target=slow_worker.run_once, args=(STOP,))
    delivering.start()
    wait_for(lambda: _row(services, item_id).status == "delivering", timeout=10)
    other = _worker(services, lambda s, items: {i.id: {"by": "other"} for i in items}, Policy(lease=0.6))
    deadline = time.monotonic() + 2.5  # four leases: without renewal the row would be free after the first
    try:
        while time.monotonic() < deadline:
            assert other.claim() == [], "another worker took a row still being delivered"
            time.sleep(0.05)
    finally:
        release.set()
        delivering.join(10)
    row = _row(services, item_id)
    assert (row.status, row.result, row.claims) == ("done", {"by": "slow"}, 1)


def test_concurrent_workers_deliver_each_item_exactly_once(services: Services) -> None:
    ids = _queue(services, 40)
    delivered: list[int] = []
    lock = threading.Lock()

    def record(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        with lock:
            delivered.extend(i.id for i in items)
        time.sleep(0.005)
        return {i.id: {} for i in items}

    workers = [_worker(services, record, Policy(batch=3)) for _ in range(4)]

    def drain(worker: Outbox) -> None:
        while worker.run_once(STOP):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(delivered) == sorted(ids)
    with services.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).where(OutboxItem.status != "done")) == 0


def test_settings_tune_every_policy() -> None:
    settings = Settings(
        CI_SLACKBOT_OUTBOX_BACKOFF_BASE="0.5", CI_SLACKBOT_OUTBOX_MAX_ATTEMPTS="40", CI_SLACKBOT_OUTBOX_LEASE="7"
    )
    registry = build_outbox_registry(settings)
    notion = registry.policy("notion")
    assert (notion.base, notion.max_attempts, notion.lease, notion.rate) == (0.5, 40, 7.0, 3.0)
    assert notion.cap == 300.0  # not overridden: the service's own
    assert registry.limiter("notion") is registry.limiter("notion")


def test_health_says_how_long_the_oldest_item_has_waited(services: Services) -> None:
    _queue(services, 2)
    _queue(services, 1, service="other")
    with services.db.unit_of_work() as session:
        session.execute(
            OutboxItem.__table__.update()
            .where(OutboxItem.service == "other")
            .values(created_at=services.now() - timedelta(minutes=10))
        )
        health = outbox.health(session)
    assert health.pending == 3
    assert health.oldest_by_service["other"] >= 599
    assert health.oldest_by_service["test"] < 60
    assert health.oldest_pending_seconds == health.oldest_by_service["other"]


# -- telling a row's first claim from the later ones -------------------------------------------


def _expire_lease(services: Services, item_id: int) -> None:
    """What a worker killed mid-delivery leaves once its lease has run out: the row still `delivering`."""
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None and row.status == outbox.DELIVERING
        row.claimed_until = services.now() - timedelta(seconds=1)


def test_only_a_rows_very_first_claim_counts_as_first(services: Services) -> None:
    """`attempts` cannot say it: a lease that ran out, a 429 and `retry_failed` all leave it at 0."""
    failed, throttled, killed, parked, waiting, half_done = _queue(services, 6)
    outcomes: dict[int, list[Exception | None]] = {
        failed: [DeliveryError("503"), None],
        throttled: [DeliveryError("429", retry_after=1.0), None],
        parked: [DeliveryError("404", retryable=False), None],
        # Waiting for something before sending anything does not count; waiting after sending does.
        waiting: [NotReady("not yet", delay=0.1, sent_nothing=True), None],
        half_done: [NotReady("half", delay=0.1), None],
    }
    seen: dict[int, list[bool]] = {}

    def scripted(s: Any, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
        (item,) = items
        seen.setdefault(item.id, []).append(item.claimed_before)
        outcome = outcomes.get(item.id, [None]).pop(0)
        if outcome is not None:
            raise outcome
        return {item.id: {}}

    worker = _worker(services, scripted, Policy(base=1.0, cap=2.0, max_attempts=3))
    # The killed worker: it claims the row and dies before settling it.
    dying = _worker(services, scripted)
    claimed = dying.claim()
    assert [(i.id, i.claimed_before) for i in claimed] == [(failed, False)]
    _expire_lease(services, failed)
    put_back = False
    for _ in range(20):
        items = worker.claim()
        if not items:
            if put_back:
                break
            # The parked one, put back by `ci-slackbot outbox retry`: its attempts start again at 0.
            with services.db.unit_of_work() as session:
                assert outbox.retry_failed(session, [parked]) == 1
            assert _row(services, parked).attempts == 0
            put_back = True
            continue
        worker.deliver(items)
        for item_id in (failed, throttled, waiting, half_done):
            if _row(services, item_id).status == "pending":
                _make_due(services, item_id)

    assert seen[failed] == [True, True]  # killed first (its lease ran out), then a 503
    assert seen[throttled] == [False, True]
    assert seen[killed] == [False]
    assert seen[parked] == [False, True]  # parked, then put back with attempts = 0: still claimed before
    assert seen[waiting] == [False, False]
    assert seen[half_done] == [False, True]
    assert {_row(services, i).status for i in (failed, throttled, killed, parked, waiting, half_done)} == {"done"}
    assert (_row(services, throttled).attempts, _row(services, failed).attempts) == (0, 1)


def test_rows_waiting_when_0008_runs_count_as_claimed_before(services: Services) -> None:
    """Rows the code before 0008 may have claimed (it did not count claims) are looked up on their next claim."""
    waiting, delivered = _queue(services, 2)
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, delivered)
        assert row is not None
        row.status = "done"

    def migrate(step: Any, revision: str) -> None:
        config = alembic_config(services.db.engine)
        with services.db.engine.begin() as connection:
            config.attributes["connection"] = connection
            step(config, revision)

    migrate(command.downgrade, "0007")
    migrate(command.upgrade, "head")
    assert (_row(services, waiting).claims, _row(services, delivered).claims) == (1, 0)
    worker = _worker(services, lambda s, items: {i.id: {"first": not i.claimed_before} for i in items})
    assert worker.run_once(STOP) == 1
    assert _row(services, waiting).result == {"first": False}


# -- one pace for every process on the database ----------------------------------------------


def _database_now(db: Database) -> float:
    with db.unit_of_work() as session:
        now = session.scalar(select(outbox.database_clock(session)))
    assert now is not None
    return float(now)


def test_the_shared_pace_hands_out_slots_at_the_rate_whichever_process_asks(services: Services) -> None:
    other_process = Database(services.settings.database_url)
    try:
        mine = SharedPace(services.db, "test", rate=1.0, burst=3)
        theirs = SharedPace(other_process, "test", rate=1.0, burst=3)
        waits = [pace.reserve() for pace in (mine, theirs) * 3]
    finally:
        other_process.dispose()
    # A burst of three at once, then one a second, whichever of the two asked. (Each wait is a
    # little shorter than its slot by the time the reservations before it took.)
    for wait, expected in zip(waits, [0, 0, 0, 1, 2, 3], strict=True):
        assert expected - 0.3 <= wait <= expected + 0.01, waits


def test_slots_taken_at_once_from_many_connections_are_never_lost(services: Services) -> None:
    databases = [Database(services.settings.database_url) for _ in range(4)]
    paces = [SharedPace(db, "test", rate=2.0) for db in databases]
    before = _database_now(services.db)
    paces[0].reserve()  # the row exists, and the queue starts now
    started = _database_now(services.db)
    errors: list[BaseException] = []

    def take(pace: SharedPace) -> None:
        try:
            for _ in range(25):
                pace.reserve()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(pace,)) for pace in paces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for db in databases:
        db.dispose()
    assert not errors
    with services.db.unit_of_work() as session:
        next_slot = session.scalar(select(ServicePace.next_slot).where(ServicePace.service == "test"))
    assert next_slot is not None
    # 101 slots half a second apart, queued from the first one's moment: a lost update would make
    # the queue half a second shorter, a slot handed out twice too.
    queued_from = next_slot - 101 * 0.5
    assert before - 0.01 <= queued_from <= started + 0.01, (before, queued_from, started)


def test_a_slot_far_ahead_is_a_clock_that_went_back_not_a_queue(services: Services) -> None:
    pace = SharedPace(services.db, "test", rate=1.0)
    pace.reserve()
    an_hour_ahead = _database_now(services.db) + 3600
    with services.db.unit_of_work() as session:
        session.execute(update(ServicePace).where(ServicePace.service == "test").values(next_slot=an_hour_ahead))
    assert pace.reserve() == 0.0
    with services.db.unit_of_work() as session:
        next_slot = session.scalar(select(ServicePace.next_slot).where(ServicePace.service == "test"))
    assert next_slot is not None and next_slot < an_hour_ahead - 3500  # the queue starts again from now


def test_notion_is_paced_through_the_database_once_bound() -> None:
    registry = build_outbox_registry(Settings())
    assert registry.policy("notion").shared
    assert registry.limiter("notion").shared is None  # no database yet: paced in this process only
    with pytest.raises(ValueError, match="paced_by_deliverer"):
        Policy(rate=1.0, shared=True)


def test_the_registry_of_a_process_paces_notion_through_its_database(services: Services) -> None:
    limiter = services.outbox_registry().limiter("notion")
    assert limiter.shared is not None and limiter.shared.db is services.db
    assert services.outbox_registry().limiter("slack").shared is None  # Slack's limits are per channel and method


# -- Notion misbehaving, through the real process --------------------------------------------

FAST_RETRIES = {
    "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.2",
    "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "1",
    "CI_SLACKBOT_OUTBOX_MAX_ATTEMPTS": "200",
    "CI_SLACKBOT_OUTBOX_LEASE": "4",
    "CI_SLACKBOT_OUTBOX_POLL": "0.2",
}


@pytest.fixture
def serve_env() -> dict[str, str]:
    return dict(FAST_RETRIES)


def _decide(world: World, texts: Sequence[str]) -> None:
    for text in texts:
        answer = world.send.ci(f"decide {text}", user=BACKBONE)
        assert "is recorded" in answer["text"], answer


def _pages(world: World) -> list[dict[str, Any]]:
    return world.notion.pages_in(DECISIONS_DB)


def _page_texts(world: World) -> list[str]:
    return sorted(world.notion.page_text(page["id"]) for page in _pages(world))


def _outbox_statuses(world: World, service: str | None = None) -> dict[str, int]:
    db = world.db()
    try:
        with db.unit_of_work() as session:
            query = select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
            if service is not None:
                query = query.where(OutboxItem.service == service)
            return {status: count for status, count in session.execute(query)}
    finally:
        db.dispose()


def _settled(world: World, pages: int) -> bool:
    statuses = _outbox_statuses(world)
    return len(_pages(world)) >= pages and set(statuses) == {"done"}


def _assert_each_decision_once(world: World, texts: Sequence[str]) -> None:
    assert _page_texts(world) == sorted(texts)
    keys = [p["properties"]["ci-slackbot key"]["rich_text"][0]["plain_text"] for p in _pages(world)]
    assert len(keys) == len(set(keys)) == len(texts)
    messages = world.slack.messages("C0DECIDE01")
    announcements = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
    replies = [m for m in messages if m.get("thread_ts") not in (None, m["ts"])]
    assert len(announcements) == len(texts)
    assert sorted(r["thread_ts"] for r in replies) == sorted(a["ts"] for a in announcements)


def test_an_outage_of_notion_delays_pages_and_loses_none(fresh_world: World) -> None:
    world = fresh_world
    world.notion.faults.outage(503)
    texts = [f"Outage decision {n}: we keep going." for n in range(4)]
    _decide(world, texts)
    # Failing for a while: every delivery has been tried and refused more than once.
    wait_for(lambda: world.notion.request_count() >= 12, timeout=30)
    assert _pages(world) == []
    world.notion.faults.restore()
    wait_for(lambda: _settled(world, len(texts)), timeout=60)
    _assert_each_decision_once(world, texts)


def test_a_storm_of_429s_is_waited_out_and_delivers_each_page_once(fresh_world: World) -> None:
    world = fresh_world
    world.notion.faults.throttle_next(20, retry_after=1)
    texts = [f"Storm decision {n}: patience." for n in range(3)]
    _decide(world, texts)
    wait_for(lambda: _settled(world, len(texts)), timeout=90)
    _assert_each_decision_once(world, texts)
    # All 20 were answered, and no more: our own pacing never tripped Notion's limit.
    assert world.notion.throttled_count == 20
    log = world.notion.requests()
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(log) if earlier.status == 429]
    assert gaps and min(gaps) >= 0.9  # each Retry-After: 1 was honoured before asking again


def _restart(world: World, log_dir: Path) -> None:
    env = {**world.sandbox.env(), **QUIET_SCHEDULER, **FAST_RETRIES}
    world.server = ServeProcess(world.database_url, env).start(log_dir)
    world.send = SlackSender(world.server.events_url, world.slack)


def test_kill_9_during_delivery_loses_nothing_and_doubles_nothing(served_world: World, tmp_path: Path) -> None:
    world = served_world
    # Long decisions (260 lines: a create and two appends each) on a slow Notion, so that the
    # kill lands while pages are half written.
    texts = [f"Decision {n}\n" + "\n".join(f"Point {p} of decision {n}." for p in range(260)) for n in range(3)]
    world.notion.faults.slow(0.25)
    _decide(world, texts)
    wait_for(lambda: _outbox_statuses(world, "slack") == {"done": len(texts)}, timeout=30)
    # Slack has no key to look a message up by: a post cut between Slack's answer and our
    # record of it would be posted again. Keep Slack refusing so that the kill hits Notion only.
    world.slack.faults.outage(503)

    def half_written() -> list[str]:
        return [p["id"] for p in _pages(world) if 0 < len(world.notion.children(p["id"])) < 261]

    caught = wait_for(half_written, timeout=60)
    world.server.kill()
    world.notion.faults.restore()
    world.slack.faults.restore()
    _restart(world, tmp_path)
    wait_for(lambda: _settled(world, len(texts)), timeout=90)
    _assert_each_decision_once(world, texts)
    assert all(len(world.notion.children(page)) == 261 for page in caught)


def test_kill_9_right_after_the_answer_still_delivers(served_world: World, tmp_path: Path) -> None:
    world = served_world
    # Nothing can be delivered before the kill: all of it must come from what was committed.
    world.notion.faults.outage(503)
    world.slack.faults.outage(503)
    texts = ["Committed before the crash."]
    _decide(world, texts)
    world.server.kill()
    world.notion.faults.restore()
    world.slack.faults.restore()
    _restart(world, tmp_path)
    wait_for(lambda: _settled(world, 1), timeout=60)
    _assert_each_decision_once(world, texts)


def _cli(world: World, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "DATABASE_"))}
    env["DATABASE_URL"] = world.database_url
    done = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_rejected_write_is_parked_listed_and_retried(fresh_world: World) -> None:
    world = fresh_world
    world.notion.faults.fail_next(3, status=404)  # "not shared with the integration": won't fix itself
    _decide(world, ["Parked until someone fixes the sharing."])
    wait_for(lambda: _outbox_statuses(world).get("failed") == 1, timeout=30)
    listing = _cli(world, "outbox")
    assert "notion/decision_page" in listing and "failed" in listing and "404" in listing
    assert "1 parked" in listing
    db = world.db()
    with db.unit_of_work() as session:
        parked = session.scalar(select(OutboxItem.id).where(OutboxItem.status == "failed"))
        decision = session.scalar(select(Decision))
        assert decision is not None and decision.notion_page_id is None
    db.dispose()
    world.notion.faults.restore()
    assert "Queued 1" in _cli(world, "outbox", "retry", str(parked))
    wait_for(lambda: _settled(world, 1), timeout=60)
    _assert_each_decision_once(world, ["Parked until someone fixes the sharing."])


def test_the_worker_delivers_without_serving_http(fresh_world: World, tmp_path: Path) -> None:
    world = fresh_world
    env = {**world.sandbox.env(), **QUIET_SCHEDULER, **FAST_RETRIES}
    world.server.stop()
    world.server = AppServer(world.database_url, {**env, "CI_SLACKBOT_BACKGROUND": "false"}).start(tmp_path)
    world.send = SlackSender(world.server.events_url, world.slack)
    _decide(world, ["Delivered by the worker."])
    assert _outbox_statuses(world) == {"pending": 2}  # the web process only answers
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_"))}
    worker_env.update({**env, "DATABASE_URL": world.database_url})
    worker = subprocess.Popen(
        [sys.executable, "-m", "ci_slackbot", "worker"],
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _settled(world, 1), timeout=60)
        _assert_each_decision_once(world, ["Delivered by the worker."])
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors


def test_a_message_slack_finds_too_long_is_parked_at_once(fresh_world: World) -> None:
    """`msg_blocks_too_long` comes back for the same payload every time: one attempt, then parked."""
    world = fresh_world
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}} for _ in range(5)]
    db = world.db()
    with db.unit_of_work() as session:
        initiative_id = int(session.scalar(select(Initiative.id)))
        item_id = enqueue(
            session,
            initiative_id=initiative_id,
            service="slack",
            kind="post",
            key="too-long",
            payload={"channel": "C0GENERAL", "text": "too long", "blocks": blocks},
        )

    def parked() -> OutboxItem | None:
        with db.unit_of_work() as session:
            row = session.get(OutboxItem, item_id)
            assert row is not None
            session.expunge(row)
        return row if row.status == "failed" else None

    row = wait_for(parked, timeout=30)
    db.dispose()
    assert row.attempts == 1 and "msg_blocks_too_long" in (row.last_error or "")
    assert world.slack.messages("C0GENERAL") == []
