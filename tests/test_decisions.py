"""Decisions, the agenda and meeting prep through the real `serve` process and the Notion stand-in."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
import uuid
from typing import Any

from sqlalchemy import func, select

from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, validate_blocks
from ci_slackbot.store.models import Decision, MeetingPrep, OutboxItem
from tests.harness import (
    AGENDA_PAGE,
    BACKBONE,
    DECISIONS_DB,
    HOSPITAL,
    NOTION_TOKEN,
    NURSE,
    World,
    bot_client,
    wait_for,
)

DECISIONS_CHANNEL = "C0DECIDE01"


def _counts(world: World) -> tuple[int, int]:
    db = world.db()
    with db.unit_of_work() as session:
        counts = (
            int(session.scalar(select(func.count()).select_from(Decision)) or 0),
            int(session.scalar(select(func.count()).select_from(OutboxItem)) or 0),
        )
    db.dispose()
    return counts


def _decision(world: World, marker: str) -> Decision:
    db = world.db()
    with db.unit_of_work() as session:
        found = session.scalar(select(Decision).where(Decision.text.contains(marker)))
        assert found is not None, f"no decision with {marker!r}"
        session.expunge(found)
    db.dispose()
    return found


def _pages_for(world: World, decision: Decision) -> list[dict[str, Any]]:
    key = f"decision-{decision.initiative_id}-{decision.id}"
    return [
        page
        for page in world.notion.pages_in(DECISIONS_DB)
        if "".join(t["plain_text"] for t in page["properties"]["ci-slackbot key"]["rich_text"]) == key
    ]


def _announcement(world: World, marker: str) -> dict[str, Any]:
    found = [
        m
        for m in world.slack.messages(DECISIONS_CHANNEL)
        if m.get("thread_ts") in (None, m["ts"]) and marker in json.dumps(m.get("blocks"))
    ]
    assert len(found) == 1, found
    return found[0]


def _delivered(world: World, marker: str) -> tuple[Decision, dict[str, Any]]:
    """Wait for a decision's Notion page and its link in the announcement's thread."""
    decision = _decision(world, marker)

    def link_posted() -> bool:
        announced = [
            m
            for m in world.slack.messages(DECISIONS_CHANNEL)
            if m.get("thread_ts") in (None, m["ts"]) and marker in json.dumps(m.get("blocks"))
        ]
        if not announced:  # still queued behind earlier posts to the channel
            return False
        announcement = _announcement(world, marker)
        replies = world.slack.messages(DECISIONS_CHANNEL, thread_ts=announcement["ts"])
        return any("notion.so" in r["text"] for r in replies if r["ts"] != announcement["ts"])

    # Earlier tests of the module may have left a queue of posts for the decisions channel, which
    # go out at Slack's pace of about one a second.
    wait_for(lambda: _pages_for(world, decision), timeout=60)
    wait_for(link_posted, timeout=60)
    pages = _pages_for(world, decision)
    assert len(pages) == 1
    return _decision(world, marker), pages[0]


def _words(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(count))


def test_a_decision_is_announced_and_written_to_notion_once(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    answer = world.send.ci(f"decide Home visits start within 7 days of an ER visit ({marker}) goal G1", user=BACKBONE)
    assert answer["response_type"] == "ephemeral"
    assert "is recorded" in answer["text"] and f"<#{DECISIONS_CHANNEL}>" in answer["text"]
    decision, page = _delivered(world, marker)
    assert decision.text == f"Home visits start within 7 days of an ER visit ({marker})"
    assert world.notion.page_text(page["id"]) == decision.text
    properties = page["properties"]
    assert "".join(t["plain_text"] for t in properties["Name"]["title"]) == decision.text
    assert properties["Date"]["date"]["start"].startswith(decision.recorded_at.date().isoformat())
    assert "U0BACK0001" in properties["Recorded by"]["rich_text"][0]["plain_text"]
    assert properties["Goal"]["rich_text"][0]["plain_text"].startswith("G1")
    announcement = _announcement(world, marker)
    assert properties["Slack link"]["url"] == _permalink(world, DECISIONS_CHANNEL, announcement["ts"])
    assert "<@U0BACK0001>" in json.dumps(announcement["blocks"])
    assert decision.notion_url == page["url"]
    assert decision.announcement_ts == announcement["ts"]
    replies = world.slack.messages(DECISIONS_CHANNEL, thread_ts=announcement["ts"])
    assert [r for r in replies if page["url"] in r["text"]]


def test_channel_pings_in_a_decision_are_escaped_in_the_announcement(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    world.send.ci(f"decide <!channel> & <!here> we stop the pilot {marker}", user=BACKBONE)
    decision, page = _delivered(world, marker)
    assert decision.text.startswith("<!channel> & <!here>")  # stored as written
    announcement = json.dumps(_announcement(world, marker))
    assert "<!channel>" not in announcement and "<!here>" not in announcement
    assert "&lt;!channel&gt; &amp; &lt;!here&gt;" in announcement
    assert world.notion.page_text(page["id"]).startswith("<!channel> & <!here>")


def test_a_5000_character_decision_arrives_whole(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    text = f"{marker} {_words(1200, seed=5)}"[:5000].strip()
    assert len(text) >= 4990
    world.send.ci(f"decide {text}", user=BACKBONE)
    _, page = _delivered(world, marker)
    assert world.notion.page_text(page["id"]) == text


def test_a_300000_character_decision_in_many_paragraphs_arrives_whole(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    paragraphs = [f"{marker} paragraph {n}: {_words(300, seed=n)}"[:1500] for n in range(200)]
    text = "\n".join(paragraphs)
    assert len(text) >= 295_000
    world.send.ci(f"decide {text}", user=BACKBONE)
    _, page = _delivered(world, marker)
    assert world.notion.page_text(page["id"]) == text
    assert len(world.notion.children(page["id"])) == 200  # one request could hold only 100
    announcement = json.dumps(_announcement(world, marker))
    assert "Shortened here" in announcement


def test_a_20000_character_decision_is_announced_in_full_in_its_thread(world: World) -> None:
    """One message holds about 12,000 characters of blocks (the stand-in refuses more with
    `msg_blocks_too_long`, as Slack does): the announcement goes on in its thread, every word in order."""
    marker = f"m{uuid.uuid4().hex[:8]}"
    text = f"{marker} {_words(4000, seed=20)}"[:20_000].strip()
    assert len(text) >= 19_990
    world.send.ci(f"decide {text}", user=BACKBONE)
    _delivered(world, marker)
    announcement = _announcement(world, marker)

    def thread() -> list[dict[str, Any]] | None:
        replies = [
            r
            for r in world.slack.messages(DECISIONS_CHANNEL, thread_ts=announcement["ts"])
            if r["ts"] != announcement["ts"] and "notion.so" not in r["text"]
        ]
        return replies if len(replies) >= 2 else None

    parts = [announcement, *wait_for(thread, timeout=30)]
    for part in parts:
        assert validate_blocks(part["blocks"], surface="message") == []
        assert blocks_size(part["blocks"]) <= MAX_BLOCKS_TOTAL
    body = [b["text"]["text"] for part in parts for b in part["blocks"] if b["type"] == "section"][1:]
    assert " ".join(body).split() == text.split()
    assert f"Continued in the thread below: {len(text):,} characters in all." in json.dumps(announcement["blocks"])


def test_only_backbone_staff_may_decide_and_a_refusal_writes_nothing(world: World) -> None:
    before = _counts(world)
    answer = world.send.ci("decide We move the meeting to Tuesdays", user=HOSPITAL)
    assert answer["response_type"] == "ephemeral"
    assert "Only backbone staff can record decisions" in answer["text"]
    assert "<@U0BACK0001>" in answer["text"]  # who to ask
    empty = world.send.ci("decide", user=BACKBONE)
    assert "Write the decision after `decide`" in empty["text"] and "/ci decide &lt;text&gt;" in empty["text"]
    unknown_goal = world.send.ci("decide We add a fourth goal goal G9", user=BACKBONE)
    assert "no goal `G9`" in unknown_goal["text"] and "`G1`" in unknown_goal["text"]
    assert _counts(world) == before


def _post_message(world: World, text: str) -> str:
    return str(bot_client(world.slack).chat_postMessage(channel="C0GENERAL", text=text)["ts"])


def _permalink(world: World, channel: str, ts: str) -> str:
    return str(bot_client(world.slack).chat_getPermalink(channel=channel, message_ts=ts)["permalink"])


def _shortcut(world: World, user: str, ts: str, text: str) -> str:
    key = uuid.uuid4().hex
    response = world.send.interaction(
        {
            "type": "message_action",
            "callback_id": "record_decision",
            "trigger_id": world.slack.new_trigger_id(user),
            "user": {"id": user},
            "channel": {"id": "C0GENERAL"},
            "message": {"type": "message", "ts": ts, "user": NURSE, "text": text},
            "response_url": world.slack.response_url(key),
        }
    )
    assert response.status_code == 200
    return key


def test_record_as_decision_opens_an_editable_modal_and_links_back_to_the_message(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    said = f"Let's agree: school nurses collect action plans at enrollment &amp; at midyear ({marker})"
    ts = _post_message(world, said)
    _shortcut(world, BACKBONE, ts, said)
    opened = wait_for(lambda: world.slack.views(BACKBONE, callback_id="record_decision"), timeout=10)[-1]
    view = opened["view"]
    blocks = json.dumps(view["blocks"])
    permalink = _permalink(world, "C0GENERAL", ts)
    assert f"<@{NURSE}>" in blocks and permalink in blocks
    text_input = next(b for b in view["blocks"] if b.get("block_id") == "decision_text")["element"]
    assert text_input["initial_value"] == said.replace("&amp;", "&")
    edited = f"Nurses collect action plans at enrollment and at midyear ({marker})"
    response = world.send.submit(
        BACKBONE,
        view,
        {
            "decision_text": {"text": {"type": "plain_text_input", "value": edited}},
            "decision_goal": {"goal": {"type": "static_select", "selected_option": {"value": "G2"}}},
        },
    )
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"
    decision, page = _delivered(world, marker)
    assert decision.text == edited
    assert (decision.source_permalink, decision.source_author) == (permalink, NURSE)
    assert page["properties"]["Slack link"]["url"] == permalink
    assert page["properties"]["Goal"]["rich_text"][0]["plain_text"].startswith("G2")
    announcement = json.dumps(_announcement(world, marker))
    assert "the original message" in announcement and f"<@{NURSE}>" in announcement


def test_record_as_decision_is_refused_to_partners_privately(world: World) -> None:
    ts = _post_message(world, "A partner's idea")
    before = _counts(world)
    opened_before = len(world.slack.views(HOSPITAL))
    key = _shortcut(world, HOSPITAL, ts, "A partner's idea")
    answers = wait_for(lambda: world.slack.responses(key), timeout=10)
    assert "Only backbone staff can record decisions" in json.dumps(answers)
    assert answers[0].get("response_type", "ephemeral") == "ephemeral"
    assert len(world.slack.views(HOSPITAL)) == opened_before
    # A forged submission is refused too.
    forged = world.send.submit(
        HOSPITAL,
        {"type": "modal", "callback_id": "record_decision", "private_metadata": "{}"},
        {"decision_text": {"text": {"type": "plain_text_input", "value": "Sneaky"}}},
    )
    assert forged.json()["response_action"] == "errors"
    assert _counts(world) == before


def test_the_agenda_shows_the_notion_page_and_its_age(world: World) -> None:
    def shown() -> str | None:
        text = json.dumps(world.send.ci("agenda", user=NURSE))
        return text if "Every child breathes easy." in text else None

    text = wait_for(shown, timeout=30)
    assert "*Our agenda*" in text
    assert "From the agenda page in Notion, read" in text


def test_prep_writes_a_page_under_the_agenda_hub_and_sends_its_link(world: World) -> None:
    marker = f"m{uuid.uuid4().hex[:8]}"
    world.send.ci(f"decide Decision to look at in the meeting {marker}", user=BACKBONE)
    refused = world.send.ci("prep", user=NURSE)
    assert "Only backbone staff can prepare meetings" in refused["text"]
    dms_before = len(world.slack.dms(BACKBONE))
    answer = world.send.ci("prep", user=BACKBONE)
    assert "Preparing meeting page" in answer["text"]
    assert "Indicators not reported yet" in json.dumps(answer)
    dm = wait_for(lambda: world.slack.dms(BACKBONE)[dms_before:], timeout=30)[0]
    assert "meeting prep page is ready" in dm["text"]
    db = world.db()
    with db.unit_of_work() as session:
        prep = session.scalars(select(MeetingPrep).order_by(MeetingPrep.id.desc())).first()
        assert prep is not None and prep.notion_page_id
        page_id, url = prep.notion_page_id, prep.notion_url
    db.dispose()
    assert url and url in dm["text"]
    page = world.notion.page(page_id)
    assert page["parent"]["page_id"].replace("-", "") == AGENDA_PAGE.replace("-", "")
    body = world.notion.page_text(page_id)
    for heading in ("Indicators not reported yet", "Indicators off track", "Overdue action items", "Decisions since"):
        assert heading in body
    assert marker in body
    assert "Asthma emergency visits per 1,000 children (er-visits)" in body


def test_notion_setup_creates_a_ready_decisions_database(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "DATABASE_"))}
    env.update({"NOTION_TOKEN": NOTION_TOKEN, "NOTION_API_URL": world.notion.url, "DATABASE_URL": world.database_url})
    done = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "notion", "setup", "--parent", AGENDA_PAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    database_id = done.stdout.split("decisions_database: ")[1].strip()
    data_source = world.notion.database(database_id)["data_sources"][0]["id"]
    properties = world.notion.data_source(data_source)["properties"]
    assert {name: p["type"] for name, p in properties.items()} == {
        "Decision": "title",
        "Date": "date",
        "Recorded by": "rich_text",
        "Goal": "rich_text",
        "Slack link": "url",
        "ci-slackbot key": "rich_text",
    }
    assert world.notion.database(database_id)["parent"]["page_id"].replace("-", "") == AGENDA_PAGE.replace("-", "")
