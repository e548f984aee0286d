"""Requests Slack never sends: refused before anything reads them, or answered with a clear private
refusal; never a 5xx, never "Something went wrong"; replays ignored; no bodies or secrets in the logs.

- Unsigned (or badly signed) bodies of any shape get 401 and are never parsed.
- Signed bodies that are not a Slack payload, or whose envelope is shaped as Slack never shapes
  it, get 400: nobody in Slack waits for that answer.
- Signed payloads whose content is wrong (the app's own `private_metadata` or ids tampered
  with) get a private ":warning:" that says what to do, and change nothing.
- The same signed request again within Slack's 5-minute window is a replay: 200, empty, ignored.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import event, func, select

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.inbound import PURGE_EVERY_SECONDS, WINDOW_SECONDS, SeenRequests
from ci_slackbot.observability import configure_logging, request_id
from ci_slackbot.sandbox.world import CLIENT_SECRET
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ActionItem, Decision, IndicatorValue, SeenRequest
from tests.harness import (
    BACKBONE,
    HOSPITAL,
    NOTION_TOKEN,
    QUIET_SCHEDULER,
    SIGNING_SECRET,
    TEAM,
    AppServer,
    Sandbox,
    World,
    sign,
    wait_for,
)
from tests.test_workspaces import install

OOPS = "Something went wrong"
FAILURES = ("Traceback", "command failed", "unhandled error in a listener", "work after ack failed")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def failures(world: World) -> list[str]:
    return [line for line in world.server.logs().splitlines() if any(f in line for f in FAILURES)]


def post(world: World, body: bytes, content_type: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        world.server.events_url, data=body, headers={"Content-Type": content_type, **headers}, timeout=10
    )


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


GARBAGE = [
    (b"{not json", JSON),
    (b"[1]", JSON),
    (b"null", JSON),
    (b"payload={bad", FORM),
    (b"payload=%5B1%5D", FORM),
    (b"payload=null", FORM),
    (b"{not json", FORM),
    (b"\xff\xfe not utf-8", FORM),
    (b"", JSON),
]


# -- 3. verify first, then parse --------------------------------------------------------------


def test_unsigned_garbage_gets_401_and_is_never_parsed(world: World) -> None:
    before = len(failures(world))
    now = str(int(time.time()))
    good = sign(b"x")["X-Slack-Signature"]
    header_sets = [
        {},
        {"X-Slack-Request-Timestamp": now},
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": good},
        {"X-Slack-Request-Timestamp": "1e10", "X-Slack-Signature": good},
        {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": good},
        {"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": good},
        {"X-Slack-Request-Timestamp": "١٢٣", "X-Slack-Signature": good},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=zz"},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": good},  # signed, but for another body
    ]
    statuses = []
    for body, kind in GARBAGE:
        for headers in header_sets:
            response = post(world, body, kind, {k: v for k, v in headers.items() if v.isascii()})
            statuses.append(response.status_code)
            assert len(response.content) < 100  # a short answer, never an echo
    assert set(statuses) == {401}, statuses
    assert failures(world)[before:] == []


@pytest.mark.parametrize(("body", "kind"), GARBAGE[:7])
def test_signed_bodies_that_are_not_payloads_get_400(world: World, body: bytes, kind: str) -> None:
    before = len(failures(world))
    response = post(world, body, kind, sign(body))
    assert response.status_code == 400, response.text
    assert response.text.startswith("bad request")
    assert failures(world)[before:] == []


def test_a_lone_surrogate_or_a_bad_content_length_gets_400(world: World) -> None:
    lone = json.dumps(a_click(HOSPITAL, "undo_value", "1:1")).replace(HOSPITAL, "\\ud800")
    body = urlencode({"payload": lone}).encode()
    assert post(world, body, FORM, sign(body)).status_code == 400
    event = b'{"type": "event_callback", "event": {"type": "app_home_opened", "user": "\\udfff"}}'
    assert post(world, event, JSON, sign(event)).status_code == 400


def a_click(user: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user, "team_id": TEAM},
        "trigger_id": "1.2.3",
        "channel": {"id": "C0GENERAL"},
        "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b"}],
    }


ENVELOPES_SLACK_NEVER_SENDS = [
    {**a_click(HOSPITAL, "undo_value", "1:1"), "actions": []},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "actions": None},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "actions": [1]},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "actions": [{"action_id": 5}]},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "actions": "undo_value"},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "view": "a string"},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "team": 5},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "user": [HOSPITAL]},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "user": {"id": 1e99}},
    {**a_click(HOSPITAL, "undo_value", "1:1"), "response_url": ["x"]},
    {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": HOSPITAL}, "view": "value_story"},
    {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": HOSPITAL}, "view": {"callback_id": "value_story"}},
    {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": HOSPITAL}, "view": None},
    {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": HOSPITAL}},
    {"type": "message_action", "team": {"id": TEAM}, "user": {"id": BACKBONE}, "callback_id": 1},
    {
        "type": "message_action",
        "team": {"id": TEAM},
        "user": {"id": BACKBONE},
        "callback_id": "record_decision",
        "message": "hi",
    },
    {"type": "shortcut", "team": {"id": TEAM}, "user": {"id": BACKBONE}},
    {"type": "block_actions", "authorizations": [5]},
    {"type": "view_submission", "response_urls": 5, "view": {"type": "modal", "callback_id": "value_story"}},
]
EVENTS_SLACK_NEVER_SENDS = [
    {"type": "event_callback", "team_id": TEAM, "event": "app_home_opened"},
    {"type": "event_callback", "team_id": TEAM, "event": {"user": HOSPITAL}},
    {"type": "event_callback", "team_id": TEAM, "event": {"type": 5}},
    {"type": "event_callback", "team_id": TEAM, "event": {"type": "app_home_opened", "user": 5}},
    {"type": "event_callback", "team_id": TEAM, "event": {"type": "app_home_opened", "channel": [1]}},
    {"type": "event_callback", "team_id": TEAM, "event_id": 1e99, "event": {"type": "app_home_opened"}},
    {"type": "event_callback", "team_id": TEAM},
    {"type": "url_verification"},
]


def test_signed_envelopes_slack_never_sends_get_400(world: World) -> None:
    before = len(failures(world))
    for payload in ENVELOPES_SLACK_NEVER_SENDS:
        body = interaction_body(payload)
        response = post(world, body, FORM, sign(body))
        assert response.status_code == 400, (payload, response.status_code, response.text)
    for envelope in EVENTS_SLACK_NEVER_SENDS:
        body = json.dumps(envelope).encode()
        response = post(world, body, JSON, sign(body))
        assert response.status_code == 400, (envelope, response.status_code, response.text)
    assert failures(world)[before:] == []


def a_value_id(world: World) -> int:
    marker = f"hr{uuid.uuid4().hex[:6]}"
    period = Period.current(Frequency.MONTHLY, "America/Chicago").shift(-3)
    answer = world.send.ci(f"update er-visits 16 {period} zip=H{marker} {marker}", user=HOSPITAL)
    assert "Recorded" in answer["text"], answer
    db = world.db()
    with db.unit_of_work() as session:
        value_id = session.scalar(select(IndicatorValue.id).where(IndicatorValue.note == marker))
    db.dispose()
    assert value_id is not None
    return int(value_id)


def story_submission(world: World, metadata: str, story: str = "A nurse joined") -> requests.Response:
    view = {"type": "modal", "callback_id": "value_story"}
    state = {"story": {"story": {"type": "plain_text_input", "value": story}}}
    return world.send.submit(HOSPITAL, view, state, private_metadata=metadata)


def refusal_dm(world: World, user: str, count_before: int) -> str:
    """The text of the one DM the app sent `user` since `count_before`."""
    dms = wait_for(lambda: world.slack.dms(user)[count_before:], timeout=10)
    assert len(dms) == 1, dms
    return str(dms[0]["text"])


def test_tampered_modal_metadata_gets_a_private_refusal(world: World) -> None:
    before = len(failures(world))
    value_id = a_value_id(world)
    for metadata in [
        "not json",
        "[1]",
        "null",
        '"a string"',
        json.dumps({"value_id": 1e99}),
        json.dumps({"value_id": "1e99"}),
        json.dumps({"value_id": 2**40}),
        json.dumps({"value_id": True}),
        json.dumps({"value_id": None}),
        json.dumps({"value_id": [value_id]}),
        json.dumps({"value_id": -value_id}),
    ]:
        dms_before = len(world.slack.dms(HOSPITAL))
        response = story_submission(world, metadata)
        assert response.status_code == 200, (metadata, response.text)
        text = refusal_dm(world, HOSPITAL, dms_before)
        assert text.startswith(":warning:") and "out of date" in text, (metadata, text)
    # The same form with the app's own metadata is recorded: the refusals were about the metadata.
    assert story_submission(world, json.dumps({"value_id": value_id})).status_code == 200
    db = world.db()
    with db.unit_of_work() as session:
        row = session.get(IndicatorValue, value_id)
        assert row is not None and row.note is not None and row.note.endswith("A nurse joined")
    db.dispose()
    assert failures(world)[before:] == []


def test_a_decision_form_with_tampered_metadata_records_nothing(world: World) -> None:
    dms_before = len(world.slack.dms(BACKBONE))
    view = {"type": "modal", "callback_id": "record_decision"}
    state = {"decision_text": {"text": {"type": "plain_text_input", "value": "We meet weekly"}}}
    response = world.send.submit(BACKBONE, view, state, private_metadata="[1]")
    assert response.status_code == 200
    assert "out of date" in refusal_dm(world, BACKBONE, dms_before)


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("add_story", "1e99"),
        ("add_story", "-1"),
        ("add_story", ""),
        ("undo_value", "1e99:1"),
        ("action_mark_done", "1e99"),
        ("action_push_week", "١٢"),
        ("snooze_reminders", "\u0000"),
    ],
)
def test_tampered_button_values_get_a_private_refusal(world: World, action_id: str, value: str) -> None:
    before = len(failures(world))
    key = uuid.uuid4().hex
    response = world.send.click(HOSPITAL, action_id, value, response_key=key)
    assert response.status_code == 200
    answer = wait_for(lambda: world.slack.responses(key), timeout=10)[0]
    assert answer["text"].startswith(":warning:"), answer
    assert OOPS not in answer["text"]
    assert failures(world)[before:] == []


def test_a_refusal_whose_response_url_has_expired_comes_in_a_dm(world: World) -> None:
    """Slack answers 404 `expired_url` to a response_url older than 30 minutes (a click on an old
    message): the answer is sent to the person's DM instead of vanishing."""
    dms_before = len(world.slack.dms(HOSPITAL))
    payload = {
        **a_click(HOSPITAL, "action_mark_done", "1e99"),
        "response_url": world.slack.response_url(
            uuid.uuid4().hex, channel="C0GENERAL", user=HOSPITAL, team_id=TEAM, issued_at=time.time() - 31 * 60
        ),
    }
    assert world.send.interaction(payload).status_code == 200
    assert refusal_dm(world, HOSPITAL, dms_before).startswith(":warning:")


def test_a_form_that_cannot_open_in_time_is_said_so(world: World) -> None:
    """Slack opens a form only within 3 seconds of the click (`expired_trigger_id` after): the person,
    left looking at nothing, is told to try again."""
    key = uuid.uuid4().hex
    payload = {
        **a_click(HOSPITAL, "open_update_modal", "er-visits"),
        "trigger_id": world.slack.new_trigger_id(HOSPITAL, team_id=TEAM, issued_at=time.time() - 10),
        "response_url": world.slack.response_url(key, channel="C0GENERAL", user=HOSPITAL, team_id=TEAM),
    }
    assert world.send.interaction(payload).status_code == 200
    said = wait_for(lambda: world.slack.responses(key), timeout=10)[0]
    assert said["text"].startswith(":warning:") and "could not open" in said["text"] and "try again" in said["text"]


def test_form_fields_of_the_wrong_type_are_field_errors(world: World) -> None:
    view = {"type": "modal", "callback_id": "update_value", "private_metadata": json.dumps({"indicator": "er-visits"})}
    state = {
        "indicator": {"update_pick_indicator": {"type": "static_select", "selected_option": "er-visits"}},
        "value": {"value": {"type": "plain_text_input", "value": 12}},
        "period": {"period": {"type": "plain_text_input", "value": ["2026-01"]}},
        "note": "a string where an object goes",
    }
    response = world.send.submit(HOSPITAL, view, state)
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"


def test_a_slash_command_that_says_payload_is_carried_out(world: World) -> None:
    """Bolt's own parser takes any form mentioning "payload" for an interaction, and dropped these."""
    marker = uuid.uuid4().hex[:8]
    answer = world.send.ci(f"decide The payload of the grant report goes to the city ({marker})", user=BACKBONE)
    assert "is recorded" in answer["text"], answer
    db = world.db()
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Decision).where(Decision.text.contains(marker))) == 1
    db.dispose()


# -- 5. replays ---------------------------------------------------------------------------------


def signed_command(
    world: World, text: str, user: str = HOSPITAL, timestamp: int | None = None, team: str = TEAM
) -> tuple[bytes, dict[str, str]]:
    form = {
        "token": "legacy",
        "team_id": team,
        "channel_id": "C0GENERAL",
        "user_id": user,
        "command": "/ci",
        "text": text,
        "response_url": world.slack.response_url(uuid.uuid4().hex, channel="C0GENERAL", user=user, team_id=TEAM),
        "trigger_id": world.slack.new_trigger_id(user, team_id=TEAM),
    }
    body = urlencode(form).encode()
    return body, sign(body, timestamp=timestamp)


def er_visits(world: World, period: Period) -> list[float]:
    db = world.db()
    with db.unit_of_work() as session:
        values = [
            row.value
            for row in session.scalars(select(IndicatorValue).where(IndicatorValue.period == str(period)))
            if not row.withdrawn and row.breakdown == {"zip": "75299"}
        ]
    db.dispose()
    return values


def test_a_replayed_update_after_a_correction_does_not_revert_it(world: World) -> None:
    period = Period.current(Frequency.MONTHLY, "America/Chicago").shift(-5)
    body, headers = signed_command(world, f"update er-visits 30 {period} zip=75299")
    first = post(world, body, FORM, headers)
    assert "Recorded 30" in first.text, first.text
    assert "Recorded 31" in json.dumps(world.send.ci(f"update er-visits 31 {period} zip=75299"))
    assert er_visits(world, period) == [31.0]

    replay = post(world, body, FORM, headers)
    assert (replay.status_code, replay.content) == (200, b"")
    assert er_visits(world, period) == [31.0]


def test_a_replayed_refused_command_is_ignored_too(world: World) -> None:
    """A refusal rolls its transaction back, replay check and all: the signature is kept after it."""
    body, headers = signed_command(world, "update er-visits lots 2026-01")
    first = post(world, body, FORM, headers)
    assert first.status_code == 200 and "number" in first.text, first.text
    replay = post(world, body, FORM, headers)
    assert (replay.status_code, replay.content) == (200, b"")


class _RequestIds(logging.Handler):
    """The request id each record was logged under, read as the JSON log lines read it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), request_id.get()))


def test_what_a_command_logs_carries_the_request_id_it_came_with(world: World) -> None:
    """A line logged by the command's own listener (here: the replay it ignores) names the request's
    X-Request-Id, so that a proxy's id leads to the app's lines about it."""
    body, headers = signed_command(world, "help")
    assert post(world, body, FORM, headers).status_code == 200
    ids = _RequestIds()
    inbound_log = logging.getLogger("ci_slackbot.inbound")
    level = inbound_log.level
    inbound_log.addHandler(ids)
    inbound_log.setLevel(logging.INFO)
    try:
        replay = post(world, body, FORM, {**headers, "X-Request-Id": "req-from-proxy-1"})
    finally:
        inbound_log.removeHandler(ids)
        inbound_log.setLevel(level)
    assert (replay.status_code, replay.content) == (200, b"")
    assert [rid for message, rid in ids.seen if "replayed" in message] == ["req-from-proxy-1"], ids.seen


def test_two_copies_of_one_command_at_once_are_carried_out_once(world: World) -> None:
    """The copies race to the replay check inside their transactions: the database lets one through."""
    period = Period.current(Frequency.MONTHLY, "America/Chicago").shift(-9)
    body, headers = signed_command(world, f"update er-visits 44 {period} zip=75299")
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(world, body, FORM, headers), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    recorded = [a for a in answers if a.content]
    assert len(recorded) == 1 and "Recorded 44" in recorded[0].text, [a.text for a in answers]
    db = world.db()
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(IndicatorValue).where(IndicatorValue.period == str(period), IndicatorValue.breakdown_key != "")
        ).all()
        assert [(row.value, row.revision) for row in rows if row.breakdown == {"zip": "75299"}] == [(44.0, 1)]
    db.dispose()


def test_a_command_and_its_replay_check_are_one_transaction(world: World) -> None:
    """The signature is remembered by the command's own transaction, not one of its own before it
    (on SQLite a second write turn for every command: bench/ack_latency.py)."""
    services = world.server.services
    assert world.send.ci("help")  # the process's first request purges old signatures: not counted
    begun: list[str] = []

    def on_request_thread(*_: object) -> None:
        if "process_request" in threading.current_thread().name:  # not the outbox's or the scheduler's
            begun.append(threading.current_thread().name)

    event.listen(services.db.engine, "begin", on_request_thread)
    try:
        body, headers = signed_command(world, "update er-visits 12 2026-02 zip=75298")
        assert "Recorded 12" in post(world, body, FORM, headers).text
        first = len(begun)
        assert post(world, body, FORM, headers).content == b""
    finally:
        event.remove(services.db.engine, "begin", on_request_thread)
    assert (first, len(begun)) == (1, 2)  # and the replay's rolled back: nothing more


def test_on_postgresql_the_replay_check_is_part_of_the_commands_first_statement(world: World) -> None:
    """One round trip less for every command: the signature's INSERT rides along the look-up of the
    initiative (a WITH that inserts), and a replay is still told apart by what it wrote."""
    engine = world.server.services.db.engine
    assert world.send.ci("help")  # the process's first request purges old signatures: not counted
    statements: list[tuple[str, str]] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append((threading.current_thread().name, " ".join(statement.split())))

    def of_the_command(sent: list[tuple[str, str]]) -> list[str]:
        """The statements of the thread that remembered the signature (not the outbox's, say)."""
        thread = next(name for name, statement in sent if "INSERT INTO seen_requests" in statement)
        return [statement for name, statement in sent if name == thread]

    body, headers = signed_command(world, "update er-visits 13 2026-02 zip=75297")
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        assert "Recorded 13" in post(world, body, FORM, headers).text
        first = of_the_command(statements)
        statements.clear()
        assert post(world, body, FORM, headers).content == b""
        replayed = of_the_command(statements)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    if engine.dialect.name == "postgresql":
        assert first[0].startswith("WITH along AS (INSERT INTO seen_requests") and "FROM initiatives" not in first[0]
        assert "LEFT OUTER JOIN initiatives" in first[0]
        assert not any(statement.startswith("SELECT initiatives.id") for statement in first), first
        assert replayed == first[:1]  # the same first statement, and nothing after it
    else:
        assert first[0] == "BEGIN IMMEDIATE" and first[1].startswith("INSERT INTO seen_requests")
        assert first[2].startswith("SELECT initiatives.id")
        assert replayed == first[:2]


def test_a_command_from_a_workspace_without_initiative_is_answered_and_its_replay_ignored(world: World) -> None:
    """No initiative: the transaction (and the signature remembered in it) rolls back, and the
    signature is kept on its own after the answer."""
    body, headers = signed_command(world, "update er-visits 12 2026-02", team="T0NOBODY1")
    first = post(world, body, FORM, headers)
    assert first.status_code == 200 and first.content, first.text
    assert "Recorded" not in first.text
    replay = post(world, body, FORM, headers)
    assert (replay.status_code, replay.content) == (200, b"")


def test_a_replayed_click_is_ignored(world: World) -> None:
    due = date.today() + timedelta(days=30)
    answer = world.send.ci(f"action add Replay check {uuid.uuid4().hex[:6]} due {due}", user=HOSPITAL)
    found = re.search(r"Added action item #(\d+)", answer.get("text", ""))
    assert found, answer
    action_id = int(found.group(1))
    body = interaction_body(a_click(HOSPITAL, "action_push_week", str(action_id)))
    headers = sign(body)
    assert post(world, body, FORM, headers).status_code == 200
    pushed = wait_for(lambda: _due(world, action_id) if _due(world, action_id) != due else None, timeout=10)
    assert pushed == due + timedelta(days=7)

    replay = post(world, body, FORM, headers)
    assert (replay.status_code, replay.content) == (200, b"")
    fence = world.send.ci("help")  # a later request, carried out after the replay would have been
    assert fence
    assert _due(world, action_id) == due + timedelta(days=7)


def _due(world: World, action_id: int) -> date | None:
    db = world.db()
    with db.unit_of_work() as session:
        item = session.get(ActionItem, action_id)
        due = item.due if item is not None else None
    db.dispose()
    return due


def test_two_different_requests_in_the_same_second_both_work(world: World) -> None:
    stamp = int(time.time())
    body_a, headers_a = signed_command(world, "indicators", timestamp=stamp)
    body_b, headers_b = signed_command(world, "indicators", timestamp=stamp)
    answers = [post(world, body_a, FORM, headers_a), post(world, body_b, FORM, headers_b)]
    assert [a.status_code for a in answers] == [200, 200]
    assert all(a.content and "er-visits" in a.text for a in answers)


def test_event_retries_keep_their_own_dedup(world: World) -> None:
    """A retry may come with the very signature of the first delivery: it is not a replay."""
    envelope = {
        "type": "event_callback",
        "team_id": TEAM,
        "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
        "event": {"type": "app_home_opened", "user": BACKBONE, "tab": "home"},
    }
    body = json.dumps(envelope).encode()
    headers = sign(body)
    assert post(world, body, JSON, headers).status_code == 200
    retried = post(world, body, JSON, {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status_code == 200
    # A replay of a command does not get through by claiming to be a retry.
    command, command_headers = signed_command(world, "help")
    assert post(world, command, FORM, command_headers).content
    assert post(world, command, FORM, {**command_headers, "X-Slack-Retry-Num": "1"}).content == b""


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


def test_seen_requests_are_remembered_for_the_window_then_purged(database: Database) -> None:
    clock = FakeClock()
    seen = SeenRequests(database, clock)
    stamp = int(clock.now)
    assert seen.first_time(stamp, "v0=" + "a" * 64)
    assert not seen.first_time(stamp, "v0=" + "a" * 64)
    assert seen.first_time(stamp, "v0=" + "b" * 64)  # another request in the same second

    def rows() -> int:
        with database.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(SeenRequest)) or 0)

    # Within the window (and the purge's margin) every signature stays, however often requests come.
    clock.now += WINDOW_SECONDS
    assert seen.first_time(int(clock.now), "v0=" + "c" * 64)
    assert not seen.first_time(stamp, "v0=" + "a" * 64)
    assert rows() == 3
    # Past twice the window, the next purge (at most once a minute) drops the old ones.
    clock.now += WINDOW_SECONDS + PURGE_EVERY_SECONDS + 1
    assert seen.first_time(int(clock.now), "v0=" + "d" * 64)
    assert rows() == 2


# -- 6. logs ----------------------------------------------------------------------------------


@pytest.fixture
def debug_app(world: World, caplog: pytest.LogCaptureFixture) -> Iterator[AppServer]:
    """The app built while the log is at DEBUG, as `serve` builds it after configuring the log (Bolt's
    loggers take the level the root logger has then)."""
    caplog.set_level(logging.DEBUG)
    server = AppServer(
        world.database_url, {**world.sandbox.env(), **QUIET_SCHEDULER, "CI_SLACKBOT_BACKGROUND": "false"}
    )
    server.start()
    yield server
    server.stop()


def test_forged_large_posts_do_not_grow_the_log(debug_app: AppServer, caplog: pytest.LogCaptureFixture) -> None:
    big = b"command=%2Fci&text=" + b"A" * (2 * 1024 * 1024)
    for _ in range(10):
        response = requests.post(
            debug_app.events_url,
            data=big,
            headers={"Content-Type": FORM, **sign(big, secret="not-the-secret")},
            timeout=10,
        )
        assert response.status_code in (401, 413)
    assert len(caplog.text) < 20_000, caplog.text[:2000]
    assert "AAAAAAAAAA" not in caplog.text


def test_the_legacy_token_of_a_request_is_never_logged(
    world: World, debug_app: AppServer, caplog: pytest.LogCaptureFixture
) -> None:
    body, _ = signed_command(world, "help")
    body = body.replace(b"token=legacy", b"token=legacy-verification-token-9f8e7d")
    for secret in ("rotated-secret", SIGNING_SECRET):
        requests.post(
            debug_app.events_url, data=body, headers={"Content-Type": FORM, **sign(body, secret=secret)}, timeout=10
        )
    assert "legacy-verification-token-9f8e7d" not in caplog.text
    assert SIGNING_SECRET not in caplog.text


def test_no_token_or_secret_is_logged_at_debug_through_an_oauth_install(capsys: pytest.CaptureFixture[str]) -> None:
    """slack_sdk logs the whole `oauth.v2.access` answer, new bot token included, at DEBUG."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    box = Sandbox.start()
    server = AppServer(f"sqlite:///{Path(tempfile.mkdtemp()) / 'ci.db'}", {**box.oauth_env(), **QUIET_SCHEDULER})
    try:
        configure_logging("DEBUG")  # as `serve` does before it builds the app
        server.start()
        done = install(server.base, box.slack, "T0DEBUGLOG", "Debug logging")
        assert done.callback.status_code == 200, done.callback.text
        token = box.slack.tokens("T0DEBUGLOG")[0]
    finally:
        server.stop()
        box.stop()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    logged = capsys.readouterr().err
    assert "oauth.v2.access" in logged  # slack_sdk did log the exchange
    assert token.startswith("xoxb-") and token not in logged
    for secret in (CLIENT_SECRET, SIGNING_SECRET, NOTION_TOKEN):
        assert secret not in logged


def test_the_purge_of_old_signatures_runs_off_the_requests_thread(database: Database) -> None:
    """The request that finds the purge due hands it over (`serve` gives the after-ack pool) and does
    not wait for the DELETE, which at a busy minute's 30,000 signatures takes tens of milliseconds."""
    clock = FakeClock()
    deleted_on: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM SEEN_REQUESTS"):
            deleted_on.append(threading.current_thread().name)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="after") as pool:
        seen = SeenRequests(database, clock, purge_in=pool.submit)
        event.listen(database.engine, "before_cursor_execute", on_statement)
        try:
            stamp = int(clock.now)
            assert seen.first_time(stamp, "v0=" + "a" * 64)  # the process's first purge, of nothing
            wait_for(lambda: len(deleted_on) == 1)
            clock.now += 2 * WINDOW_SECONDS + PURGE_EVERY_SECONDS + 1
            assert seen.first_time(int(clock.now), "v0=" + "b" * 64)
            wait_for(lambda: len(deleted_on) == 2)

            def rows() -> list[str]:
                with database.unit_of_work() as session:
                    return list(session.scalars(select(SeenRequest.signature)))

            assert wait_for(lambda: rows() == ["v0=" + "b" * 64])
        finally:
            event.remove(database.engine, "before_cursor_execute", on_statement)
    assert deleted_on and all(name.startswith("after") for name in deleted_on)
    # A pool shut down (the process stopping) is not an error: the purge is left to the next process.
    clock.now += PURGE_EVERY_SECONDS + 1
    assert seen.first_time(int(clock.now), "v0=" + "c" * 64)
