"""Slack delivers some things more than once; each has one effect.

- The Events API retries a delivery it thinks failed (`X-Slack-Retry-Num: 1`, 2, 3,
  with the same `event_id`): `app_home_opened` publishes the Home tab once per event,
  whether the retry comes later or races the first delivery.
- A modal can be submitted twice (a double click, or a second try after Slack showed a
  connection error): "Record as decision" records one decision per view.

Each test waits for a "fence" (a later, different delivery's effect) before counting,
so that a second effect, had there been one, would have happened by then: the listener
pool runs deliveries in the order they arrived.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from ci_slackbot.store.models import Decision, OutboxItem
from tests.harness import BACKBONE, HOSPITAL, NEIGHBOR, NURSE, World, bot_client, wait_for

DECISIONS_CHANNEL = "C0DECIDE01"


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": "home"}


def publishes(world: World, user: str) -> int:
    return len([c for c in world.slack.calls("views.publish") if c["params"].get("user_id") == user and c["ok"]])


def test_a_retried_event_publishes_the_home_tab_once(world: World) -> None:
    before = publishes(world, HOSPITAL)
    event_id = "Ev" + uuid.uuid4().hex[:10].upper()
    first = world.send.event(home_opened(HOSPITAL), event_id=event_id)
    assert first.status_code == 200
    wait_for(lambda: publishes(world, HOSPITAL) == before + 1, timeout=15)

    # Slack did not see our answer in time and tries again, twice, with the same event id.
    for retry in (1, 2):
        again = world.send.event(home_opened(HOSPITAL), event_id=event_id, retry=retry)
        assert again.status_code == 200
    fence = world.send.event(home_opened(NEIGHBOR))
    assert fence.status_code == 200
    wait_for(lambda: publishes(world, NEIGHBOR) >= 1, timeout=15)

    assert publishes(world, HOSPITAL) == before + 1


def test_a_retry_racing_the_first_delivery_still_publishes_once(world: World) -> None:
    before = publishes(world, NURSE)
    event_id = "Ev" + uuid.uuid4().hex[:10].upper()
    with ThreadPoolExecutor(5) as pool:
        answers = list(
            pool.map(
                lambda retry: world.send.event(home_opened(NURSE), event_id=event_id, retry=retry or None),
                range(5),
            )
        )
    assert [a.status_code for a in answers] == [200] * 5
    wait_for(lambda: publishes(world, NURSE) == before + 1, timeout=15)
    fence_before = publishes(world, NEIGHBOR)
    world.send.event(home_opened(NEIGHBOR))
    wait_for(lambda: publishes(world, NEIGHBOR) == fence_before + 1, timeout=15)

    assert publishes(world, NURSE) == before + 1


def test_a_new_event_for_the_same_user_is_not_taken_for_a_retry(world: World) -> None:
    before = publishes(world, HOSPITAL)
    for _ in range(2):
        assert world.send.event(home_opened(HOSPITAL)).status_code == 200
    wait_for(lambda: publishes(world, HOSPITAL) == before + 2, timeout=15)


# -- "Record as decision" submitted twice ----------------------------------------------------


def decisions_with(world: World, marker: str) -> tuple[int, int]:
    """Decisions holding `marker`, and the outbox rows queued for them."""
    db = world.db()
    with db.unit_of_work() as session:
        ids = list(session.scalars(select(Decision.id).where(Decision.text.contains(marker))))
        rows = (
            session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(
                    OutboxItem.idempotency_key.in_(
                        [f"decision:{i}:{part}" for i in ids for part in ("announce", "notion")]
                    )
                )
            )
            or 0
        )
    db.dispose()
    return len(ids), rows


def open_decision_modal(world: World, text: str) -> dict[str, Any]:
    """Post a message, use "Record as decision" on it, and return the modal Slack opened (with its id)."""
    ts = str(bot_client(world.slack).chat_postMessage(channel="C0GENERAL", text=text)["ts"])
    opened_before = len(world.slack.views(BACKBONE, callback_id="record_decision"))
    response = world.send.interaction(
        {
            "type": "message_action",
            "callback_id": "record_decision",
            "trigger_id": world.slack.new_trigger_id(BACKBONE),
            "user": {"id": BACKBONE},
            "channel": {"id": "C0GENERAL"},
            "message": {"type": "message", "ts": ts, "user": NURSE, "text": text},
            "response_url": world.slack.response_url(uuid.uuid4().hex),
        }
    )
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(BACKBONE, callback_id="record_decision")[opened_before:], timeout=10)[
        -1
    ]
    return {**opened["view"], "id": opened["view_id"]}


def decision_state(text: str) -> dict[str, dict[str, Any]]:
    return {"decision_text": {"text": {"type": "plain_text_input", "value": text}}}


def test_a_decision_modal_submitted_twice_records_one_decision(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    view = open_decision_modal(world, f"We meet monthly from March ({marker})")
    answers = [
        world.send.submit(BACKBONE, view, decision_state(f"We meet monthly from March ({marker})")) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    # Both answers show the decision as recorded: the person sees the same outcome either way.
    assert [a.json()["response_action"] for a in answers] == ["update", "update"]
    first, second = (json.dumps(a.json()["view"]) for a in answers)
    assert first == second
    assert decisions_with(world, marker) == (1, 2)


def test_a_double_click_racing_itself_records_one_decision(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    view = open_decision_modal(world, f"Pharmacies refill school inhalers ({marker})")
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: world.send.submit(BACKBONE, view, decision_state(f"Pharmacies refill inhalers ({marker})")),
                range(4),
            )
        )
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.json()["response_action"] for a in answers} == {"update"}
    assert decisions_with(world, marker) == (1, 2)


def test_a_refused_submission_can_be_corrected_in_the_same_modal(world: World) -> None:
    """Only a recorded decision uses up the view: after field errors, the fixed form goes through."""
    marker = f"m{uuid.uuid4().hex[:8]}"
    view = open_decision_modal(world, f"Code enforcement for mold ({marker})")
    wrong_goal = {
        **decision_state(f"Code enforcement for mold ({marker})"),
        "decision_goal": {"goal": {"type": "static_select", "selected_option": {"value": "G9"}}},
    }
    refused = world.send.submit(BACKBONE, view, wrong_goal)
    assert refused.json()["response_action"] == "errors"
    assert decisions_with(world, marker) == (0, 0)
    fixed = world.send.submit(BACKBONE, view, decision_state(f"Code enforcement for mold ({marker})"))
    assert fixed.json()["response_action"] == "update"
    assert decisions_with(world, marker) == (1, 2)


def test_two_modals_with_the_same_text_are_two_decisions(world: World) -> None:
    """Idempotency is per submitted view, not per text: the same words decided twice are two decisions."""
    marker = f"m{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        view = open_decision_modal(world, f"We review the data quarterly ({marker})")
        answer = world.send.submit(BACKBONE, view, decision_state(f"We review the data quarterly ({marker})"))
        assert answer.json()["response_action"] == "update"
    assert decisions_with(world, marker) == (2, 4)
