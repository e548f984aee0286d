"""Action items, the activities map and the Notion mirror, through the real `serve` process.

The module's world gets an actions database in the Notion stand-in and
activities in the initiative file (the backbone re-applies the file, as
`ci-slackbot init` does). Every test writes its own uniquely worded items,
so the tests share the world without depending on each other's order.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, validate_blocks
from ci_slackbot.services.actions import add_action, push_value
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.services.people import who_is
from ci_slackbot.store.models import ActionItem, Activity, Initiative, OutboxItem
from integrations.slack.action_blocks import MARK_DONE, PUSH_WEEK
from integrations.slack.blocks import MAX_MESSAGE_BLOCKS
from tests.harness import AGENDA_PAGE, BACKBONE, CITY, HOSPITAL, NEIGHBOR, NURSE, STRANGER, World, wait_for
from tests.test_actions_service import ACTIONS_DB, example_file

IN_A_MONTH = date.today() + timedelta(days=30)


@pytest.fixture(scope="module", autouse=True)
def actions_database(world: World) -> Iterator[None]:
    """The backbone adds an actions database (a bare one: the mirror adds its columns) and the activities."""
    world.notion.add_database(AGENDA_PAGE, "Action items", {"Task": {"title": {}}}, database_id=ACTIONS_DB)
    db = world.db()
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(example_file()))
    db.dispose()
    yield


def _text(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def _unique(words: str) -> str:
    return f"{words} {uuid.uuid4().hex[:6]}"


def _added_id(answer: dict[str, Any]) -> int:
    match = re.search(r"Added action item #(\d+)", answer.get("text", ""))
    assert match, answer
    return int(match.group(1))


def _item(world: World, action_id: int) -> ActionItem:
    db = world.db()
    with db.unit_of_work() as session:
        item = session.get(ActionItem, action_id)
        assert item is not None
        session.expunge(item)
    db.dispose()
    return item


def _counts(world: World) -> tuple[int, ...]:
    """How many action items, activities and outbox rows there are: what a refused command must not change."""
    db = world.db()
    with db.unit_of_work() as session:
        counts = tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (ActionItem, Activity, OutboxItem)
        )
    db.dispose()
    return counts


def _click(world: World, user: str, action_id: str, value: str) -> str:
    """Press a button as Slack would; returns the key of the click's response_url."""
    key = uuid.uuid4().hex
    response = world.send.interaction(
        {
            "type": "block_actions",
            "user": {"id": user, "team_id": world.send.team},
            "trigger_id": world.slack.new_trigger_id(),
            "response_url": world.slack.response_url(key),
            "channel": {"id": "C0GENERAL"},
            "container": {"type": "message", "is_ephemeral": True},
            "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": f"action-{value}"}],
        }
    )
    assert response.status_code == 200
    return key


def _dms_with(world: World, user: str, words: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.dms(user) if words in _text(m)]


def _page(world: World, action_id: int) -> dict[str, Any] | None:
    for page in world.notion.pages_in(ACTIONS_DB):
        key = "".join(t["plain_text"] for t in page["properties"]["ci-slackbot key"]["rich_text"])
        if key.endswith(f"-{action_id}"):
            return page
    return None


def _prop(page: dict[str, Any], name: str) -> Any:
    prop = page["properties"][name]
    kind = prop["type"]
    if kind in ("title", "rich_text"):
        return "".join(t["plain_text"] for t in prop[kind])
    if kind == "select":
        return prop["select"]["name"] if prop["select"] else None
    if kind == "date":
        return prop["date"]["start"] if prop["date"] else None
    return prop[kind]


# -- the whole story: assigned, told, listed, closed, mirrored -----------------------------------


def test_an_item_is_assigned_listed_and_closed(world: World) -> None:
    words = _unique("Share the home-visit roster")
    answer = world.send.ci(f"action add {words} <@{NEIGHBOR}> due {IN_A_MONTH} goal g1", user=HOSPITAL)
    assert answer["response_type"] == "ephemeral"
    action_id = _added_id(answer)
    assert f"I'll let <@{NEIGHBOR}> know" in _text(answer)
    item = _item(world, action_id)
    assert (item.owner, item.created_by, item.due, item.status) == (NEIGHBOR, HOSPITAL, IN_A_MONTH, "open")

    # The owner is told in a DM, after the ack, through the outbox.
    dm = wait_for(lambda: _dms_with(world, NEIGHBOR, words))[0]
    assert f"<@{HOSPITAL}> assigned you action item *#{action_id}*" in _text(dm)

    # Their list shows it first, under "Yours", with both buttons.
    listing = world.send.ci("actions", user=NEIGHBOR)
    blocks = listing["blocks"]
    assert validate_blocks(blocks, surface="message") == []
    assert blocks[1]["elements"][0]["text"].startswith("*Yours*")
    assert f"*#{action_id}* {words}" in blocks[2]["text"]["text"]
    assert [(e["action_id"], e["value"]) for e in blocks[3]["elements"]] == [
        (MARK_DONE, str(action_id)),
        (PUSH_WEEK, push_value(action_id, _item(world, action_id).due)),
    ]

    # "Mark done": the refreshed list replaces the message, without the item.
    key = _click(world, NEIGHBOR, MARK_DONE, str(action_id))
    refreshed = wait_for(lambda: world.slack.responses(key))[0]
    assert refreshed["replace_original"] is True
    assert f"Closed *#{action_id}*" in _text(refreshed["blocks"])
    assert f"*#{action_id}* {words}" not in _text(refreshed["blocks"][1:])
    closed = _item(world, action_id)
    assert (closed.status, closed.closed_by) == ("done", NEIGHBOR)
    assert f"#{action_id}" not in _text(world.send.ci("actions", user=NEIGHBOR))

    # The Notion page was made, and closing the item updated it.
    page = wait_for(lambda: (p := _page(world, action_id)) and _prop(p, "Status") == "Done" and p)
    assert _prop(page, "Task") == words
    assert _prop(page, "Due") == IN_A_MONTH.isoformat()
    assert _prop(page, "Organization") == "Neighbors United"
    assert _prop(page, "Goal").startswith("G1")
    assert NEIGHBOR in _prop(page, "Owner")
    assert len([p for p in world.notion.pages_in(ACTIONS_DB) if _prop(p, "Task") == words]) == 1
    # The page id is stored when the delivery settles, just after Notion answers.
    wait_for(lambda: _item(world, action_id).notion_page_id == page["id"])


def test_the_dm_to_an_assignee_arrives_once_and_nobody_is_told_of_their_own_item(world: World) -> None:
    assigned = _unique("Book the school gym")
    own = _unique("Draft my own checklist")
    world.send.ci(f"action add {assigned} <@{NURSE}>", user=BACKBONE)
    world.send.ci(f"action add {own}", user=HOSPITAL)
    world.send.ci(f"action add {own} <@{HOSPITAL}>", user=HOSPITAL)  # naming oneself is the same
    wait_for(lambda: _dms_with(world, NURSE, assigned))
    # A later DM through the same outbox has arrived: anything queued before it has been delivered.
    later = _unique("Confirm the venue")
    world.send.ci(f"action add {later} <@{CITY}>", user=BACKBONE)
    wait_for(lambda: _dms_with(world, CITY, later))
    assert len(_dms_with(world, NURSE, assigned)) == 1
    assert _dms_with(world, HOSPITAL, own) == []


def test_push_a_week_moves_the_due_date_and_the_notion_page(world: World) -> None:
    words = _unique("Send the survey")
    action_id = _added_id(world.send.ci(f"action add {words} due {IN_A_MONTH}", user=CITY))
    wait_for(lambda: _page(world, action_id))
    shown = push_value(action_id, IN_A_MONTH)  # the button as the list shows it
    key = _click(world, CITY, PUSH_WEEK, shown)
    refreshed = wait_for(lambda: world.slack.responses(key))[0]
    moved = IN_A_MONTH + timedelta(days=7)
    assert f"is now due {moved.isoformat()}" in _text(refreshed["blocks"])
    assert _item(world, action_id).due == moved
    wait_for(lambda: (p := _page(world, action_id)) and _prop(p, "Due") == moved.isoformat())
    # The same button clicked again (a double click): one click is one week.
    key = _click(world, CITY, PUSH_WEEK, shown)
    again = wait_for(lambda: world.slack.responses(key))[0]
    assert f"#{action_id} was moved already" in _text(again["blocks"])
    assert _item(world, action_id).due == moved
    # The text command pushes again, as asked; so does a button posted before buttons said their date.
    answer = world.send.ci(f"action push #{action_id}", user=CITY)
    assert f"is now due {(moved + timedelta(days=7)).isoformat()}" in _text(answer)
    key = _click(world, CITY, PUSH_WEEK, str(action_id))
    wait_for(lambda: world.slack.responses(key))
    assert _item(world, action_id).due == moved + timedelta(days=14)


def test_overdue_items_are_marked_and_own_items_come_first(world: World) -> None:
    overdue_words = _unique("Overdue follow-up")
    db = world.db()
    with db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        long_ago = datetime.now(UTC) - timedelta(days=40)
        for owner in (HOSPITAL, "U0CHLD0002", NEIGHBOR):
            add_action(
                session,
                initiative,
                who_is(session, initiative, owner),
                f"{overdue_words} of {owner}",
                None,
                long_ago.date() + timedelta(days=5),
                None,
                long_ago,
            )
    db.dispose()
    answer = world.send.ci("actions", user=HOSPITAL)
    text = _text(answer)
    assert ":red_circle: *overdue*" in text and "overdue" in answer["blocks"][0]["text"]["text"]
    mine = text.index(f"{overdue_words} of {HOSPITAL}")
    colleague = text.index(f"{overdue_words} of U0CHLD0002")
    other = text.index(f"{overdue_words} of {NEIGHBOR}")
    assert mine < colleague < other
    labels = [b["elements"][0]["text"] for b in answer["blocks"] if b["type"] == "context"]
    assert [label.split(" (")[0] for label in labels[:3]] == ["*Yours*", "*Your organization's*", "*Everyone else's*"]


# -- who may ---------------------------------------------------------------------------------


def test_a_partner_cannot_close_or_push_another_organizations_item(world: World) -> None:
    action_id = _added_id(world.send.ci(f"action add {_unique('Neighbors only')} due {IN_A_MONTH}", user=NEIGHBOR))
    before = _counts(world)
    refused = world.send.ci(f"action done {action_id}", user=HOSPITAL)
    assert refused["response_type"] == "ephemeral"
    assert f"#{action_id} is Neighbors United's" in refused["text"]
    assert "only its owner or backbone staff" in refused["text"]
    # A forged click gets the same answer, as a new private message: the list it came from stays.
    for button in (MARK_DONE, PUSH_WEEK):
        key = _click(world, HOSPITAL, button, str(action_id))
        answer = wait_for(lambda key=key: world.slack.responses(key))[0]
        assert "only its owner or backbone staff" in answer["text"]
        assert answer["replace_original"] is False
    item = _item(world, action_id)
    assert (item.status, item.due) == ("open", IN_A_MONTH)
    assert _counts(world) == before
    # Backbone staff may close it.
    closed = world.send.ci(f"action done {action_id}", user=BACKBONE)
    assert f"Closed *#{action_id}*" in _text(closed)
    assert _item(world, action_id).closed_by == BACKBONE


@pytest.mark.parametrize(
    ("command", "user", "message"),
    [
        ("action add Call the nurses due 2026-02-30", HOSPITAL, "is not a real date"),
        ("action add Call the nurses due next-week", HOSPITAL, "`next-week` is not a date"),
        ("action add Call the nurses due <!channel>", HOSPITAL, "`&lt;!channel&gt;` is not a date"),
        ("action add Call the nurses due 2020-01-01", HOSPITAL, "has already passed"),
        ("action add Call the nurses goal G9", HOSPITAL, "no goal `G9`. The goals are: `G1`, `G2`, `G3`"),
        ("action add Call the nurses goal", HOSPITAL, "`goal` needs a value"),
        (f"action add Call <@{NURSE}> and <@{CITY}>", HOSPITAL, "one owner"),
        (f"action add Call the nurses <@{STRANGER}>", HOSPITAL, "is not a member of any partner organization"),
        ("action add Call the nurses", STRANGER, "not listed as a member"),
        ("action add due 2099-01-01", HOSPITAL, "Say what needs doing"),
        ("action done 99999", HOSPITAL, "There is no action item #99999"),
        ("action done <!channel>", HOSPITAL, "as an action item number"),
        ("action done", HOSPITAL, "Missing the number of the action item"),
        ("action frobnicate", HOSPITAL, "`add`, `done` or `push`"),
        ("activity add G9 Something", NURSE, "no goal `G9`"),
        ("activity add G2 strategy 9 Something", NURSE, "Goal G2 has no strategy 9: use one of 1, 2"),
        ("activity add G2 strategy two Something", NURSE, "`strategy` takes the strategy's number"),
        ("activity add G2", NURSE, "Say what your organization does"),
        ("activity add G2 Something", STRANGER, "not listed as a member"),
        ("activity add G2 Something org childrens-health", NURSE, "your own organization only"),
        ("activity list", NURSE, "Say `add`"),
        ("activity end", NURSE, "Missing the activity's number"),
        ("activity end seven", NURSE, "as an activity number"),
        ("activity end 7 now", NURSE, "takes only the activity's number"),
        ("activity end 99999", NURSE, "There is no activity #99999"),
        ("map G9", HOSPITAL, "no goal `G9`"),
    ],
)
def test_bad_input_gets_a_clear_private_answer_and_writes_nothing(
    world: World, command: str, user: str, message: str
) -> None:
    before = _counts(world)
    answer = world.send.ci(command, user=user)
    assert answer["response_type"] == "ephemeral"
    assert message in answer["text"], answer["text"]
    assert "<!channel>" not in _text(answer)
    assert _counts(world) == before


# -- escaping --------------------------------------------------------------------------------------


def test_user_text_with_channel_pings_is_escaped_in_every_output(world: World) -> None:
    words = _unique("<!channel> & <!here> read <https://evil.example|this>")
    answer = world.send.ci(f"action add {words} <@{CITY}> due {IN_A_MONTH}", user=HOSPITAL)
    action_id = _added_id(answer)
    outputs: list[Any] = [answer]
    outputs.append(wait_for(lambda: _dms_with(world, CITY, "&lt;!channel&gt;"))[0])
    outputs.append(world.send.ci("actions", user=CITY))
    key = _click(world, CITY, PUSH_WEEK, str(action_id))
    outputs.append(wait_for(lambda: world.slack.responses(key))[0])
    outputs.append(world.send.ci(f"action done {action_id}", user=CITY))
    outputs.append(world.send.ci(f"activity add G3 strategy 2 {words}", user=CITY))
    outputs.append(world.send.ci("map G3", user=CITY))
    for output in outputs:
        text = _text(output)
        assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text, text
        assert "&lt;!channel&gt;" in text, text
    # Notion is not Slack: the text is stored and mirrored as the user wrote it.
    stored = _item(world, action_id).text
    assert stored.startswith("<!channel> & <!here>")
    wait_for(lambda: (p := _page(world, action_id)) and _prop(p, "Task") == stored)


# -- the activities map ----------------------------------------------------------------------------


def test_the_map_shows_who_contributes_where_with_gaps_and_overlaps(world: World) -> None:
    answer = world.send.ci("map", user=STRANGER)  # anyone may look
    assert validate_blocks(answer["blocks"], surface="message") == []
    text = _text(answer)
    assert "*Gaps* (2): G2.1, G2.2" in text
    assert "*Possible overlaps* (1): G1.1" in text
    assert "Children's Health, City Code Compliance, Neighbors United" in text  # on G1.1
    assert "*Dallas ISD Health Services*: G2" in text

    added = world.send.ci("activity add g2 strategy 1 Nurses collect action plans at enrollment", user=NURSE)
    assert "On the map for *Dallas ISD Health Services* under goal G2, strategy 1" in _text(added)
    after = _text(world.send.ci("map", user=NURSE))
    assert "*Gaps* (1): G2.2" in after
    assert "*Dallas ISD Health Services*: G2, G2.1" in after
    detail = _text(world.send.ci("map G2", user=NURSE))
    assert "Dallas ISD Health Services — Nurses collect action plans at enrollment" in detail
    assert "Dallas ISD Health Services — Asthma-friendly campuses" in detail


def test_an_activity_that_stops_comes_off_the_map(world: World) -> None:
    added = _text(world.send.ci("activity add G2 strategy 2 Refill reminders by text", user=NURSE))
    found = re.search(r"/ci activity end (\d+)", added)
    assert found, added
    activity_id = int(found.group(1))
    assert f"Refill reminders by text `#{activity_id}`" in _text(world.send.ci("map G2", user=NURSE))

    refused = world.send.ci(f"activity end {activity_id}", user=HOSPITAL)
    assert "Only the organization that does this activity" in refused["text"]
    db = world.db()
    with db.unit_of_work() as session:
        from_file = session.scalars(select(Activity.id).where(Activity.from_file.is_(True))).first()
    db.dispose()
    assert "comes from the initiative file" in world.send.ci(f"activity end {from_file}", user=BACKBONE)["text"]
    assert "Refill reminders by text" in _text(world.send.ci("map G2", user=NURSE))

    ended = world.send.ci(f"activity end #{activity_id}", user=NURSE)
    assert "Taken off the map for *Dallas ISD Health Services* under goal G2, strategy 2" in _text(ended)
    assert validate_blocks(ended["blocks"], surface="message") == []
    assert "Refill reminders by text" not in _text(world.send.ci("map G2", user=NURSE))
    again = world.send.ci(f"activity end {activity_id}", user=NURSE)
    assert f"There is no activity #{activity_id}" in again["text"]


def test_a_long_list_stays_within_slacks_limits(world: World) -> None:
    db = world.db()
    with db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        now = datetime.now(UTC)
        backbone = who_is(session, initiative, BACKBONE)
        for i in range(80):
            add_action(session, initiative, backbone, f"Bulk item {i} " + "words " * 100, CITY, None, None, now)
    db.dispose()
    answer = world.send.ci("actions", user=BACKBONE)
    assert len(answer["blocks"]) <= MAX_MESSAGE_BLOCKS
    assert validate_blocks(answer["blocks"], surface="message") == []
    assert blocks_size(answer["blocks"]) <= MAX_BLOCKS_TOTAL
    assert "more open items not shown" in _text(answer)
