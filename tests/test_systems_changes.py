"""Systems changes and the data development agenda, through the app and the Slack and Notion stand-ins."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ci_slackbot.store.models import DataWish, OutboxItem, SystemsChange
from tests.harness import AGENDA_PAGE, BACKBONE, HOSPITAL, NURSE, STRANGER, World, load_example, wait_for
from tests.paths import EXAMPLE

CHANGES_DB = "00000000-0000-0000-0000-0000005c4a9e"


@pytest.fixture(scope="module")
def changes_world(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The example initiative with a Notion "Systems changes" database named in its file."""
    world.notion.add_database(AGENDA_PAGE, "Systems changes", {"Name": {"title": {}}}, database_id=CHANGES_DB)
    text = EXAMPLE.read_text()
    marker = "  decisions_database: 00000000-0000-0000-0000-0000000dec15\n"
    assert marker in text
    path = Path(tmp_path_factory.mktemp("file")) / "initiative.yml"
    path.write_text(text.replace(marker, f"{marker}  systems_changes_database: {CHANGES_DB}\n"))
    load_example(world.database_url, path)
    yield world


def _form(world: World, user: str, text: str) -> dict[str, Any]:
    before = len(world.slack.views(user, callback_id="record_systems_change"))
    answer = world.send.ci(f"change {text}", user=user)
    assert answer["response_type"] == "ephemeral"
    opened = wait_for(lambda: world.slack.views(user, callback_id="record_systems_change")[before:], timeout=10)
    return dict(opened[-1]["view"])


def _submit(world: World, user: str, view: dict[str, Any], **values: Any) -> dict[str, Any]:
    state: dict[str, dict[str, Any]] = {
        "change_kind": {
            "value": {"type": "static_select", "selected_option": {"value": values.get("kind", "practices")}}
        },
        "change_text": {"value": {"type": "plain_text_input", "value": values["text"]}},
        "change_orgs": {
            "value": {
                "type": "multi_static_select",
                "selected_options": [{"value": key} for key in values.get("orgs", ())],
            }
        },
        "change_date": {"value": {"type": "datepicker", "selected_date": values.get("date", "2026-03-01")}},
    }
    if values.get("goal"):
        state["change_goal"] = {"value": {"type": "static_select", "selected_option": {"value": values["goal"]}}}
    response = world.send.submit(user, view, state)
    assert response.status_code == 200
    return dict(response.json()) if response.content else {}


def _change(world: World, marker: str) -> SystemsChange:
    db = world.db()
    with db.unit_of_work() as session:
        found = session.scalar(select(SystemsChange).where(SystemsChange.text.contains(marker)))
        assert found is not None, f"no change with {marker!r}"
        session.expunge(found)
    db.dispose()
    return found


def _count(world: World, model: type[Any]) -> int:
    db = world.db()
    with db.unit_of_work() as session:
        count = int(session.scalar(select(func.count()).select_from(model)) or 0)
    db.dispose()
    return count


def _pages(world: World, change: SystemsChange) -> list[dict[str, Any]]:
    key = f"systems-change-{change.initiative_id}-{change.id}"
    return [
        page
        for page in world.notion.pages_in(CHANGES_DB)
        if "".join(t["plain_text"] for t in page["properties"]["ci-slackbot key"]["rich_text"]) == key
    ]


def _confirm_button(answer: dict[str, Any], change_id: int) -> dict[str, Any]:
    buttons = [
        b["accessory"]
        for b in answer.get("blocks", [])
        if b.get("accessory", {}).get("action_id") == "confirm_systems_change"
    ]
    return next(b for b in buttons if b["value"] == str(change_id))


def _record(world: World, user: str = NURSE, **values: Any) -> tuple[SystemsChange, str]:
    marker = f"m{uuid.uuid4().hex[:8]}"
    view = _form(world, user, f"draft {marker}")
    text = values.pop("text", f"Every school nurse now files an asthma action plan at enrollment ({marker})")
    answer = _submit(world, user, view, text=text, **values)
    assert answer.get("response_action") == "update", answer
    return _change(world, marker), marker


def test_a_change_is_proposed_confirmed_by_backbone_and_written_to_notion_once(changes_world: World) -> None:
    world = changes_world
    view = _form(world, NURSE, "We & the district <b>changed</b> something")
    # The form: the five kinds, the initiative's organizations, its goals, a datepicker, the text prefilled.
    by_id = {b["block_id"]: b for b in view["blocks"] if b.get("block_id")}
    assert len(by_id["change_kind"]["element"]["options"]) == 5
    assert {o["value"] for o in by_id["change_orgs"]["element"]["options"]} >= {"dallas-isd", "childrens-health"}
    assert by_id["change_orgs"]["element"]["type"] == "multi_static_select"
    assert by_id["change_date"]["element"]["type"] == "datepicker"
    assert by_id["change_text"]["element"]["initial_value"] == "We & the district <b>changed</b> something"

    change, marker = _record(world, orgs=("dallas-isd", "childrens-health"), goal="G1", kind="practices")
    assert change.status == "proposed" and change.kind == "practices" and str(change.took_effect) == "2026-03-01"
    # Proposed: its author and backbone staff see it, a partner of another organization does not.
    assert marker in json.dumps(world.send.ci("changes", user=NURSE))
    assert marker not in json.dumps(world.send.ci("changes", user=HOSPITAL))
    listing = world.send.ci("changes", user=BACKBONE)
    assert marker in json.dumps(listing) and "not confirmed yet" in json.dumps(listing)
    button = _confirm_button(listing, change.id)

    # A partner's click is refused (rights checked on the click), and nothing changes.
    key = uuid.uuid4().hex
    world.send.click(HOSPITAL, button["action_id"], button["value"], response_key=key)
    refused = wait_for(lambda: world.slack.responses(key), timeout=10)
    assert "Only backbone staff can confirm systems changes" in json.dumps(refused)
    assert _change(world, marker).status == "proposed"

    key = uuid.uuid4().hex
    world.send.click(BACKBONE, button["action_id"], button["value"], response_key=key)
    replaced = wait_for(lambda: world.slack.responses(key), timeout=10)
    assert f"Systems change #{change.id} is confirmed" in json.dumps(replaced)
    confirmed = _change(world, marker)
    assert (confirmed.status, confirmed.confirmed_by) == ("confirmed", BACKBONE)

    wait_for(lambda: _change(world, marker).notion_url, timeout=30)
    # A second click is no second page.
    world.send.click(BACKBONE, button["action_id"], button["value"])
    pages = _pages(world, change)
    assert len(pages) == 1
    properties = pages[0]["properties"]
    assert properties["Kind"]["select"]["name"] == "Organizational practices aligned"
    assert properties["Took effect"]["date"]["start"] == "2026-03-01"
    organizations = properties["Organizations"]["rich_text"][0]["plain_text"]
    assert "Dallas ISD" in organizations and "Children" in organizations
    assert properties["Goal"]["rich_text"][0]["plain_text"].startswith("G1")
    assert marker in world.notion.page_text(pages[0]["id"])
    # Now everyone sees it, by goal and kind.
    seen = json.dumps(world.send.ci("changes", user=HOSPITAL))
    assert marker in seen and "Organizational practices aligned" in seen
    db = world.db()
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxItem).where(OutboxItem.idempotency_key == f"systems-change:{change.id}:notion")
        )
        assert len(list(rows)) == 1
    db.dispose()


def test_the_digest_announces_a_newly_confirmed_change(changes_world: World) -> None:
    world = changes_world
    change, marker = _record(world, user=HOSPITAL, kind="legislative-policy", orgs=("childrens-health",))
    assert marker not in json.dumps(world.send.ci("digest", user=NURSE))  # proposed: not news
    listing = world.send.ci("changes", user=BACKBONE)
    button = _confirm_button(listing, change.id)
    key = uuid.uuid4().hex
    world.send.click(BACKBONE, button["action_id"], button["value"], response_key=key)
    wait_for(lambda: world.slack.responses(key), timeout=10)
    preview = json.dumps(world.send.ci("digest", user=NURSE))
    assert "Systems changes confirmed" in preview and marker in preview and "Legislative policy" in preview


def test_bad_input_and_strangers_record_nothing(changes_world: World) -> None:
    world = changes_world
    before = _count(world, SystemsChange)
    refused = world.send.ci("change We opened a clinic", user=STRANGER)
    assert "not listed as a member" in refused["text"]
    view = _form(world, NURSE, "x")
    no_kind = _submit(world, NURSE, view, kind="sorcery", text="Something changed")
    assert no_kind["response_action"] == "errors" and "Choose one of the kinds" in json.dumps(no_kind)
    view = _form(world, NURSE, "x")
    bad_org = _submit(world, NURSE, view, orgs=("acme",), text="Something changed")
    assert bad_org["response_action"] == "errors"
    forged = world.send.submit(
        STRANGER,
        {"type": "modal", "callback_id": "record_systems_change", "private_metadata": "{}"},
        {"change_text": {"value": {"type": "plain_text_input", "value": "Sneaky"}}},
    )
    assert forged.json()["response_action"] == "errors"
    assert _count(world, SystemsChange) == before


def test_the_message_shortcut_opens_the_form_prefilled(changes_world: World) -> None:
    world = changes_world
    before = len(world.slack.views(NURSE, callback_id="record_systems_change"))
    response = world.send.interaction(
        {
            "type": "message_action",
            "callback_id": "record_systems_change",
            "trigger_id": world.slack.new_trigger_id(NURSE),
            "user": {"id": NURSE},
            "channel": {"id": "C0GENERAL"},
            "message": {
                "type": "message",
                "ts": "1700000000.000100",
                "user": HOSPITAL,
                "text": "The city now &lt;fines&gt;",
            },
            "response_url": world.slack.response_url(uuid.uuid4().hex),
        }
    )
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(NURSE, callback_id="record_systems_change")[before:], timeout=10)
    text = next(b for b in opened[-1]["view"]["blocks"] if b.get("block_id") == "change_text")
    assert text["element"]["initial_value"] == "The city now <fines>"


def test_a_wish_is_on_the_agenda_apart_and_promoted_keeping_its_history(changes_world: World) -> None:
    world = changes_world
    marker = f"m{uuid.uuid4().hex[:8]}"
    answer = world.send.ci(
        f"wish How many children miss school for asthma <!channel> ({marker})? org dallas-isd by 2026-12-01", user=NURSE
    )
    assert "Added to the data we still need" in answer["text"], answer
    assert "Dallas ISD Health Services is developing the data, by Dec 1, 2026" in answer["text"]
    assert "<!channel>" not in json.dumps(answer) and "&lt;!channel&gt;" in json.dumps(answer)
    db = world.db()
    with db.unit_of_work() as session:
        wish = session.scalar(select(DataWish).where(DataWish.question.contains(marker)))
        assert wish is not None and wish.promoted_indicator_id is None
        wish_id = wish.id
    db.dispose()

    shown = json.dumps(world.send.ci("indicators", user=HOSPITAL))
    assert "Data we still need" in shown and marker in shown
    assert "Data we still need" in json.dumps(world.send.ci("digest", user=NURSE))

    # A partner may not promote; an unknown indicator is refused with how to add it.
    assert "Only backbone staff" in world.send.ci(f"wish promote {wish_id} action-plans", user=NURSE)["text"]
    unknown = world.send.ci(f"wish promote {wish_id} school-absences", user=BACKBONE)["text"]
    assert "no indicator `school-absences`" in unknown and "ci-slackbot init" in unknown
    usage = world.send.ci("wish promote", user=BACKBONE)["text"]
    assert "/ci wish promote &lt;id&gt; &lt;indicator-key&gt;" in usage

    promoted = world.send.ci(f"wish promote {wish_id} action-plans", user=BACKBONE)
    assert "now reported as *action-plans*" in promoted["text"]
    db = world.db()
    with db.unit_of_work() as session:
        kept = session.get(DataWish, wish_id)
        assert kept is not None and kept.promoted_indicator_id is not None and kept.question.endswith(f"({marker})?")
    db.dispose()
    shown = json.dumps(world.send.ci("indicators", user=HOSPITAL), ensure_ascii=False)
    assert f"({marker})? — now reported as *action-plans*" in shown


def test_a_wish_needs_a_member_and_a_real_date(changes_world: World) -> None:
    world = changes_world
    before = _count(world, DataWish)
    assert "not listed as a member" in world.send.ci("wish More data", user=STRANGER)["text"]
    assert "is not a date" in world.send.ci("wish More data by soon", user=NURSE)["text"]
    assert "no organization `acme`" in world.send.ci("wish More data org acme", user=NURSE)["text"]
    assert _count(world, DataWish) == before


def test_backbone_staff_edit_a_wish_from_app_home(changes_world: World) -> None:
    world = changes_world
    marker = f"m{uuid.uuid4().hex[:8]}"
    world.send.ci(f"wish Asthma-friendly homes ({marker})", user=NURSE)
    db = world.db()
    with db.unit_of_work() as session:
        wish = session.scalar(select(DataWish).where(DataWish.question.contains(marker)))
        assert wish is not None
        wish_id = wish.id
    db.dispose()
    before = len(world.slack.views(BACKBONE, callback_id="save_data_wish"))
    world.send.click(BACKBONE, "open_data_wish", str(wish_id), view={"type": "home", "id": "VHOME"})
    opened = wait_for(lambda: world.slack.views(BACKBONE, callback_id="save_data_wish")[before:], timeout=10)
    view = opened[-1]["view"]
    question = next(b for b in view["blocks"] if b["block_id"] == "wish_question")
    assert marker in question["element"]["initial_value"]
    edited = f"Homes assessed for asthma triggers ({marker})"
    state = {
        "wish_question": {"value": {"type": "plain_text_input", "value": edited}},
        "wish_developer": {"value": {"type": "static_select", "selected_option": {"value": "city-code"}}},
        "wish_due": {"value": {"type": "datepicker", "selected_date": "2027-01-15"}},
    }
    assert world.send.submit(HOSPITAL, view, state).json()["response_action"] == "errors"  # rights checked on submit
    assert world.send.submit(BACKBONE, view, state).status_code == 200
    db = world.db()
    with db.unit_of_work() as session:
        kept = session.get(DataWish, wish_id)
        assert kept is not None and kept.question == edited and str(kept.due) == "2027-01-15"
    db.dispose()


def test_a_wish_form_with_a_date_that_does_not_exist_says_so_on_the_field(changes_world: World) -> None:
    world = changes_world
    before = len(world.slack.views(BACKBONE, callback_id="save_data_wish"))
    world.send.click(BACKBONE, "open_data_wish", "new", view={"type": "home", "id": "VHOME"})
    opened = wait_for(lambda: world.slack.views(BACKBONE, callback_id="save_data_wish")[before:], timeout=10)[-1]
    view = {**opened["view"], "id": opened["view_id"]}
    state = {
        "wish_question": {"value": {"type": "plain_text_input", "value": "Days of school missed"}},
        "wish_due": {"value": {"type": "datepicker", "selected_date": "2027-02-30"}},
    }
    answer = world.send.submit(BACKBONE, view, state).json()
    assert answer["response_action"] == "errors" and "not a real date" in answer["errors"]["wish_due"]
    db = world.db()

    def wishes() -> int:
        with db.unit_of_work() as session:
            found = session.scalars(select(DataWish).where(DataWish.question == "Days of school missed")).all()
            return len(found)

    assert wishes() == 0
    # Put right, the same form is accepted; sent twice (a double click), it adds the wish once.
    state["wish_due"]["value"]["selected_date"] = "2027-02-28"
    assert world.send.submit(BACKBONE, view, state).status_code == 200 and wishes() == 1
    again = world.send.submit(BACKBONE, view, state).json()
    assert again["response_action"] == "errors" and "already sent" in again["errors"]["wish_question"]
    assert wishes() == 1
    db.dispose()
