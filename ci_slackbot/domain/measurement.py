"""Shared-measurement math: parsing and formatting values, change, targets and trends."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from .errors import InputError
from .periods import Period

__all__ = [
    "Combined",
    "Context",
    "Direction",
    "Point",
    "Reported",
    "Rollup",
    "Trend",
    "ValueParseError",
    "change",
    "check_range",
    "combine",
    "default_rollup",
    "expected_value",
    "format_number",
    "format_value",
    "is_improvement",
    "is_on_track",
    "is_percent_unit",
    "needs_story",
    "parse_value",
    "progress_to_target",
    "rate_value",
    "sign",
    "trend",
    "unit_scale",
    "value_context",
]


class Direction(StrEnum):
    """Which way an indicator should move to count as better."""

    INCREASE = "increase"
    DECREASE = "decrease"


class ValueParseError(InputError):
    """A reported value that can't be accepted; the message is meant to be shown to users."""


# Either plain digits or comma-grouped thousands, then an optional decimal part.
# re.ASCII keeps non-ASCII digits out, since float() would quietly accept them.
_NUMBER_RE = re.compile(r"[+-]?(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)", re.ASCII)
_PERCENT_UNITS = frozenset({"%", "percent", "percentage"})


def is_percent_unit(unit: str | None) -> bool:
    """Whether values in ``unit`` are percentages (so `45%` is an acceptable way to write them)."""
    if not unit:
        return False
    lowered = unit.strip().lower()
    # "% of children" is as much a percentage as "percent of children".
    return lowered in _PERCENT_UNITS or "percent" in lowered or lowered.startswith("%")


def _example(unit: str | None) -> str:
    if is_percent_unit(unit):
        return "Write a percentage like `45` or `45%`."
    return "Write a number like `12.5` or `1,204`."


def parse_value(text: str, unit: str | None) -> float:
    """Parse a value typed by a person, e.g. "12.5", "1,204", "-3" or (for percent units) "45%"."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueParseError(f"No value given. {_example(unit)}")
    # Some keyboards and editors turn a hyphen into a real minus sign.
    number = cleaned.replace("\u2212", "-")
    if number.endswith("%"):
        if not is_percent_unit(unit):
            bare = number[:-1].strip() or "45"
            counted_in = f"is counted in {unit}" if unit else "is a plain number"
            raise ValueParseError(
                f"`{cleaned}` is a percentage, but this indicator {counted_in}: write just the number, like `{bare}`."
            )
        number = number[:-1]
    if _NUMBER_RE.fullmatch(number) is None:
        if "," in number and re.fullmatch(r"[+-]?[0-9,]*(?:\.[0-9]+)?", number, re.ASCII):
            raise ValueParseError(
                f"`{cleaned}` is not a number: commas must separate groups of three digits, like `1,204`. "
                "For decimals use a point, like `12.5`."
            )
        raise ValueParseError(f"`{cleaned}` is not a number. {_example(unit)}")
    value = float(number.replace(",", ""))
    if not math.isfinite(value):
        raise ValueParseError(f"`{cleaned}` is too large to be a value. {_example(unit)}")
    # Normalise -0 so it never shows up as "-0" later.
    return value + 0.0


def check_range(value: float, minimum: float | None, maximum: float | None, unit: str | None) -> None:
    """Raise ValueParseError when ``value`` lies outside [minimum, maximum] (either bound optional)."""
    if not math.isfinite(value):
        raise ValueParseError(f"`{format_number(value)}` is not a usable value. {_example(unit)}")
    if minimum is not None and value < minimum:
        raise ValueParseError(
            f"`{format_number(value)}` is below the minimum of {format_value(minimum, unit)} for this indicator: "
            f"{_allowed(minimum, maximum, unit)}"
        )
    if maximum is not None and value > maximum:
        raise ValueParseError(
            f"`{format_number(value)}` is above the maximum of {format_value(maximum, unit)} for this indicator: "
            f"{_allowed(minimum, maximum, unit)}"
        )


def _allowed(minimum: float | None, maximum: float | None, unit: str | None) -> str:
    if minimum is not None and maximum is not None:
        return f"send a value between {format_value(minimum, unit)} and {format_value(maximum, unit)}."
    if minimum is not None:
        return f"send a value of at least {format_value(minimum, unit)}."
    return f"send a value of at most {format_value(maximum if maximum is not None else 0.0, unit)}."


def format_number(value: float) -> str:
    """Format a number with thousands separators and at most 2 decimals: "1,204", "18.4"."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:,.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # Rounding can leave "-0" for tiny negatives, which reads as a glitch.
    return "0" if text == "-0" else text


def format_value(value: float, unit: str | None) -> str:
    """Format a value with its unit: "18.4 per 1,000 children", "45%", "1,204 homes"."""
    number = format_number(value)
    if not unit or not unit.strip():
        return number
    if is_percent_unit(unit):
        return f"{number}%"
    return f"{number} {unit.strip()}"


@dataclass(frozen=True)
class Point:
    """One reported value for one period."""

    period: Period
    value: float


def change(previous: float | None, current: float) -> tuple[float, float | None] | None:
    """Return (delta, relative change) from ``previous`` to ``current``, or None without a previous value.

    The relative change is a fraction of ``abs(previous)`` (so its sign always matches the
    delta) and is None when ``previous`` is 0.
    """
    if previous is None:
        return None
    delta = current - previous
    relative = delta / abs(previous) if previous != 0 else None
    return delta, relative


def is_improvement(direction: Direction, delta: float) -> bool | None:
    """Whether a change of ``delta`` is good for an indicator going in ``direction``; None when unchanged."""
    if delta == 0:
        return None
    return delta > 0 if direction is Direction.INCREASE else delta < 0


def progress_to_target(baseline: float, target: float, value: float) -> float | None:
    """Percent of the way from baseline to target (may be < 0 or > 100); None when they are equal."""
    if baseline == target:
        return None
    return (value - baseline) / (target - baseline) * 100.0


def progress_stage(progress: float) -> Literal["behind", "under way", "reached"]:
    """Where a progress percentage stands, as it is shown (rounded): -0.4% is not behind."""
    rounded = round(progress)
    if rounded < 0:
        return "behind"
    return "reached" if rounded >= 100 else "under way"


def progress_phrase(progress: float) -> str:
    """`30% of the way to target`, in words a partner reads at a glance when it is outside 0–100%.

    "-8% of the way" reads as a typo; "behind the baseline" says what it means.
    """
    stage = progress_stage(progress)
    if stage == "behind":
        return "behind the baseline"
    if stage == "reached":
        return "target reached"
    return f"{round(progress)}% of the way to target"


def expected_value(baseline: Point, target: Point, period: Period) -> float:
    """The value on the straight line from baseline to target at ``period``.

    When all three periods share a frequency the line runs over period ordinals; otherwise
    over days, placing each period at its last day. Before the baseline the baseline value is
    expected, after the target the target value. Raises ValueError unless the target comes
    after the baseline.
    """
    if baseline.period.frequency is target.period.frequency is period.frequency:
        x0, x1, x = baseline.period.ordinal, target.period.ordinal, period.ordinal
    else:
        x0 = baseline.period.end.toordinal()
        x1 = target.period.end.toordinal()
        x = period.end.toordinal()
    if x1 <= x0:
        raise ValueError(f"The target period {target.period} must come after the baseline period {baseline.period}.")
    if x <= x0:
        return baseline.value
    if x >= x1:
        return target.value
    return baseline.value + (target.value - baseline.value) * (x - x0) / (x1 - x0)


def is_on_track(direction: Direction, expected: float, value: float) -> bool:
    """Whether ``value`` is at or better than ``expected`` for an indicator going in ``direction``."""
    # Tolerate float noise from the interpolation so "exactly on the line" counts as on track.
    if math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9):
        return True
    return value > expected if direction is Direction.INCREASE else value < expected


@dataclass(frozen=True)
class Trend:
    """Latest movement of a series.

    ``run`` counts consecutive moves in the same direction ending at the latest point
    (>= 1 when the latest point moved, 0 when flat or with fewer than 2 points).
    """

    arrow: str
    improving: bool | None
    run: int


_FLAT = Trend(arrow="→", improving=None, run=0)


def trend(points: Sequence[Point], direction: Direction) -> Trend:
    """Summarise the latest movement of ``points`` (in chronological order).

    Moves are counted between consecutive points, whether or not periods were skipped.
    """
    if len(points) < 2:
        return _FLAT
    deltas = [later.value - earlier.value for earlier, later in pairwise(points)]
    last = deltas[-1]
    if last == 0:
        return _FLAT
    rising = last > 0
    run = 0
    for delta in reversed(deltas):
        if delta == 0 or (delta > 0) != rising:
            break
        run += 1
    return Trend(arrow="↑" if rising else "↓", improving=is_improvement(direction, last), run=run)


def needs_story(direction: Direction, previous: float | None, current: float) -> bool:
    """Whether a value deserves an explanation: it moved the wrong way or by more than half."""
    if previous is None:
        return False
    delta = current - previous
    if is_improvement(direction, delta) is False:
        return True
    return abs(delta) > 0.5 * abs(previous)


@dataclass(frozen=True)
class Context:
    """Everything worth saying about one reported value."""

    previous: Point | None
    delta: float | None
    relative: float | None
    improving: bool | None
    progress: float | None
    expected: float | None
    on_track: bool | None
    needs_story: bool


def value_context(
    *,
    direction: Direction,
    baseline: Point | None,
    target: Point | None,
    previous: Point | None,
    current: Point,
) -> Context:
    """Combine change, progress and on-track checks for ``current``.

    ``progress`` is in percent. ``expected``/``on_track`` are None without a baseline and a
    target, or when the target doesn't come after the baseline.
    """
    previous_value = previous.value if previous is not None else None
    moved = change(previous_value, current.value)
    delta, relative = moved if moved is not None else (None, None)
    improving = is_improvement(direction, delta) if delta is not None else None

    progress: float | None = None
    expected: float | None = None
    on_track: bool | None = None
    if baseline is not None and target is not None:
        progress = progress_to_target(baseline.value, target.value, current.value)
        try:
            expected = expected_value(baseline, target, current.period)
        except ValueError:
            expected = None
        if expected is not None:
            on_track = is_on_track(direction, expected, current.value)

    return Context(
        previous=previous,
        delta=delta,
        relative=relative,
        improving=improving,
        progress=progress,
        expected=expected,
        on_track=on_track,
        needs_story=needs_story(direction, previous_value, current.value),
    )


def sign(improving: bool | None) -> str:
    """Slack emoji shortcode for good (green), bad (red) or no change (white)."""
    if improving is None:
        return ":white_circle:"
    return ":large_green_circle:" if improving else ":red_circle:"


# -- how partners' values combine ----------------------------------------------------------


class Rollup(StrEnum):
    """How the values several partners report for one period make the coalition's figure.

    - ``sum``: counts, added up (homes assessed by each partner).
    - ``rate``: a rate weighted by its denominator: partners report numerator and denominator
      (`412 of 700`), and the coalition's figure is the sum of numerators over the sum of
      denominators, never the mean of the partners' rates.
    - ``owner``: the value of the one organization that owns the indicator; the others' values
      are shown per partner.
    - ``none``: shown per partner only, never combined.
    """

    SUM = "sum"
    RATE = "rate"
    OWNER = "owner"
    NONE = "none"


def _is_rate_unit(unit: str | None) -> bool:
    lowered = (unit or "").strip().lower()
    return is_percent_unit(lowered) or lowered.startswith("per ") or " per " in lowered or "rate" in lowered


def default_rollup(unit: str | None) -> Rollup:
    """The rule for an indicator that declares none: rates (`%`, `per 1,000 …`) are weighted, counts add up.

    A rate left to this default still takes a bare value (`45%`); values without a denominator
    cannot be weighted, so they are combined only when one partner reported (see `combine`).
    """
    return Rollup.RATE if _is_rate_unit(unit) else Rollup.SUM


_PER_N = re.compile(r"^per\s+([0-9][0-9,]*)", re.IGNORECASE)


def unit_scale(unit: str | None) -> float:
    """What a numerator over a denominator is multiplied by to be read in ``unit``.

    412 of 700 is 58.86 in `percent`, 588.57 `per 1,000 children`, and 0.59 as a plain ratio.
    """
    if is_percent_unit(unit):
        return 100.0
    match = _PER_N.match((unit or "").strip())
    if match is not None:
        return float(match.group(1).replace(",", "")) or 1.0
    return 1.0


def rate_value(numerator: float, denominator: float, unit: str | None) -> float:
    """`412 of 700` as the unit reads it; refused (ValueParseError) when it cannot be a rate.

    A share (a percentage or a plain ratio) cannot count more than its whole; a rate per N people
    may (two emergency visits by one child), so only its range limits it.
    """
    how = "Write it like `412 of 700` (numerator, then denominator)."
    if not (math.isfinite(numerator) and math.isfinite(denominator)):
        raise ValueParseError(f"`{format_number(numerator)} of {format_number(denominator)}` is too large. {how}")
    if denominator <= 0:
        raise ValueParseError(
            f"The denominator (after `of`) must be above 0: it is how many were counted, like `700` in "
            f"`412 of 700`; `{format_number(denominator)}` gives no rate."
        )
    if numerator < 0:
        raise ValueParseError(f"The numerator cannot be negative. {how}")
    scale = unit_scale(unit)
    if numerator > denominator and _PER_N.match((unit or "").strip()) is None:
        raise ValueParseError(
            f"`{format_number(numerator)} of {format_number(denominator)}` counts more than the whole: the numerator "
            f"comes first and cannot be above the denominator, like `412 of 700`."
        )
    return numerator / denominator * scale


@dataclass(frozen=True)
class Reported:
    """One partner's value for one period (and one breakdown, or the whole population)."""

    organization: Hashable
    value: float
    numerator: float | None = None
    denominator: float | None = None

    @property
    def weighted(self) -> bool:
        return self.numerator is not None and self.denominator is not None and self.denominator > 0


@dataclass(frozen=True)
class Combined:
    """The coalition's figure for one period, and how complete it is.

    ``value`` is None when there is none to show: the rule is `none`, the owner has not reported,
    or rates without denominators cannot be weighted. ``why`` then says which, for people.
    ``reported`` and ``expected`` count the partners the rule waits for.
    """

    rollup: Rollup
    value: float | None
    numerator: float | None
    denominator: float | None
    reported: int
    expected: int
    why: str = ""

    @property
    def complete(self) -> bool:
        return self.reported >= self.expected

    def partners_phrase(self) -> str:
        """`4 of 5 partners reported` when some are missing, else ``""``."""
        if self.complete:
            return ""
        noun = "partner" if self.expected == 1 else "partners"
        return f"{self.reported} of {self.expected} {noun} reported"


def combine(
    rollup: Rollup,
    values: Sequence[Reported],
    *,
    partners: Sequence[Hashable],
    owner: Hashable | None = None,
    scale: float = 1.0,
) -> Combined:
    """The coalition's figure from the partners' values of one period.

    ``values`` are whole-population values only (one per organization): a breakdown's value never
    stands in for the whole, and the groups of a breakdown are not assumed to cover it. ``partners``
    are the organizations asked to report; one that reported without being asked counts as well.
    """
    by_org = {v.organization: v for v in values}
    expected = len(set(partners) | set(by_org))
    reported = len(by_org)
    if rollup is Rollup.NONE:
        return Combined(rollup, None, None, None, reported, expected, "shown per partner, not combined")
    if rollup is Rollup.OWNER:
        mine = by_org.get(owner) if owner is not None else None
        if mine is None:
            return Combined(rollup, None, None, None, 0, 1, "waiting for the owner's value")
        return Combined(rollup, mine.value, mine.numerator, mine.denominator, 1, 1)
    if not by_org:
        return Combined(rollup, None, None, None, 0, expected, "no value for the whole population")
    if rollup is Rollup.SUM:
        return Combined(rollup, sum(v.value for v in by_org.values()), None, None, reported, expected)
    if all(v.weighted for v in by_org.values()):
        numerator = sum(v.numerator or 0.0 for v in by_org.values())
        denominator = sum(v.denominator or 0.0 for v in by_org.values())
        return Combined(rollup, numerator / denominator * scale, numerator, denominator, reported, expected)
    if reported == 1:
        # One rate needs no weight: it is the coalition's figure so far (and says who is missing).
        only = next(iter(by_org.values()))
        return Combined(rollup, only.value, only.numerator, only.denominator, reported, expected)
    return Combined(
        rollup,
        None,
        None,
        None,
        reported,
        expected,
        "not combined: rates are weighted by their denominators, and not every partner gave one (`412 of 700`)",
    )
