"""Read models over shared measurement: one indicator's history, and which breakdown values may be shown.

Equity rule: breakdown values are shown wherever values are shown, but an
indicator may set a `small_number_threshold`; a breakdown value below it is
hidden from channel posts, because a small count in a small group (e.g. 3
children in one ZIP code) can point at real people.

- In a channel post (the digest, any `in_channel` reply) such values are hidden.
  When an indicator's breakdown values add up to its total, one hidden value
  could be worked out by subtracting the others from the total, so the next
  smallest value of the same dimension is hidden with it ("complementary
  suppression", the usual practice for published small-number tables).
- A private `/ci indicator` reply shows them to members of the initiative's
  partner organizations — they report and share these numbers under their
  agreement — marked as hidden from channel posts. Anyone else in the
  workspace sees them hidden, exactly as in a channel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.equity import suppress
from ci_slackbot.domain.measurement import Combined, Point, Reported
from ci_slackbot.domain.periods import Period
from ci_slackbot.services.measurement import IndicatorView, Standing, breakdown_figure, history, standings
from ci_slackbot.store.models import Initiative, Organization

__all__ = [
    "BreakdownShown",
    "HistoryEntry",
    "IndicatorHistory",
    "PeriodHistory",
    "breakdown_label",
    "indicator_history",
    "parse_breakdown_key",
    "visible_breakdowns",
]


# -- equity: which breakdown values may be shown -------------------------------------------


@dataclass(frozen=True)
class BreakdownShown:
    """One breakdown value as it may be shown: `value` is None when it must be hidden here."""

    key: str  # canonical breakdown key, e.g. `zip=75216`
    label: str  # for people, e.g. `zip 75216`
    value: float | None
    below_threshold: bool  # under the indicator's small-number threshold (shown privately, marked)
    suppressed_with: bool = False  # hidden only so that a hidden neighbour can't be worked out

    @property
    def hidden(self) -> bool:
        return self.value is None


def parse_breakdown_key(key: str) -> dict[str, str]:
    """`age=5-9,zip=75216` → `{"age": "5-9", "zip": "75216"}` (the inverse of `breakdown_key`)."""
    pairs = (part.split("=", 1) for part in key.split(",") if "=" in part)
    return {dimension: value for dimension, value in pairs}


def breakdown_label(key: str) -> str:
    """`age=5-9,zip=75216` → `age 5-9, zip 75216`."""
    return ", ".join(f"{d} {v}" for d, v in parse_breakdown_key(key).items())


def visible_breakdowns(
    indicator: IndicatorView, values: Mapping[str, float], *, in_channel: bool
) -> list[BreakdownShown]:
    """Breakdown values (by breakdown key) as they may be shown, sorted by key.

    Outside channels every value is given, with `below_threshold` set where the
    indicator's small-number threshold applies. In channel posts those values are
    hidden (`value=None`), with complementary suppression for indicators whose
    breakdowns add up (counts): a lone hidden value in a dimension takes the next
    smallest one with it.
    """
    threshold = indicator.small_number_threshold
    # The values of one set of dimensions add up to one total; each set is suppressed on its own.
    groups: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for key, value in values.items():
        groups[tuple(sorted(parse_breakdown_key(key)))][key] = value
    below: set[str] = set()
    also: set[str] = set()
    for cells in groups.values():
        suppression = suppress(cells, threshold, sums=indicator.sums)
        below |= suppression.below
        also |= suppression.complementary
    # Outside channels nothing is hidden: values under the threshold are only marked.
    hidden = below | also if in_channel else set()
    return [
        BreakdownShown(
            key=key,
            label=breakdown_label(key),
            value=None if key in hidden else values[key],
            below_threshold=key in below,
            suppressed_with=in_channel and key in also,
        )
        for key in sorted(values)
    ]


# -- one indicator's history -----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One current value: who reported what, for which organization and breakdown, and when."""

    organization_key: str
    organization_name: str
    breakdown_key: str  # "" for the whole population
    value: float
    note: str
    reporter: str  # a Slack user id, or the name given in an import
    recorded_at: datetime
    entered_via: str
    revision: int
    numerator: float | None = None
    denominator: float | None = None


@dataclass(frozen=True)
class PeriodHistory:
    period: Period
    population: float | None  # the partners' values combined, as `/ci indicators` shows them
    entries: tuple[HistoryEntry, ...]  # whole-population values first, then by breakdown
    figure: Combined | None = None  # how `population` was made, and how complete it is

    def whole(self) -> list[HistoryEntry]:
        return [e for e in self.entries if not e.breakdown_key]

    def by_breakdown(self) -> list[HistoryEntry]:
        return [e for e in self.entries if e.breakdown_key]

    def breakdown_values(self, indicator: IndicatorView) -> dict[str, float]:
        """Breakdown values of this period; partners' values for the same breakdown combined by the
        indicator's rule, and left out where it cannot combine them (rates without denominators)."""
        groups: dict[str, list[Reported]] = defaultdict(list)
        for entry in self.by_breakdown():
            groups[entry.breakdown_key].append(
                Reported(entry.organization_key, entry.value, entry.numerator, entry.denominator)
            )
        values = {key: breakdown_figure(indicator, reported) for key, reported in groups.items()}
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class IndicatorHistory:
    indicator: IndicatorView
    standing: Standing
    periods: tuple[PeriodHistory, ...]  # oldest first

    @property
    def actuals(self) -> list[Point]:
        return list(self.standing.series)

    def counts(self) -> dict[str, tuple[float, float]]:
        """By period, the numerator and denominator the coalition's rate was weighted by."""
        return {
            period: (figure.numerator, figure.denominator)
            for period, figure in self.standing.figures.items()
            if figure.numerator is not None and figure.denominator is not None
        }

    def breakdown_series(self, *, in_channel: bool) -> dict[str, list[Point]]:
        """Each breakdown's combined value per period, leaving out what may not be shown here."""
        series: dict[str, list[Point]] = defaultdict(list)
        for period in self.periods:
            values = period.breakdown_values(self.indicator)
            for shown in visible_breakdowns(self.indicator, values, in_channel=in_channel):
                if shown.value is not None:
                    series[shown.key].append(Point(period.period, shown.value))
        return dict(series)


def _entry_order(entry: HistoryEntry) -> tuple[bool, str, str]:
    return entry.breakdown_key != "", entry.breakdown_key, entry.organization_name


def indicator_history(session: Session, initiative: Initiative, indicator: IndicatorView) -> IndicatorHistory:
    """Every current value of one indicator, grouped by period, with the combined series."""
    rows = history(session, indicator)
    org_ids = {row.organization_id for row in rows}
    names: dict[int, tuple[str, str]] = {}
    if org_ids:
        for org_id, key, name in session.execute(
            select(Organization.id, Organization.key, Organization.name).where(Organization.id.in_(org_ids))
        ):
            names[org_id] = (key, name)
    by_period: dict[str, list[HistoryEntry]] = defaultdict(list)
    for row in rows:
        key, name = names.get(row.organization_id, ("?", "an organization no longer listed"))
        by_period[row.period].append(
            HistoryEntry(
                organization_key=key,
                organization_name=name,
                breakdown_key=row.breakdown_key,
                value=row.value,
                note=row.note,
                reporter=row.reporter,
                recorded_at=row.recorded_at,
                entered_via=row.entered_via,
                revision=row.revision,
                numerator=row.numerator,
                denominator=row.denominator,
            )
        )
    standing = standings(session, initiative.id, [indicator])[0]
    population = {str(p.period): p.value for p in standing.series}
    periods = sorted(
        (
            PeriodHistory(
                period=Period.parse(text),
                population=population.get(text),
                figure=standing.figures.get(text),
                entries=tuple(sorted(entries, key=_entry_order)),
            )
            for text, entries in by_period.items()
        ),
        key=lambda p: p.period.ordinal,
    )
    return IndicatorHistory(indicator, standing, tuple(periods))


def periods_shown(periods: Sequence[PeriodHistory], limit: int) -> tuple[list[PeriodHistory], int]:
    """The newest `limit` periods, newest first, and how many earlier ones were left out."""
    newest_first = list(reversed(periods))
    return newest_first[:limit], max(0, len(newest_first) - limit)
