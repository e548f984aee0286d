"""Honest roll-ups through `/ci …`: rates weighted by their denominators, breakdowns that never stand
for the whole, coalition figures that say who is missing, and the counts carried to the Sheet."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from ci_slackbot.services.sheet_layout import VALUES_COLUMNS, VALUES_TAB
from ci_slackbot.store.models import IndicatorValue
from tests.harness import BACKBONE, HOSPITAL, NEIGHBOR, SPREADSHEET, World, wait_for


def _text(answer: dict[str, Any]) -> str:
    return json.dumps(answer, ensure_ascii=False)


def _values(world: World) -> int:
    db = world.db()
    with db.unit_of_work() as session:
        count = session.scalar(select(func.count()).select_from(IndicatorValue)) or 0
    db.dispose()
    return count


def test_one_zips_value_does_not_become_the_coalition_figure(world: World) -> None:
    answer = _text(world.send.ci("update home-visits 45% 2026-05 zip=75216", user=NEIGHBOR))
    assert "Recorded *45%*" in answer
    assert "No coalition figure for May 2026 yet" in answer
    board = _text(world.send.ci("indicators", user=BACKBONE))
    assert "home-visits* → 45%" not in board and "of the way to target" not in board.split("home-visits")[1][:200]
    history = _text(world.send.ci("indicator home-visits", user=BACKBONE))
    assert "by breakdown only: no figure for the whole population" in history


def test_rates_of_two_partners_are_weighted_by_their_denominators(world: World) -> None:
    first = _text(world.send.ci("update home-visits 412 of 700 2026-06", user=HOSPITAL))
    assert "Recorded *58.86% (412 of 700)*" in first
    assert "1 of 2 partners reported" in first
    second = _text(world.send.ci("update home-visits 90/100 2026-06", user=NEIGHBOR))
    # 502/800, not the mean of 58.86% and 90% (74.43%).
    assert "Coalition figure for Jun 2026: *62.75% (502 of 800)* · all 2 partners reported" in second
    board = _text(world.send.ci("indicators", user=BACKBONE))
    assert "home-visits* ↑ 62.75% (Jun 2026)" in board or "home-visits* → 62.75% (Jun 2026)" in board
    assert "74.43" not in board
    history = _text(world.send.ci("indicator home-visits", user=BACKBONE))
    assert "*Jun 2026* all partners: *62.75% (502 of 800)*" in history
    assert "58.86% (412 of 700)" in history


def test_a_correction_replaces_its_partners_share_of_the_coalition_figure(world: World) -> None:
    """The answer's figure is the coalition's as the report leaves it: the corrected value in place of
    the one it replaces, never both; a breakdown's value leaves it as it was."""
    world.send.ci("update home-visits 40 of 100 2026-03", user=HOSPITAL)
    second = _text(world.send.ci("update home-visits 60 of 100 2026-03", user=NEIGHBOR))
    assert "Coalition figure for Mar 2026: *50% (100 of 200)* · all 2 partners reported" in second
    corrected = _text(world.send.ci("update home-visits 20 of 100 2026-03", user=HOSPITAL))
    assert "This corrects the earlier 40%" in corrected
    assert "Coalition figure for Mar 2026: *40% (80 of 200)* · all 2 partners reported" in corrected
    by_zip = _text(world.send.ci("update home-visits 90% 2026-03 zip=75216", user=HOSPITAL))
    assert "Coalition figure for Mar 2026: *40% (80 of 200)*" in by_zip


def test_a_figure_with_partners_missing_says_so_everywhere(world: World) -> None:
    world.send.ci("update home-visits 30 of 60 2026-07", user=HOSPITAL)
    board = _text(world.send.ci("indicators", user=BACKBONE))
    assert "50% (Jul 2026)" in board and "1 of 2 partners reported" in board
    one = _text(world.send.ci("indicator home-visits", user=BACKBONE))
    assert "1 of 2 partners reported" in one
    digest = _text(world.send.ci("digest", user=BACKBONE))
    assert "50%" in digest and "1 of 2 partners reported" in digest


def test_the_sheet_row_carries_numerator_and_denominator(world: World) -> None:
    world.send.ci("update home-visits 120 of 160 2026-08", user=HOSPITAL)
    period, numerator, denominator, value = (
        VALUES_COLUMNS.index(c) for c in ("Period", "Numerator", "Denominator", "Value")
    )

    def row() -> list[Any] | None:
        if VALUES_TAB not in world.sheets.worksheet_titles(SPREADSHEET):
            return None
        rows = world.sheets.values(SPREADSHEET, VALUES_TAB)
        assert rows[0] == list(VALUES_COLUMNS)
        return next((r for r in rows[1:] if len(r) > denominator and r[period] == "2026-08"), None)

    found = wait_for(row, timeout=20)
    assert (found[numerator], found[denominator], found[value]) == (120, 160, 75)


def test_fractions_that_cannot_be_rates_are_refused_with_how_to_write_them(world: World) -> None:
    before = _values(world)
    refusals = {
        "update home-visits 701 of 700 2026-09": "cannot be above the denominator",
        "update home-visits 1/0 2026-09": "must be above 0",
        "update home-visits 412 of 2026-09": "is not a number",
        "update home-visits 412 of": "needs the denominator",
        "update home-visits 41% of 700 2026-09": "is a percentage",
        "update home-assessments 4 of 5 2026-09": "send just the number",
    }
    for text, message in refusals.items():
        answer = _text(world.send.ci(text, user=NEIGHBOR))
        assert message in answer, (text, answer)
        assert "412 of 700" in answer or "like `/ci update home-assessments 4`" in answer, answer
    assert _values(world) == before
