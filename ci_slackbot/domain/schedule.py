"""When recurring jobs run: `"mon 09:00"` or a 5-field cron expression."""

from __future__ import annotations

import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SIMPLE = re.compile(r"^(?P<days>[a-z]{3}(?:[,-][a-z]{3})*|daily)\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})$")
_CRON_FIELD = re.compile(r"^[\d*/,\-a-zA-Z?]+$")


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    """A cron-like schedule; fields use cron syntax (APScheduler's `CronTrigger` names)."""

    minute: str
    hour: str
    day: str
    month: str
    day_of_week: str
    text: str

    def describe(self) -> str:
        return self.text


def parse_schedule(text: str) -> Schedule:
    """Parse `"mon 09:00"`, `"mon,thu 10:30"`, `"daily 08:00"` or `"0 9 * * 1"`."""
    cleaned = " ".join(text.strip().lower().split())
    simple = _SIMPLE.match(cleaned)
    if simple:
        hour, minute = int(simple["hour"]), int(simple["minute"])
        if hour > 23 or minute > 59:
            raise ScheduleError(f"`{text}` has no such time of day: write it like `mon 09:00`")
        days = simple["days"]
        return Schedule(str(minute), str(hour), "*", "*", "*" if days == "daily" else _day_names(days, text), text)
    fields = cleaned.split(" ")
    if len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields):
        return Schedule(fields[0], fields[1], fields[2], fields[3], _day_names(fields[4], text), text)
    raise ScheduleError(
        f"`{text}` is not a schedule: write a day and a time like `mon 09:00`, or a 5-field cron expression"
    )


def _day_names(field: str, text: str) -> str:
    """The days a day-of-week field means, as a plain list of names (`mon,wed,fri`), or `*`.

    Cron counts Sunday as 0 (and 7) where APScheduler counts Monday as 0, and APScheduler refuses a
    range that wraps past Sunday (`sun-thu`, `fri-mon`): passed through, a step (`*/2`, `1-5/2`)
    fell on other days than cron's, and a wrapping range stopped the job altogether. Listed by name,
    every form means what it means in cron and on a calendar.
    """
    if field in ("*", "?"):
        return "*"
    wanted: set[int] = set()  # cron's numbers: Sunday 0
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) > 0):
            raise ScheduleError(f"`{text}`: `/{step_text}` is not a step of days; write it like `*/2`")
        if span == "*":
            days = list(range(7))
        elif "-" in span:
            start, end = span.split("-", 1)
            first, last = _day_number(start, text), _day_number(end, text)
            if end == "7":
                last = 7  # `0-7`, `1-7`: to Sunday, the end of the week cron counts
            days = [d % 7 for d in range(first, last + 1)] if first <= last else [*range(first, 7), *range(last + 1)]
        else:
            first = _day_number(span, text)
            days = list(range(first, 7)) if step_text else [first]
        wanted.update(days[:: int(step_text)] if step_text else days)
    return ",".join(name for number, name in enumerate(DAYS, start=1) if number % 7 in wanted)


def _day_number(token: str, text: str) -> int:
    if token in DAYS:
        return (DAYS.index(token) + 1) % 7
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7
    raise ScheduleError(f"`{text}`: `{token}` is not a day: use {', '.join(DAYS)} (or 0–7, Sunday being 0 and 7)")
