"""Reporting periods: ISO weeks, months, quarters and years.

Pure standard-library code so it can be used anywhere (handlers, jobs, tests).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from .errors import InputError

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "Frequency",
    "Period",
    "PeriodError",
    "PeriodReading",
    "check_reportable",
    "earliest_reportable",
    "local_today",
    "looks_like_period",
    "parse_period_for",
    "parse_period_words",
    "period_range",
    "read_period",
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
        if cls is Period:
            # Stored periods are parsed again and again (every value read, every standing): periods
            # are immutable, so each text is parsed once. Refusals are not kept; they raise each time.
            return _parsed(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Period:
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
    def last_completed(cls, frequency: Frequency, tz: str | tzinfo, now: datetime | date | None = None) -> Period:
        """The latest period that has ended by today in time zone ``tz``: the one partners report now.

        ``now`` may be an instant (naive is UTC) or the local date itself.
        """
        today = now if isinstance(now, date) and not isinstance(now, datetime) else _local_today(tz, now)
        return cls.containing(frequency, today).previous()

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


def local_today(tz: str | tzinfo, now: datetime | None = None) -> date:
    """Today's date in time zone ``tz`` (``now`` defaults to the current instant; naive is UTC)."""
    return _local_today(tz, now)


def _local_today(tz: str | tzinfo, now: datetime | None) -> date:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(zone).date()


def parse_period_for(frequency: Frequency, text: str, indicator_key: str | None = None) -> Period:
    """Parse ``text`` and require a period of ``frequency``; errors are user-facing."""
    return _require_frequency(frequency, Period.parse(text), indicator_key)


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


# -- periods as people write them ---------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Month names that are also everyday English words: alone, they begin a note ("may be undercounted")
# unless nothing but breakdowns follow them.
_WORDS_TOO = frozenset({"may", "march", "mar"})

_FLAGS = re.ASCII | re.IGNORECASE
_Y = r"(?P<year>[0-9]{4})"
_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, _FLAGS))
    for kind, pattern in (
        ("year", rf"{_Y}"),
        ("quarter", rf"{_Y}[-/ ]?Q(?P<number>[0-9]{{1,2}})"),
        ("quarter", rf"Q(?P<number>[0-9]{{1,2}})[-/ ]?{_Y}"),
        ("week", rf"{_Y}[-/ ]?W(?P<number>[0-9]{{1,2}})"),
        ("week", rf"W(?P<number>[0-9]{{1,2}})[-/ ]?{_Y}"),
        ("month", rf"{_Y}[-/.](?P<number>[0-9]{{1,2}})"),
        ("month", rf"(?P<number>[0-9]{{1,2}})[-/.]{_Y}"),
        ("month", rf"(?P<name>{_MONTH_NAMES})\.?[-/ ]?{_Y}"),
        ("month", rf"{_Y}[-/ ]?(?P<name>{_MONTH_NAMES})"),
        ("date", rf"{_Y}[-/.](?P<month>[0-9]{{1,2}})[-/.](?P<day>[0-9]{{1,2}})"),
        # Without a year: the most recent one that is not in the future.
        ("quarter", r"Q(?P<number>[0-9]{1,2})"),
        ("month", rf"(?P<name>{_MONTH_NAMES})\.?"),
    )
)
# Words that look like a date but say it in a way that can be misread (11/01/2026 is 1 November or
# 11 January; Nov-26 is 2026 or the 26th): refused with how to write them, never taken as a note.
_DATE_LIKE = re.compile(
    rf"[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.][0-9]{{2,4}}"
    rf"|[0-9]{{1,2}}[-/. ]?(?:{_MONTH_NAMES})\.?(?:[-/. ]?[0-9]{{2,4}})?"
    rf"|(?:{_MONTH_NAMES})\.?[-/. ]?[0-9]{{1,2}}(?:[-/., ]+[0-9]{{2,4}})?"
    rf"|[0-9]{{4}}[-/.][0-9a-z]+(?:[-/.][0-9a-z]+)*"
    rf"|[0-9]{{1,2}}[-/.][0-9]{{4}}[-/.]?[0-9a-z]*"
    rf"|[QW][0-9]{{1,2}}(?:[-/.][0-9a-z]*)?",
    _FLAGS,
)
_DATES_HOW = (
    "Write the period like `2026-11`, `Nov 2026`, `2026-Q4`, `Q4 2026`, `2026-W44` or `2026`, "
    "or a date as YYYY-MM-DD like `2026-11-01`."
)
# How far before its baseline an indicator may be reported: room for a coalition's own history
# (a bulk import of the years before it began), while 0001-01 or 1900 stays out.
YEARS_BEFORE_BASELINE = 10


@dataclass(frozen=True)
class PeriodReading:
    """A period read from the words a person typed.

    ``words`` is how many of the words it took (``Q3 2026`` takes two); ``assumed_year`` is set
    when no year was written (``December``, ``Q3``): the most recent such period not in the future.
    """

    period: Period
    words: int
    assumed_year: bool = False
    written: str = ""

    def explanation(self) -> str | None:
        """What was assumed, for the answer: "`Dec` is read as Dec 2025, the most recent one that has begun."."""
        if not self.assumed_year:
            return None
        return f"`{self.written}` has no year: it is read as {self.period.label()}, the most recent one that has begun."


def _is_breakdown(word: str) -> bool:
    return "=" in word


def looks_like_period(word: str) -> bool:
    """Whether a word names (or tries to name) a date or a period: it is then never a note."""
    cleaned = word.strip().rstrip(",;")
    if not cleaned:
        return False
    return any(pattern.fullmatch(cleaned) for _, pattern in _FORMS) or bool(_DATE_LIKE.fullmatch(cleaned))


def _two_words(words: Sequence[str]) -> str | None:
    """``Q3 2026``, ``2026 Q3``, ``December 2026``, ``2026 Dec``, ``W44 2026``: one period in two words."""
    if len(words) < 2:
        return None
    first, second = words[0].strip().rstrip(","), words[1].strip().rstrip(",;")
    year = re.compile(r"[0-9]{4}", re.ASCII)
    part = re.compile(rf"(?:Q[0-9]{{1,2}}|W[0-9]{{1,2}}|(?:{_MONTH_NAMES})\.?)", _FLAGS)
    if part.fullmatch(first) and year.fullmatch(second):
        return f"{first} {second}"
    if year.fullmatch(first) and part.fullmatch(second):
        return f"{first} {second}"
    return None


def _require_frequency(frequency: Frequency, period: Period, indicator_key: str | None) -> Period:
    if period.frequency is frequency:
        return period
    subject = indicator_key if indicator_key else "this indicator"
    example = _example_within(frequency, period)
    raise PeriodError(
        f"`{period}` is {period.frequency.article_noun}, but {subject} is reported "
        f"{frequency}: write {frequency.article_noun} like `{example}`."
    )


def _most_recent(frequency: Frequency, number: int, today: date) -> Period:
    year = today.year
    candidate = Period(frequency, year, number)
    return candidate if candidate.start <= today else Period(frequency, year - 1, number)


def _period_from(kind: str, match: re.Match[str], frequency: Frequency, today: date, shown: str) -> tuple[Period, bool]:
    groups = match.groupdict()
    raw_year = groups.get("year")
    number = groups.get("number")
    name = groups.get("name")
    month = _MONTHS[name.lower()] if name else int(number) if number and kind == "month" else None
    if kind == "date":
        try:
            day = date(int(raw_year or 0), int(groups["month"]), int(groups["day"]))
        except ValueError:
            raise PeriodError(f"`{shown}` is not a real date. {_DATES_HOW}") from None
        return Period.containing(frequency, day), False
    target = {
        "year": Frequency.YEARLY,
        "quarter": Frequency.QUARTERLY,
        "month": Frequency.MONTHLY,
        "week": Frequency.WEEKLY,
    }[kind]
    value = month if target is Frequency.MONTHLY else int(number) if number else 1
    assert value is not None
    if raw_year is None:
        problem = _range_problem(target, today.year, value)
        if problem is not None:
            raise PeriodError(f"`{shown}` is not a period: {problem}")
        return _most_recent(target, value, today), True
    problem = _range_problem(target, int(raw_year), value)
    if problem is not None:
        raise PeriodError(f"`{shown}` is not a period: {problem}")
    return Period(target, int(raw_year), value), False


def read_period(
    frequency: Frequency, words: Sequence[str], today: date, indicator_key: str | None = None
) -> PeriodReading | None:
    """The period named by the first word (or two) of ``words``, for an indicator of ``frequency``.

    None when the first word does not look like a date or a period at all (it is a note then).
    A word that does look like one is either read as the period it names, for this frequency,
    or refused with a PeriodError that says how to write it: never left to become a note. A date
    names the period that contains it (2026-11-01 is 2026-11, 2026-Q4, 2026 or 2026-W44), as
    Clear Impact's import reads dates; a period of another frequency is refused.
    """
    if not words:
        return None
    first = words[0].strip().rstrip(",;")
    pair = _two_words(words)
    candidates = ([(pair, 2)] if pair else []) + [(first, 1)]
    for text, used in candidates:
        for kind, pattern in _FORMS:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            bare_word = used == 1 and match.groupdict().get("name") and match.groupdict().get("year") is None
            word_too = bare_word and first.lower().rstrip(".") in _WORDS_TOO
            if word_too and not all(_is_breakdown(w) for w in words[1:]):
                return None
            period, assumed = _period_from(kind, match, frequency, today, text)
            return PeriodReading(_require_frequency(frequency, period, indicator_key), used, assumed, text)
    if _DATE_LIKE.fullmatch(first):
        raise PeriodError(f"`{first}` looks like a date, but it is not clear which. {_DATES_HOW}")
    return None


def parse_period_words(frequency: Frequency, text: str, today: date, indicator_key: str | None = None) -> PeriodReading:
    """A whole field (the form's period) read as one period of ``frequency``; errors are user-facing."""
    words = text.split()
    if not words:
        raise PeriodError(f"No period given. {_DATES_HOW}")
    reading = read_period(frequency, words, today, indicator_key)
    if reading is None or reading.words != len(words):
        raise PeriodError(f"`{text.strip()}` is not a period. {_DATES_HOW}")
    return reading


def earliest_reportable(frequency: Frequency, baseline: Period | None, current: Period) -> Period:
    """The earliest period an indicator takes values for: ten years before its baseline's year.

    Without a baseline, ten years before the current period's year. Earlier than that is a typo
    (0001-01, 1026-11), not a coalition's history, and would squash every chart into a dot.
    """
    anchor = baseline.start if baseline is not None and baseline.frequency is frequency else current.start
    year = max(MIN_YEAR, anchor.year - YEARS_BEFORE_BASELINE)
    return Period.containing(frequency, date(year, 1, 1))


def check_reportable(period: Period, *, current: Period, baseline: Period | None, indicator_key: str) -> None:
    """Refuse a period outside the indicator's life: before ``earliest_reportable`` or after ``current``."""
    if period.frequency is not current.frequency:
        raise PeriodError(f"{indicator_key} is reported {current.frequency.value}, not by {period.frequency.noun}.")
    if period > current:
        raise PeriodError(
            f"{period} has not started yet: report values for the current period ({current}) or an earlier one."
        )
    earliest = earliest_reportable(period.frequency, baseline, current)
    if period < earliest:
        from_baseline = baseline is not None and baseline.frequency is period.frequency
        since = f"its baseline ({baseline})" if from_baseline else "now"
        raise PeriodError(
            f"{period} is long before {indicator_key} was measured: periods from {earliest} on are taken "
            f"({YEARS_BEFORE_BASELINE} years before {since}). Check the year."
        )


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Period:
    return Period._parse(text)
