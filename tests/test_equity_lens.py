"""The equity lens through the stand-ins: the gap between groups in `/ci indicator`, the digest and
App Home, group targets from the initiative file, and small numbers kept out of every gap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from ci_slackbot.charts import ChartSeries, indicator_chart
from ci_slackbot.domain.equity import EquityGap
from ci_slackbot.domain.measurement import Direction, Point, Trend
from ci_slackbot.domain.periods import Period
from ci_slackbot.initiative_file import InitiativeFileError, load_initiative_file, parse_initiative
from ci_slackbot.sandbox.slack import validate_blocks, validate_view
from ci_slackbot.services.digest import GoalDigest, IndicatorLine
from ci_slackbot.services.equity import IndicatorEquity
from ci_slackbot.store.models import Indicator
from integrations.slack.digest_blocks import goal_detail_blocks
from tests.harness import HOSPITAL, NEIGHBOR, NURSE, STRANGER, World, wait_for
from tests.paths import EXAMPLE

GAP = "Gap by zip (Oct 2026): furthest from the target zip 75216 (35%, target 80), best off zip 75201 (65%)"
WIDENED = "the gap widened from 20 to 30 points since Sep 2026"


def _text(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _set(world: World, key: str, **values: Any) -> None:
    db = world.db()
    with db.unit_of_work() as session:
        session.execute(update(Indicator).where(Indicator.key == key).values(**values))
    db.dispose()


@pytest.fixture(scope="module")
def reported(world: World) -> World:
    # home-visits: percent, higher is better, target 80, split by zip.
    for text in (
        "update home-visits 40 2026-09 zip=75216",
        "update home-visits 60 2026-09 zip=75201",
        "update home-visits 35 2026-10 zip=75216",
        "update home-visits 65 2026-10 zip=75201",
        "update home-visits 50 2026-10",
    ):
        answer = world.send.ci(text, user=HOSPITAL)
        assert "Recorded" in _text(answer) or "recorded" in _text(answer), answer
    return world


def test_ci_indicator_points_out_the_gap_and_how_it_moved(reported: World) -> None:
    answer = reported.send.ci("indicator home-visits", user=HOSPITAL)
    assert validate_blocks(answer["blocks"], surface="message") == []
    text = _text(answer["blocks"])
    assert GAP in text and WIDENED in text
    # Anyone in the workspace sees the same gap: it is made of values a channel may show.
    assert GAP in _text(reported.send.ci("indicator home-visits", user=STRANGER)["blocks"])


def test_the_digest_carries_the_gap_with_its_indicator(reported: World) -> None:
    answer = reported.send.ci("digest", user=NURSE)
    assert validate_blocks(answer["blocks"], surface="message") == []
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    with_gap = [s for s in sections if GAP in s]
    assert with_gap and WIDENED in with_gap[0]
    line = next(line for line in with_gap[0].split("\n• ") if GAP in line)
    assert "home-visits" in line  # under its own indicator's line, in the same list item


def test_app_home_shows_the_gap(reported: World) -> None:
    # Children's Health reports home-visits: its goal is among theirs.
    before = reported.slack.home(HOSPITAL)
    reported.send.event({"type": "app_home_opened", "user": HOSPITAL, "tab": "home", "channel": f"D{HOSPITAL}"})
    view = wait_for(lambda: (lambda v: v if v and v != before else None)(reported.slack.home(HOSPITAL)), timeout=30)
    assert validate_view(view) == []
    assert GAP in _text(view["blocks"])


def test_a_group_target_and_the_lens_come_from_the_store(reported: World) -> None:
    _set(reported, "home-visits", group_targets={"zip=75216": 60})
    try:
        text = _text(reported.send.ci("indicator home-visits", user=HOSPITAL)["blocks"])
        # 75216 at 35 is 25 short of its own target of 60; 75201 at 65 is 15 short of 80.
        assert "furthest from the target zip 75216 (35%, target 60)" in text
        assert "group targets: zip 75216 60" in text
    finally:
        _set(reported, "home-visits", group_targets={})


def test_small_numbers_stay_out_of_the_gap_and_cannot_be_subtracted_out(reported: World) -> None:
    # home-assessments: a count (sum), higher is better; partners' groups add up to a shown total.
    _set(reported, "home-assessments", small_number_threshold=5.0)
    for text in (
        "update home-assessments 3 2026-10 zip=75216",
        "update home-assessments 40 2026-10 zip=75201",
        "update home-assessments 47 2026-10 zip=75217",
        "update home-assessments 60 2026-10 zip=75218",
        "update home-assessments 150 2026-10",
    ):
        reported.send.ci(text, user=NEIGHBOR)
    digest = reported.send.ci("digest", user=NURSE)
    line = next(s for s in _text(digest["blocks"]).split("• ") if "home-assessments" in s and "Gap by" in s)
    # 75216 (3) is hidden, and 75201, the smallest shown, with it: 150 − 47 − 60 gives 43, not 3.
    assert "75216" not in line and "75201" not in line
    assert "furthest from the target zip 75217 (47 homes, target 120)" in line
    assert "2 groups not shown (small numbers)" in line
    indicator = _text(reported.send.ci("indicator home-assessments", user=STRANGER)["blocks"])
    assert "furthest from the target zip 75217" in indicator and "zip 75216: *3" not in indicator


def test_a_split_digest_keeps_the_gap_with_its_indicator_line() -> None:
    period = Period.parse("2026-10")
    gap = EquityGap("zip=75216", 35, "zip=75201", 65, 30, 20, 80, 2, 0)
    equity = IndicatorEquity("zip", period, Period.parse("2026-09"), gap)
    lines = tuple(
        IndicatorLine(
            key=f"ind-{i:03d}",
            name="An indicator with a long name " * 3,
            unit="percent",
            direction=Direction.INCREASE,
            latest=Point(period, 50),
            previous=None,
            progress=None,
            on_track=None,
            trend=Trend("→", None, 0),
            headline=True,
            equity=equity,
        )
        for i in range(60)
    )
    blocks = goal_detail_blocks([GoalDigest("G1", "Fewer asthma emergencies", lines)])
    assert validate_blocks(blocks[:50], surface="message") == []
    sections = [b["text"]["text"] for b in blocks]
    for i in range(60):
        holder = next(s for s in sections if f"*ind-{i:03d}*" in s)
        item = next(part for part in holder.split("\n• ") if f"*ind-{i:03d}*" in part)
        assert "Gap by zip (Oct 2026)" in item and WIDENED in item


def test_the_chart_draws_each_group_with_its_target() -> None:
    points = [Point(Period.parse("2026-09"), 40.0), Point(Period.parse("2026-10"), 35.0)]
    png = indicator_chart(
        title="Home visits",
        unit="percent",
        direction=Direction.INCREASE,
        actuals=[Point(Period.parse("2026-10"), 50.0)],
        breakdowns=[ChartSeries("zip 75216", points, 60.0), ChartSeries("zip 75201", points, float("nan"))],
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def _with_indicator(**extra: Any) -> dict[str, Any]:
    import yaml

    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["indicators"][1].update(extra)  # home-visits, split by zip
    return raw


def test_the_initiative_file_takes_an_equity_lens_and_group_targets() -> None:
    assert load_initiative_file(EXAMPLE).indicators[1].group_targets == {}
    data = parse_initiative(_with_indicator(equity_lens="zip", group_targets={"zip=75216": 60}))
    assert data.indicators[1].equity_lens == "zip" and data.indicators[1].group_targets == {"zip=75216": 60}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"equity_lens": "age"},
            "indicators[1].equity_lens: `age` is not one of its breakdowns (its breakdowns are zip)",
        ),
        ({"group_targets": {"age=5-9": 60}}, "indicators[1].group_targets.age=5-9: name a group of the equity lens"),
        ({"group_targets": {75216: 60}}, "indicators[1].group_targets: `75216` needs its breakdown"),
        ({"group_targets": {"zip=75216": 160}}, "indicators[1].group_targets.zip=75216: 160 is outside"),
        ({"group_targets": {"zip=75216": "high"}}, "indicators[1].group_targets.zip=75216"),
    ],
)
def test_a_wrong_equity_lens_or_group_target_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(InitiativeFileError) as raised:
        parse_initiative(_with_indicator(**extra))
    assert any(message in problem for problem in raised.value.problems), raised.value.problems
