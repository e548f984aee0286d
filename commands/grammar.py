"""The one parser for `/ci` text: words, mentions, dates, periods, `key=value` pairs and a note.

Slack sends slash-command text escaped (`should_escape: true`): a mention
arrives as `<@U0123|name>`, a channel as `<#C0123|name>`, `&` `<` `>` as
entities. Everything here is plain Python, tested without Slack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ci_slackbot.domain.errors import InputError
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

    def take_mentions(self) -> list[str]:
        found = [parse_mention(t) for t in self.tokens if is_mention(t)]
        self.tokens = [t for t in self.tokens if not is_mention(t)]
        return found
