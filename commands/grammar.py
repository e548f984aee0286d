"""The one parser for `/ci` text: words, mentions, dates, periods, `key=value` pairs and a note.

Slack sends slash-command text escaped (`should_escape: true`): a mention
arrives as `<@U0123|name>`, a channel as `<#C0123|name>`, `&` `<` `>` as
entities. Everything here is plain Python, tested without Slack.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.matching import joined_key
from ci_slackbot.domain.periods import (
    Frequency,
    Period,
    PeriodError,
    PeriodReading,
    parse_period_for,
    read_period,
)
from ci_slackbot.domain.periods import looks_like_period as _looks_like_period
from integrations.slack.escape import escape, unescape

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAIR = re.compile(r"^([A-Za-z][\w\-]*)=(.+)$")


class UsageError(InputError):
    """Input we cannot use. The message says what was wrong and how to write it right."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def __str__(self) -> str:
        if self.usage:
            # Usage lines hold `<placeholders>`, which Slack would read as links.
            return f"{self.message}\nWrite it like: `{escape(self.usage)}`"
        return self.message


def _quoted(text: str, limit: int = 40) -> str:
    """A word quoted back in an answer, cut short: the answer must stay readable whatever was typed."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_mention(token: str) -> bool:
    return bool(_MENTION.match(token))


def parse_mention(token: str) -> str:
    match = _MENTION.match(token)
    if not match:
        raise UsageError(f"`{escape(unescape(token))}` is not a person: mention them with @, like `@Maria`.")
    return match.group(1)


def parse_date(token: str) -> date:
    if not _DATE.match(token):
        raise UsageError(f"`{escape(unescape(token))}` is not a date: write dates as YYYY-MM-DD, like `2026-12-01`.")
    try:
        return date.fromisoformat(token)
    except ValueError:
        raise UsageError(f"`{token}` is not a real date: write dates as YYYY-MM-DD, like `2026-12-01`.") from None


_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
_MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
} | {"sept": 9}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_COUNTS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_DAY_OF_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_YEAR = re.compile(r"^\d{4}$")
DATE_EXAMPLES = "`2026-12-01`, `tomorrow`, `friday`, `next friday`, `in 2 weeks` or `dec 12`"


def _plus_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter (Jan 31 + 1 month = Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day_of_month(day_text: str, shown: str) -> int:
    match = _DAY_OF_MONTH.match(day_text)
    if not match:
        raise UsageError(f"`{escape(shown)}` is not a date: write it like {DATE_EXAMPLES}.")
    return int(match.group(1))


def _month_day(month: int, day_text: str, year_text: str | None, today: date, shown: str) -> date:
    """`dec 12 [2026]`: without a year, the next Dec 12 from today on (the next Feb 29 in a leap year)."""
    day = _day_of_month(day_text, shown)
    years = [int(year_text)] if year_text is not None else list(range(today.year, today.year + 9))
    for year in years:
        if 1 <= day <= calendar.monthrange(year, month)[1]:
            when = date(year, month, day)
            if year_text is not None or when >= today:
                return when
    raise UsageError(f"`{escape(shown)}` is not a real date.")


def read_date(tokens: Sequence[str], today: date) -> tuple[date, int] | None:
    """The day named by the first words of `tokens`, counted from `today`, and how many words it took.

    `2026-12-01`; `today`, `tomorrow`; `friday` (the next Friday after today); `next friday`
    (Friday of next week); `next week` (a week from today); `in 3 days`, `in 2 weeks`,
    `in a month`; `dec 12`, `december 12th`, `12 dec`, with or without a year (without one,
    the next such day from today on). None when the first word starts no date; a date
    that does not exist (`feb 30`) is refused (UsageError).
    """
    words = [t.lower().rstrip(",.") for t in tokens[:3]]
    if not words:
        return None
    first = words[0]
    second = words[1] if len(words) > 1 else None
    third = words[2] if len(words) > 2 else None
    if _DATE.match(first):
        return parse_date(first), 1
    if first in ("today", "tomorrow"):
        return today + timedelta(days=1 if first == "tomorrow" else 0), 1
    if first in _WEEKDAYS:
        return today + timedelta(days=(_WEEKDAYS[first] - today.weekday() - 1) % 7 + 1), 1
    if first == "next" and second in _WEEKDAYS:
        next_monday = today + timedelta(days=7 - today.weekday())
        return next_monday + timedelta(days=_WEEKDAYS[second]), 2
    if first == "next" and second in ("week", "month"):
        return (today + timedelta(days=7) if second == "week" else _plus_months(today, 1)), 2
    if first == "in" and second is not None and third is not None:
        count = int(second) if second.isdigit() and len(second) <= 3 else _COUNTS.get(second)
        unit = third.removesuffix("s")
        if count is not None and unit in ("day", "week", "month"):
            if unit == "month":
                return _plus_months(today, count), 3
            return today + timedelta(days=count * (7 if unit == "week" else 1)), 3
        return None
    year = third if third is not None and _YEAR.match(third) else None
    used = 3 if year else 2
    shown = " ".join(tokens[:used])
    if first in _MONTHS and second is not None:
        return _month_day(_MONTHS[first], second, year, today, shown), used
    if second is not None and second in _MONTHS and _DAY_OF_MONTH.match(first):
        return _month_day(_MONTHS[second], first, year, today, shown), used
    return None


def parse_day(text: str, today: date) -> date:
    """The day `text` names (see `read_date`), counted from `today`, or UsageError saying how to write one."""
    tokens = text.split()
    found = read_date(tokens, today)
    if found is None or found[1] != len(tokens):
        raise UsageError(f"`{escape(text.strip())}` is not a date: write it like {DATE_EXAMPLES}.")
    return found[0]


def refuse_split_key(words: Words, entries: Sequence[tuple[str, str]], command: str, what: str) -> None:
    """Refuse `action plans` where the first words, run together, spell a key or a name: say the key.

    `entries` are (key, name) pairs. A first word that is a key itself is left alone.
    """
    tokens = [unescape(t) for t in words.tokens]
    if not tokens or any(tokens[0].lower() == key.lower() for key, _ in entries):
        return
    found = joined_key(tokens, entries)
    if found is None:
        return
    key, used = found
    again = " ".join([command, key, *tokens[used:]])
    raise UsageError(
        f"Did you mean the {what} `{escape(key)}`? Write its key as one word: `{escape(again)}`. "
        f"(I read `{escape(' '.join(tokens[:used]))}` as one name.)"
    )


def looks_like_period(token: str) -> bool:
    """Whether a word names, or tries to name, a date or a period (`2026-11-01`, `Nov-2026`, `Q3`…)."""
    return _looks_like_period(unescape(token))


def parse_period(token: str, frequency: Frequency, indicator_key: str | None = None) -> Period:
    try:
        return parse_period_for(frequency, token, indicator_key)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None


def take_period(
    words: Words, frequency: Frequency, today: date, indicator_key: str | None = None
) -> PeriodReading | None:
    """The period named by the next word or two (`2026-11`, `Q3 2026`, `December`), taken from `words`.

    None when the next word does not look like a date or a period; one that does is read as the
    period it names for `frequency`, or refused (UsageError) with how to write it.
    """
    try:
        reading = read_period(frequency, [unescape(t) for t in words.tokens], today, indicator_key)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    if reading is not None:
        del words.tokens[: reading.words]
    return reading


def take_fraction(words: Words) -> tuple[str, str] | None:
    """`412 of 700` or `412/700` at the front of `words`: (numerator, denominator) as written, taken.

    None (nothing taken) for anything else, and for `11/2026`, which names a period, not a rate.
    """
    tokens = words.tokens
    if len(tokens) == 2 and tokens[1].lower() == "of":
        raise UsageError(f"`{escape(unescape(tokens[0]))} of` needs the denominator after `of`, like `412 of 700`.")
    if len(tokens) >= 3 and tokens[1].lower() == "of" and tokens[0][:1].isdigit():
        numerator, denominator = tokens[0], tokens[2]
        del tokens[:3]
        return numerator, denominator
    first = unescape(tokens[0]) if tokens else ""
    if first.count("/") == 1 and not looks_like_period(first):
        numerator, _, denominator = first.partition("/")
        if numerator.strip() and numerator.strip()[:1].isdigit():
            del tokens[:1]
            return numerator.strip(), denominator.strip()
    return None


def split_pair(token: str) -> tuple[str, str] | None:
    match = _PAIR.match(token)
    return (match.group(1).lower(), unescape(match.group(2))) if match else None


@dataclass
class Words:
    """The words after the subcommand, consumed from the left."""

    tokens: list[str]
    usage: str

    @classmethod
    def of(cls, text: str, usage: str) -> Words:
        return cls(text.split(), usage)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def peek(self) -> str | None:
        return self.tokens[0] if self.tokens else None

    def take(self, what: str) -> str:
        if not self.tokens:
            raise UsageError(f"Missing {what}.", self.usage)
        return self.tokens.pop(0)

    def take_if(self, word: str) -> bool:
        if self.tokens and self.tokens[0].lower() == word:
            self.tokens.pop(0)
            return True
        return False

    def rest(self) -> str:
        """The remaining words as the user wrote them (unescaped: stored raw, escaped on output)."""
        text = unescape(" ".join(self.tokens))
        self.tokens = []
        return text

    def take_keyword_value(self, keyword: str) -> str | None:
        """Find `keyword value` anywhere in the remaining words and remove both."""
        for i, token in enumerate(self.tokens):
            if token.lower() == keyword:
                if i + 1 >= len(self.tokens):
                    raise UsageError(f"`{keyword}` needs a value after it.", self.usage)
                value = self.tokens[i + 1]
                del self.tokens[i : i + 2]
                return value
        return None

    def take_date_after(self, keyword: str, today: date) -> date | None:
        """Find `keyword <date words>` anywhere in the remaining words (`due next friday`) and remove them."""
        for i, token in enumerate(self.tokens):
            if token.lower() == keyword:
                rest = [unescape(t) for t in self.tokens[i + 1 :]]
                if not rest:
                    raise UsageError(f"`{keyword}` needs a date after it, like {DATE_EXAMPLES}.", self.usage)
                found = read_date(rest, today)
                if found is None:
                    raise UsageError(
                        f"`{escape(_quoted(rest[0]))}` is not a date: "
                        f"write `{keyword}` and a date, like {DATE_EXAMPLES}.",
                        self.usage,
                    )
                del self.tokens[i : i + 1 + found[1]]
                return found[0]
        return None

    def take_mentions(self) -> list[str]:
        found = [parse_mention(t) for t in self.tokens if is_mention(t)]
        self.tokens = [t for t in self.tokens if not is_mention(t)]
        return found
