"""Forgiving words, through the real app: keys typed as several words or misspelt get "did you mean",
action items understand `due next friday`, and `/ci` alone shows a person the commands they need."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ci_slackbot.store.models import ActionItem, IndicatorValue
from commands.grammar import parse_day
from tests.harness import BACKBONE, HOSPITAL, NURSE, STRANGER, World


def _values(world: World) -> int:
    db = world.db()
    with db.unit_of_work() as session:
        count = session.scalar(select(func.count()).select_from(IndicatorValue)) or 0
    db.dispose()
    return int(count)


def _text(answer: dict[str, Any]) -> str:
    return json.dumps(answer, ensure_ascii=False)


def test_a_key_typed_as_two_words_gets_did_you_mean_and_records_nothing(world: World) -> None:
    before = _values(world)
    answer = world.send.ci("update action plans 62%", user=NURSE)
    assert answer["text"].startswith(":warning:") and answer["response_type"] == "ephemeral"
    assert "Did you mean the indicator `action-plans`?" in answer["text"]
    assert "`/ci update action-plans 62%`" in answer["text"]
    assert "is not a number" not in answer["text"]
    spelt_out = world.send.ci("update Environmental home assessments completed 12 2026-09", user=NURSE)
    assert "`home-assessments`" in spelt_out["text"]
    assert _values(world) == before
    # Written as the answer says, it is recorded.
    assert "Recorded" in _text(world.send.ci("update action-plans 62 2025-Q3", user=NURSE))


def test_a_misspelt_indicator_or_goal_gets_the_close_matches(world: World) -> None:
    misspelt = world.send.ci("update actoin-plans 62", user=NURSE)["text"]
    assert "There is no indicator `actoin-plans`. Did you mean `action-plans`?" in misspelt
    assert "Did you mean `er-visits`?" in world.send.ci("indicator er-vists", user=HOSPITAL)["text"]
    split = world.send.ci("indicator home visits", user=HOSPITAL)["text"]
    assert "Did you mean the indicator `home-visits`?" in split and "`/ci indicator home-visits`" in split
    by_title = world.send.ci("map healthy homes", user=HOSPITAL)["text"]
    assert "Did you mean the goal `G3`?" in by_title and "`/ci map G3`" in by_title
    assert "`/ci map G3`" not in _text(world.send.ci("map G3", user=HOSPITAL))  # a key is taken as it is


def _due_of(world: World, text: str) -> Any:
    db = world.db()
    with db.unit_of_work() as session:
        item = session.scalars(select(ActionItem).where(ActionItem.text == text)).one()
        due = item.due
    db.dispose()
    return due


def test_action_items_understand_due_dates_in_words(world: World) -> None:
    for words in ("next friday", "in 2 weeks", "tomorrow", "friday", "dec 12"):
        # The initiative's today (Dallas), not the server's: the two differ every evening.
        today = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date()
        text = f"Call the school nurses about {words}"
        answer = world.send.ci(f"action add {text} due {words} goal G2", user=NURSE)
        assert "Added action item" in _text(answer), answer
        assert _due_of(world, text) == parse_day(words, today), words
    refused = world.send.ci("action add Call them due whenever", user=NURSE)["text"]
    assert "`whenever` is not a date" in refused and "next friday" in refused


def test_bare_ci_shows_each_person_the_few_commands_they_need(world: World) -> None:
    partner = _text(world.send.ci("", user=NURSE))
    for command in ("/ci update", "/ci actions", "/ci indicators", "/ci help"):
        assert f"`{command}`" in partner, command
    assert "/ci decide" not in partner and "/ci status" not in partner
    staff = _text(world.send.ci("", user=BACKBONE))
    assert "`/ci status`" in staff and "`/ci digest`" in staff and "/ci decide" not in staff
    visitor = _text(world.send.ci("", user=STRANGER))
    assert "`/ci indicators`" in visitor and "/ci update" not in visitor
    everything = _text(world.send.ci("help", user=NURSE))
    assert "/ci decide" in everything and "/ci status" in everything
