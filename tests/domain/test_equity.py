"""The equity lens: the gap between groups, and small-number suppression that holds under subtraction."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ci_slackbot.domain.equity import equity_gap, gap_amount, shown_values, suppress
from ci_slackbot.domain.measurement import Direction

ZIPS = {"zip=75216": 22.0, "zip=75201": 15.0, "zip=75217": 18.0}


def test_the_worst_off_group_is_the_one_furthest_from_the_target_lower_is_better() -> None:
    gap = equity_gap(ZIPS, {}, Direction.DECREASE, 12.0, {}, None)
    assert gap is not None
    assert (gap.worst, gap.best, gap.size) == ("zip=75216", "zip=75201", 7.0)
    assert gap.worst_target == 12.0
    assert gap.change == ""


def test_higher_is_better_turns_the_order_round() -> None:
    gap = equity_gap(ZIPS, {}, Direction.INCREASE, 80.0, {}, None)
    assert gap is not None
    assert (gap.worst, gap.best) == ("zip=75201", "zip=75216")


def test_without_a_target_the_direction_alone_decides() -> None:
    gap = equity_gap(ZIPS, {}, Direction.DECREASE, None, {}, None)
    assert gap is not None
    assert (gap.worst, gap.best, gap.worst_target) == ("zip=75216", "zip=75201", None)


def test_a_group_target_measures_that_group_against_its_own_target() -> None:
    # 75216 at 22 against its own target of 21 falls 1 short, 75201 at 15 against 12 falls 3 short,
    # 75217 at 18 against 12 falls 6 short.
    gap = equity_gap(ZIPS, {}, Direction.DECREASE, 12.0, {"zip=75216": 21.0}, None)
    assert gap is not None
    assert (gap.worst, gap.best, gap.worst_target) == ("zip=75217", "zip=75216", 12.0)
    assert gap.size == 4.0


def test_the_gap_widened_or_narrowed_between_the_same_two_groups() -> None:
    widened = equity_gap(ZIPS, {"zip=75216": 20.0, "zip=75201": 16.0}, Direction.DECREASE, 12.0, {}, None)
    assert widened is not None
    assert (widened.previous_size, widened.change) == (4.0, "widened")
    narrowed = equity_gap(ZIPS, {"zip=75216": 30.0, "zip=75201": 15.0}, Direction.DECREASE, 12.0, {}, None)
    assert narrowed is not None and narrowed.change == "narrowed"
    held = equity_gap(ZIPS, {"zip=75216": 17.0, "zip=75201": 10.0}, Direction.DECREASE, 12.0, {}, None)
    assert held is not None and held.change == "held"
    unknown = equity_gap(ZIPS, {"zip=75216": 17.0}, Direction.DECREASE, 12.0, {}, None)
    assert unknown is not None and unknown.previous_size is None and unknown.change == ""


def test_small_groups_are_left_out_of_the_gap_and_counted() -> None:
    values = {"zip=75216": 3.0, "zip=75201": 40.0, "zip=75217": 47.0, "zip=75218": 60.0}
    gap = equity_gap(values, {}, Direction.INCREASE, 100.0, {}, 5.0, sums=True)
    assert gap is not None
    # 75216 is under 5; 75201, the smallest shown, is hidden with it so 75216 can't be worked out.
    assert (gap.worst, gap.best, gap.hidden, gap.groups) == ("zip=75217", "zip=75218", 2, 2)


def test_no_gap_without_two_groups_to_show() -> None:
    assert equity_gap({"zip=75216": 3.0, "zip=75201": 40.0}, {}, Direction.INCREASE, 9.0, {}, 5.0, sums=True) is None
    assert equity_gap({"zip=75201": 40.0}, {}, Direction.INCREASE, 9.0, {}, None) is None


def test_a_lone_small_group_hides_the_total() -> None:
    assert suppress({"zip=75216": 3.0}, 5.0, sums=True).total_hidden
    assert not suppress({"zip=75216": 3.0}, 5.0, sums=False).total_hidden


def test_a_gap_in_a_percentage_is_in_points() -> None:
    assert gap_amount(7, "percent") == "7 points"
    assert gap_amount(1, "%") == "1 point"
    assert gap_amount(1.5, "per 1,000 children") == "1.5 per 1,000 children"
    assert gap_amount(12, "") == "12"


# -- the suppression property --------------------------------------------------------------

values_st = st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda v: round(v, 1))
groups_st = st.dictionaries(st.sampled_from([f"zip=752{n:02d}" for n in range(12)]), values_st, min_size=0, max_size=8)
threshold_st = st.one_of(st.none(), st.floats(min_value=0.5, max_value=100).map(lambda v: round(v, 1)))


def _shown_numbers(values: dict[str, float], threshold: float | None, sums: bool) -> dict[str, float]:
    """What the lens shows: every shown group's value, the two ends of the gap, and its size."""
    shown = {f"group {k}": v for k, v in shown_values(values, threshold, sums=sums).items()}
    gap = equity_gap(values, {}, Direction.DECREASE, None, {}, threshold, sums=sums)
    if gap is not None:
        shown |= {f"worst {gap.worst}": gap.worst_value, f"best {gap.best}": gap.best_value, "gap": gap.size}
    return shown


@settings(max_examples=400, deadline=None)
@given(values=groups_st, threshold=threshold_st, sums=st.booleans(), data=st.data())
def test_no_suppressed_value_is_shown_or_depends_on_what_is_shown(
    values: dict[str, float], threshold: float | None, sums: bool, data: st.DataObject
) -> None:
    suppression = suppress(values, threshold, sums=sums)
    shown = shown_values(values, threshold, sums=sums)
    # No group under the threshold is shown, and no group is shown for one hidden.
    assert not suppression.hidden & set(shown)
    assert all(threshold is None or value >= threshold for value in shown.values())
    gap = equity_gap(values, {}, Direction.DECREASE, None, {}, threshold, sums=sums)
    if gap is not None:
        assert gap.worst not in suppression.hidden and gap.best not in suppression.hidden
    # Nothing shown depends on a suppressed value: give the hidden groups other values under the
    # threshold, and every number shown stays the same (a shown number that equals a suppressed
    # value does so by chance, and says nothing about it).
    if suppression.below and threshold is not None:
        other = dict(values)
        for key in suppression.below:
            other[key] = data.draw(st.floats(min_value=0, max_value=threshold, exclude_max=True, allow_nan=False))
        assert _shown_numbers(other, threshold, sums) == _shown_numbers(values, threshold, sums)


@settings(max_examples=400, deadline=None)
@given(values=groups_st, threshold=threshold_st)
def test_no_suppressed_value_can_be_worked_out_from_a_shown_total(
    values: dict[str, float], threshold: float | None
) -> None:
    """For counts that add up to a total shown beside them, subtracting shown groups gives no hidden one."""
    total = sum(values.values())
    suppression = suppress(values, threshold, sums=True)
    shown = shown_values(values, threshold, sums=True)
    total_shown = not suppression.total_hidden
    hidden = [k for k in values if k not in shown]
    if total_shown and hidden:
        # The total less every shown group is all that subtraction can give; it singles out a
        # hidden group only if it is the only one hidden.
        assert len(hidden) != 1, (values, threshold)
        remainder = total - sum(shown.values())
        # Hidden groups left over are at least two, one of them at or over the threshold or all
        # under it: the remainder is their sum and names none of them.
        assert abs(remainder - sum(values[k] for k in hidden)) < 1e-6
    for key in suppression.below:
        assert key not in shown
    if len(suppression.below) == 1 and len(values) == 1:
        assert not total_shown
