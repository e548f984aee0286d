"""Reporting windows and nudge days, with the clock set around period ends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.domain.windows import (
    DEFAULT_LAG_DAYS,
    Nudge,
    NudgeRule,
    backup_due,
    due_date,
    lag_days,
    next_working_day,
    nudge_days,
    nudge_on,
    window_due,
    window_for,
)

W, M, Q, Y = Frequency.WEEKLY, Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.YEARLY
CHICAGO = "America/Chicago"


@pytest.mark.parametrize(
    ("now", "frequency", "expected"),
    [
        # 2 October: September and Q3 have ended; the week of Mon 28 Sep is still running.
        (datetime(2026, 10, 2, 15, tzinfo=UTC), M, "2026-09"),
        (datetime(2026, 10, 2, 15, tzinfo=UTC), Q, "2026-Q3"),
        (datetime(2026, 10, 2, 15, tzinfo=UTC), Y, "2025"),
        (datetime(2026, 10, 2, 15, tzinfo=UTC), W, "2026-W39"),
        # 7 January 2027: December, Q4 and the year 2026 are the ones partners report.
        (datetime(2027, 1, 7, 15, tzinfo=UTC), M, "2026-12"),
        (datetime(2027, 1, 7, 15, tzinfo=UTC), Q, "2026-Q4"),
        (datetime(2027, 1, 7, 15, tzinfo=UTC), Y, "2026"),
        (datetime(2027, 1, 7, 15, tzinfo=UTC), W, "2026-W53"),
        # 4 December: November, not the running December or Q4.
        (datetime(2026, 12, 4, 15, tzinfo=UTC), M, "2026-11"),
        (datetime(2026, 12, 4, 15, tzinfo=UTC), Q, "2026-Q3"),
        # The last day of a month, late in the evening in Chicago (already the 1st in UTC): still that month.
        (datetime(2026, 12, 1, 3, 30, tzinfo=UTC), M, "2026-10"),
        (datetime(2026, 12, 1, 6, 30, tzinfo=UTC), M, "2026-11"),
        # Daylight saving ends on Sun 1 Nov 2026 at 02:00 CDT: 23:30 CST on 31 Oct is still October.
        (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), M, "2026-09"),
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), M, "2026-10"),
        # And starts on Sun 14 Mar 2027: local midnight of 1 April is 05:00 UTC (CDT).
        (datetime(2027, 4, 1, 4, 59, tzinfo=UTC), Q, "2026-Q4"),
        (datetime(2027, 4, 1, 5, 0, tzinfo=UTC), Q, "2027-Q1"),
    ],
)
def test_the_period_partners_report_is_the_last_one_completed(
    now: datetime, frequency: Frequency, expected: str
) -> None:
    assert str(Period.last_completed(frequency, CHICAGO, now)) == expected


def test_last_completed_takes_a_local_date_too() -> None:
    assert Period.last_completed(M, CHICAGO, date(2026, 12, 31)) == Period.parse("2026-11")
    assert Period.last_completed(M, CHICAGO, date(2027, 1, 1)) == Period.parse("2026-12")
    assert Period.last_completed(W, CHICAGO, date(2027, 1, 4)) == Period.parse("2026-W53")


def test_due_dates_by_default_lag() -> None:
    assert DEFAULT_LAG_DAYS == {W: 3, M: 15, Q: 30, Y: 60}
    assert due_date(Period.parse("2026-Q3"), 30) == date(2026, 10, 30)
    assert due_date(Period.parse("2026-11"), 15) == date(2026, 12, 15)
    assert due_date(Period.parse("2026-12"), 15) == date(2027, 1, 15)
    assert due_date(Period.parse("2026-02"), 15) == date(2026, 3, 15)  # a short month ends on the 28th
    assert due_date(Period.parse("2028-02"), 15) == date(2028, 3, 15)  # leap year: ends on the 29th
    assert due_date(Period.parse("2026-W44"), 3) == date(2026, 11, 4)
    assert due_date(Period.parse("2026"), 60) == date(2027, 3, 1)


def test_the_lag_comes_from_the_indicator_then_the_initiative_then_the_default() -> None:
    assert lag_days(Q) == 30
    assert lag_days(Q, {"quarterly": 15}) == 15
    assert lag_days(M, {"quarterly": 15}) == 15  # monthly keeps its default
    assert lag_days(Q, {"quarterly": 15}, indicator=45) == 45
    assert lag_days(Q, None, indicator=0) == 0


def test_a_report_is_due_and_only_late_after_its_due_date() -> None:
    # 4 December: November is due by 15 December, not missing.
    window = window_due(M, date(2026, 12, 4), 15)
    assert window.period == Period.parse("2026-11") and window.due == date(2026, 12, 15)
    assert window.is_open(date(2026, 12, 4)) and not window.is_late(date(2026, 12, 4))
    assert not window.is_late(date(2026, 12, 15)) and window.is_late(date(2026, 12, 16))
    # 7 January 2027: December's window is open, due 15 January.
    january = window_due(M, date(2027, 1, 7), 15)
    assert january.period == Period.parse("2026-12") and january.opens == date(2027, 1, 1)
    # 2 October: Q3 is due by 30 October.
    q3 = window_due(Q, date(2026, 10, 2), 30)
    assert q3.period == Period.parse("2026-Q3") and q3.due == date(2026, 10, 30) and not q3.is_late(date(2026, 10, 2))


def test_working_days_skip_weekends_and_listed_holidays() -> None:
    christmas = {date(2026, 12, 24), date(2026, 12, 25)}
    assert next_working_day(date(2026, 12, 23), christmas) == date(2026, 12, 23)
    assert next_working_day(date(2026, 12, 24), christmas) == date(2026, 12, 28)  # Thu, Fri holidays, then a weekend
    assert next_working_day(date(2026, 10, 3)) == date(2026, 10, 5)  # Saturday
    assert next_working_day(date(2026, 12, 24)) == date(2026, 12, 24)  # not listed: a working day


def test_a_quarterly_window_has_three_nudges() -> None:
    q3 = window_for(Period.parse("2026-Q3"), 30)
    days = nudge_days(q3, NudgeRule())
    assert days == {
        Nudge.OPENING: date(2026, 10, 1),  # Thursday
        Nudge.CLOSING: date(2026, 10, 27),  # three days before Friday 30 October
        Nudge.LATE: date(2026, 11, 2),  # Saturday 31 October moves to Monday
        Nudge.BACKUP: date(2026, 11, 2),
    }
    assert nudge_on(q3, NudgeRule(), date(2026, 9, 30)) is None
    assert nudge_on(q3, NudgeRule(), date(2026, 10, 1)) is Nudge.OPENING
    assert nudge_on(q3, NudgeRule(), date(2026, 10, 5)) is Nudge.OPENING  # still standing: made up if missed
    assert nudge_on(q3, NudgeRule(), date(2026, 10, 15)) is None  # two weeks on: not worth making up
    assert nudge_on(q3, NudgeRule(), date(2026, 10, 27)) is Nudge.CLOSING
    assert nudge_on(q3, NudgeRule(), date(2026, 11, 1)) is Nudge.CLOSING
    assert nudge_on(q3, NudgeRule(), date(2026, 11, 2)) is Nudge.LATE
    assert nudge_on(q3, NudgeRule(), date(2026, 11, 9)) is Nudge.LATE
    assert nudge_on(q3, NudgeRule(), date(2026, 11, 10)) is None
    assert not backup_due(q3, NudgeRule(), date(2026, 11, 1)) and backup_due(q3, NudgeRule(), date(2026, 11, 2))


def test_a_nudge_on_a_listed_holiday_moves_to_the_next_working_day() -> None:
    # December opens Friday 1 January 2027, a listed holiday, so its opening nudge comes Monday 4 January.
    december = window_for(Period.parse("2026-12"), 15)
    holidays = {date(2027, 1, 1)}
    days = nudge_days(december, NudgeRule(), holidays)
    assert days[Nudge.OPENING] == date(2027, 1, 4)
    assert days[Nudge.CLOSING] == date(2027, 1, 12)
    assert days[Nudge.LATE] == date(2027, 1, 18)  # Saturday 16th → Monday 18th
    # A closing nudge on Thursday 24 December (a listed holiday) waits for Monday 28 December.
    window = window_for(Period.parse("2026-11"), 30)  # due Wednesday 30 December
    assert nudge_days(window, NudgeRule(days_before_due=6), {date(2026, 12, 24), date(2026, 12, 25)})[
        Nudge.CLOSING
    ] == date(2026, 12, 28)
    assert nudge_days(window, NudgeRule(days_before_due=6))[Nudge.CLOSING] == date(2026, 12, 24)


def test_nudges_across_the_daylight_saving_change() -> None:
    # October 2026 ends the night before DST ends in Chicago; its window opens Sunday 1 November → Monday 2nd.
    october = window_for(Period.last_completed(M, CHICAGO, datetime(2026, 11, 1, 7, 30, tzinfo=UTC)), 15)
    assert october.period == Period.parse("2026-10")
    assert nudge_days(october, NudgeRule())[Nudge.OPENING] == date(2026, 11, 2)
    # A weekly window across the March change: week 10 of 2027 ends Sunday 14 March (DST starts).
    week = window_for(Period.last_completed(W, CHICAGO, datetime(2027, 3, 15, 5, 30, tzinfo=UTC)), 3)
    assert week.period == Period.parse("2027-W10") and week.due == date(2027, 3, 17)
    # Short window: the closing nudge (Sunday 14 → Monday 15) would share the opening's day: dropped.
    assert nudge_days(week, NudgeRule()) == {
        Nudge.OPENING: date(2027, 3, 15),
        Nudge.LATE: date(2027, 3, 18),
        Nudge.BACKUP: date(2027, 3, 18),
    }


def test_nudges_can_be_turned_off() -> None:
    q3 = window_for(Period.parse("2026-Q3"), 30)
    quiet = NudgeRule(opening=False, days_before_due=None, days_after_due=None)
    assert nudge_days(q3, quiet) == {Nudge.BACKUP: date(2026, 11, 2)}
    assert nudge_on(q3, quiet, date(2026, 12, 1)) is None
