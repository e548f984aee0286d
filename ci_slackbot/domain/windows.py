"""Reporting windows: which period partners report now, by when, and on which days they are nudged.

Partners report a period after it ends: September's numbers in October, Q3's in
October too. The period *due* is the last one completed; its report is due a lag
after the period's last day (Clear Impact's default data-entry period is 15 days
after the period ends). Until that due date passes, a missing report is "due by
<date>", not missing.

Default lags, in days after the period's last day, chosen to fit how long a
partner needs to pull the numbers together:

| frequency | lag | so the report of… is due by |
| --- | --- | --- |
| weekly | 3 | week 44 (Mon 26 Oct – Sun 1 Nov 2026): Wed 4 Nov |
| monthly | 15 | November 2026: 15 December |
| quarterly | 30 | Q3 2026: 30 October |
| yearly | 60 | 2026: 1 March 2027 |

An initiative may change them per frequency, and an indicator for itself.

Nudges follow each period's window: one when it opens (the first day after the
period), one some days before it closes, one some days after (when the report
is late; an organization's backup reporter is asked then too). A nudge that
falls on a weekend or on a holiday of the initiative moves to the next working
day. Pure standard-library code, like the rest of the domain.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from .periods import Frequency, Period

__all__ = [
    "DEFAULT_LAG_DAYS",
    "MAKE_UP_DAYS",
    "MAX_LAG_DAYS",
    "Nudge",
    "NudgeRule",
    "ReportingWindow",
    "backup_due",
    "due_date",
    "lag_days",
    "next_working_day",
    "nudge_days",
    "nudge_on",
    "window_due",
    "window_for",
]

DEFAULT_LAG_DAYS: Mapping[Frequency, int] = {
    Frequency.WEEKLY: 3,
    Frequency.MONTHLY: 15,
    Frequency.QUARTERLY: 30,
    Frequency.YEARLY: 60,
}
# A report due more than a year after its period is not a window, it is a typo.
MAX_LAG_DAYS = 366
# How long a nudge not sent on its day (the app was down, the reporter away) may still go.
MAKE_UP_DAYS = 7
# Saturday and Sunday (date.weekday() 5 and 6) are not working days.
_WEEKEND = frozenset({5, 6})


def lag_days(frequency: Frequency, initiative: Mapping[str, int] | None = None, indicator: int | None = None) -> int:
    """The lag that applies: the indicator's own, else the initiative's for its frequency, else the default."""
    if indicator is not None:
        return indicator
    if initiative and frequency.value in initiative:
        return int(initiative[frequency.value])
    return DEFAULT_LAG_DAYS[frequency]


def due_date(period: Period, lag: int) -> date:
    """The last day a period's report is on time: ``lag`` days after the period's last day."""
    return period.end + timedelta(days=lag)


@dataclass(frozen=True)
class ReportingWindow:
    """One period's reporting window: it opens the day after the period ends and closes on ``due``."""

    period: Period
    due: date

    @property
    def opens(self) -> date:
        return self.period.end + timedelta(days=1)

    def is_open(self, today: date) -> bool:
        """Whether the period has ended, so its report can be asked for."""
        return today >= self.opens

    def is_late(self, today: date) -> bool:
        """Whether its due date has passed: a report still missing is then missing, not just due."""
        return today > self.due


def window_for(period: Period, lag: int) -> ReportingWindow:
    return ReportingWindow(period, due_date(period, lag))


def window_due(frequency: Frequency, today: date, lag: int) -> ReportingWindow:
    """The window of the period partners report on ``today``: the last one completed."""
    return window_for(Period.last_completed(frequency, "UTC", today), lag)


# -- nudges ------------------------------------------------------------------------------------


class Nudge(StrEnum):
    """The kinds of reminder one period's window brings, in the order they come."""

    OPENING = "opening"  # the period has ended: its report can be made
    CLOSING = "closing"  # the report is due in a few days
    LATE = "late"  # the due date has passed
    BACKUP = "backup"  # the same day as LATE, to the organization's backup reporter


@dataclass(frozen=True)
class NudgeRule:
    """Which nudges an initiative sends; None turns one off."""

    opening: bool = True
    days_before_due: int | None = 3
    days_after_due: int | None = 1


def next_working_day(day: date, holidays: Collection[date] = ()) -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while day.weekday() in _WEEKEND or day in holidays:
        day += timedelta(days=1)
    return day


def nudge_days(window: ReportingWindow, rule: NudgeRule, holidays: Collection[date] = ()) -> dict[Nudge, date]:
    """The day each nudge of ``window`` goes out, moved off weekends and holidays.

    Two nudges never share a day: a closing nudge that would come on or before the opening one
    (a short window) is dropped, since the opening nudge already gives the due date. The backup
    reporter is asked on the late nudge's day, or the working day after the due date when the late
    nudge is off.
    """
    days: dict[Nudge, date] = {}
    if rule.opening:
        days[Nudge.OPENING] = next_working_day(window.opens, holidays)
    if rule.days_before_due is not None:
        closing = next_working_day(max(window.opens, window.due - timedelta(days=rule.days_before_due)), holidays)
        if closing <= window.due and all(closing > d for d in days.values()):
            days[Nudge.CLOSING] = closing
    after = rule.days_after_due if rule.days_after_due is not None else 1
    late = next_working_day(window.due + timedelta(days=max(1, after)), holidays)
    if rule.days_after_due is not None:
        days[Nudge.LATE] = late
    days[Nudge.BACKUP] = late
    return days


def nudge_on(window: ReportingWindow, rule: NudgeRule, today: date, holidays: Collection[date] = ()) -> Nudge | None:
    """The reporter's nudge that stands on ``today``: the latest one whose day has come, for up to
    ``MAKE_UP_DAYS`` after it.

    A day missed (the app was down, the reporter away) is made up on a later day, and only the
    latest nudge is ever made up, so nobody gets an "it opens" message after the due date; a nudge
    weeks old (an app started long after a window) is not sent at all. None before the first
    nudge's day. BACKUP is never returned: it is for the backup reporter (see ``nudge_days``).
    """
    days = nudge_days(window, rule, holidays)
    standing = None
    for kind in (Nudge.OPENING, Nudge.CLOSING, Nudge.LATE):
        if kind in days and days[kind] <= today:
            standing = kind
    if standing is not None and (today - days[standing]).days > MAKE_UP_DAYS:
        return None
    return standing


def backup_due(window: ReportingWindow, rule: NudgeRule, today: date, holidays: Collection[date] = ()) -> bool:
    """Whether the backup reporter is asked on ``today``: from the late day, for ``MAKE_UP_DAYS``."""
    day = nudge_days(window, rule, holidays)[Nudge.BACKUP]
    return 0 <= (today - day).days <= MAKE_UP_DAYS
