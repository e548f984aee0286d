"""The equity lens: the gap between the groups of one breakdown, and which values may be shown.

An indicator's equity lens is one of its breakdowns (`zip`); its groups are the
values reported for that breakdown alone (`zip=75216`). The gap is between the
group furthest from its target and the group best off, in the indicator's own
direction, and it is compared with the same two groups' gap one period earlier.

Small numbers (`suppress`): a value under the indicator's small-number
threshold is never shown. Where the groups add up to a shown total (counts), a
lone hidden value could be worked out by subtracting the shown ones from the
total, so the next smallest value is hidden with it (complementary
suppression); and where there is no other value to hide, the total itself must
not be shown. A gap is only ever computed from values that may be shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ci_slackbot.domain.measurement import Direction, format_number, is_percent_unit

Change = Literal["narrowed", "widened", "held", ""]


@dataclass(frozen=True)
class Suppression:
    """Which cells of one set of values that add up (or not) must be hidden."""

    below: frozenset[str]  # under the threshold
    complementary: frozenset[str]  # at or over it, hidden so that a hidden neighbour can't be worked out
    total_hidden: bool = False  # the total would give the lone hidden value away

    @property
    def hidden(self) -> frozenset[str]:
        return self.below | self.complementary


def suppress(values: Mapping[str, float], threshold: float | None, *, sums: bool) -> Suppression:
    """The cells to hide among `values`, cells of one breakdown whose values add up when `sums`.

    Values under `threshold` are hidden. When they add up and exactly one is hidden, the
    smallest shown value (then the first by key) is hidden too; when there is none to hide
    with it, the total must be hidden instead.
    """
    if threshold is None:
        return Suppression(frozenset(), frozenset())
    below = frozenset(key for key, value in values.items() if value < threshold)
    if not sums or len(below) != 1:
        return Suppression(below, frozenset())
    shown = sorted((key for key in values if key not in below), key=lambda key: (values[key], key))
    if not shown:
        return Suppression(below, frozenset(), total_hidden=True)
    return Suppression(below, frozenset(shown[:1]))


def shown_values(values: Mapping[str, float], threshold: float | None, *, sums: bool) -> dict[str, float]:
    """The values that may be shown."""
    hidden = suppress(values, threshold, sums=sums).hidden
    return {key: value for key, value in values.items() if key not in hidden}


@dataclass(frozen=True)
class EquityGap:
    """The gap between the group furthest from its target and the group best off."""

    worst: str
    worst_value: float
    best: str
    best_value: float
    size: float  # in the indicator's unit, never negative
    previous_size: float | None  # the same two groups' gap one period earlier, when both could be shown
    worst_target: float | None  # the target the worst-off group is measured against
    groups: int  # groups compared (shown)
    hidden: int  # groups left out: small numbers, or hidden with them

    @property
    def change(self) -> Change:
        if self.previous_size is None:
            return ""
        if abs(self.size - self.previous_size) < 1e-9:
            return "held"
        return "widened" if self.size > self.previous_size else "narrowed"


def shortfall(direction: Direction, value: float, target: float | None) -> float:
    """How far a value falls short of its target (negative: beyond it); without a target, how bad it is."""
    if target is None:
        return value if direction is Direction.DECREASE else -value
    return value - target if direction is Direction.DECREASE else target - value


def equity_gap(
    values_by_group: Mapping[str, float],
    previous_by_group: Mapping[str, float],
    direction: Direction,
    target: float | None,
    group_targets: Mapping[str, float],
    threshold: float | None,
    *,
    sums: bool = False,
) -> EquityGap | None:
    """The gap in the latest period, or None when fewer than two groups may be shown.

    Each group is measured against its own target (targeted universalism) or else the
    indicator's; the worst-off group falls furthest short of it, the best-off least.
    """
    shown = shown_values(values_by_group, threshold, sums=sums)
    if len(shown) < 2:
        return None

    def order(group: str) -> tuple[float, str]:
        return shortfall(direction, shown[group], group_targets.get(group, target)), group

    ranked = sorted(shown, key=order)
    best, worst = ranked[0], ranked[-1]
    if best == worst:
        return None
    before = shown_values(previous_by_group, threshold, sums=sums)
    previous_size = abs(before[worst] - before[best]) if worst in before and best in before else None
    return EquityGap(
        worst=worst,
        worst_value=shown[worst],
        best=best,
        best_value=shown[best],
        size=abs(shown[worst] - shown[best]),
        previous_size=previous_size,
        worst_target=group_targets.get(worst, target),
        groups=len(shown),
        hidden=len(values_by_group) - len(shown),
    )


def gap_unit(unit: str | None) -> str:
    """A gap in a percentage is in points (45% and 52% are 7 points apart), else in the unit."""
    if is_percent_unit(unit):
        return "points"
    return (unit or "").strip()


def gap_amount(size: float, unit: str | None) -> str:
    """`7 points`, `1.5 per 1,000 children`, `12`."""
    name = gap_unit(unit)
    if name == "points" and abs(size - 1) < 1e-9:
        name = "point"
    return f"{format_number(size)} {name}".strip()
