"""Reminders: who is reminded of what, once per slot, snoozes — in the service and through `serve`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from slack_sdk import WebClient
from sqlalchemy import select, update

from ci_slackbot import jobs
from ci_slackbot.bootstrap import Services
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.domain.windows import Nudge, NudgeRule, nudge_days, window_for
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.outbox import OutboxSignal
from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, validate_blocks
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.services.reminders import (
    ReminderRun,
    SnoozeError,
    parse_snooze_periods,
    queue_reminders,
    send_reminders,
    snooze,
)
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ActionItem, IndicatorReporter, NudgeSent, Organization, OutboxItem, ReminderSent
from commands.router import Router
from integrations.slack.reminders import reminder_message
from tests.harness import BACKBONE, BOT_TOKEN, CITY, EXAMPLE, HOSPITAL, NEIGHBOR, NURSE, World, load_example, wait_for

HOSPITAL_2 = "U0CHLD0002"
NEIGHBOR_2 = "U0NBRS0002"
# Thursday 19 November 2026, 10:00 in Dallas: the example's reminder slot.
NOW = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
SLOT = "2026-11-19T10:00"


def _services(database_url: str, now: datetime | None = None) -> Services:
    return Services(
        settings=Settings(DATABASE_URL=database_url),
        db=Database(database_url),
        slack=WebClient(token="xoxb-unused"),
        router=Router(),
        clock=(lambda: now) if now is not None else (lambda: datetime.now(UTC)),
        outbox_signal=OutboxSignal(),
    )


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    load_example(database_url)
    built = _services(database_url, NOW)
    yield built
    built.db.dispose()


def _report(services: Services, user: str, key: str, value: float, period: str) -> None:
    with services.db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        indicator = find_indicator(indicator_views(session, initiative.id), key)
        record_value(
            session,
            initiative,
            who_is(session, initiative, user),
            indicator=indicator,
            value=value,
            period=Period.parse(period),
            now=NOW,
        )


def _queued(services: Services) -> dict[str, dict[str, Any]]:
    with services.db.unit_of_work() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.kind == "reminder")).all()
        return {row.idempotency_key: dict(row.payload) for row in rows}


def _elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every element of a message: those of actions and context blocks, and section accessories."""
    return [e for b in message.get("blocks") or [] for e in b.get("elements", [b.get("accessory")]) if e]


def _keys(payload: dict[str, Any]) -> set[str]:
    return {i["key"] for i in payload["indicators"]}


def test_each_member_with_something_due_gets_one_combined_reminder(services: Services) -> None:
    # Children's Health has reported both its indicators for October, the month due: its members are left alone.
    _report(services, HOSPITAL, "er-visits", 17, "2026-10")
    _report(services, HOSPITAL, "home-visits", 50, "2026-10")

    run = send_reminders(services, 1, SLOT)
    assert isinstance(run, ReminderRun)
    # Dallas ISD's late nudge for Q3 went on 2 November, 17 days ago: too old to make up.
    assert sorted(run.sent) == sorted([NEIGHBOR, NEIGHBOR_2, CITY])
    assert services.outbox_signal.is_set()
    queued = _queued(services)
    assert set(queued) == {f"reminder:1:{SLOT}:{user}" for user in run.sent}
    neighbor = queued[f"reminder:1:{SLOT}:{NEIGHBOR}"]
    assert neighbor["channel"] == NEIGHBOR
    assert _keys(neighbor) == {"home-visits", "home-assessments"}  # both in ONE message
    assert neighbor["snooze_periods"] == ["2026-10"]
    assert {i["kind"] for i in neighbor["indicators"]} == {"late"}  # October was due on 15 November
    with services.db.unit_of_work() as session:
        sent = session.scalars(select(ReminderSent.slack_user_id).where(ReminderSent.slot == SLOT)).all()
    assert sorted(sent) == sorted(run.sent)

    # The same slot again (a retried job, a second process), or the next day: each nudge went once.
    again = send_reminders(services, 1, SLOT)
    assert isinstance(again, ReminderRun)
    assert again.sent == []
    assert len(_queued(services)) == 3
    assert str(again) == "0 reminder DMs queued"


def _load_edited(database_url: str, folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """The example initiative, as `edit` changes its file, loaded into the database."""
    document = yaml.safe_load(EXAMPLE.read_text())
    edit(document)
    path = folder / "initiative.yml"
    path.write_text(yaml.safe_dump(document))
    load_example(database_url, path)


def test_a_backup_of_two_organizations_reporting_one_indicator_gets_its_nudges_with_everyone_else(
    database_url: str, tmp_path: Path
) -> None:
    """Backbone staff are often the backup of several partners. Two of them report home-visits: the
    backup's DM lists it for each, and one "nudge sent" row is kept for it; two rows for one nudge
    were refused, and the refusal cancelled the whole day's reminders for everyone."""

    def backup_of_both(document: dict[str, Any]) -> None:
        for organization in document["organizations"]:
            if organization["key"] in ("childrens-health", "neighbors"):
                organization["backup"] = BACKBONE

    _load_edited(database_url, tmp_path, backup_of_both)
    late_day = datetime(2026, 11, 16, 16, 0, tzinfo=UTC)  # Monday 16 November, 10:00: October's late day
    services = _services(database_url, late_day)
    try:
        run = send_reminders(services, 1, "2026-11-16")
        assert isinstance(run, ReminderRun), run
        assert BACKBONE in run.sent and NEIGHBOR in run.sent
        backup = _queued(services)[f"reminder:1:2026-11-16:{BACKBONE}"]
        lines = [(i["key"], i["organization_key"]) for i in backup["indicators"] if i["kind"] == "backup"]
        assert ("home-visits", "childrens-health") in lines and ("home-visits", "neighbors") in lines
    finally:
        services.db.dispose()


def test_a_reminders_run_that_fails_before_queueing_leaves_its_day_to_the_next_try(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot is claimed by the transaction that queues the DMs: a run that fails before (here Slack's
    users.info, asked who is away, breaks in a way not foreseen) does not leave the day claimed with
    nothing sent, and the next try (the catch-up at start) sends them."""
    load_example(database_url)
    services = _services(database_url, datetime(2026, 11, 16, 16, 0, tzinfo=UTC))  # October's late day

    def broken(*_args: object) -> set[str]:
        raise RuntimeError("users.info answered something unforeseen")

    try:
        monkeypatch.setattr(jobs, "away_among", broken)
        with pytest.raises(RuntimeError):
            jobs.run_reminders(services, 1, "2026-11-16")
        with services.db.unit_of_work() as session:
            assert jobs.claimed_run(session, 1, jobs.REMINDERS, "2026-11-16") is None
        monkeypatch.undo()
        monkeypatch.setattr(jobs, "away_among", lambda *_args: set())
        assert jobs.run_reminders(services, 1, "2026-11-16").startswith("sent: ")
        assert _queued(services)
        assert jobs.run_reminders(services, 1, "2026-11-16") == "already claimed by another process"
    finally:
        services.db.dispose()


def test_a_late_nudge_that_falls_after_the_next_period_has_ended_is_sent(database_url: str, tmp_path: Path) -> None:
    """Monthly reports due 30 days after the month: January's is due 2 March, its late nudge comes on
    3 March, when February is already the month partners report. Only the period due now was looked
    at, so January's late and backup nudges never went; they go on their day."""

    def due_after_30_days(document: dict[str, Any]) -> None:
        document["reporting"] = {"due_after_days": {"monthly": 30}}
        for organization in document["organizations"]:
            if organization["key"] == "neighbors":
                organization["backup"] = BACKBONE

    _load_edited(database_url, tmp_path, due_after_30_days)
    late_day = datetime(2027, 3, 3, 16, 0, tzinfo=UTC)  # Wednesday 3 March 2027, 10:00 in Dallas
    services = _services(database_url, late_day)
    try:
        run = send_reminders(services, 1, "2027-03-03")
        assert isinstance(run, ReminderRun), run
        queued = _queued(services)
        neighbor = queued[f"reminder:1:2027-03-03:{NEIGHBOR}"]
        january = {(i["key"], i["kind"]) for i in neighbor["indicators"] if i["period"] == "2027-01"}
        assert january == {("home-visits", "late"), ("home-assessments", "late")}
        # With February's opening, made up the same day: one DM lists both periods.
        february = {(i["key"], i["kind"]) for i in neighbor["indicators"] if i["period"] == "2027-02"}
        assert february == {("home-visits", "opening"), ("home-assessments", "opening")}
        backup = queued[f"reminder:1:2027-03-03:{BACKBONE}"]
        assert {(i["period"], i["kind"]) for i in backup["indicators"]} >= {("2027-01", "backup")}
        # Sent once: the next day's run does not send them again.
        again = _services(database_url, late_day + timedelta(days=1))
        try:
            later = send_reminders(again, 1, "2027-03-04")
            assert isinstance(later, ReminderRun) and NEIGHBOR not in later.sent
        finally:
            again.db.dispose()
    finally:
        services.db.dispose()


def test_an_organization_named_a_reporter_since_is_not_nudged_about_the_period_before(
    database_url: str, tmp_path: Path
) -> None:
    """Neighbors United was named a reporter on 2 March 2027: it is asked for February on, so January's
    late nudge, which falls on 3 March, is not theirs."""

    def due_after_30_days(document: dict[str, Any]) -> None:
        document["reporting"] = {"due_after_days": {"monthly": 30}}

    _load_edited(database_url, tmp_path, due_after_30_days)
    services = _services(database_url, datetime(2027, 3, 3, 16, 0, tzinfo=UTC))
    try:
        with services.db.unit_of_work() as session:
            neighbors = session.scalars(select(Organization.id).where(Organization.key == "neighbors")).one()
            session.execute(
                update(IndicatorReporter)
                .where(IndicatorReporter.organization_id == neighbors)
                .values(since=datetime(2027, 3, 2, 16, 0, tzinfo=UTC))
            )
        run = send_reminders(services, 1, "2027-03-03")
        assert isinstance(run, ReminderRun), run
        neighbor = _queued(services)[f"reminder:1:2027-03-03:{NEIGHBOR}"]
        assert {i["period"] for i in neighbor["indicators"]} == {"2027-02"}
    finally:
        services.db.dispose()


def test_snoozed_members_are_skipped_until_the_next_period(services: Services) -> None:
    with services.db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        snooze(session, initiative, NEIGHBOR, parse_snooze_periods("2026-10"))
        snooze(session, initiative, NEIGHBOR, parse_snooze_periods("2026-10"))  # twice is harmless
        run = queue_reminders(session, initiative, SLOT, NOW)
    assert NEIGHBOR not in run.sent and run.snoozed == [NEIGHBOR]
    assert NEIGHBOR_2 in run.sent  # a snooze is personal
    # In December November is due: the snooze of October no longer applies.
    december = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    with services.db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        later = queue_reminders(session, initiative, "2026-12-03T10:00", december)
    assert NEIGHBOR in later.sent


def test_reminders_by_hand_leave_out_whoever_was_reminded_in_the_last_minutes(services: Services) -> None:
    """`/ci remind` typed twice (a second apart, so two slots) or by two coordinators: one DM each.
    Later in the day, a run by hand reminds anew."""
    window = timedelta(minutes=10)
    with services.db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        first = queue_reminders(session, initiative, "manual:1", NOW, not_within=window)
        again = queue_reminders(session, initiative, "manual:2", NOW + timedelta(seconds=1), not_within=window)
        later = queue_reminders(session, initiative, "manual:3", NOW + window + timedelta(seconds=1), not_within=window)
    assert first.sent and NEIGHBOR in first.sent
    assert again.sent == [] and sorted(again.already_reminded) == sorted(first.sent)
    assert sorted(later.sent) == sorted(first.sent)
    assert len(_queued(services)) == 2 * len(first.sent)


def test_bad_snooze_values_are_refused() -> None:
    for value in ("", "soon", ",".join(["2026-11"] * 21)):
        with pytest.raises(SnoozeError):
            parse_snooze_periods(value)
    assert parse_snooze_periods("2026-11,2026-Q4") == [
        Period(Frequency.MONTHLY, 2026, 11),
        Period(Frequency.QUARTERLY, 2026, 4),
    ]


def test_action_items_due_join_the_reminder_or_get_one_of_their_own(services: Services) -> None:
    with services.db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        for owner, text, due in [
            (HOSPITAL, "Call the <!channel> landlord", date(2026, 11, 12)),  # overdue
            (NEIGHBOR, "Print the flyers", date(2026, 11, 24)),  # due within the week
            (NEIGHBOR, "Far away", date(2027, 1, 10)),  # not yet
        ]:
            session.add(ActionItem(initiative_id=initiative.id, text=text, owner=owner, created_by=BACKBONE, due=due))
    _report(services, HOSPITAL, "er-visits", 17, "2026-10")
    _report(services, HOSPITAL, "home-visits", 50, "2026-10")

    run = send_reminders(services, 1, SLOT)
    assert isinstance(run, ReminderRun) and HOSPITAL in run.sent
    queued = _queued(services)
    hospital = queued[f"reminder:1:{SLOT}:{HOSPITAL}"]
    assert hospital["indicators"] == [] and [a["text"] for a in hospital["overdue"]] == ["Call the <!channel> landlord"]
    neighbor = queued[f"reminder:1:{SLOT}:{NEIGHBOR}"]
    assert [a["text"] for a in neighbor["due_this_week"]] == ["Print the flyers"] and neighbor["overdue"] == []

    rendered = reminder_message(neighbor)
    assert validate_blocks(rendered["blocks"], surface="message") == []
    buttons = [e for e in _elements(rendered) if e.get("type") == "button"]
    assert {(b["action_id"], b["value"]) for b in buttons} == {
        ("open_update_modal", "home-visits"),
        ("open_update_modal", "home-assessments"),
        ("snooze_reminders", "2026-10"),
    }
    text = json.dumps(rendered)
    assert "Print the flyers" in text and "Tue 24 Nov" in text

    only_actions = reminder_message(hospital)
    assert validate_blocks(only_actions["blocks"], surface="message") == []
    assert "&lt;!channel&gt;" in json.dumps(only_actions)  # user text never pings a channel
    assert not any(b["type"] == "actions" or "accessory" in b for b in only_actions["blocks"])  # nothing to press


def test_a_reminder_with_very_many_indicators_stays_within_slack_limits() -> None:
    payload = {
        "channel": NEIGHBOR,
        "text": "Reminder",
        "initiative": "Big",
        "indicators": [
            {
                "key": f"indicator-{n}",
                "name": "A long indicator name " * 5,
                "period": "2026-11",
                "period_label": "Nov 2026",
                "organization_key": f"org-{n % 3}",
                "organization_name": f"Organization {n % 3}",
            }
            for n in range(150)
        ],
        "snooze_periods": ["2026-11"],
        "overdue": [{"id": n, "text": "x" * 900, "due": "2026-11-01", "overdue": True} for n in range(80)],
        "due_this_week": [],
    }
    message = reminder_message(payload)
    assert validate_blocks(message["blocks"], surface="message") == []
    assert blocks_size(message["blocks"]) <= MAX_BLOCKS_TOTAL
    assert "Report these with `/ci update" in json.dumps(message)
    assert "reminder_snooze" in json.dumps(message) and "`/ci actions` lists them" in json.dumps(message)


# -- through the real `serve` process ------------------------------------------------------------


def _reminders_for(world: World, user: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.dms(user) if "Time to report" in json.dumps(m) or "action items" in m["text"]]


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {e["value"]: e["action_id"] for e in _elements(message) if e.get("type") == "button"}


def test_remind_sends_one_dm_per_member_and_skips_reporters(world: World) -> None:
    world.send.ci("update er-visits 17", user=HOSPITAL)
    world.send.ci("update home-visits 50", user=HOSPITAL)

    answer = world.send.ci("remind", user=BACKBONE)
    assert "Reminders are on their way to 4 people" in answer["text"], answer
    for user in (NEIGHBOR, NEIGHBOR_2, CITY, NURSE):
        wait_for(lambda user=user: _reminders_for(world, user), timeout=20)
    assert [len(_reminders_for(world, u)) for u in (NEIGHBOR, NEIGHBOR_2, CITY, NURSE)] == [1, 1, 1, 1]
    assert _reminders_for(world, HOSPITAL) == [] and _reminders_for(world, HOSPITAL_2) == []
    assert _reminders_for(world, BACKBONE) == []

    dm = _reminders_for(world, NEIGHBOR)[0]
    assert validate_blocks(dm["blocks"], surface="message") == []
    month = str(Period.last_completed(Frequency.MONTHLY, "America/Chicago"))
    assert _buttons(dm) == {
        "home-visits": "open_update_modal",
        "home-assessments": "open_update_modal",
        month: "snooze_reminders",
    }
    # The "Report" button opens the /ci update modal on that indicator.
    assert world.send.click(NEIGHBOR, "open_update_modal", "home-assessments").status_code == 200
    opened = wait_for(lambda: world.slack.views(NEIGHBOR, callback_id="update_value"))
    assert "home-assessments" in json.dumps(opened[-1]["view"])


def _at_ten(day: date) -> datetime:
    """10:00 in Dallas on ``day``, as a UTC instant."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


def test_the_scheduled_job_reminds_once_per_slot_and_snooze_works(world: World) -> None:
    # The window of the month partners report now (whatever today is): its opening and closing days.
    window = window_for(Period.last_completed(Frequency.MONTHLY, "America/Chicago"), 15)
    days = nudge_days(window, NudgeRule())
    services = _services(world.database_url, _at_ten(days[Nudge.OPENING]))
    with services.db.unit_of_work() as session:
        initiative_id = all_initiatives(session)[0].id
    slot = f"test:{time.time_ns()}"
    before = {u: len(_reminders_for(world, u)) for u in (NEIGHBOR, NEIGHBOR_2, CITY)}

    # What the scheduler runs each day at `schedule.reminders`; a second run of the slot does nothing.
    services.slack = WebClient(token=BOT_TOKEN, base_url=world.slack.url)
    assert jobs.run_reminders(services, initiative_id, slot).startswith("sent: ")
    assert jobs.run_reminders(services, initiative_id, slot) == "already claimed by another process"
    for user in before:
        wait_for(lambda user=user: len(_reminders_for(world, user)) > before[user], timeout=20)

    # Neighbors United's first member snoozes the period from the DM.
    dm = _reminders_for(world, NEIGHBOR)[-1]
    snooze_value = next(v for v, a in _buttons(dm).items() if a == "snooze_reminders")
    assert snooze_value == str(window.period)
    assert world.send.click(NEIGHBOR, "snooze_reminders", snooze_value).status_code == 200
    wait_for(lambda: [r for r in world.slack.responses() if "Snoozed" in (r.get("text") or "")], timeout=10)

    # The closing nudge, a few days before the due date: to everyone who has not reported, but not the snoozer.
    services.clock = lambda: _at_ten(days[Nudge.CLOSING])
    run = send_reminders(services, initiative_id, f"test:{time.time_ns()}")
    assert isinstance(run, ReminderRun)
    assert NEIGHBOR not in run.sent and NEIGHBOR in run.snoozed and NEIGHBOR_2 in run.sent
    wait_for(lambda: len(_reminders_for(world, NEIGHBOR_2)) == before[NEIGHBOR_2] + 2, timeout=20)
    assert len(_reminders_for(world, NEIGHBOR)) == before[NEIGHBOR] + 1
    assert len(_reminders_for(world, CITY)) == before[CITY] + 2  # one a nudge
    assert "due by" in json.dumps(_reminders_for(world, CITY)[-1])
    services.db.dispose()


def test_remind_is_for_backbone_staff_and_bad_input_is_refused(world: World) -> None:
    refused = world.send.ci("remind", user=NEIGHBOR)
    assert refused["text"].startswith(":warning:") and "Only backbone staff" in refused["text"]
    extra = world.send.ci("remind everyone now", user=BACKBONE)
    assert extra["text"].startswith(":warning:") and "takes nothing after it" in extra["text"]
    world.send.click(NEIGHBOR, "snooze_reminders", "soon")
    wait_for(lambda: [r for r in world.slack.responses() if "snooze button" in (r.get("text") or "")], timeout=10)


# -- a quarter in rhythm, day by day, through the stand-ins ------------------------------------------

NURSE_BACKUP = "U0DISD0009"


def _rhythm_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["holidays"] = ["2026-10-27"]  # the closing nudge's day for Q3: it moves to Wednesday the 28th
    next(o for o in raw["organizations"] if o["key"] == "dallas-isd")["backup"] = NURSE_BACKUP
    path = tmp_path / "initiative.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _nurse_dms(world: World, user: str = NURSE) -> list[str]:
    return [json.dumps(m) for m in world.slack.dms(user) if "action-plans" in json.dumps(m)]


def test_a_quarterly_reporter_is_nudged_when_the_window_opens_before_it_closes_and_after(
    fresh_world: World, tmp_path: Path
) -> None:
    world = fresh_world
    db = world.db()
    with db.unit_of_work() as session:
        apply_initiative(session, load_initiative_file(_rhythm_file(tmp_path)))
        initiative_id = all_initiatives(session)[0].id
    db.dispose()
    services = _services(world.database_url)
    services.slack = WebClient(token=BOT_TOKEN, base_url=world.slack.url)
    sent: dict[date, list[str]] = {}
    # Every day from 28 September to 10 November 2026 at 10:00 in Dallas (across the end of DST on 1 Nov).
    day = date(2026, 9, 28)
    while day <= date(2026, 11, 10):
        if day == date(2026, 11, 2):
            world.slack.set_status(NURSE, "Vacationing", ":palm_tree:")  # away on the late nudge's day
        if day == date(2026, 11, 4):
            world.slack.set_status(NURSE, "", "")
        services.clock = lambda day=day: _at_ten(day)
        outcome = jobs.run_reminders(services, initiative_id, day.isoformat())
        assert outcome.startswith("sent: "), outcome
        with services.db.unit_of_work() as session:
            sent[day] = sorted(
                user
                for (user,) in session.execute(
                    select(NudgeSent.slack_user_id).where(
                        NudgeSent.sent_at == _at_ten(day), NudgeSent.period == "2026-Q3"
                    )
                )
            )
        day += timedelta(days=1)
    nudged = {d: users for d, users in sent.items() if users}
    assert nudged == {
        date(2026, 10, 1): [NURSE],  # Q3 ended: the window opens
        date(2026, 10, 28): [NURSE],  # three days before Friday 30 October, off the listed holiday
        date(2026, 11, 2): [NURSE_BACKUP],  # late: the nurse is away, her backup is asked
        date(2026, 11, 4): [NURSE],  # back: the late nudge that still stands
    }, nudged
    wait_for(lambda: len(_nurse_dms(world)) == 3 and len(_nurse_dms(world, NURSE_BACKUP)) == 1, timeout=20)
    assert "due by Fri 30 Oct" in _nurse_dms(world)[1]
    assert "was due Fri 30 Oct" in _nurse_dms(world)[2]
    assert "backup reporter" in _nurse_dms(world, NURSE_BACKUP)[0]

    # Q4 ends: its window opens on Friday 1 January 2027; once reported, nothing more is asked for it.
    services.clock = lambda: _at_ten(date(2027, 1, 1))
    assert jobs.run_reminders(services, initiative_id, "2027-01-01").startswith("sent: ")
    wait_for(lambda: len(_nurse_dms(world)) == 4, timeout=20)
    assert "Q4 2026" in _nurse_dms(world)[-1]
    world.send.ci("update action-plans 66 2026-Q4", user=NURSE)
    for later in (date(2027, 1, 27), date(2027, 2, 1)):  # the closing and late days of Q4's window
        services.clock = lambda later=later: _at_ten(later)
        assert jobs.run_reminders(services, initiative_id, later.isoformat()).startswith("sent: ")
    with services.db.unit_of_work() as session:
        q4 = session.scalars(select(NudgeSent.kind).where(NudgeSent.period == "2026-Q4")).all()
    assert q4 == ["opening"]  # nor the backup
    services.db.dispose()
