from __future__ import annotations

import math
import re

import pytest

from ci_slackbot.domain.measurement import (
    Context,
    Direction,
    Point,
    Trend,
    ValueParseError,
    change,
    check_range,
    expected_value,
    format_number,
    format_value,
    is_improvement,
    is_on_track,
    is_percent_unit,
    needs_story,
    parse_value,
    progress_phrase,
    progress_to_target,
    sign,
    trend,
    value_context,
)
from ci_slackbot.domain.periods import Period

UP = Direction.INCREASE
DOWN = Direction.DECREASE


def pt(period: str, value: float) -> Point:
    return Point(Period.parse(period), value)


def series(*values: float, start: str = "2026-01") -> list[Point]:
    first = Period.parse(start)
    return [Point(first.shift(i), v) for i, v in enumerate(values)]


# -- parse_value --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("12.5", None, 12.5),
        ("1,204", "homes", 1204.0),
        ("1204", "homes", 1204.0),
        ("-3", None, -3.0),
        ("+7", None, 7.0),
        ("0", None, 0.0),
        (".5", None, 0.5),
        ("  42 ", None, 42.0),
        ("1,234,567.89", "dollars", 1234567.89),
        ("−3", None, -3.0),  # real minus sign
        ("45%", "%", 45.0),
        ("45%", "percent", 45.0),
        ("45%", "Percentage", 45.0),
        ("12.5%", "percent of students", 12.5),
        ("45%", "% of children", 45.0),
        ("45", "percent", 45.0),
    ],
)
def test_parse_value_accepts(text: str, unit: str | None, expected: float) -> None:
    assert parse_value(text, unit) == expected


def test_parse_value_negative_zero_is_zero() -> None:
    value = parse_value("-0", None)
    assert value == 0
    assert math.copysign(1, value) == 1


@pytest.mark.parametrize(
    ("text", "unit", "fragment"),
    [
        ("abc", None, "Write a number like `12.5` or `1,204`."),
        ("nan", None, "is not a number"),
        ("NaN", None, "is not a number"),
        ("inf", None, "is not a number"),
        ("-infinity", None, "is not a number"),
        ("12..5", None, "is not a number"),
        ("5.", None, "is not a number"),
        ("1e5", None, "is not a number"),
        ("0x10", None, "is not a number"),
        ("1_000", None, "is not a number"),
        ("٣", None, "is not a number"),  # Arabic-Indic digit
        ("12 5", None, "is not a number"),
        ("12.5 %", "percent", "Write a percentage like `45` or `45%`."),
        ("%", "percent", "is not a number"),
        ("1,2,3,,", None, "commas must separate groups of three digits"),
        ("1,20", None, "commas must separate groups of three digits, like `1,204`"),
        ("12,5", None, "For decimals use a point, like `12.5`."),
        ("1,2045", None, "commas must separate groups of three digits"),
        (",204", None, "commas must separate groups of three digits"),
        ("9" * 400, None, "too large"),
    ],
)
def test_parse_value_rejects(text: str, unit: str | None, fragment: str) -> None:
    with pytest.raises(ValueParseError) as excinfo:
        parse_value(text, unit)
    message = str(excinfo.value)
    assert f"`{text.strip()}`" in message
    assert fragment in message
    assert "like `" in message


def test_parse_value_empty() -> None:
    with pytest.raises(ValueParseError, match=re.escape("No value given. Write a number like")):
        parse_value("  ", "homes")


def test_parse_value_percent_for_non_percent_unit() -> None:
    with pytest.raises(ValueParseError) as excinfo:
        parse_value("45%", "homes")
    assert str(excinfo.value) == (
        "`45%` is a percentage, but this indicator is counted in homes: write just the number, like `45`."
    )
    with pytest.raises(ValueParseError, match=re.escape("write just the number, like `12.5`")):
        parse_value("12.5%", None)


def test_parse_value_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        parse_value("lots", None)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("%", True),
        ("percent", True),
        ("PERCENTAGE", True),
        ("percent of 3rd graders", True),
        ("% of children", True),
        ("homes", False),
        ("per 1,000 children", False),
        (None, False),
        ("", False),
    ],
)
def test_is_percent_unit(unit: str | None, expected: bool) -> None:
    assert is_percent_unit(unit) is expected


# -- check_range --------------------------------------------------------------


def test_check_range_accepts_within_and_on_bounds() -> None:
    check_range(50, 0, 100, "percent")
    check_range(0, 0, 100, "percent")
    check_range(100, 0, 100, "percent")
    check_range(-1e9, None, None, None)
    check_range(5, 0, None, "homes")


def test_check_range_above_maximum() -> None:
    with pytest.raises(ValueParseError) as excinfo:
        check_range(140, 0, 100, "percent")
    assert str(excinfo.value) == (
        "`140` is above the maximum of 100% for this indicator: send a value between 0% and 100%."
    )


def test_check_range_below_minimum() -> None:
    with pytest.raises(ValueParseError) as excinfo:
        check_range(-3, 0, None, "homes")
    assert str(excinfo.value) == (
        "`-3` is below the minimum of 0 homes for this indicator: send a value of at least 0 homes."
    )


def test_check_range_only_maximum() -> None:
    with pytest.raises(ValueParseError, match="send a value of at most 1,000 homes"):
        check_range(1204.5, None, 1000, "homes")


def test_check_range_rejects_non_finite() -> None:
    with pytest.raises(ValueParseError):
        check_range(math.nan, 0, 100, None)


# -- format_value -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (18.4, "per 1,000 children", "18.4 per 1,000 children"),
        (45, "percent", "45%"),
        (45.0, "%", "45%"),
        (12.25, "percent of students", "12.25%"),
        (1204, "homes", "1,204 homes"),
        (1204.0, "homes", "1,204 homes"),
        (1234567.891, None, "1,234,567.89"),
        (12.999, None, "13"),
        (12.5, "", "12.5"),
        (0.1 + 0.2, None, "0.3"),
        (-1500, "dollars", "-1,500 dollars"),
        (-0.001, None, "0"),
        (0, "homes", "0 homes"),
        (1e15, None, "1,000,000,000,000,000"),
    ],
)
def test_format_value(value: float, unit: str | None, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_format_number_round_trips_through_parse() -> None:
    for value in [0.0, 1.5, 1204.0, 1234567.89, -42.25]:
        assert parse_value(format_number(value), None) == value


# -- change and direction -----------------------------------------------------


def test_change() -> None:
    assert change(None, 5) is None
    assert change(10, 15) == (5, 0.5)
    assert change(10, 5) == (-5, -0.5)
    assert change(0, 5) == (5, None)
    assert change(-10, -5) == (5, 0.5)  # relative to the size of previous, sign follows delta
    assert change(7, 7) == (0, 0.0)


@pytest.mark.parametrize(
    ("direction", "delta", "expected"),
    [
        (UP, 1, True),
        (UP, -1, False),
        (DOWN, -1, True),
        (DOWN, 1, False),
        (UP, 0, None),
        (DOWN, 0.0, None),
    ],
)
def test_is_improvement(direction: Direction, delta: float, expected: bool | None) -> None:
    assert is_improvement(direction, delta) is expected


# -- targets --------------------------------------------------------------------


def test_progress_to_target_increase() -> None:
    assert progress_to_target(100, 200, 150) == 50
    assert progress_to_target(100, 200, 100) == 0
    assert progress_to_target(100, 200, 200) == 100
    assert progress_to_target(100, 200, 250) == 150
    assert progress_to_target(100, 200, 80) == -20


def test_progress_to_target_decrease() -> None:
    # ER visits from 40 down to 20 per 1,000 children.
    assert progress_to_target(40, 20, 30) == 50
    assert progress_to_target(40, 20, 15) == 125
    assert progress_to_target(40, 20, 44) == pytest.approx(-20)


def test_progress_to_target_undefined() -> None:
    assert progress_to_target(5, 5, 7) is None


def test_expected_value_same_frequency() -> None:
    baseline = pt("2026-01", 100)
    target = pt("2026-11", 200)
    assert expected_value(baseline, target, Period.parse("2026-01")) == 100
    assert expected_value(baseline, target, Period.parse("2026-06")) == 150
    assert expected_value(baseline, target, Period.parse("2026-11")) == 200
    assert expected_value(baseline, target, Period.parse("2025-06")) == 100
    assert expected_value(baseline, target, Period.parse("2027-06")) == 200


def test_expected_value_decreasing_line() -> None:
    baseline = pt("2024", 40)
    target = pt("2028", 20)
    assert expected_value(baseline, target, Period.parse("2026")) == 30
    assert expected_value(baseline, target, Period.parse("2027")) == 25


def test_expected_value_mixed_frequencies_uses_end_dates() -> None:
    baseline = pt("2025", 0)  # ends 2025-12-31
    target = pt("2027", 730)  # ends 2027-12-31, 730 days later
    # 2026-06 ends 2026-06-30, 181 days after the baseline's end.
    assert expected_value(baseline, target, Period.parse("2026-06")) == pytest.approx(181)
    assert expected_value(baseline, target, Period.parse("2025-03")) == 0
    assert expected_value(baseline, target, Period.parse("2028-W01")) == 730


def test_expected_value_requires_target_after_baseline() -> None:
    with pytest.raises(ValueError):
        expected_value(pt("2026", 1), pt("2026", 2), Period.parse("2026"))
    with pytest.raises(ValueError):
        expected_value(pt("2027", 1), pt("2026", 2), Period.parse("2026"))


@pytest.mark.parametrize(
    ("direction", "expected", "value", "on_track"),
    [
        (UP, 150, 160, True),
        (UP, 150, 150, True),
        (UP, 150, 140, False),
        (DOWN, 30, 25, True),
        (DOWN, 30, 30, True),
        (DOWN, 30, 35, False),
        (UP, 0.1 + 0.2, 0.3, True),  # float noise on the line counts as on it
        (DOWN, 0.3, 0.1 + 0.2, True),
    ],
)
def test_is_on_track(direction: Direction, expected: float, value: float, on_track: bool) -> None:
    assert is_on_track(direction, expected, value) is on_track


# -- trend ----------------------------------------------------------------------


def test_trend_needs_two_points() -> None:
    assert trend([], UP) == Trend("→", None, 0)
    assert trend(series(5), UP) == Trend("→", None, 0)


def test_trend_flat() -> None:
    assert trend(series(1, 2, 3, 3), UP) == Trend("→", None, 0)


def test_trend_runs() -> None:
    assert trend(series(1, 2), UP) == Trend("↑", True, 1)
    assert trend(series(1, 2, 3, 4), UP) == Trend("↑", True, 3)
    assert trend(series(5, 1, 2, 3), UP) == Trend("↑", True, 2)
    assert trend(series(1, 2, 3, 2), UP) == Trend("↓", False, 1)
    assert trend(series(3, 3, 2, 1), UP) == Trend("↓", False, 2)  # a flat step ends a run
    assert trend(series(9, 8, 7), DOWN) == Trend("↓", True, 2)
    assert trend(series(7, 8, 9), DOWN) == Trend("↑", False, 2)


# -- needs_story ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "previous", "current", "expected"),
    [
        (UP, None, 100, False),
        (UP, 100, 110, False),  # small improvement
        (UP, 100, 100, False),  # unchanged
        (UP, 100, 99, True),  # wrong way, however small
        (DOWN, 100, 101, True),
        (DOWN, 100, 90, False),
        (UP, 100, 150, False),  # exactly half is not more than half
        (UP, 100, 151, True),  # big jump the right way
        (DOWN, 100, 49, True),  # big drop the right way
        (UP, 0, 5, True),  # anything from zero is a big jump
        (DOWN, -10, -16, True),  # more than half of |previous|
        (DOWN, -10, -14, False),
    ],
)
def test_needs_story(direction: Direction, previous: float | None, current: float, expected: bool) -> None:
    assert needs_story(direction, previous, current) is expected


# -- value_context ----------------------------------------------------------------


def test_value_context_full() -> None:
    context = value_context(
        direction=DOWN,
        baseline=pt("2026-01", 40),
        target=pt("2026-11", 20),
        previous=pt("2026-05", 32),
        current=pt("2026-06", 28),
    )
    assert context == Context(
        previous=pt("2026-05", 32),
        delta=-4,
        relative=-0.125,
        improving=True,
        progress=60,
        expected=30,
        on_track=True,
        needs_story=False,
    )


def test_value_context_off_track_and_wrong_way() -> None:
    context = value_context(
        direction=UP,
        baseline=pt("2026-01", 100),
        target=pt("2026-11", 200),
        previous=pt("2026-05", 145),
        current=pt("2026-06", 140),
    )
    assert context.improving is False
    assert context.expected == 150
    assert context.on_track is False
    assert context.progress == 40
    assert context.needs_story is True


def test_value_context_minimal() -> None:
    context = value_context(direction=UP, baseline=None, target=None, previous=None, current=pt("2026-06", 5))
    assert context == Context(
        previous=None,
        delta=None,
        relative=None,
        improving=None,
        progress=None,
        expected=None,
        on_track=None,
        needs_story=False,
    )


def test_value_context_target_not_after_baseline() -> None:
    context = value_context(
        direction=UP,
        baseline=pt("2026", 10),
        target=pt("2026", 20),
        previous=None,
        current=pt("2026", 15),
    )
    assert context.progress == 50
    assert context.expected is None
    assert context.on_track is None


def test_value_context_no_target_baseline_only() -> None:
    context = value_context(
        direction=UP, baseline=pt("2026-01", 1), target=None, previous=pt("2026-05", 0), current=pt("2026-06", 3)
    )
    assert context.progress is None
    assert context.delta == 3
    assert context.relative is None
    assert context.needs_story is True


# -- sign -----------------------------------------------------------------------


def test_sign() -> None:
    assert sign(True) == ":large_green_circle:"
    assert sign(False) == ":red_circle:"
    assert sign(None) == ":white_circle:"


def test_progress_outside_the_way_is_said_in_words() -> None:
    assert progress_phrase(19.4) == "19% of the way to target"
    assert progress_phrase(-0.4) == "0% of the way to target"  # shown rounded: not behind
    assert progress_phrase(-8) == "behind the baseline"
    assert progress_phrase(99.4) == "99% of the way to target"
    assert progress_phrase(99.6) == "target reached"
    assert progress_phrase(125) == "target reached"


# -- how partners' values combine -----------------------------------------------------------

from ci_slackbot.domain.measurement import (  # noqa: E402
    Reported,
    Rollup,
    combine,
    default_rollup,
    rate_value,
    unit_scale,
)


def test_rates_are_weighted_by_their_denominators_not_averaged() -> None:
    figure = combine(
        Rollup.RATE, [Reported("a", 58.857, 412, 700), Reported("b", 90, 90, 100)], partners=["a", "b"], scale=100
    )
    assert figure.value == pytest.approx(62.75)  # 502/800, not (58.86 + 90) / 2 = 74.43
    assert (figure.numerator, figure.denominator) == (502, 800)
    assert figure.complete and figure.partners_phrase() == ""


def test_counts_add_up_and_say_who_is_missing() -> None:
    figure = combine(Rollup.SUM, [Reported(1, 10), Reported(2, 5)], partners=[1, 2, 3, 4, 5])
    assert figure.value == 15
    assert figure.partners_phrase() == "2 of 5 partners reported"


def test_a_partner_not_asked_still_counts_among_those_who_reported() -> None:
    figure = combine(Rollup.SUM, [Reported(1, 10), Reported(9, 5)], partners=[1, 2])
    assert (figure.value, figure.reported, figure.expected) == (15, 2, 3)


def test_the_owner_value_is_the_coalitions_and_the_others_do_not_count() -> None:
    values = [Reported("hospital", 17.2), Reported("clinic", 30)]
    figure = combine(Rollup.OWNER, values, partners=["hospital", "clinic"], owner="hospital")
    assert figure.value == 17.2 and figure.complete
    waiting = combine(Rollup.OWNER, [Reported("clinic", 30)], partners=["hospital", "clinic"], owner="hospital")
    assert waiting.value is None and "owner" in waiting.why


def test_none_is_never_combined() -> None:
    figure = combine(Rollup.NONE, [Reported(1, 45), Reported(2, 60)], partners=[1, 2])
    assert figure.value is None and figure.why


def test_rates_without_denominators_are_not_averaged() -> None:
    figure = combine(Rollup.RATE, [Reported(1, 45), Reported(2, 60, 6, 10)], partners=[1, 2], scale=100)
    assert figure.value is None
    assert "412 of 700" in figure.why


def test_one_rate_reported_stands_for_itself_and_says_the_others_are_missing() -> None:
    figure = combine(Rollup.RATE, [Reported(1, 45)], partners=[1, 2], scale=100)
    assert figure.value == 45
    assert figure.partners_phrase() == "1 of 2 partners reported"


def test_a_period_with_no_whole_value_has_no_figure() -> None:
    # Only breakdown values were reported: the caller passes no whole values, and none is made up.
    for rollup in Rollup:
        assert combine(rollup, [], partners=[1, 2]).value is None


@pytest.mark.parametrize(
    ("unit", "rollup", "scale"),
    [
        ("percent", Rollup.RATE, 100),
        ("% of students", Rollup.RATE, 100),
        ("per 1,000 children", Rollup.RATE, 1000),
        ("homes", Rollup.SUM, 1),
        ("", Rollup.SUM, 1),
    ],
)
def test_defaults_follow_the_unit(unit: str, rollup: Rollup, scale: float) -> None:
    assert default_rollup(unit) is rollup
    assert unit_scale(unit) == scale


def test_a_fraction_is_read_in_the_unit() -> None:
    assert rate_value(412, 700, "percent") == pytest.approx(58.857, abs=1e-3)
    assert rate_value(3, 2000, "per 1,000 children") == pytest.approx(1.5)
    # A rate per N people may count more than the people (two visits by one child).
    assert rate_value(1200, 1000, "per 1,000 children") == pytest.approx(1200)


@pytest.mark.parametrize(
    ("numerator", "denominator", "message"),
    [(701, 700, "more than the whole"), (1, 0, "above 0"), (-1, 700, "negative")],
)
def test_a_fraction_that_cannot_be_a_rate_is_refused_with_how_to_write_it(
    numerator: float, denominator: float, message: str
) -> None:
    with pytest.raises(ValueParseError, match=message) as refused:
        rate_value(numerator, denominator, "percent")
    assert "412 of 700" in str(refused.value)
