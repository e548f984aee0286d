from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ci_slackbot.domain.periods import (
    MAX_YEAR,
    MIN_YEAR,
    Frequency,
    Period,
    PeriodError,
    parse_period_for,
    period_range,
)

W = Frequency.WEEKLY
M = Frequency.MONTHLY
Q = Frequency.QUARTERLY
Y = Frequency.YEARLY
CHICAGO = "America/Chicago"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# -- parsing and rendering ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("2026", Period(Y, 2026, 1), "2026"),
        ("2026-Q3", Period(Q, 2026, 3), "2026-Q3"),
        ("2026-q1", Period(Q, 2026, 1), "2026-Q1"),
        ("2026-10", Period(M, 2026, 10), "2026-10"),
        ("2026-03", Period(M, 2026, 3), "2026-03"),
        ("2026-3", Period(M, 2026, 3), "2026-03"),
        ("2026-W44", Period(W, 2026, 44), "2026-W44"),
        ("2026-w44", Period(W, 2026, 44), "2026-W44"),
        ("2026-W4", Period(W, 2026, 4), "2026-W04"),
        ("2026-W04", Period(W, 2026, 4), "2026-W04"),
        ("  2026-W53\n", Period(W, 2026, 53), "2026-W53"),
        ("2020-W53", Period(W, 2020, 53), "2020-W53"),
    ],
)
def test_parse_and_str(text: str, expected: Period, canonical: str) -> None:
    period = Period.parse(text)
    assert period == expected
    assert str(period) == canonical
    assert Period.parse(str(period)) == period


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-13", "months run from 01 to 12"),
        ("2026-00", "months run from 01 to 12"),
        ("2026-Q5", "quarters run from Q1 to Q4"),
        ("2026-Q0", "quarters run from Q1 to Q4"),
        ("2025-W53", "2025 has only 52 ISO weeks"),
        ("2026-W54", "ISO weeks run from W01 to W52"),
        ("2026-W00", "ISO weeks run from W01 to W52"),
        ("0000", "years run from 0001"),
        ("abc", "Write a year `2026`"),
        ("26", "Write a year `2026`"),
        ("2026-", "Write a year `2026`"),
        ("2026/10", "Write a year `2026`"),
        ("2026-H1", "Write a year `2026`"),
        ("2026 - Q3", "Write a year `2026`"),
        ("Oct 2026", "Write a year `2026`"),
        ("２０２６", "Write a year `2026`"),  # full-width digits
        ("2026-W044", "Write a year `2026`"),
    ],
)
def test_parse_rejects_with_helpful_message(text: str, fragment: str) -> None:
    with pytest.raises(PeriodError) as excinfo:
        Period.parse(text)
    message = str(excinfo.value)
    assert f"`{text.strip()}`" in message
    assert fragment in message
    assert "Write a" in message  # always says how to write it right


def test_parse_empty() -> None:
    with pytest.raises(PeriodError, match="No period given"):
        Period.parse("   ")


def test_parse_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        Period.parse("nope")


def test_exact_generic_message() -> None:
    with pytest.raises(PeriodError) as excinfo:
        Period.parse("soon")
    assert str(excinfo.value) == (
        "`soon` is not a period. Write a year `2026`, a quarter `2026-Q3`, a month `2026-10` or an ISO week `2026-W44`."
    )


@pytest.mark.parametrize(
    ("frequency", "year", "number"),
    [(M, 2026, 13), (Q, 2026, 5), (W, 2025, 53), (Y, 2026, 2), (M, 0, 1), (Y, MAX_YEAR + 1, 1)],
)
def test_constructor_validates(frequency: Frequency, year: int, number: int) -> None:
    with pytest.raises(PeriodError):
        Period(frequency, year, number)


def test_constructor_accepts_frequency_string() -> None:
    period = Period("monthly", 2026, 10)  # type: ignore[arg-type]
    assert period.frequency is Frequency.MONTHLY
    assert period == Period(M, 2026, 10)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("2026-10", "Oct 2026"),
        ("2026-01", "Jan 2026"),
        ("2026-Q3", "Q3 2026"),
        ("2026-W44", "Week 44, 2026"),
        ("2026-W04", "Week 4, 2026"),
        ("2026", "2026"),
    ],
)
def test_label(text: str, label: str) -> None:
    assert Period.parse(text).label() == label


# -- calendar ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
        ("2026-W44", date(2026, 10, 26), date(2026, 11, 1)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3)),
    ],
)
def test_start_end(text: str, start: date, end: date) -> None:
    period = Period.parse(text)
    assert period.start == start
    assert period.end == end
    assert period.contains(start)
    assert period.contains(end)
    assert not period.contains(start - timedelta(days=1))
    assert not period.contains(end + timedelta(days=1))


@pytest.mark.parametrize(
    ("frequency", "day", "expected"),
    [
        (W, date(2021, 1, 1), "2020-W53"),
        (W, date(2021, 1, 3), "2020-W53"),
        (W, date(2021, 1, 4), "2021-W01"),
        (W, date(2027, 1, 1), "2026-W53"),
        (W, date(2025, 12, 29), "2026-W01"),
        (M, date(2021, 1, 1), "2021-01"),
        (Q, date(2026, 6, 30), "2026-Q2"),
        (Q, date(2026, 7, 1), "2026-Q3"),
        (Y, date(2025, 12, 29), "2025"),
    ],
)
def test_containing(frequency: Frequency, day: date, expected: str) -> None:
    assert str(Period.containing(frequency, day)) == expected


def test_containing_accepts_datetime() -> None:
    assert Period.containing(M, datetime(2026, 10, 31, 23, 59)) == Period(M, 2026, 10)


@pytest.mark.parametrize(
    ("text", "next_text"),
    [
        ("2026-12", "2027-01"),
        ("2026-Q4", "2027-Q1"),
        ("2026", "2027"),
        ("2026-W52", "2026-W53"),
        ("2026-W53", "2027-W01"),
        ("2025-W52", "2026-W01"),
        ("2020-W53", "2021-W01"),
    ],
)
def test_next_previous_across_year_end(text: str, next_text: str) -> None:
    period = Period.parse(text)
    following = Period.parse(next_text)
    assert period.next() == following
    assert following.previous() == period
    assert period.periods_until(following) == 1
    assert following.start == period.end + timedelta(days=1)


def test_shift() -> None:
    assert Period.parse("2026-10").shift(-22) == Period.parse("2024-12")
    assert Period.parse("2026-Q3").shift(6) == Period.parse("2028-Q1")
    assert Period.parse("2026-W01").shift(-1) == Period.parse("2025-W52")
    assert Period.parse("2026-W44").shift(0) == Period.parse("2026-W44")


def test_shift_past_supported_years_raises() -> None:
    with pytest.raises(PeriodError):
        Period(Y, MAX_YEAR, 1).next()
    with pytest.raises(PeriodError):
        Period(W, MIN_YEAR, 1).previous()


def test_ordinal_differences() -> None:
    assert Period.parse("2026-01").periods_until(Period.parse("2026-10")) == 9
    assert Period.parse("2025-11").periods_until(Period.parse("2026-02")) == 3
    assert Period.parse("2026-Q3").periods_until(Period.parse("2025-Q4")) == -3
    assert Period.parse("2020").periods_until(Period.parse("2026")) == 6
    # 2020 and 2026 both have 53 weeks.
    assert Period.parse("2020-W01").periods_until(Period.parse("2021-W01")) == 53
    assert Period.parse("2025-W01").periods_until(Period.parse("2026-W01")) == 52
    assert Period.parse("2026-W44").periods_until(Period.parse("2027-W02")) == 11


def test_from_ordinal_inverts_ordinal() -> None:
    for text in ["2026", "2026-Q1", "2026-12", "2026-W53", "2021-W01"]:
        period = Period.parse(text)
        assert Period.from_ordinal(period.frequency, period.ordinal) == period


def test_periods_until_requires_same_frequency() -> None:
    with pytest.raises(ValueError):
        Period.parse("2026-10").periods_until(Period.parse("2026-Q4"))


def test_ordering_within_frequency() -> None:
    periods = [Period.parse(t) for t in ["2027-W01", "2026-W53", "2026-W02", "2026-W10"]]
    assert [str(p) for p in sorted(periods)] == ["2026-W02", "2026-W10", "2026-W53", "2027-W01"]
    assert Period.parse("2026-09") < Period.parse("2026-10") <= Period.parse("2026-10")
    assert Period.parse("2027-Q1") > Period.parse("2026-Q4") >= Period.parse("2026-Q4")
    assert max(Period.parse("2025"), Period.parse("2026")) == Period.parse("2026")


def test_ordering_across_frequencies_raises() -> None:
    with pytest.raises(TypeError):
        _ = Period.parse("2026-10") < Period.parse("2026-Q4")
    # Equality still works and is simply False.
    assert Period.parse("2026") != Period.parse("2026-01")


def test_periods_are_hashable() -> None:
    assert len({Period.parse("2026-10"), Period.parse("2026-10"), Period.parse("2026-W10")}) == 2


def test_period_range() -> None:
    assert [str(p) for p in period_range(Period.parse("2026-11"), Period.parse("2027-02"))] == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]
    assert period_range(Period.parse("2026-W53"), Period.parse("2026-W53")) == [Period.parse("2026-W53")]
    assert period_range(Period.parse("2027"), Period.parse("2026")) == []
    with pytest.raises(ValueError):
        period_range(Period.parse("2026"), Period.parse("2026-Q4"))


# -- current time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "frequency", "expected"),
    [
        # Just after midnight UTC it is still the previous evening in Chicago.
        (utc(2026, 10, 1, 0, 30), M, "2026-09"),
        (utc(2026, 10, 1, 0, 30), Q, "2026-Q3"),
        (utc(2027, 1, 1, 3, 0), Y, "2026"),
        (utc(2027, 1, 1, 3, 0), W, "2026-W53"),
        (utc(2027, 1, 1, 6, 0), Y, "2027"),
        # CDT (UTC-5) after the spring change on Sunday 2026-03-08: Monday starts at 05:00 UTC.
        (utc(2026, 3, 9, 4, 59), W, "2026-W10"),
        (utc(2026, 3, 9, 5, 0), W, "2026-W11"),
        # CST (UTC-6) before it: Sunday starts at 06:00 UTC.
        (utc(2026, 3, 8, 5, 59), W, "2026-W10"),
        (utc(2026, 3, 8, 5, 59), M, "2026-03"),
        # Autumn change on Sunday 2026-11-01: November starts at 05:00 UTC (still CDT) ...
        (utc(2026, 11, 1, 4, 59), M, "2026-10"),
        (utc(2026, 11, 1, 5, 0), M, "2026-11"),
        # ... and the next Monday at 06:00 UTC (now CST).
        (utc(2026, 11, 2, 5, 59), W, "2026-W44"),
        (utc(2026, 11, 2, 6, 0), W, "2026-W45"),
    ],
)
def test_current_in_chicago(now: datetime, frequency: Frequency, expected: str) -> None:
    assert str(Period.current(frequency, CHICAGO, now)) == expected


def test_current_accepts_tzinfo_and_other_offsets() -> None:
    now = utc(2026, 10, 1, 0, 30)
    assert Period.current(M, ZoneInfo(CHICAGO), now) == Period.parse("2026-09")
    # An aware `now` in another zone is converted, not reinterpreted.
    tokyo = now.astimezone(ZoneInfo("Asia/Tokyo"))
    assert Period.current(M, CHICAGO, tokyo) == Period.parse("2026-09")
    assert Period.current(M, timezone(timedelta(hours=10)), now) == Period.parse("2026-10")


def test_current_naive_now_is_utc() -> None:
    assert Period.current(M, CHICAGO, datetime(2026, 10, 1, 0, 30)) == Period.parse("2026-09")


def test_current_defaults_to_now() -> None:
    today = datetime.now(UTC).date()
    current = Period.current(W, "UTC")
    # Tolerate the test running across midnight.
    assert current.contains(today) or current.contains(today + timedelta(days=1))


def test_is_future() -> None:
    now = utc(2026, 10, 1, 0, 30)  # 2026-09-30 in Chicago
    assert Period.parse("2026-10").is_future(CHICAGO, now)
    assert not Period.parse("2026-09").is_future(CHICAGO, now)
    assert not Period.parse("2026-08").is_future(CHICAGO, now)
    assert not Period.parse("2026-10").is_future("UTC", now)
    assert not Period.parse("2026-Q3").is_future(CHICAGO, now)
    assert Period.parse("2026-Q4").is_future(CHICAGO, now)
    assert Period.parse("2027").is_future(CHICAGO, now)


# -- parse_period_for -------------------------------------------------------


def test_parse_period_for_accepts_matching_frequency() -> None:
    assert parse_period_for(M, "2026-10") == Period(M, 2026, 10)
    assert parse_period_for(W, "2026-w4", "er-visits") == Period(W, 2026, 4)


def test_parse_period_for_wrong_frequency_message() -> None:
    with pytest.raises(PeriodError) as excinfo:
        parse_period_for(M, "2026-Q3", "er-visits")
    assert str(excinfo.value) == (
        "`2026-Q3` is a quarter, but er-visits is reported monthly: write a month like `2026-07`."
    )


@pytest.mark.parametrize(
    ("frequency", "text", "fragment"),
    [
        (W, "2027", "is a year, but this indicator is reported weekly: write an ISO week like `2027-W01`."),
        (W, "2026-10", "is a month, but this indicator is reported weekly: write an ISO week like `2026-W40`."),
        (M, "2026-W53", "is an ISO week, but this indicator is reported monthly: write a month like `2026-12`."),
        (Q, "2026-10", "write a quarter like `2026-Q4`."),
        (Y, "2026-W01", "write a year like `2026`."),
    ],
)
def test_parse_period_for_examples_fit(frequency: Frequency, text: str, fragment: str) -> None:
    with pytest.raises(PeriodError) as excinfo:
        parse_period_for(frequency, text)
    assert fragment in str(excinfo.value)


def test_parse_period_for_passes_through_parse_errors() -> None:
    with pytest.raises(PeriodError, match="months run from 01 to 12"):
        parse_period_for(M, "2026-13")


# -- properties -------------------------------------------------------------


@st.composite
def periods(draw: st.DrawFn) -> Period:
    frequency = draw(st.sampled_from(list(Frequency)))
    year = draw(st.integers(min_value=MIN_YEAR + 1, max_value=MAX_YEAR - 1))
    if frequency is Frequency.WEEKLY:
        number = draw(st.integers(min_value=1, max_value=date(year, 12, 28).isocalendar().week))
    elif frequency is Frequency.MONTHLY:
        number = draw(st.integers(min_value=1, max_value=12))
    elif frequency is Frequency.QUARTERLY:
        number = draw(st.integers(min_value=1, max_value=4))
    else:
        number = 1
    return Period(frequency, year, number)


@given(periods())
def test_parse_str_round_trip(period: Period) -> None:
    assert Period.parse(str(period)) == period


@given(periods())
def test_next_previous_inverse(period: Period) -> None:
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.next().start == period.end + timedelta(days=1)
    assert period.periods_until(period.next()) == 1


@given(periods(), st.integers(min_value=-200, max_value=200))
def test_shift_matches_ordinal(period: Period, n: int) -> None:
    try:
        shifted = period.shift(n)
    except PeriodError:
        return  # walked off the supported calendar
    assert period.periods_until(shifted) == n


@given(st.dates(min_value=date(2, 1, 1), max_value=date(9998, 12, 1)), st.sampled_from(list(Frequency)))
def test_containing_contains(day: date, frequency: Frequency) -> None:
    period = Period.containing(frequency, day)
    assert period.contains(day)
    assert period.start <= day <= period.end


# -- periods as people write them ---------------------------------------------------------

from ci_slackbot.domain.periods import (  # noqa: E402
    check_reportable,
    earliest_reportable,
    looks_like_period,
    parse_period_words,
    read_period,
)

TODAY = date(2026, 12, 4)


@pytest.mark.parametrize(
    ("words", "frequency", "expected", "used"),
    [
        # A date names the period that contains it, for the indicator's frequency.
        ("2026-11-01", M, Period(M, 2026, 11), 1),
        ("2026-11-01", Q, Period(Q, 2026, 4), 1),
        ("2026-11-01", Y, Period(Y, 2026, 1), 1),
        ("2026-11-01", W, Period(W, 2026, 44), 1),
        ("2026-11-1", M, Period(M, 2026, 11), 1),
        ("2026/11/01", M, Period(M, 2026, 11), 1),
        ("2021-01-01", W, Period(W, 2020, 53), 1),  # the ISO week-year
        # Months, however they are written.
        ("2026-11", M, Period(M, 2026, 11), 1),
        ("2026/11", M, Period(M, 2026, 11), 1),
        ("11/2026", M, Period(M, 2026, 11), 1),
        ("Nov-2026", M, Period(M, 2026, 11), 1),
        ("nov2026", M, Period(M, 2026, 11), 1),
        ("2026-Nov", M, Period(M, 2026, 11), 1),
        ("December 2026", M, Period(M, 2026, 12), 2),
        ("Sept. 2026", M, Period(M, 2026, 9), 2),
        ("2026 December", M, Period(M, 2026, 12), 2),
        # Quarters and weeks.
        ("2026-Q3", Q, Period(Q, 2026, 3), 1),
        ("2026Q3", Q, Period(Q, 2026, 3), 1),
        ("Q3-2026", Q, Period(Q, 2026, 3), 1),
        ("Q3 2026", Q, Period(Q, 2026, 3), 2),
        ("2026 Q3", Q, Period(Q, 2026, 3), 2),
        ("q3 2026 zip=75216", Q, Period(Q, 2026, 3), 2),
        ("2026-W44", W, Period(W, 2026, 44), 1),
        ("W44 2026", W, Period(W, 2026, 44), 2),
        ("2026", Y, Period(Y, 2026, 1), 1),
    ],
)
def test_periods_are_read_as_people_write_them(words: str, frequency: Frequency, expected: Period, used: int) -> None:
    reading = read_period(frequency, words.split(), TODAY, "x")
    assert reading is not None
    assert (reading.period, reading.words, reading.assumed_year) == (expected, used, False)
    assert looks_like_period(words.split()[0])


@pytest.mark.parametrize(
    ("word", "frequency", "today", "expected"),
    [
        ("November", M, TODAY, Period(M, 2026, 11)),
        ("Dec", M, TODAY, Period(M, 2026, 12)),  # December has begun on 4 December
        ("Dec", M, date(2026, 11, 30), Period(M, 2025, 12)),  # not yet: last year's
        ("december", M, date(2027, 1, 7), Period(M, 2026, 12)),
        ("Q3", Q, TODAY, Period(Q, 2026, 3)),
        ("Q4", Q, date(2026, 9, 30), Period(Q, 2025, 4)),
    ],
)
def test_a_month_or_quarter_without_a_year_is_the_most_recent_one_begun(
    word: str, frequency: Frequency, today: date, expected: Period
) -> None:
    reading = read_period(frequency, [word], today, "x")
    assert reading is not None and reading.period == expected and reading.assumed_year
    assert f"`{word}` has no year: it is read as {expected.label()}" in (reading.explanation() or "")


@pytest.mark.parametrize(
    ("words", "frequency", "says"),
    [
        ("11/01/2026", M, "YYYY-MM-DD"),  # 1 November or 11 January?
        ("01.11.2026", M, "YYYY-MM-DD"),
        ("Nov-26", M, "not clear"),
        ("1-Nov-2026", M, "not clear"),
        ("2026-02-30", M, "not a real date"),
        ("2026-13", M, "months run from 01 to 12"),
        ("2026-Q5", Q, "Q1 to Q4"),
        ("Q5", Q, "Q1 to Q4"),
        ("2026-Q3", M, "reported monthly: write a month like `2026-07`"),
        ("Q3 2026", M, "reported monthly"),
        ("November", Q, "reported quarterly: write a quarter like `2026-Q4`"),
        ("Nov-2026", W, "reported weekly"),
        ("2026", M, "reported monthly"),
        ("2026-11", Y, "reported yearly: write a year like `2026`"),
        ("2026-era", M, "YYYY-MM-DD"),
    ],
)
def test_a_word_that_looks_like_a_date_is_refused_with_how_to_write_it(
    words: str, frequency: Frequency, says: str
) -> None:
    with pytest.raises(PeriodError, match=re.escape(says)):
        read_period(frequency, words.split(), TODAY, "x")


@pytest.mark.parametrize(
    "words", ["fewer visits", "30", "3/4 of clinics", "may be undercounted", "March was cold", "zip=75216", "Q&A"]
)
def test_words_that_are_not_dates_are_left_for_the_note(words: str) -> None:
    assert read_period(M, words.split(), TODAY, "x") is None


def test_may_and_march_alone_or_before_breakdowns_are_months() -> None:
    for words in (["May"], ["may", "zip=75216"]):
        alone = read_period(M, words, TODAY, "x")
        assert alone is not None and alone.period == Period(M, 2026, 5) and alone.words == 1
    reading = read_period(M, ["march"], TODAY, "x")
    assert reading is not None and reading.period == Period(M, 2026, 3)


def test_a_whole_field_must_be_one_period() -> None:
    assert parse_period_words(Q, " Q3 2026 ", TODAY).period == Period(Q, 2026, 3)
    with pytest.raises(PeriodError, match="not a period"):
        parse_period_words(Q, "Q3 2026 or so", TODAY)
    with pytest.raises(PeriodError, match="No period"):
        parse_period_words(Q, "  ", TODAY)


def test_periods_outside_the_indicators_life_are_refused() -> None:
    current = Period(M, 2026, 12)
    baseline = Period(M, 2025, 12)
    assert earliest_reportable(M, baseline, current) == Period(M, 2015, 1)
    assert earliest_reportable(Q, None, Period(Q, 2026, 4)) == Period(Q, 2016, 1)
    check_reportable(Period(M, 2015, 1), current=current, baseline=baseline, indicator_key="er-visits")
    check_reportable(current, current=current, baseline=baseline, indicator_key="er-visits")
    with pytest.raises(PeriodError, match=r"0001-01 is long before er-visits .* from 2015-01 on"):
        check_reportable(Period(M, 1, 1), current=current, baseline=baseline, indicator_key="er-visits")
    with pytest.raises(PeriodError, match="2014-12 is long before"):
        check_reportable(Period(M, 2014, 12), current=current, baseline=baseline, indicator_key="er-visits")
    with pytest.raises(PeriodError, match="has not started yet"):
        check_reportable(Period(M, 2027, 1), current=current, baseline=baseline, indicator_key="er-visits")


@given(st.text(max_size=30))
def test_reading_any_word_either_reads_a_period_refuses_or_leaves_it(word: str) -> None:
    for frequency in Frequency:
        try:
            reading = read_period(frequency, [word, "note"], TODAY, "x")
        except PeriodError:
            continue
        assert reading is None or reading.period.frequency is frequency
