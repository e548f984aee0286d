"""Fuzzing with hypothesis: whatever people type or submit, the app answers, and never with a 5xx.

(a) `/ci` commands through the real `serve` process: random subcommand words followed by
    random tokens (numbers, periods valid and not, `key=value` pairs, mentions, broadcast
    mentions, dates, unicode, very long text, nothing at all), from random people. Every
    answer is HTTP 200 and either a normal reply or a private ":warning:" refusal that says
    something; none carries `<!` (a broadcast), and the server logs no failed command.
(b) Modal submissions through the same process: random `view_submission` states for the
    update modal, the story modal and the "Record as decision" modal, with blocks missing,
    elements of the wrong type, empty and huge values. Every answer is HTTP 200 with field
    errors, a view update or an empty ack.
(c) Without a server: the grammar and the domain parsers either accept their input or
    raise `InputError` (the one error shown to users as it is), never anything else.

Each part prints what it tried (`pytest -s` shows it): inputs, accepted, refused, 5xx.
"""

from __future__ import annotations

import json
import string
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.measurement import parse_value
from ci_slackbot.domain.periods import Frequency, Period, parse_period_for
from ci_slackbot.store.models import IndicatorValue
from commands import build_router
from commands.grammar import (
    UsageError,
    Words,
    is_mention,
    looks_like_period,
    parse_date,
    parse_mention,
    parse_period,
    split_pair,
)
from tests.harness import BACKBONE, CITY, HOSPITAL, NEIGHBOR, NURSE, STRANGER, World

COMMAND_EXAMPLES = 150
MODAL_EXAMPLES = 60
PARSER_EXAMPLES = 400

# Slow inputs are the point here, and the server round trip makes every example slow.
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

PEOPLE = [BACKBONE, HOSPITAL, NURSE, NEIGHBOR, CITY, STRANGER]
INDICATORS = ["er-visits", "home-visits", "action-plans", "home-assessments"]
OOPS = "Something went wrong on our side"
# What the server must never log while being fuzzed: a command that blew up, an unhandled
# listener error, or work after the ack that failed.
FAILURE_LINES = ("command failed", "unhandled error in a listener", "work after ack failed")


# -- strategies ---------------------------------------------------------------------------------

SUBCOMMANDS = [*build_router().names(), "?", "HELP", "Update", "DECIDE", "unknown", "décidé", "update!", "🙂"]
KEYWORDS = [
    "add",
    "done",
    "push",
    "post",
    "withdraw",
    "WITHDRAW",
    "goal",
    "due",
    "strategy",
    "org",
    "zip",
    "G1",
    "G2",
    "G9",
    "1",
    "0",
    "-1",
]

periods = st.one_of(
    st.builds(lambda y: f"{y}", st.integers(1990, 2100)),
    st.builds(lambda y, q: f"{y}-Q{q}", st.integers(1990, 2100), st.integers(0, 6)),
    st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(1990, 2100), st.integers(0, 14)),
    st.builds(lambda y, m: f"{y}-{m}", st.integers(2020, 2030), st.integers(1, 12)),
    st.builds(lambda y, w: f"{y}-w{w}", st.integers(1990, 2100), st.integers(0, 55)),
    st.sampled_from(["2026-Q", "26-10", "2026/10", "2026-10-01", "0000", "9999-99", "2026-W53", "2020-W53"]),
)
numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.integers(0, 100).map(lambda n: f"{n}%"),
    st.sampled_from(
        ["1,204", "1,20,4", "12.5.3", "−3", "1e309", "-0", "0x10", "١٢", "½", ".5", "5.", "+7", "%", "45 %"]
    ),
)
pairs = st.one_of(
    st.from_regex(r"[A-Za-z][\w\-]{0,12}=[^\s=]{1,20}", fullmatch=True),
    st.sampled_from(["zip=75216", "org=childrens-health", "org=neighbors", "org=nope", "zip=", "=75216", "a=b=c"]),
)
mentions = st.one_of(
    st.sampled_from([f"<@{p}|x>" for p in PEOPLE] + [f"<@{p}>" for p in PEOPLE]),
    st.sampled_from(["<@W0123ABC|w>", "<@u0lower|x>", "<@>", "<@U0CHLD0001", "@Maria", "<#C0GENERAL|general>"]),
)
broadcasts = st.sampled_from(["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0123|@team>", "<!date^0^x|y>"])
dates = st.one_of(
    st.dates(date(1900, 1, 1), date(2200, 12, 31)).map(str),
    st.sampled_from(["2026-02-30", "2026-13-01", "2026-00-10", "26-1-1", "2026-1-1"]),
)
unicode_words = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12)
entities = st.sampled_from(
    ["&amp;", "&lt;script&gt;", "<script>", "a&b", "<http://example.com|click>", "*bold*", "`x`"]
)
# Characters people rarely type but can paste: NUL (which PostgreSQL cannot store), a bell,
# zero-width space, byte-order mark, a lone carriage return, a terminal escape.
controls = st.sampled_from(
    ["\x00", "a\x00b", "\x07bell", "zero\u200bwidth", "\ufeffbom", "line\rreturn", "\x1b[31mred"]
)
long_text = st.tuples(st.sampled_from(["x", "word ", "é", "🙂", "<!channel> "]), st.integers(500, 2500)).map(
    lambda t: t[0] * t[1]
)
tokens = st.one_of(
    st.sampled_from([*INDICATORS, "nope", "ER-VISITS"]),
    st.sampled_from(KEYWORDS),
    numbers,
    periods,
    pairs,
    mentions,
    broadcasts,
    dates,
    unicode_words,
    entities,
    controls,
    long_text,
)
command_texts = st.one_of(
    st.just(""),
    st.builds(
        lambda sub, words, sep: sep.join([sub, *words]),
        st.sampled_from(SUBCOMMANDS),
        st.lists(tokens, max_size=8),
        st.sampled_from([" ", "  ", "\n", " \t "]),
    ),
    st.text(max_size=200),
)


# -- (a) the command grammar through serve --------------------------------------------------


def server_failures(world: World) -> list[str]:
    return [line for line in world.server.logs().splitlines() if any(f in line for f in FAILURE_LINES)]


def classify_command_answer(response: requests.Response, text: str) -> str:
    """'accepted', 'refused' or 'unknown…' (the command list); fails the example for anything else."""
    assert response.status_code < 500, f"{response.status_code} for {text!r}"
    assert response.status_code == 200, f"{response.status_code} for {text!r}: {response.text[:300]}"
    assert "<!" not in response.text, f"a broadcast in the answer to {text!r}: {response.text[:300]}"
    if not response.content:
        return "accepted"
    answer = response.json()
    assert "<!" not in json.dumps(answer, ensure_ascii=False)
    reply = str(answer.get("text") or "")
    assert OOPS not in reply, f"the server failed on {text!r}: {reply}"
    if reply.startswith(":warning:"):
        assert answer.get("response_type") == "ephemeral", f"a public refusal for {text!r}"
        assert len(reply) > len(":warning: ") + 10, f"a refusal that says nothing for {text!r}"
        return "refused"
    assert answer.get("response_type") in ("ephemeral", "in_channel"), answer
    if reply.startswith("I don't know `/ci"):
        return "unknown, answered with the commands"
    return "accepted"


@pytest.mark.e2e
def test_commands_are_answered_or_refused_clearly(world: World) -> None:
    tally: Counter[str] = Counter()
    failures_before = len(server_failures(world))

    @settings(FUZZ, max_examples=COMMAND_EXAMPLES)
    @given(text=command_texts, user=st.sampled_from(PEOPLE))
    def one_command(text: str, user: str) -> None:
        tally["tried"] += 1
        response, _ = world.send.command(text, user=user)
        if response.status_code >= 500:
            tally["5xx"] += 1
        tally[classify_command_answer(response, text)] += 1

    one_command()
    print(f"\n/ci commands fuzzed: {dict(tally)}")
    assert tally["5xx"] == 0
    assert tally["accepted"] and tally["refused"]  # the generator reached both sides
    assert server_failures(world)[failures_before:] == []


# -- (b) modal submissions ----------------------------------------------------------------------

ELEMENT_TYPES = ["plain_text_input", "static_select", "external_select", "datepicker", "users_select", "number_input"]
free_values = st.one_of(st.none(), numbers, periods, unicode_words, entities, controls, long_text, st.text(max_size=50))
# What people type into a free-text field.
typed = st.one_of(
    st.text(max_size=300), st.lists(st.one_of(unicode_words, controls, entities)).map(" ".join), long_text
)


@st.composite
def element(draw: st.DrawFn, expected: str, values: st.SearchStrategy[str | None]) -> dict[str, Any]:
    """An element's state as Slack sends it: usually the block's own type, sometimes another."""
    kind = draw(st.one_of(st.just(expected), st.sampled_from(ELEMENT_TYPES)))
    value = draw(values)
    if kind in ("static_select", "external_select"):
        return {"type": kind, "selected_option": None if value is None else {"value": value}}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    return {"type": kind, "value": value}


@st.composite
def modal_state(draw: st.DrawFn, blocks: dict[str, tuple[str, str, st.SearchStrategy[str | None]]]) -> dict[str, Any]:
    """`{block_id: {action_id: element}}`, each block present or left out, plus a stray block now and then."""
    state: dict[str, Any] = {}
    for block_id, (action_id, kind, values) in blocks.items():
        if draw(st.integers(0, 9)) > 0:  # a block is missing one time in ten
            state[block_id] = {action_id: draw(element(kind, values))}
    if draw(st.booleans()) and draw(st.booleans()):
        stray = draw(st.sampled_from(["breakdown:zip", "breakdown:age", "breakdown:", "extra", "value"]))
        state[stray] = {draw(st.sampled_from(["x", "value"])): draw(element("plain_text_input", free_values))}
    return state


UPDATE_BLOCKS = {
    "indicator": ("update_pick_indicator", "static_select", st.one_of(st.sampled_from(INDICATORS), free_values)),
    "organization": (
        "organization",
        "static_select",
        st.one_of(st.sampled_from(["childrens-health", "neighbors", "city-code", "hwac", "nope"]), free_values),
    ),
    "value": ("value", "plain_text_input", st.one_of(numbers, free_values)),
    "period": ("period", "plain_text_input", st.one_of(periods, free_values)),
    "breakdown:zip": ("breakdown_zip", "plain_text_input", st.one_of(st.sampled_from(["75216", ""]), free_values)),
    "note": ("note", "plain_text_input", free_values),
}
STORY_BLOCKS = {"story": ("story", "plain_text_input", free_values)}
DECISION_BLOCKS = {
    "decision_text": ("text", "plain_text_input", st.one_of(st.text(max_size=300), long_text, free_values)),
    "decision_goal": ("goal", "static_select", st.one_of(st.sampled_from(["G1", "G2", "G3", "G9", "g1"]), free_values)),
}
UPDATE_FIELDS = {"indicator", "organization", "value", "period", "note", "breakdown:zip"}


def classify_view_answer(response: requests.Response, fields: set[str], case: str) -> str:
    assert response.status_code == 200, f"{response.status_code} for {case}: {response.text[:300]}"
    if not response.content:
        return "accepted"
    answer = response.json()
    if answer == {}:
        return "accepted"
    action = answer.get("response_action")
    if action == "errors":
        errors = answer["errors"]
        assert errors and all(isinstance(m, str) and m.strip() for m in errors.values()), answer
        # Slack shows an error only under an input block of the modal.
        assert set(errors) <= fields, f"errors for blocks the modal does not have: {errors} ({case})"
        return "refused"
    assert action == "update" and answer["view"]["type"] == "modal", answer
    return "accepted"


def a_value_id(world: World) -> int:
    """A value to tell the story of: recorded now, so the story modal has something real to point at."""
    marker = f"fz{uuid.uuid4().hex[:6]}"
    period = Period.current(Frequency.MONTHLY, "America/Chicago").shift(-2)
    answer = world.send.ci(f"update er-visits 16 {period} zip=F{marker} {marker}", user=HOSPITAL)
    assert "Recorded" in answer["text"], answer
    db = world.db()
    with db.unit_of_work() as session:
        value_id = session.scalar(select(IndicatorValue.id).where(IndicatorValue.note == marker))
    db.dispose()
    assert value_id is not None
    return int(value_id)


def text_state(block_id: str, action_id: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(lambda value: {block_id: {action_id: {"type": "plain_text_input", "value": value}}})


def select_state(block_id: str, action_id: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(
        lambda value: {block_id: {action_id: {"type": "static_select", "selected_option": {"value": value}}}}
    )


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda states: {k: v for state in states for k, v in state.items()})


# Well-formed submissions by someone allowed to make them, with free text where people type:
# random states alone would almost never get past the first field.
MONTHS_BACK = st.integers(0, 30).map(lambda k: str(Period.current(Frequency.MONTHLY, "America/Chicago").shift(-k)))
valid_update = st.tuples(
    st.just(HOSPITAL),
    merged(
        select_state("indicator", "update_pick_indicator", st.just("er-visits")),
        text_state("value", "value", st.floats(0, 1000).map(lambda v: f"{v:.2f}")),
        text_state("period", "period", MONTHS_BACK),
        text_state("breakdown:zip", "breakdown_zip", st.one_of(st.just(""), st.from_regex(r"752\d\d", fullmatch=True))),
        text_state("note", "note", typed),
    ),
)
valid_story = st.tuples(st.just(HOSPITAL), text_state("story", "story", typed))
valid_decision = st.tuples(
    st.just(BACKBONE),
    merged(
        text_state("decision_text", "text", typed),
        st.one_of(st.just({}), select_state("decision_goal", "goal", st.sampled_from(["G1", "G2", "G3"]))),
    ),
)


def fuzz_modal(
    world: World,
    callback_id: str,
    blocks: dict[str, tuple[str, str, st.SearchStrategy[str | None]]],
    metadata: st.SearchStrategy[str],
    valid: st.SearchStrategy[tuple[str, dict[str, Any]]],
) -> Counter[str]:
    tally: Counter[str] = Counter()
    view = {"type": "modal", "callback_id": callback_id}
    submissions = st.one_of(st.tuples(st.sampled_from(PEOPLE), modal_state(blocks)), valid)

    @settings(FUZZ, max_examples=MODAL_EXAMPLES)
    @given(submission=submissions, private_metadata=metadata)
    def one_submission(submission: tuple[str, dict[str, Any]], private_metadata: str) -> None:
        user, state = submission
        tally["tried"] += 1
        response = world.send.submit(user, view, state, private_metadata=private_metadata)
        if response.status_code >= 500:
            tally["5xx"] += 1
        case = f"{callback_id} by {user}: {json.dumps(state)[:500]}"
        tally[classify_view_answer(response, set(blocks), case)] += 1

    one_submission()
    return tally


def run_modal_fuzz(world: World, name: str, fuzz: Callable[[], Counter[str]]) -> None:
    failures_before = len(server_failures(world))
    tally = fuzz()
    print(f"\n{name} submissions fuzzed: {dict(tally)}")
    assert tally["5xx"] == 0
    assert tally["accepted"] and tally["refused"]
    assert server_failures(world)[failures_before:] == []


@pytest.mark.e2e
def test_update_modal_submissions_are_answered(world: World) -> None:
    metadata = st.sampled_from([json.dumps({"indicator": key}) for key in [*INDICATORS, None]])
    run_modal_fuzz(
        world, "update modal", lambda: fuzz_modal(world, "update_value", UPDATE_BLOCKS, metadata, valid_update)
    )


@pytest.mark.e2e
def test_story_modal_submissions_are_answered(world: World) -> None:
    value_id = a_value_id(world)
    # The metadata is the app's own (Slack hands it back unchanged): a value id, real or long gone.
    metadata = st.one_of(st.just(value_id), st.integers(0, 10**6)).map(lambda v: json.dumps({"value_id": v}))
    run_modal_fuzz(world, "story modal", lambda: fuzz_modal(world, "value_story", STORY_BLOCKS, metadata, valid_story))


@pytest.mark.e2e
def test_decision_modal_submissions_are_answered(world: World) -> None:
    metadata = st.one_of(
        st.just(""),
        st.just("{}"),
        st.builds(
            lambda author: json.dumps(
                {"permalink": "https://sandbox.slack.com/archives/C0GENERAL/p1", "author": author, "ts": "1.000100"}
            ),
            st.sampled_from([None, HOSPITAL, NURSE]),
        ),
    )
    run_modal_fuzz(
        world, "decision modal", lambda: fuzz_modal(world, "record_decision", DECISION_BLOCKS, metadata, valid_decision)
    )


# -- (c) the parsers, without a server -------------------------------------------------------

any_text = st.one_of(tokens, st.text(max_size=40), st.text(string.digits + "-QWqw%.,+ ", max_size=12))
frequencies = st.sampled_from(list(Frequency))
units = st.sampled_from([None, "percent", "%", "people", "per 1,000 children", "homes", ""])
PARSER = settings(FUZZ, max_examples=PARSER_EXAMPLES)


def accepted_or_input_error(parse: Callable[[], Any], tally: Counter[str]) -> Any:
    """Run a parser: its result, or None when it refused with an InputError that says something."""
    tally["calls"] += 1
    try:
        result = parse()
    except InputError as exc:
        tally["refused"] += 1
        assert str(exc).strip()
        return None
    tally["accepted"] += 1
    return result


def test_period_parsing_accepts_or_refuses_and_round_trips() -> None:
    tally: Counter[str] = Counter()

    @PARSER
    @given(text=st.one_of(periods, any_text), frequency=frequencies)
    def one(text: str, frequency: Frequency) -> None:
        tally["inputs"] += 1
        period = accepted_or_input_error(lambda: Period.parse(text), tally)
        if period is not None:
            assert Period.parse(str(period)) == period
            assert period.start <= period.end
        strict = accepted_or_input_error(lambda: parse_period_for(frequency, text, "er-visits"), tally)
        if strict is not None:
            assert strict.frequency is frequency and strict == period
        in_grammar = accepted_or_input_error(lambda: parse_period(text, frequency, "er-visits"), tally)
        assert in_grammar == strict
        looks_like_period(text)

    one()
    print(f"\nperiods parsed: {dict(tally)}")


def test_values_parse_to_finite_numbers_or_are_refused() -> None:
    tally: Counter[str] = Counter()

    @PARSER
    @given(text=st.one_of(numbers, any_text), unit=units)
    def one(text: str, unit: str | None) -> None:
        tally["inputs"] += 1
        value = accepted_or_input_error(lambda: parse_value(text, unit), tally)
        if value is not None:
            assert isinstance(value, float) and value == value and abs(value) != float("inf")

    one()
    print(f"\nvalues parsed: {dict(tally)}")


def test_the_grammar_accepts_or_refuses_with_a_usage_error() -> None:
    tally: Counter[str] = Counter()
    usage = "/ci test <thing>"

    @PARSER
    @given(
        text=st.lists(any_text, max_size=8).map(" ".join),
        keyword=st.sampled_from(["due", "goal", "strategy", "org"]),
        frequency=frequencies,
    )
    def one(text: str, keyword: str, frequency: Frequency) -> None:
        tally["inputs"] += 1
        words = Words.of(text, usage)
        for token in list(words.tokens):
            mention = accepted_or_input_error(partial(parse_mention, token), tally)
            assert is_mention(token) == (mention is not None)
            accepted_or_input_error(partial(parse_date, token), tally)
            accepted_or_input_error(partial(parse_period, token, frequency), tally)
            pair = split_pair(token)
            assert pair is None or (pair[0] and pair[1])
        accepted_or_input_error(partial(words.take_keyword_value, keyword), tally)
        accepted_or_input_error(words.take_mentions, tally)
        accepted_or_input_error(partial(words.take, "a thing"), tally)
        words.take_if("add")
        rest = words.rest()
        assert not words and isinstance(rest, str)
        with pytest.raises(UsageError, match="Write it like") as refused:
            Words.of("", usage).take("a thing")
        assert "&lt;thing&gt;" in str(refused.value)  # the usage line is escaped for Slack

    one()
    print(f"\ngrammar calls: {dict(tally)}")
