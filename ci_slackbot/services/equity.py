"""The equity lens over the store: each indicator's gap between the groups of its lens breakdown.

The groups are the values reported for the lens alone (`zip=75216`, not `age=5-9,zip=75216`),
partners' values for one group combined by the indicator's rule, as `/ci indicator` combines
them. The gap is computed from what may be shown in a channel (`domain.equity`), wherever it
is shown: a digest, App Home or a private `/ci indicator` reply say the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.equity import EquityGap, equity_gap
from ci_slackbot.domain.measurement import Reported
from ci_slackbot.domain.periods import Period
from ci_slackbot.services.measurement import IndicatorView, breakdown_figure
from ci_slackbot.services.measurement_views import parse_breakdown_key
from ci_slackbot.store.models import IndicatorValue

__all__ = ["IndicatorEquity", "equity_by_indicator", "lens_groups"]


@dataclass(frozen=True)
class IndicatorEquity:
    """An indicator's gap between groups in its latest period with two groups to compare."""

    lens: str  # the breakdown dimension, e.g. `zip`
    period: Period
    previous_period: Period | None  # the period before it with values for the lens
    gap: EquityGap


def lens_groups(indicator: IndicatorView, key: str) -> bool:
    """Whether a breakdown key is one group of the indicator's lens (`zip=75216`)."""
    lens = indicator.lens
    return lens is not None and list(parse_breakdown_key(key)) == [lens]


def _lens_values(session: Session, indicators: Sequence[IndicatorView]) -> dict[int, dict[Period, dict[str, float]]]:
    """By indicator and period, each lens group's value, combined across partners."""
    by_id = {i.id: i for i in indicators if i.lens is not None}
    if not by_id:
        return {}
    reported: dict[int, dict[str, dict[str, list[Reported]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for row in session.execute(
        select(
            IndicatorValue.indicator_id,
            IndicatorValue.period,
            IndicatorValue.breakdown_key,
            IndicatorValue.organization_id,
            IndicatorValue.value,
            IndicatorValue.numerator,
            IndicatorValue.denominator,
        ).where(
            IndicatorValue.indicator_id.in_(by_id),
            IndicatorValue.breakdown_key != "",
            IndicatorValue.withdrawn == false(),
        )
    ):
        indicator = by_id[row.indicator_id]
        if lens_groups(indicator, row.breakdown_key):
            reported[row.indicator_id][row.period][row.breakdown_key].append(
                Reported(row.organization_id, row.value, row.numerator, row.denominator)
            )
    out: dict[int, dict[Period, dict[str, float]]] = {}
    for indicator_id, periods in reported.items():
        indicator = by_id[indicator_id]
        out[indicator_id] = {}
        for period, groups in periods.items():
            figures = {key: breakdown_figure(indicator, values) for key, values in groups.items()}
            out[indicator_id][Period.parse(period)] = {k: v for k, v in figures.items() if v is not None}
    return out


def _equity(indicator: IndicatorView, periods: dict[Period, dict[str, float]]) -> IndicatorEquity | None:
    """The gap in the latest period with lens values; an older gap would be old news told as this week's."""
    ordered = sorted(periods, key=lambda p: p.ordinal)
    if not ordered:
        return None
    period = ordered[-1]
    previous = ordered[-2] if len(ordered) > 1 else None
    gap = equity_gap(
        periods[period],
        periods[previous] if previous is not None else {},
        indicator.direction,
        indicator.target.value if indicator.target is not None else None,
        dict(indicator.group_targets),
        indicator.small_number_threshold,
        sums=indicator.sums,
    )
    return IndicatorEquity(str(indicator.lens), period, previous, gap) if gap is not None else None


def equity_by_indicator(session: Session, indicators: Sequence[IndicatorView]) -> dict[int, IndicatorEquity]:
    """Each indicator's gap between groups in its latest period, where two groups may be compared."""
    out = {}
    for indicator_id, periods in _lens_values(session, indicators).items():
        indicator = next(i for i in indicators if i.id == indicator_id)
        found = _equity(indicator, periods)
        if found is not None:
            out[indicator_id] = found
    return out
