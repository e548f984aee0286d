"""The scheduler without a server: triggers across daylight-saving changes (pure date
arithmetic), claiming slots exactly once, catching up missed slots, rebuilding jobs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from ci_slackbot import jobs
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.cli.schedule import describe
from ci_slackbot.domain.periods import Period
from ci_slackbot.domain.schedule import ScheduleError, parse_schedule
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.scheduler import (
    Scheduler,
    agenda_schedule,
    cron_trigger,
    fire_times_between,
    latest_fire_time,
    next_fire_times,
    plan,
    start_scheduler,
)
from ci_slackbot.services.initiatives import apply_initiative, find_initiative
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import Initiative, JobRun, OutboxItem
from tests.harness import HOSPITAL
from tests.paths import EXAMPLE

CHICAGO = ZoneInfo("America/Chicago")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def chicago(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)  # type: ignore[misc]


# -- triggers: pure date arithmetic ------------------------------------------------------------


def test_weekly_digest_stays_at_nine_local_across_the_march_change() -> None:
    # DST starts on Sunday 8 March 2026 in the US: 09:00 moves from 15:00 UTC to 14:00 UTC.
    fires = next_fire_times(cron_trigger("mon 09:00", "America/Chicago"), utc(2026, 3, 1), 3)
    assert fires == [utc(2026, 3, 2, 15), utc(2026, 3, 9, 14), utc(2026, 3, 16, 14)]
    assert {(f.astimezone(CHICAGO).hour, f.astimezone(CHICAGO).minute) for f in fires} == {(9, 0)}


def test_weekly_digest_stays_at_nine_local_across_the_november_change() -> None:
    # DST ends on Sunday 1 November 2026: 09:00 moves from 14:00 UTC back to 15:00 UTC.
    fires = next_fire_times(cron_trigger("mon 09:00", "America/Chicago"), utc(2026, 10, 20), 3)
    assert fires == [utc(2026, 10, 26, 14), utc(2026, 11, 2, 15), utc(2026, 11, 9, 15)]
    assert [jobs.slot_key(f, "America/Chicago") for f in fires] == [
        "2026-10-26T09:00",
        "2026-11-02T09:00",
        "2026-11-09T09:00",
    ]


def test_the_repeated_hour_in_november_is_one_slot() -> None:
    # 01:30 happens twice on 1 November (CDT, then CST); APScheduler fires at both.
    trigger = cron_trigger("daily 01:30", "America/Chicago")
    fires = fire_times_between(trigger, utc(2026, 10, 31), utc(2026, 11, 3))
    assert utc(2026, 11, 1, 6, 30) in fires and utc(2026, 11, 1, 7, 30) in fires
    slots = [jobs.slot_key(f, "America/Chicago") for f in fires]
    assert slots == ["2026-10-31T01:30", "2026-11-01T01:30", "2026-11-01T01:30", "2026-11-02T01:30"]


def test_the_skipped_hour_in_march_still_runs_once() -> None:
    # 02:30 does not exist on 8 March; the run happens once that day, an hour later on the clock.
    trigger = cron_trigger("daily 02:30", "America/Chicago")
    fires = fire_times_between(trigger, utc(2026, 3, 7), utc(2026, 3, 10))
    on_the_day = [f for f in fires if f.astimezone(CHICAGO).date().isoformat() == "2026-03-08"]
    assert on_the_day == [utc(2026, 3, 8, 8, 30)]
    assert jobs.slot_key(on_the_day[0], "America/Chicago") == "2026-03-08T03:30"
    assert len(fires) == 3


def test_days_that_wrap_past_sunday_and_cron_steps_fall_on_the_days_they_name() -> None:
    """`sun-thu` (a week that starts on Sunday) and cron's `0-4` were refused by APScheduler once
    loaded, which stopped the job; cron steps fell on other days, Monday being APScheduler's 0."""

    def weekdays(schedule: str) -> set[str]:
        """The days of the week it fires on, over two weeks."""
        fires = fire_times_between(cron_trigger(schedule, "America/Chicago"), utc(2026, 3, 2), utc(2026, 3, 16))
        return {f"{f.astimezone(CHICAGO):%a}" for f in fires}

    assert weekdays("sun-thu 09:00") == weekdays("0 9 * * 0-4") == {"Sun", "Mon", "Tue", "Wed", "Thu"}
    assert weekdays("fri-mon 10:00") == {"Fri", "Sat", "Sun", "Mon"}
    assert weekdays("0 9 * * */2") == {"Sun", "Tue", "Thu", "Sat"}
    assert weekdays("0 9 * * 1-5/2") == {"Mon", "Wed", "Fri"}
    assert len(weekdays("0 9 * * 0-7")) == 7
    with pytest.raises(ScheduleError, match="is not a day"):
        parse_schedule("0 9 * * 8")


def test_a_cron_expression_means_the_same_as_its_simple_form() -> None:
    simple = next_fire_times(cron_trigger("mon 09:00", "America/Chicago"), utc(2026, 3, 1), 5)
    cron = next_fire_times(cron_trigger("0 9 * * 1", "America/Chicago"), utc(2026, 3, 1), 5)
    assert simple == cron


def test_the_agenda_is_refreshed_as_often_as_the_setting_says() -> None:
    assert agenda_schedule(15) == "*/15 * * * *"
    assert agenda_schedule(5) == "*/5 * * * *"
    assert agenda_schedule(0.2) == "*/1 * * * *"
    assert agenda_schedule(120) == "0 */2 * * *"
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    fires = next_fire_times(cron_trigger(agenda_schedule(10), "UTC"), monday, 4)
    assert [f.minute for f in fires] == [0, 10, 20, 30]


def test_latest_fire_time_finds_the_slot_a_run_belongs_to() -> None:
    weekly = cron_trigger("mon 09:00", "America/Chicago")
    assert latest_fire_time(weekly, chicago(2026, 11, 23, 9, 0, 2)) == chicago(2026, 11, 23, 9)
    assert latest_fire_time(weekly, chicago(2026, 11, 23, 8, 59)) == chicago(2026, 11, 16, 9)
    every_minute = cron_trigger("*/1 * * * *", "America/Chicago")
    assert latest_fire_time(every_minute, utc(2026, 11, 23, 12, 34, 56)) == utc(2026, 11, 23, 12, 34)
    yearly = cron_trigger("0 9 1 1 *", "America/Chicago")
    assert latest_fire_time(yearly, utc(2026, 11, 23)) == chicago(2026, 1, 1, 9)


# -- claiming, on both databases -----------------------------------------------------------------

MONDAY_TEN = chicago(2026, 11, 23, 10)  # an hour after the example's "mon 09:00" slot


def _services(url: str, now: datetime, **settings: object) -> Services:
    services = bootstrap(Settings(DATABASE_URL=url, SLACK_BOT_TOKEN="xoxb-test", **settings))  # type: ignore[arg-type]
    services.clock = lambda: now
    with services.db.unit_of_work() as session:
        initiative, _ = apply_initiative(session, load_initiative_file(EXAMPLE))
        # Loaded well before the slots these tests look at (slots before it were never due).
        initiative.workspace.created_at = now - timedelta(days=60)
        person = who_is(session, initiative, HOSPITAL)
        er_visits = find_indicator(indicator_views(session, initiative.id), "er-visits")
        for period, value in (("2026-09", 17.9), ("2026-10", 17.1)):
            record_value(
                session, initiative, person, indicator=er_visits, value=value, period=Period.parse(period), now=now
            )
    return services


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    built = _services(database_url, MONDAY_TEN)
    yield built
    built.db.dispose()


def _initiative_id(services: Services) -> int:
    with services.db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        return initiative.id


def _digest_posts(services: Services) -> list[str]:
    with services.db.unit_of_work() as session:
        return list(
            session.scalars(
                select(OutboxItem.idempotency_key)
                .where(OutboxItem.kind == "post", OutboxItem.idempotency_key.like("digest:%"))
                .order_by(OutboxItem.id)
            )
        )


def _charts(services: Services) -> list[str]:
    with services.db.unit_of_work() as session:
        return list(session.scalars(select(OutboxItem.idempotency_key).where(OutboxItem.kind == "digest_chart")))


def test_a_slot_can_be_claimed_once(services: Services) -> None:
    initiative_id = _initiative_id(services)
    with services.db.unit_of_work() as session:
        jobs.claim(session, initiative_id, jobs.DIGEST, "2026-11-23T09:00", node="a", at=MONDAY_TEN)
    with pytest.raises(IntegrityError), services.db.unit_of_work() as session:
        jobs.claim(session, initiative_id, jobs.DIGEST, "2026-11-23T09:00", node="b", at=MONDAY_TEN)
    with services.db.unit_of_work() as session:
        # Another job, or another slot, is a claim of its own.
        jobs.claim(session, initiative_id, jobs.REMINDERS, "2026-11-23T09:00", node="b", at=MONDAY_TEN)
        jobs.claim(session, initiative_id, jobs.DIGEST, "2026-11-30T09:00", node="b", at=MONDAY_TEN)
        runs = session.scalars(select(JobRun.claimed_by).where(JobRun.slot == "2026-11-23T09:00")).all()
    assert sorted(runs) == ["a", "b"]


def test_running_a_digest_slot_twice_queues_one_digest_and_one_chart(services: Services) -> None:
    initiative_id = _initiative_id(services)
    first = jobs.run_digest(services, initiative_id, "2026-11-23T09:00")
    second = jobs.run_digest(services, initiative_id, "2026-11-23T09:00")
    assert first.startswith("queued for <#C0DIGEST01>")
    assert "and a chart" in first
    assert second.startswith("already claimed by")
    assert _digest_posts(services) == [f"digest:{initiative_id}:2026-11-23T09:00"]
    assert _charts(services) == [f"digest-chart:{initiative_id}:2026-11-23T09:00"]


def test_racing_runs_of_one_slot_queue_one_digest(services: Services) -> None:
    initiative_id = _initiative_id(services)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        outcomes.append(jobs.run_digest(services, initiative_id, "2026-11-23T09:00"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 4
    assert sum(o.startswith("queued") for o in outcomes) == 1, outcomes
    assert len(_digest_posts(services)) == 1


def test_since_the_last_digest_starts_where_the_last_one_read(services: Services) -> None:
    from ci_slackbot.services.digest import last_digest_at

    initiative_id = _initiative_id(services)
    jobs.run_digest(services, initiative_id, "2026-11-23T09:00")
    with services.db.unit_of_work() as session:
        assert last_digest_at(session, initiative_id) == MONDAY_TEN


# -- catching up after a restart -------------------------------------------------------------------


def test_a_slot_missed_while_down_is_run_once_at_start_up(services: Services, caplog: pytest.LogCaptureFixture) -> None:
    initiative_id = _initiative_id(services)
    caplog.set_level(logging.INFO, logger="ci_slackbot.scheduler")
    Scheduler(services).catch_up()
    assert _digest_posts(services) == [f"digest:{initiative_id}:2026-11-23T09:00"]
    assert "digest slot 2026-11-23T09:00 (America/Chicago) for Breathe Easy Dallas was missed" in caplog.text
    assert "caught up 60 min late: queued" in caplog.text
    caplog.clear()
    # A second start (or a second process) finds the slot taken.
    Scheduler(services).catch_up()
    assert len(_digest_posts(services)) == 1
    assert "digest slot 2026-11-23T09:00 (America/Chicago) for Breathe Easy Dallas already ran" in caplog.text


def test_a_slot_missed_past_the_grace_period_is_skipped_with_a_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    services = _services(database_url, chicago(2026, 11, 23, 11, 30), CI_SLACKBOT_DIGEST_GRACE_MINUTES=60)
    try:
        caplog.set_level(logging.INFO, logger="ci_slackbot.scheduler")
        Scheduler(services).catch_up()
        assert _digest_posts(services) == []
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "2026-11-23T09:00" in r.getMessage() and "past the grace period of 60 min" in r.getMessage()
            for r in warnings
        ), caplog.text
    finally:
        services.db.dispose()


def test_earlier_slots_missed_while_down_are_named_in_the_log(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    initiative_id = _initiative_id(services)
    with services.db.unit_of_work() as session:
        jobs.claim(session, initiative_id, jobs.DIGEST, "2026-11-02T09:00", node="old", at=chicago(2026, 11, 2, 9))
    caplog.set_level(logging.INFO, logger="ci_slackbot.scheduler")
    Scheduler(services).catch_up()
    assert "also missed 2 earlier slot(s) while the app was down, not run: 2026-11-09T09:00, 2026-11-16T09:00" in (
        caplog.text
    )
    assert _digest_posts(services) == [f"digest:{initiative_id}:2026-11-23T09:00"]


def test_a_manual_digest_does_not_take_the_weekly_slot(services: Services) -> None:
    initiative_id = _initiative_id(services)
    from ci_slackbot.services.digest import build_digest

    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        jobs.queue_digest(
            session, build_digest(session, initiative, MONDAY_TEN), jobs.manual_slot(MONDAY_TEN), node="x"
        )
    Scheduler(services).catch_up()
    posts = _digest_posts(services)
    assert len(posts) == 2
    assert posts[0].startswith(f"digest:{initiative_id}:manual:")
    assert posts[1] == f"digest:{initiative_id}:2026-11-23T09:00"


# -- building the jobs ----------------------------------------------------------------------------


def test_jobs_are_rebuilt_when_the_initiative_changes(services: Services) -> None:
    scheduler = Scheduler(services)
    scheduler.sync()
    initiative_id = _initiative_id(services)
    job = scheduler.aps.get_job(f"{initiative_id}:digest")
    assert job is not None and "day_of_week='mon'" in str(job.trigger)
    assert job.misfire_grace_time == 180 * 60
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        initiative.digest_schedule = "tue 10:30"
        initiative.revision += 1
    scheduler.sync()
    job = scheduler.aps.get_job(f"{initiative_id}:digest")
    assert job is not None and "day_of_week='tue'" in str(job.trigger) and "hour='10'" in str(job.trigger)
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        initiative.digest_channel = None
    scheduler.sync()
    assert scheduler.aps.get_job(f"{initiative_id}:digest") is None


def test_a_schedule_override_replaces_or_turns_off_the_digest(database_url: str) -> None:
    services = _services(database_url, MONDAY_TEN, CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST="*/1 * * * *")
    try:
        scheduler = Scheduler(services)
        scheduler.sync()
        job = scheduler.aps.get_job(f"{_initiative_id(services)}:digest")
        assert job is not None and "minute='*/1'" in str(job.trigger)
        services.settings.schedule_override_digest = "off"
        quiet = Scheduler(services)
        quiet.sync()
        assert quiet.aps.get_job(f"{_initiative_id(services)}:digest") is None
    finally:
        services.db.dispose()


def test_the_scheduler_starts_inside_the_process_and_stops(services: Services) -> None:
    stop = start_scheduler(services, threading.Event())
    assert stop is not None
    scheduler = services.scheduler
    assert scheduler is not None
    try:
        assert scheduler.aps.running
        assert scheduler.aps.get_job("sync") is not None
        digest = scheduler.aps.get_job(f"{_initiative_id(services)}:digest")
        # The job defaults chosen in ci_slackbot.scheduler, not APScheduler's own (1 s grace).
        assert (digest.misfire_grace_time, digest.coalesce, digest.max_instances) == (180 * 60, True, 1)
    finally:
        stop()
    assert not scheduler.aps.running


def test_the_schedule_command_lists_upcoming_runs_in_local_time(services: Services) -> None:
    lines = describe(services.settings, services.db, count=3, now=utc(2026, 10, 20))
    text = "\n".join(lines)
    assert "Breathe Easy Dallas  (time zone America/Chicago)" in text
    assert "digest: 'mon 09:00' → #C0DIGEST01" in text
    assert "Mon 2026-10-26 09:00 CDT  (2026-10-26 14:00 UTC)" in text
    assert "Mon 2026-11-02 09:00 CST  (2026-11-02 15:00 UTC)" in text
    assert "CI_SLACKBOT_DIGEST_GRACE_MINUTES" in text


def test_a_run_started_past_the_grace_period_is_skipped(services: Services) -> None:
    # A run APScheduler starts very late (a suspended machine) is refused by the same grace rule.
    with services.db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        digest_job = next(p for p in plan(initiative, services.settings)[0] if p.job == jobs.DIGEST)
    outcome = Scheduler(services).run_slot(
        digest_job, chicago(2026, 11, 23, 9), MONDAY_TEN + timedelta(hours=4), reason="late"
    )
    assert outcome.startswith("skipped")
    assert _digest_posts(services) == []


def test_a_digest_that_fails_is_tried_again_within_its_grace_period(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database away a moment when the digest runs: its slot is tried again five minutes later,
    not left to next week, and the second try posts it."""
    with services.db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        digest_job = next(p for p in plan(initiative, services.settings)[0] if p.job == jobs.DIGEST)
    runner = jobs.RUNNERS[jobs.DIGEST]

    def away(*_args: object) -> str:
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))

    monkeypatch.setitem(jobs.RUNNERS, jobs.DIGEST, away)
    scheduler = Scheduler(services)
    fire = chicago(2026, 11, 23, 9)
    assert scheduler.run_slot(digest_job, fire, MONDAY_TEN, reason="on schedule") == "failed"
    retries = [job for job in scheduler.aps.get_jobs() if "again after a failure" in job.name]
    assert len(retries) == 1 and retries[0].trigger.run_date == MONDAY_TEN + timedelta(minutes=5)
    monkeypatch.setitem(jobs.RUNNERS, jobs.DIGEST, runner)
    retries[0].func(*retries[0].args)  # what APScheduler runs then
    assert len(_digest_posts(services)) == 1


def test_a_slot_before_the_initiative_was_loaded_is_not_a_missed_one(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    with services.db.unit_of_work() as session:
        initiative = find_initiative(session, None)
        assert initiative is not None
        initiative.workspace.created_at = chicago(2026, 11, 23, 9, 30)  # loaded after the 09:00 slot
    caplog.set_level(logging.INFO, logger="ci_slackbot.scheduler")
    Scheduler(services).catch_up()
    assert _digest_posts(services) == []
    assert "digest slot 2026-11-23T09:00 (America/Chicago) for Breathe Easy Dallas came before the initiative" in (
        caplog.text
    )
    assert not [line for line in caplog.text.splitlines() if "digest" in line and "missed" in line]


def test_both_runs_in_the_repeated_hour_post_one_digest(database_url: str) -> None:
    # APScheduler fires "daily 01:30" at 01:30 CDT and again at 01:30 CST on 1 November.
    now = utc(2026, 11, 1, 7, 31)
    services = _services(database_url, now, CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST="daily 01:30")
    try:
        with services.db.unit_of_work() as session:
            initiative = find_initiative(session, None)
            assert initiative is not None
            digest_job = next(p for p in plan(initiative, services.settings)[0] if p.job == jobs.DIGEST)
        scheduler = Scheduler(services)
        first = scheduler.run_slot(digest_job, utc(2026, 11, 1, 6, 30), now, reason="on schedule")
        second = scheduler.run_slot(digest_job, utc(2026, 11, 1, 7, 30), now, reason="on schedule")
        assert first.startswith("queued") and second.startswith("already claimed")
        assert _digest_posts(services) == [f"digest:{initiative.id}:2026-11-01T01:30"]
    finally:
        services.db.dispose()
