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
        if days != "daily":
            for day in re.split(r"[,-]", days):
                if day not in DAYS:
                    raise ScheduleError(f"`{day}` is not a day: use {', '.join(DAYS)}")
        return Schedule(str(minute), str(hour), "*", "*", "*" if days == "daily" else days, text)
    fields = cleaned.split(" ")
    if len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields):
        return Schedule(fields[0], fields[1], fields[2], fields[3], _cron_days(fields[4]), text)
    raise ScheduleError(
        f"`{text}` is not a schedule: write a day and a time like `mon 09:00`, or a 5-field cron expression"
    )


def _cron_days(field: str) -> str:
    # Cron counts Sunday as 0 (and 7), APScheduler counts Monday as 0: use names.
    def name(token: str) -> str:
        return DAYS[(int(token) - 1) % 7] if token.isdigit() else token

    parts = []
    for part in field.split(","):
        if "-" in part and "/" not in part:
            start, end = part.split("-", 1)
            parts.append(f"{name(start)}-{name(end)}")
        else:
            parts.append(name(part) if "/" not in part else part)
    return ",".join(parts)
