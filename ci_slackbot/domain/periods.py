"""Reporting periods: ISO weeks, months, quarters and years.

Pure standard-library code so it can be used anywhere (handlers, jobs, tests).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from .errors import InputError

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "Frequency",
    "Period",
    "PeriodError",
    "parse_period_for",
    "period_range",
]

# 9999 is excluded because the last ISO week of 9999 ends after date.max; capping
# one year earlier keeps start, end and next() of every valid period representable.
MIN_YEAR = 1
MAX_YEAR = 9998

_HOW_TO_WRITE = "Write a year `2026`, a quarter `2026-Q3`, a month `2026-10` or an ISO week `2026-W44`."

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# re.ASCII so that non-ASCII digits (e.g. Arabic-Indic) are not silently accepted.
_YEAR_RE = re.compile(r"(?P<year>[0-9]{4})", re.ASCII)
_QUARTER_RE = re.compile(r"(?P<year>[0-9]{4})-[Qq](?P<number>[0-9]{1,2})", re.ASCII)
_MONTH_RE = re.compile(r"(?P<year>[0-9]{4})-(?P<number>[0-9]{1,2})", re.ASCII)
_WEEK_RE = re.compile(r"(?P<year>[0-9]{4})-[Ww](?P<number>[0-9]{1,2})", re.ASCII)


class Frequency(StrEnum):
    """How often an indicator is reported."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def noun(self) -> str:
        """The name of one period of this frequency, e.g. "month"."""
        return _NOUNS[self]

    @property
    def article_noun(self) -> str:
        """The noun with its indefinite article, e.g. "an ISO week"."""
        return _ARTICLE_NOUNS[self]


_NOUNS = {
    Frequency.WEEKLY: "ISO week",
    Frequency.MONTHLY: "month",
    Frequency.QUARTERLY: "quarter",
    Frequency.YEARLY: "year",
}
_ARTICLE_NOUNS = {
    Frequency.WEEKLY: "an ISO week",
    Frequency.MONTHLY: "a month",
    Frequency.QUARTERLY: "a quarter",
    Frequency.YEARLY: "a year",
}
_EXAMPLES = {
    Frequency.WEEKLY: "2026-W44",
    Frequency.MONTHLY: "2026-10",
    Frequency.QUARTERLY: "2026-Q3",
    Frequency.YEARLY: "2026",
}


class PeriodError(InputError):
    """A period that cannot exist; the message is meant to be shown to users."""


def _iso_weeks_in(year: int) -> int:
    # 28 December always falls in the last ISO week of its year.
    return date(year, 12, 28).isocalendar().week


def _range_problem(frequency: Frequency, year: int, number: int) -> str | None:
    """Why (year, number) is not a valid period of frequency, with how to fix it."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return f"years run from {MIN_YEAR:04d} to {MAX_YEAR}. {_HOW_TO_WRITE}"
    if frequency is Frequency.YEARLY:
        if number != 1:
            return "a yearly period is just the year. Write a year like `2026`."
    elif frequency is Frequency.QUARTERLY:
        if not 1 <= number <= 4:
            return "quarters run from Q1 to Q4. Write a quarter like `2026-Q3`."
    elif frequency is Frequency.MONTHLY:
        if not 1 <= number <= 12:
            return "months run from 01 to 12. Write a month like `2026-10`."
    else:
        weeks = _iso_weeks_in(year)
        if number == 53 and weeks == 52:
            return f"{year:04d} has only 52 ISO weeks. Write a week from `{year:04d}-W01` to `{year:04d}-W52`."
        if not 1 <= number <= weeks:
            return "ISO weeks run from W01 to W52 (W53 in some years). Write a week like `2026-W44`."
    return None


@dataclass(frozen=True)
class Period:
    """One reporting period of a given frequency.

    ``number`` is the ISO week (1..53), month (1..12) or quarter (1..4); it is 1
    for yearly periods. Periods of the same frequency order by time; ordering
    periods of different frequencies raises TypeError, because "is March before
    Q1?" has no single right answer. Equality and hashing work across frequencies.
    """

    frequency: Frequency
    year: int
    number: int

    def __post_init__(self) -> None:
        # Accept plain strings (e.g. read back from a database) but store the enum.
        object.__setattr__(self, "frequency", Frequency(self.frequency))
        problem = _range_problem(self.frequency, self.year, self.number)
        if problem is not None:
            raise PeriodError(
                f"{self.frequency.article_noun.capitalize()} with year {self.year} "
                f"and number {self.number} is not a period: {problem}"
            )

    # -- construction -------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse "2026", "2026-Q3", "2026-10" or "2026-W44" (case-insensitive)."""
        cleaned = text.strip()
        if not cleaned:
            raise PeriodError(f"No period given. {_HOW_TO_WRITE}")
        for frequency, pattern in (
            (Frequency.YEARLY, _YEAR_RE),
            (Frequency.QUARTERLY, _QUARTER_RE),
            (Frequency.MONTHLY, _MONTH_RE),
            (Frequency.WEEKLY, _WEEK_RE),
        ):
            match = pattern.fullmatch(cleaned)
            if match is None:
                continue
            year = int(match["year"])
            number = int(match["number"]) if frequency is not Frequency.YEARLY else 1
            problem = _range_problem(frequency, year, number)
            if problem is not None:
                raise PeriodError(f"`{cleaned}` is not a period: {problem}")
            return cls(frequency, year, number)
        raise PeriodError(f"`{cleaned}` is not a period. {_HOW_TO_WRITE}")

    @classmethod
    def containing(cls, frequency: Frequency, day: date) -> Period:
        """The period of ``frequency`` that contains ``day``."""
        if isinstance(day, datetime):
            # A datetime is a date subclass; drop the time so callers can't mix them up.
            day = day.date()
        if frequency is Frequency.WEEKLY:
            iso = day.isocalendar()
            # The ISO week-year, not the calendar year: 2021-01-01 is in 2020-W53.
            return cls(frequency, iso.year, iso.week)
        if frequency is Frequency.MONTHLY:
            return cls(frequency, day.year, day.month)
        if frequency is Frequency.QUARTERLY:
            return cls(frequency, day.year, (day.month - 1) // 3 + 1)
        return cls(Frequency.YEARLY, day.year, 1)

    @classmethod
    def current(cls, frequency: Frequency, tz: str | tzinfo, now: datetime | None = None) -> Period:
        """The period containing today's date in time zone ``tz``.

        ``now`` defaults to the current instant; a naive ``now`` is taken as UTC.
        """
        return cls.containing(frequency, _local_today(tz, now))

    @classmethod
    def from_ordinal(cls, frequency: Frequency, ordinal: int) -> Period:
        """Inverse of :attr:`ordinal`."""
        if frequency is Frequency.WEEKLY:
            try:
                monday = date.fromordinal(ordinal * 7 + 1)
            except (ValueError, OverflowError):
                raise PeriodError(f"Week number {ordinal} is outside the supported calendar.") from None
            return cls.containing(frequency, monday)
        if frequency is Frequency.MONTHLY:
            year, index = divmod(ordinal, 12)
            return cls(frequency, year, index + 1)
        if frequency is Frequency.QUARTERLY:
            year, index = divmod(ordinal, 4)
            return cls(frequency, year, index + 1)
        return cls(Frequency.YEARLY, ordinal, 1)

    # -- rendering ----------------------------------------------------------

    def __str__(self) -> str:
        if self.frequency is Frequency.WEEKLY:
            return f"{self.year:04d}-W{self.number:02d}"
        if self.frequency is Frequency.MONTHLY:
            return f"{self.year:04d}-{self.number:02d}"
        if self.frequency is Frequency.QUARTERLY:
            return f"{self.year:04d}-Q{self.number}"
        return f"{self.year:04d}"

    def label(self) -> str:
        """Human label: "Oct 2026", "Q3 2026", "Week 44, 2026" or "2026"."""
        if self.frequency is Frequency.WEEKLY:
            return f"Week {self.number}, {self.year}"
        if self.frequency is Frequency.MONTHLY:
            return f"{_MONTH_ABBR[self.number - 1]} {self.year}"
        if self.frequency is Frequency.QUARTERLY:
            return f"Q{self.number} {self.year}"
        return str(self.year)

    # -- calendar -----------------------------------------------------------

    @property
    def start(self) -> date:
        """First day of the period."""
        if self.frequency is Frequency.WEEKLY:
            return date.fromisocalendar(self.year, self.number, 1)
        if self.frequency is Frequency.MONTHLY:
            return date(self.year, self.number, 1)
        if self.frequency is Frequency.QUARTERLY:
            return date(self.year, 3 * self.number - 2, 1)
        return date(self.year, 1, 1)

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        if self.frequency is Frequency.WEEKLY:
            return self.start + timedelta(days=6)
        if self.frequency is Frequency.MONTHLY:
            return date(self.year, self.number, calendar.monthrange(self.year, self.number)[1])
        if self.frequency is Frequency.QUARTERLY:
            last_month = 3 * self.number
            return date(self.year, last_month, calendar.monthrange(self.year, last_month)[1])
        return date(self.year, 12, 31)

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls within this period."""
        if isinstance(day, datetime):
            day = day.date()
        return self.start <= day <= self.end

    @property
    def ordinal(self) -> int:
        """Running index within the frequency: ``b.ordinal - a.ordinal`` periods apart."""
        if self.frequency is Frequency.WEEKLY:
            # date(1, 1, 1) is a Monday with ordinal 1, so Mondays are 1 mod 7.
            return (self.start.toordinal() - 1) // 7
        if self.frequency is Frequency.MONTHLY:
            return self.year * 12 + self.number - 1
        if self.frequency is Frequency.QUARTERLY:
            return self.year * 4 + self.number - 1
        return self.year

    def shift(self, n: int) -> Period:
        """The period ``n`` periods later (earlier when negative)."""
        return Period.from_ordinal(self.frequency, self.ordinal + n)

    def next(self) -> Period:
        """The following period."""
        return self.shift(1)

    def previous(self) -> Period:
        """The preceding period."""
        return self.shift(-1)

    def periods_until(self, other: Period) -> int:
        """How many periods ``other`` is after this one (negative if before)."""
        _require_same_frequency(self, other)
        return other.ordinal - self.ordinal

    def is_future(self, tz: str | tzinfo, now: datetime | None = None) -> bool:
        """Whether this period starts after the current period in ``tz``."""
        return self > Period.current(self.frequency, tz, now)

    # -- ordering -----------------------------------------------------------

    def _order_key(self, other: object) -> tuple[int, int] | None:
        if not isinstance(other, Period):
            return None
        if self.frequency is not other.frequency:
            raise TypeError(f"Cannot order {self.frequency} period {self} against {other.frequency} period {other}.")
        return self.ordinal, other.ordinal

    def __lt__(self, other: object) -> bool:
        key = self._order_key(other)
        return NotImplemented if key is None else key[0] < key[1]

    def __le__(self, other: object) -> bool:
        key = self._order_key(other)
        return NotImplemented if key is None else key[0] <= key[1]

    def __gt__(self, other: object) -> bool:
        key = self._order_key(other)
        return NotImplemented if key is None else key[0] > key[1]

    def __ge__(self, other: object) -> bool:
        key = self._order_key(other)
        return NotImplemented if key is None else key[0] >= key[1]


def _local_today(tz: str | tzinfo, now: datetime | None) -> date:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(zone).date()


def parse_period_for(frequency: Frequency, text: str, indicator_key: str | None = None) -> Period:
    """Parse ``text`` and require a period of ``frequency``; errors are user-facing."""
    period = Period.parse(text)
    if period.frequency is frequency:
        return period
    subject = indicator_key if indicator_key else "this indicator"
    example = _example_within(frequency, period)
    raise PeriodError(
        f"`{period}` is {period.frequency.article_noun}, but {subject} is reported "
        f"{frequency}: write {frequency.article_noun} like `{example}`."
    )


def _example_within(frequency: Frequency, period: Period) -> Period:
    """A period of ``frequency`` near ``period``, to use as an example in messages."""
    try:
        length = period.end - period.start
        candidate = Period.containing(frequency, period.start)
        if candidate.end - candidate.start >= length:
            # Coarser: go by the middle, so 2026-W53 (Thursday 31 Dec) suggests 2026-12.
            candidate = Period.containing(frequency, period.start + length / 2)
        elif 2 * (candidate.end - period.start) < candidate.end - candidate.start:
            # Finer and mostly outside ``period`` (2026-W53 for the year 2027): use the next one.
            candidate = candidate.next()
    except PeriodError:
        return Period.parse(_EXAMPLES[frequency])
    return candidate


def _require_same_frequency(a: Period, b: Period) -> None:
    if a.frequency is not b.frequency:
        raise ValueError(f"Cannot compare {a.frequency} period {a} with {b.frequency} period {b}.")


def period_range(start: Period, end: Period) -> list[Period]:
    """All periods from ``start`` to ``end`` inclusive; empty when ``end`` is before ``start``."""
    _require_same_frequency(start, end)
    return [start.shift(i) for i in range(start.periods_until(end) + 1)]
