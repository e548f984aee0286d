"""Fuzzing the HTTP front with hypothesis: requests of every kind Slack sends (slash commands, block
actions, view submissions, events, global and message shortcuts), taken apart and put together
wrong, signed and unsigned, and plain garbage. Whatever arrives, nothing answers 5xx, nobody is
told "Something went wrong", and the server logs no traceback and no failed command.

- Unsigned, stale or badly signed: 401, whatever the body; likewise a body that is not UTF-8,
  which the signature check reads as text.
- Signed: 200 (carried out, or refused in the answer), 400 (a body or envelope Slack never
  sends: nobody to answer) or 404 (nothing in the app takes it).

Prints what it tried, by kind (`pytest -s` shows it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci_slackbot.sandbox.world import event_envelope
from commands import build_router
from tests.harness import BACKBONE, HOSPITAL, NURSE, STRANGER, TEAM, World, sign, wait_for

EXAMPLES = int(os.environ.get("CI_SLACKBOT_FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the working tree
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
OOPS = "Something went wrong"
FAILURES = ("Traceback", "command failed", "unhandled error in a listener", "work after ack failed")
ROUTER = build_router()
PEOPLE = [BACKBONE, HOSPITAL, NURSE, STRANGER]

# -- what Slack sends, well formed --------------------------------------------------------------


def command(world: World, user: str, text: str) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM,
        "channel_id": "C0GENERAL",
        "user_id": user,
        "command": "/ci",
        "text": text,
        "response_url": world.slack.response_url(uuid.uuid4().hex, channel="C0GENERAL", user=user, team_id=TEAM),
        "trigger_id": world.slack.new_trigger_id(user, team_id=TEAM),
    }


def interaction(world: World, user: str, kind: str, name: str) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind,
        "team": {"id": TEAM, "domain": "sandbox"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0SANDBOX",
        "token": "legacy",
        "trigger_id": world.slack.new_trigger_id(user, team_id=TEAM),
    }
    if kind == "block_actions":
        base["response_url"] = world.slack.response_url(uuid.uuid4().hex, channel="C0GENERAL", user=user, team_id=TEAM)
        base["channel"] = {"id": "C0GENERAL"}
        base["container"] = {"type": "message"}
        base["actions"] = [{"action_id": name, "value": "1", "type": "button", "block_id": "b", "action_ts": "1.2"}]
    elif kind == "view_submission":
        metadata = {"update_value": {"indicator": "er-visits"}, "value_story": {"value_id": 1}}.get(name, {})
        base["view"] = {
            "id": "V" + uuid.uuid4().hex[:10].upper(),
            "type": "modal",
            "callback_id": name,
            "private_metadata": json.dumps(metadata),
            "state": {"values": {"story": {"story": {"type": "plain_text_input", "value": "A story"}}}},
        }
    elif kind == "message_action":
        base["callback_id"] = name
        base["channel"] = {"id": "C0GENERAL"}
        base["message"] = {"type": "message", "ts": "1700000000.000100", "user": NURSE, "text": "We decided"}
        base["response_url"] = world.slack.response_url(uuid.uuid4().hex, channel="C0GENERAL", user=user, team_id=TEAM)
    else:  # a global shortcut
        base["callback_id"] = name
    return base


def event(user: str, kind: str) -> dict[str, Any]:
    return event_envelope(TEAM, {"type": kind, "user": user, "channel": "D0HOME0001", "tab": "home"})


# -- taking it apart ----------------------------------------------------------------------------

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "1e99", "\ud800", "a\udfffb", "x" * 3000, "[1]", "{not json", "1:1", "-1", "١٢", "\x00"]),
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# response_url is left whole: which URLs the app may post to is checked apart from this.
KEPT = {"response_url"}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key not in KEPT:
                found.append((*prefix, key))
                found.extend(paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(inner, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn, payload: dict[str, Any], form_fields: bool) -> dict[str, Any]:
    """`payload` with up to three fields replaced by anything, or taken out."""
    for _ in range(draw(st.integers(0, 3))):
        places = paths(payload)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent: Any = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(st.text(max_size=30) if form_fields else json_values)
    return payload


KINDS = ["command", "block_actions", "view_submission", "event", "shortcut", "message_action", "garbage"]
ACTIONS = [*ROUTER.actions, "nobody_listens"]
VIEWS = [*ROUTER.views, "nobody_listens"]
SHORTCUTS = [*ROUTER.shortcuts, "nobody_listens"]
EVENTS = ["app_home_opened", "app_mention", "tokens_revoked", "message"]
SIGNING = [
    "signed",
    "signed",
    "signed",
    "signed",
    "signed",
    "unsigned",
    "wrong secret",
    "stale",
    "timestamp abc",
    "timestamp 1e10",
]


def headers_for(body: bytes, how: str) -> dict[str, str]:
    if how == "signed":
        return sign(body)
    if how == "wrong secret":
        return sign(body, secret="not-the-secret")
    if how == "stale":
        return sign(body, timestamp=int(time.time()) - 400)
    if how.startswith("timestamp "):
        return {**sign(body), "X-Slack-Request-Timestamp": how.split()[1]}
    return {}


def utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.e2e
def test_no_request_of_any_kind_gets_a_5xx(world: World) -> None:
    tally: Counter[tuple[str, str]] = Counter()
    logs_before = len(world.server.logs().splitlines())
    dms_before = {user: len(world.slack.dms(user)) for user in PEOPLE}

    @FUZZ
    @given(data=st.data(), kind=st.sampled_from(KINDS), user=st.sampled_from(PEOPLE), how=st.sampled_from(SIGNING))
    def one_request(data: st.DataObject, kind: str, user: str, how: str) -> None:
        if kind == "command":
            fields = command(world, user, data.draw(st.sampled_from(["help", "update er-visits 3", "actions", ""])))
            body = urlencode(data.draw(mutated(fields, form_fields=True))).encode()
            content_type = "application/x-www-form-urlencoded"
        elif kind == "event":
            envelope = data.draw(mutated(event(user, data.draw(st.sampled_from(EVENTS))), form_fields=False))
            body, content_type = json.dumps(envelope).encode(), "application/json"
        elif kind == "garbage":
            body = data.draw(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
            content_type = data.draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]))
        else:
            names = {"block_actions": ACTIONS, "view_submission": VIEWS}.get(kind, SHORTCUTS)
            payload = interaction(world, user, kind, data.draw(st.sampled_from(names)))
            text = json.dumps(data.draw(mutated(payload, form_fields=False)))
            if data.draw(st.integers(0, 9)) == 0:  # now and then, not JSON at all
                text = text[: len(text) * data.draw(st.integers(0, 99)) // 100]
            body, content_type = urlencode({"payload": text}).encode(), "application/x-www-form-urlencoded"
        response = requests.post(
            world.server.events_url,
            data=body,
            headers={"Content-Type": content_type, **headers_for(body, how)},
            timeout=10,
        )
        tally[(kind, "tried")] += 1
        tally[(kind, str(response.status_code))] += 1
        assert response.status_code < 500, (kind, how, body[:300], response.text[:300])
        if how != "signed":
            assert response.status_code == 401, (kind, how, response.status_code)
        elif not utf8(body):  # the verifier reads the body as text: bytes that are not cannot be Slack's
            assert response.status_code == 401, (kind, body[:300], response.status_code)
        else:
            assert response.status_code in (200, 400, 404), (kind, body[:300], response.status_code)
        assert OOPS not in response.text, (kind, body[:300], response.text[:300])

    one_request()

    # A last click, answered through its response_url after the ack: the work queued before it is done by then.
    key = uuid.uuid4().hex
    world.send.click(HOSPITAL, "add_story", "0", response_key=key)
    wait_for(lambda: world.slack.responses(key), timeout=15)
    kinds = sorted({kind for kind, _ in tally})
    print("\nrequests tried by kind (status: count):")
    for kind in kinds:
        statuses = {s: n for (k, s), n in sorted(tally.items()) if k == kind and s != "tried"}
        fives = sum(n for s, n in statuses.items() if s.startswith("5"))
        print(f"  {kind:16} tried {tally[(kind, 'tried')]:4}  5xx {fives}  {statuses}")
    new_lines = world.server.logs().splitlines()[logs_before:]
    assert [line for line in new_lines if any(f in line for f in FAILURES)] == []
    for user in PEOPLE:
        assert not [m for m in world.slack.dms(user)[dms_before[user] :] if OOPS in json.dumps(m)]
    assert not [r for r in world.slack.responses() if OOPS in json.dumps(r)]
    assert {kind for kind, status in tally if status == "200"} >= {"command", "block_actions", "view_submission"}
