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
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, false, func, select, union_all
from sqlalchemy.orm import Session

from ci_slackbot.domain.equity import EquityGap, equity_gap
from ci_slackbot.domain.measurement import Reported
from ci_slackbot.domain.periods import Period
from ci_slackbot.services.measurement import HAS_BREAKDOWNS, UNION_CHUNK, IndicatorView, breakdown_figure
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


_VALUES: Table = IndicatorValue.__table__  # type: ignore[assignment]
# The latest periods an equity gap compares: the latest with values for the lens's groups, and the one before.
_LENS_PERIODS = 2


def _lens_periods(n: int, limit: int) -> Select[Any]:
    """The latest `limit` periods of indicator `:i<n>` with breakdown keys like `:p<n>` (`zip=%`).

    Walked back along the unique key's index (indicator, period, breakdown, organization), which
    answers the pattern from the index and stops after `limit` periods. `LIKE` is a superset of
    `lens_groups` (on SQLite it ignores case, and `zip=1,age=2` matches too), so the caller checks.
    """
    v = _VALUES.c
    return (
        select(func.max(v.indicator_id).label("indicator_id"), v.period)
        .where(
            v.indicator_id == bindparam(f"i{n}"),
            v.breakdown_key.like(bindparam(f"p{n}"), escape="/"),
            v.withdrawn == false(),
        )
        .group_by(v.period)
        .order_by(v.period.desc())
        .limit(limit)
    )


@lru_cache(maxsize=32)
def _lens_rows(count: int, limit: int) -> Select[Any]:
    """The breakdown values of the periods `_lens_periods` finds for `count` indicators."""
    v = _VALUES.c
    members = [select(*_lens_periods(n, limit).subquery().c) for n in range(count)]
    chosen = (members[0] if count == 1 else union_all(*members)).cte("chosen")
    return (
        select(v.indicator_id, v.period, v.breakdown_key, v.organization_id, v.value, v.numerator, v.denominator)
        .join(chosen, and_(v.indicator_id == chosen.c.indicator_id, v.period == chosen.c.period))
        .where(v.breakdown_key != "", v.withdrawn == false())
    )


def _like_prefix(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _lens_values(session: Session, indicators: Sequence[IndicatorView]) -> dict[int, dict[Period, dict[str, float]]]:
    """By indicator, each lens group's value, combined across partners, in the latest two periods with
    values for the lens's groups (all an equity gap compares); the database finds those periods."""
    by_id = {i.id: i for i in indicators if i.lens is not None}
    if not by_id:
        return {}
    # Only indicators with breakdown values at all are looked into.
    pending = [by_id[i] for i in session.scalars(HAS_BREAKDOWNS, {"ids": list(by_id)})]
    reported: dict[int, dict[str, dict[str, list[Reported]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    limit = _LENS_PERIODS
    while pending:
        found: dict[int, set[str]] = defaultdict(set)  # periods matched by the pattern, per indicator
        for indicator in pending:
            reported.pop(indicator.id, None)  # read again, further back
        for start in range(0, len(pending), UNION_CHUNK):
            chunk = pending[start : start + UNION_CHUNK]
            params: dict[str, Any] = {}
            for n, indicator in enumerate(chunk):
                params[f"i{n}"], params[f"p{n}"] = indicator.id, _like_prefix(f"{indicator.lens}=")
            for row in session.execute(_lens_rows(len(chunk), limit), params):
                found[row.indicator_id].add(row.period)
                if lens_groups(by_id[row.indicator_id], row.breakdown_key):
                    reported[row.indicator_id][row.period][row.breakdown_key].append(
                        Reported(row.organization_id, row.value, row.numerator, row.denominator)
                    )
        # A period the pattern matched without a value of the lens alone (`zip=…,age=…` only) does
        # not count: where that left fewer than two periods and more may lie further back, look again.
        pending = [i for i in pending if len(reported[i.id]) < _LENS_PERIODS and len(found[i.id]) == limit]
        limit *= 4
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
