"""The period being reported: the last completed one, through the real app with its clock set."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from ci_slackbot.initiative_file import InitiativeFileError, load_initiative_file, parse_initiative
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative, reporting_file_fields
from ci_slackbot.services.measurement import indicator_views
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Indicator, IndicatorValue
from tests.harness import BACKBONE, HOSPITAL, NURSE, World, clock_at, wait_for
from tests.paths import EXAMPLE

# Thursday 7 January 2027, 10:00 in Dallas; Friday 4 December 2026, 10:00; Friday 18 December 2026.
JANUARY_7 = datetime(2027, 1, 7, 16, 0, tzinfo=UTC)
DECEMBER_4 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
DECEMBER_18 = datetime(2026, 12, 18, 16, 0, tzinfo=UTC)


def _text(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def _periods(world: World, key: str) -> set[str]:
    db = world.db()
    with db.unit_of_work() as session:
        periods = set(
            session.scalars(
                select(IndicatorValue.period)
                .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
                .where(Indicator.key == key, IndicatorValue.withdrawn.is_(False))
            )
        )
    db.dispose()
    return periods


def test_a_value_without_a_period_on_7_january_is_for_the_quarter_just_ended(fresh_world: World) -> None:
    world = fresh_world
    with clock_at(world, JANUARY_7):
        answer = world.send.ci("update action-plans 70", user=NURSE)
    text = _text(answer)
    assert "(Q4 2026, Dallas ISD Health Services)" in text, text
    # Judged against Q4 2026's point on the line from 41 (2025-Q4) to 95 (2027-Q4), not 2027-Q1's 74.75.
    assert "expects 68%" in text, text
    assert _periods(world, "action-plans") == {"2026-Q4"}
    with clock_at(world, JANUARY_7):
        monthly = world.send.ci("update er-visits 17", user=HOSPITAL)
    assert "(Dec 2026, Children's Health)" in _text(monthly)
    # The running quarter may still be named, early: it is the partner's call.
    with clock_at(world, JANUARY_7):
        early = world.send.ci("update action-plans 71 2027-Q1", user=NURSE)
    assert "(Q1 2027, Dallas ISD Health Services)" in _text(early)


def test_the_form_on_4_december_offers_november(world: World) -> None:
    with clock_at(world, DECEMBER_4):
        world.send.command("update er-visits", user=HOSPITAL)
        opened = wait_for(lambda: world.slack.views(HOSPITAL, callback_id="update_value"))
    period = next(b for b in opened[-1]["view"]["blocks"] if b.get("block_id") == "period")
    assert period["element"]["initial_value"] == "2026-11"


def test_status_on_4_december_says_due_by_and_names_nobody_missing(fresh_world: World) -> None:
    world = fresh_world
    with clock_at(world, DECEMBER_4):
        world.send.ci("update action-plans 60", user=NURSE)  # Q3, which was due on 30 October
        early = _text(world.send.ci("status", user=BACKBONE))
    assert "missing" not in early, early
    assert "1 of 6 reports are in for the periods due." in early
    assert "er-visits — Nov 2026 due by Tue 15 Dec" in early
    assert "action-plans — Q3 2026 reported" in early
    with clock_at(world, DECEMBER_18):
        late = _text(world.send.ci("status", user=BACKBONE))
        digest = _text(world.send.ci("digest", user=BACKBONE))
    assert "er-visits — Nov 2026 missing (was due Tue 15 Dec)" in late
    assert "Children's Health: er-visits (Nov 2026)" in digest
    with clock_at(world, DECEMBER_4):
        digest_early = _text(world.send.ci("digest", user=BACKBONE))
    assert "er-visits (Nov 2026)" not in digest_early and "not due yet" in digest_early


def _with_windows(tmp_path: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["reporting"] = {
        "due_after_days": {"monthly": 20},
        "nudges": {"days_before_due": 5, "days_after_due": None},
    }
    raw["holidays"] = ["2026-12-24", "2026-12-25"]
    raw["indicators"][2]["due_after_days"] = 45
    raw["organizations"][2]["backup"] = "U0DISD0009"
    path = tmp_path / "initiative.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_the_file_sets_the_lags_and_loading_it_back_is_a_fixed_point(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            apply_initiative(session, load_initiative_file(EXAMPLE))
            initiative = all_initiatives(session)[0]
            # The example says nothing: the defaults apply and nothing is written back.
            assert {v.key: v.lag for v in indicator_views(session, initiative.id)} == {
                "er-visits": 15,
                "home-visits": 15,
                "action-plans": 30,
                "home-assessments": 15,
            }
            assert reporting_file_fields(session, initiative) == {"indicators": {}, "organizations": {}}
        path = _with_windows(tmp_path)
        with db.unit_of_work() as session:
            _, report = apply_initiative(session, load_initiative_file(path))
            assert report.updated
            initiative = all_initiatives(session)[0]
            assert {v.key: v.lag for v in indicator_views(session, initiative.id)} == {
                "er-visits": 20,
                "home-visits": 20,
                "action-plans": 45,
                "home-assessments": 20,
            }
            fields = reporting_file_fields(session, initiative)
        assert fields == {
            "reporting": {"due_after_days": {"monthly": 20}, "nudges": {"days_before_due": 5, "days_after_due": None}},
            "holidays": ["2026-12-24", "2026-12-25"],
            "indicators": {"action-plans": 45},
            "organizations": {"dallas-isd": "U0DISD0009"},
        }
        # Written back into the file and loaded again: nothing changes.
        raw = yaml.safe_load(EXAMPLE.read_text())
        raw["reporting"], raw["holidays"] = fields["reporting"], fields["holidays"]
        for indicator in raw["indicators"]:
            if indicator["key"] in fields["indicators"]:
                indicator["due_after_days"] = fields["indicators"][indicator["key"]]
        for org in raw["organizations"]:
            if org["key"] in fields["organizations"]:
                org["backup"] = fields["organizations"][org["key"]]
        with db.unit_of_work() as session:
            _, again = apply_initiative(session, parse_initiative(raw))
            assert again.lines() == ["no changes"]
    finally:
        db.dispose()


def test_bad_lags_name_the_field() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["reporting"] = {"due_after_days": {"monthly": -1, "fortnightly": 3}}
    raw["holidays"] = ["24 December"]
    raw["indicators"][0]["due_after_days"] = 1000
    raw["organizations"][0]["backup"] = "somebody"
    try:
        parse_initiative(raw)
    except InitiativeFileError as exc:
        problems = "\n".join(exc.problems)
    else:
        raise AssertionError("accepted")
    assert "reporting.due_after_days.monthly:" in problems
    assert "reporting.due_after_days.fortnightly: is not a known field" in problems
    assert "holidays[0]:" in problems
    assert "indicators[0].due_after_days:" in problems
    assert "organizations[0].backup: `somebody` is not a Slack user ID" in problems
