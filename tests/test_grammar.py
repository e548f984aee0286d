"""The words people type: dates counted from today, and keys typed as several words or misspelt (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from ci_slackbot.domain.matching import close_keys, did_you_mean, joined_key
from commands.grammar import UsageError, Words, parse_day, read_date

# Friday 4 December 2026; the weekdays below are counted from it.
FRIDAY = date(2026, 12, 4)
WEDNESDAY = date(2026, 12, 2)
SATURDAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("2026-12-11", WEDNESDAY, date(2026, 12, 11)),
        ("today", WEDNESDAY, WEDNESDAY),
        ("tomorrow", date(2026, 12, 31), date(2027, 1, 1)),
        ("friday", WEDNESDAY, date(2026, 12, 4)),
        ("Fri", WEDNESDAY, date(2026, 12, 4)),
        ("friday", FRIDAY, date(2026, 12, 11)),  # today is not "friday": a week on
        ("monday", SATURDAY, date(2026, 12, 7)),
        ("next friday", WEDNESDAY, date(2026, 12, 11)),  # Friday of next week
        ("next friday", FRIDAY, date(2026, 12, 11)),
        ("next friday", SATURDAY, date(2026, 12, 11)),
        ("next monday", date(2026, 12, 6), date(2026, 12, 7)),  # Sunday: tomorrow starts next week
        ("next week", WEDNESDAY, date(2026, 12, 9)),
        ("in 2 weeks", WEDNESDAY, date(2026, 12, 16)),
        ("in two weeks", WEDNESDAY, date(2026, 12, 16)),
        ("in 1 day", date(2026, 2, 28), date(2026, 3, 1)),
        ("in 10 days", date(2026, 12, 28), date(2027, 1, 7)),
        ("in a month", date(2027, 1, 31), date(2027, 2, 28)),
        ("in 3 months", WEDNESDAY, date(2027, 3, 2)),
        ("dec 12", WEDNESDAY, date(2026, 12, 12)),
        ("December 12th", WEDNESDAY, date(2026, 12, 12)),
        ("12 dec", WEDNESDAY, date(2026, 12, 12)),
        ("dec 1", WEDNESDAY, date(2027, 12, 1)),  # passed this year: next year's
        ("jan 5", WEDNESDAY, date(2027, 1, 5)),
        ("dec 12 2027", WEDNESDAY, date(2027, 12, 12)),
        ("feb 29", WEDNESDAY, date(2028, 2, 29)),  # the next leap year's
    ],
)
def test_dates_are_counted_from_today(text: str, today: date, expected: date) -> None:
    assert parse_day(text, today) == expected


@pytest.mark.parametrize("text", ["feb 30", "dec 32", "2026-02-30", "someday", "in 2 fortnights", "friday week", ""])
def test_what_is_not_a_date_is_refused_with_how_to_write_one(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_day(text, WEDNESDAY)
    message = str(refused.value)
    assert "not a" in message and ("next friday" in message or "real date" in message or "YYYY-MM-DD" in message)


def test_a_date_ends_where_its_words_end() -> None:
    assert read_date(["next", "friday", "goal", "G2"], WEDNESDAY) == (date(2026, 12, 11), 2)
    assert read_date(["dec", "12", "Call", "them"], WEDNESDAY) == (date(2026, 12, 12), 2)
    assert read_date(["in", "2", "weeks", "@Maria"], WEDNESDAY) == (date(2026, 12, 16), 3)
    assert read_date(["Call", "the", "nurses"], WEDNESDAY) is None


def test_due_words_are_taken_out_of_the_text_wherever_they_are() -> None:
    words = Words.of("Send the survey due next friday goal G2", "usage")
    assert words.take_date_after("due", WEDNESDAY) == date(2026, 12, 11)
    assert words.tokens == ["Send", "the", "survey", "goal", "G2"]
    assert Words.of("Send the survey", "usage").take_date_after("due", WEDNESDAY) is None
    with pytest.raises(UsageError, match="is not a date"):
        Words.of("Send it due whenever", "usage").take_date_after("due", WEDNESDAY)


INDICATORS = [
    ("er-visits", "Asthma emergency visits per 1,000 children"),
    ("home-visits", "Emergency visits followed by a home visit within 14 days"),
    ("action-plans", "Students with asthma who have an action plan on file"),
    ("home-assessments", "Environmental home assessments completed"),
]


def test_words_run_together_into_a_key_or_a_name() -> None:
    assert joined_key(["action", "plans", "62%"], INDICATORS) == ("action-plans", 2)
    assert joined_key(["Home", "Visits", "45%", "2026-10"], INDICATORS) == ("home-visits", 2)
    # The indicator's whole name typed out.
    spelt_out = ["Environmental", "home", "assessments", "completed", "12"]
    assert joined_key(spelt_out, INDICATORS) == ("home-assessments", 4)
    assert joined_key(["er-visits", "17.2"], INDICATORS) is None  # numbers are values, never part of a key
    assert joined_key(["action", "plan"], INDICATORS) is None


def test_close_matches_on_keys_and_names() -> None:
    assert close_keys("action-plan", INDICATORS)[0] == "action-plans"
    assert close_keys("er-vists", INDICATORS)[0] == "er-visits"
    assert "home-assessments" in close_keys("assessments", INDICATORS)  # a word of the name
    assert close_keys("zzz", INDICATORS) == []
    assert did_you_mean(["a"]) == " Did you mean `a`?"
    assert did_you_mean(["a", "b", "c"]) == " Did you mean `a`, `b` or `c`?"
    assert did_you_mean([]) == ""
