"""A click is judged by who the person is now, not by who they were when the message was posted.

Buttons outlive the file that gave their presser the right to press them: someone removed from
an organization (`ci-slackbot init` with an edited file) keeps their old Undo, and a story button
reaches whoever a message is forwarded to. Each click checks the current membership, as the
submit of a form does, and a refusal opens no form and changes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from ci_slackbot.store.models import ActionItem, IndicatorValue
from tests.harness import EXAMPLE, HOSPITAL, NURSE, World, load_example, wait_for

LEAVING = "U0CHLD0002"  # of Children's Health until the edited file below takes the seat away


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def button(answer: dict[str, Any], action_id: str) -> str:
    for block in answer.get("blocks") or []:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {answer}")


def click(world: World, user: str, action_id: str, value: str) -> dict[str, Any]:
    """Press a button; returns what the app sent to the click's response_url."""
    key = uuid.uuid4().hex
    assert world.send.click(user, action_id, value, response_key=key).status_code == 200
    return wait_for(lambda: world.slack.responses(key), timeout=10)[0]


def test_a_removed_member_old_undo_and_mark_done_are_refused_and_change_nothing(
    fresh_world: World, tmp_path: Path
) -> None:
    recorded = fresh_world.send.ci("update er-visits 18 2026-09", user=LEAVING)
    assert "Recorded" in text_of(recorded), recorded
    undo = button(recorded, "undo_value")
    added = fresh_world.send.ci("action add Call the clinic about spacers", user=LEAVING)
    action_id = int(re.search(r"#(\d+)", added["text"]).group(1))  # type: ignore[union-attr]

    edited = EXAMPLE.read_text().replace(f"members: [{HOSPITAL}, {LEAVING}]", f"members: [{HOSPITAL}]")
    assert edited != EXAMPLE.read_text()
    path = tmp_path / "initiative.yml"
    path.write_text(edited)
    load_example(fresh_world.database_url, path)

    refused = click(fresh_world, LEAVING, "undo_value", undo)
    assert "Only the organization that reported this value can undo it" in refused["text"]
    assert refused["response_type"] == "ephemeral" and refused["replace_original"] is False
    done = click(fresh_world, LEAVING, "action_mark_done", str(action_id))
    assert "not listed as a member" in done["text"] and done["response_type"] == "ephemeral"
    db = fresh_world.db()
    with db.unit_of_work() as session:
        row = session.get(IndicatorValue, int(undo.split(":")[0]))
        assert row is not None and (row.withdrawn, row.revision, row.value) == (False, 1, 18)
        item = session.get(ActionItem, action_id)
        assert item is not None and (item.status, item.closed_at) == ("open", None)
    db.dispose()
    # A colleague still in the organization may take the report back.
    undone = click(fresh_world, HOSPITAL, "undo_value", undo)
    assert "Withdrawn" in text_of(undone)


def test_a_partner_click_on_another_organization_story_button_opens_no_form(world: World) -> None:
    world.send.ci("update action-plans 61 2026-Q1", user=NURSE)
    answer = world.send.ci("update action-plans 51 2026-Q2", user=NURSE)
    story = button(answer, "add_story")
    refused = click(world, HOSPITAL, "add_story", story)
    assert "Only the organization that reported this value can tell its story" in refused["text"]
    assert refused["response_type"] == "ephemeral"
    assert world.slack.views(HOSPITAL, callback_id="value_story") == []
    for forged in ("", "x", "1e99", "99999999999999999999"):
        assert "out of date" in click(world, NURSE, "add_story", forged)["text"], forged
    # Its own organization still gets the form.
    assert world.send.click(NURSE, "add_story", story).status_code == 200
    wait_for(lambda: world.slack.views(NURSE, callback_id="value_story"), timeout=10)
