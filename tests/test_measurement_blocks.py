"""Block Kit for measurement, tested without a server: limits and small-number suppression."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ci_slackbot.domain.measurement import Direction, Point
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.sandbox.slack import validate_blocks
from ci_slackbot.services.measurement import IndicatorView, Standing
from integrations.slack import blocks as bk
from integrations.slack.measurement_blocks import scoreboard

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def view(key: str = "home-assessments", threshold: float | None = 5) -> IndicatorView:
    return IndicatorView(
        id=1,
        key=key,
        name="Environmental home assessments",
        unit="homes",
        direction=Direction.INCREASE,
        frequency=Frequency.MONTHLY,
        minimum=0,
        maximum=None,
        baseline=Point(Period.parse("2025-12"), 35),
        target=Point(Period.parse("2027-12"), 120),
        breakdowns=("zip",),
        goal_key="G3",
        goal_title="Healthy homes",
        source="",
        small_number_threshold=threshold,
        headline=True,
        reporters=(),
    )


def standing(ind: IndicatorView) -> Standing:
    return Standing(
        ind, (Point(Period.parse("2026-10"), 90.0),), NOW, {"zip=75216": 3.0, "zip=75217": 40.0, "zip=75218": 47.0}
    )


def test_small_breakdown_values_are_hidden_outside_the_partners() -> None:
    public = json.dumps(scoreboard([standing(view())], NOW, partner=False))
    assert "zip 75216: hidden (small number)" in public
    assert "zip 75217: hidden (small number)" in public  # so 75216 cannot be worked out from the total
    assert "zip 75218: 47" in public
    private = json.dumps(scoreboard([standing(view())], NOW, partner=True))
    assert "zip 75216: 3" in private


def test_the_scoreboard_stays_within_slack_limits_for_many_indicators() -> None:
    board = [standing(view(f"ind-{i:03d}", None)) for i in range(300)]
    blocks = scoreboard(board, NOW)
    assert len(blocks) <= 50
    assert validate_blocks(blocks, surface="message") == []


def test_ages_read_as_people_say_them() -> None:
    assert [bk.age(s) for s in (0, 59, 60, 719, 3600, 3660 * 2, 47 * 3600, 3 * 86400)] == [
        "under a minute",
        "under a minute",
        "1 min",
        "11 min",
        "1 h",
        "2 h 2 min",
        "47 h",
        "3 days",
    ]
