"""The Notion mirror without a server: splitting text, schema discovery, idempotent pages, agenda rendering."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.outbox import DeliveryError, Outbox, enqueue
from ci_slackbot.sandbox.notion import NotionStandIn
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.services.actions import add_action, close_action
from ci_slackbot.services.agenda import agenda_changed_since, cached_agenda
from ci_slackbot.services.decisions import notion_key
from ci_slackbot.services.people import who_is
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import AgendaCache, Decision, Initiative, OutboxItem
from commands import agenda as agenda_command
from integrations import notion
from integrations.slack.agenda_blocks import block_lines, notion_agenda
from integrations.slack.decision_blocks import escaped_chunks
from tests.harness import load_example, outbox_row, wait_for

TOKEN = "secret_unit"


# -- splitting ----------------------------------------------------------------------------


def test_pieces_hold_at_most_2000_utf16_units_and_join_back_exactly() -> None:
    text = ("word " * 1200) + ("😀" * 1500) + "end"
    pieces = notion.split_text(text)
    assert "".join(pieces) == text
    assert all(notion.utf16_units(piece) <= 2000 for piece in pieces)
    # An emoji is two UTF-16 units: a piece never ends on half of one.
    assert all(not ("\ud800" <= piece[-1] <= "\udfff") for piece in pieces)
    assert len(notion.split_text("x" * 2000)) == 1
    assert len(notion.split_text("x" * 2001)) == 2
    assert notion.split_text("") == []


def test_a_5000_character_decision_is_one_block_of_three_pieces() -> None:
    text = "a" * 5000
    blocks = notion.text_blocks(text)
    assert len(blocks) == 1
    pieces = blocks[0]["paragraph"]["rich_text"]
    assert [len(p["text"]["content"]) for p in pieces] == [2000, 2000, 1000]


def test_lines_become_blocks_and_read_back_as_the_same_text() -> None:
    text = "First line\n\nThird line after a blank one\n" + "long " * 900
    blocks = notion.text_blocks(text)
    read_back = "\n".join("".join(p["text"]["content"] for p in b["paragraph"]["rich_text"]) for b in blocks)
    assert read_back == text
    assert blocks[1]["paragraph"]["rich_text"] == []


def test_a_300000_character_line_is_cut_only_where_a_block_is_full() -> None:
    text = "z" * 300_000
    blocks = notion.text_blocks(text)
    assert [len(b["paragraph"]["rich_text"]) for b in blocks] == [100, 50]
    assert "".join(p["text"]["content"] for b in blocks for p in b["paragraph"]["rich_text"]) == text


def test_requests_carry_at_most_100_blocks_and_stay_under_the_size_limit() -> None:
    text = "\n".join(f"paragraph {n} " + "x" * 1500 for n in range(250))
    groups = notion.batches(notion.text_blocks(text))
    assert [len(g) for g in groups] == [100, 100, 50]
    wide = notion.text_blocks("\n".join("字" * 150_000 for _ in range(3)))  # 450 KB of UTF-8 a line
    for group in notion.batches(wide):
        assert len(group) <= 100
        assert notion.encoded_size(group) <= notion.MAX_CHILDREN_BYTES
    assert all(notion.encoded_size(b) <= notion.MAX_CHILDREN_BYTES for b in wide)


def test_announcement_chunks_never_cut_an_entity_and_fit_a_section() -> None:
    text = ("<!channel> & <b> " * 700).strip()
    chunks = escaped_chunks(text)
    assert all(len(chunk) <= 2900 for chunk in chunks)
    joined = "".join(chunks)
    assert "<" not in joined and ">" not in joined
    for chunk in chunks:
        assert chunk.count("&") == chunk.count("&lt;") + chunk.count("&gt;") + chunk.count("&amp;")


# -- schema discovery and idempotent pages --------------------------------------------------


@pytest.fixture
def stand_in() -> Iterator[NotionStandIn]:
    server = NotionStandIn(token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def services(stand_in: NotionStandIn, tmp_path: Path) -> Iterator[Services]:
    settings = Settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'unit.db'}",
        SLACK_BOT_TOKEN="xoxb-unit",
        SLACK_API_URL="http://127.0.0.1:9/api/",  # nothing listens: Slack lookups fall back to IDs
        NOTION_TOKEN=TOKEN,
        NOTION_API_URL=stand_in.url,
    )
    built = bootstrap(settings)
    built.slack.retry_handlers = []
    yield built
    built.db.dispose()


def test_the_title_is_found_whatever_its_name_and_missing_properties_are_added(
    stand_in: NotionStandIn, services: Services
) -> None:
    hub = stand_in.add_page("Agenda hub")
    database_id, data_source_id = stand_in.add_database(
        hub,
        "Decisions",
        {
            "What we decided": {"title": {}},
            "date": {"rich_text": {}},  # already there, in another case and another type: kept as it is
            "Status": {"select": {"options": [{"name": "Final"}]}},
        },
    )
    adapter = notion.adapter_of(services)
    schema = adapter.ensure_properties(database_id, notion.DECISION_PROPERTIES)
    assert schema.title_property == "What we decided"
    assert schema.data_source_id == data_source_id
    properties = stand_in.data_source(data_source_id)["properties"]
    assert {name: p["type"] for name, p in properties.items()} == {
        "What we decided": "title",
        "date": "rich_text",
        "Status": "select",
        "Recorded by": "rich_text",
        "Goal": "rich_text",
        "Slack link": "url",
        "ci-slackbot key": "rich_text",
    }
    # A second look adds nothing.
    before = stand_in.request_count("PATCH")
    adapter.ensure_properties(database_id, notion.DECISION_PROPERTIES)
    assert stand_in.request_count("PATCH") == before


def test_property_values_follow_the_existing_type() -> None:
    when = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert notion.property_value("date", when) == {"date": {"start": "2026-11-23T15:00:00+00:00"}}
    assert notion.property_value("rich_text", when) == {"rich_text": notion.rich_text("2026-11-23T15:00:00+00:00")}
    assert notion.property_value("url", "https://x.slack.com/archives/C1/p1") == {
        "url": "https://x.slack.com/archives/C1/p1"
    }
    assert notion.property_value("select", "G1, health") == {"select": {"name": "G1  health"}}
    assert notion.property_value("formula", "anything") is None
    assert notion.property_value("date", "not a date") is None
    assert notion.property_value("rich_text", None) is None


def _record(text: str, decision_id: int = 7) -> notion.DecisionRecord:
    return notion.DecisionRecord(
        id=decision_id,
        initiative_id=1,
        text=text,
        recorded_by="U0BACK0001",
        recorded_at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
        goal="G1 — Fewer asthma emergencies",
        slack_link="https://sandbox.slack.com/archives/C0DECIDE01/p1",
        channel="C0DECIDE01",
    )


def test_writing_a_decision_twice_makes_one_page(stand_in: NotionStandIn, services: Services) -> None:
    database_id, _ = stand_in.add_database(None, "Decisions", {"Name": {"title": {}}})
    adapter = notion.adapter_of(services)
    text = "We meet monthly.\n" + "Because " * 700
    first = notion.write_decision_page(services, adapter, database_id, _record(text))
    again = notion.write_decision_page(services, adapter, database_id, _record(text))
    assert first["id"] == again["id"]
    pages = stand_in.pages_in(database_id)
    assert len(pages) == 1
    assert stand_in.page_text(pages[0]["id"]) == text
    assert pages[0]["properties"]["Recorded by"]["rich_text"][0]["plain_text"] == "U0BACK0001"


def test_a_page_cut_short_by_a_crash_is_completed_without_repeating_blocks(
    stand_in: NotionStandIn, services: Services
) -> None:
    database_id, _ = stand_in.add_database(None, "Decisions", {"Name": {"title": {}}})
    adapter = notion.adapter_of(services)
    text = "\n".join(f"Point {n}: " + "detail " * 30 for n in range(260))
    record = _record(text)
    schema = adapter.ensure_properties(database_id, notion.DECISION_PROPERTIES)
    body = notion.text_blocks(text)
    # What a worker killed after its first request leaves behind: the page with its first 100 blocks.
    adapter.call(
        adapter.client.pages.create,
        parent={"type": "data_source_id", "data_source_id": schema.data_source_id},
        properties=notion.page_properties(schema, "Point 0", {notion.KEY_PROPERTY: notion.decision_key(1, 7)}),
        children=body[:100],
    )
    notion.write_decision_page(services, adapter, database_id, record)
    pages = stand_in.pages_in(database_id)
    assert len(pages) == 1
    assert len(stand_in.children(pages[0]["id"])) == 260
    assert stand_in.page_text(pages[0]["id"]) == text


def test_a_missing_database_is_not_worth_retrying(stand_in: NotionStandIn, services: Services) -> None:
    adapter = notion.adapter_of(services)
    with pytest.raises(DeliveryError) as caught:
        adapter.ensure_properties("00000000-0000-0000-0000-00000000beef", notion.DECISION_PROPERTIES)
    assert caught.value.retryable is False


def test_throttling_and_outages_are_retried_and_say_how_long_to_wait(
    stand_in: NotionStandIn, services: Services
) -> None:
    database_id, _ = stand_in.add_database(None, "Decisions", {"Name": {"title": {}}})
    adapter = notion.adapter_of(services)
    stand_in.faults.throttle_next(1, retry_after=2)
    with pytest.raises(DeliveryError) as throttled:
        adapter.schema(database_id, fresh=True)
    assert throttled.value.retryable and throttled.value.retry_after == 2
    stand_in.faults.restore()
    stand_in.faults.fail_next(1, status=503)
    with pytest.raises(DeliveryError) as unavailable:
        adapter.schema(database_id, fresh=True)
    assert unavailable.value.retryable and unavailable.value.retry_after is None


# -- the agenda ---------------------------------------------------------------------------


def _text(content: str, **annotations: Any) -> dict[str, Any]:
    return {"type": "text", "text": {"content": content}, "annotations": annotations}


def test_agenda_blocks_are_read_with_nesting_and_rendered_as_escaped_mrkdwn(
    stand_in: NotionStandIn, services: Services
) -> None:
    page = stand_in.add_page(
        "Agenda",
        blocks=[
            {"type": "heading_2", "heading_2": {"rich_text": [_text("Goals")]}},
            {"type": "paragraph", "paragraph": {"rich_text": [_text("Plain & "), _text("bold", bold=True)]}},
            {"type": "bulleted_list_item", "bulleted_list_item": {"rich_text": [_text("<!channel> first")]}},
            {"type": "numbered_list_item", "numbered_list_item": {"rich_text": [_text("one")]}},
            {"type": "numbered_list_item", "numbered_list_item": {"rich_text": [_text("two")]}},
            {"type": "to_do", "to_do": {"rich_text": [_text("done thing")], "checked": True}},
            {
                "type": "toggle",
                "toggle": {
                    "rich_text": [_text("More")],
                    "children": [{"type": "paragraph", "paragraph": {"rich_text": [_text("hidden")]}}],
                },
            },
        ],
    )
    content = notion.read_blocks(notion.adapter_of(services), page)
    assert [b["type"] for b in content] == [
        "heading_2",
        "paragraph",
        "bulleted_list_item",
        "numbered_list_item",
        "numbered_list_item",
        "to_do",
        "toggle",
        "paragraph",
    ]
    assert content[-1]["depth"] == 1
    lines = block_lines(content)
    assert lines[0] == "*Goals*"
    assert lines[1] == "Plain &amp; *bold*"
    assert lines[2] == "• &lt;!channel&gt; first"
    assert lines[3:5] == ["1. one", "2. two"]
    assert lines[5] == ":ballot_box_with_check: done thing"
    assert lines[6] == "▸ More"
    assert lines[7].endswith("hidden") and lines[7].startswith("\u2003")
    assert "<!channel>" not in json.dumps(lines)


def test_agenda_pages_longer_than_one_listing_are_read_whole(stand_in: NotionStandIn, services: Services) -> None:
    blocks = [{"type": "paragraph", "paragraph": {"rich_text": [_text(f"line {n}")]}} for n in range(230)]
    page = stand_in.add_page("Long agenda", blocks=blocks)
    content = notion.read_blocks(notion.adapter_of(services), page)
    assert len(content) == 230
    assert content[-1]["runs"][0]["text"] == "line 229"


def _with_agenda_page(services: Services, page_id: str) -> int:
    load_example(services.settings.database_url)
    with services.db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        initiative.notion_agenda_page = page_id
        return initiative.id


def test_the_agenda_cache_is_refreshed_notes_changes_and_survives_an_outage(
    stand_in: NotionStandIn, services: Services
) -> None:
    page = stand_in.add_page(
        "Our common agenda", blocks=[{"type": "paragraph", "paragraph": {"rich_text": [_text("Vision")]}}]
    )
    initiative_id = _with_agenda_page(services, page)
    start = services.now()
    assert notion.refresh_agenda(services, initiative_id) is True
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        cache = cached_agenda(session, initiative)
        assert cache is not None and cache.title == "Our common agenda" and cache.changed_at is None
        assert agenda_changed_since(session, initiative_id, start) == (False, cache.url)
    # Read again unchanged: not a change.
    assert notion.refresh_agenda(services, initiative_id) is True
    with services.db.unit_of_work() as session:
        assert agenda_changed_since(session, initiative_id, start)[0] is False
    # Someone edits the page in Notion: the next refresh says it changed.
    stand_in.append_blocks(page, [{"type": "to_do", "to_do": {"rich_text": [_text("New goal")], "checked": False}}])
    edited_after = services.now()
    assert notion.refresh_agenda(services, initiative_id) is True
    with services.db.unit_of_work() as session:
        changed, url = agenda_changed_since(session, initiative_id, start)
        assert changed and url and url.endswith(page.replace("-", ""))
        assert agenda_changed_since(session, initiative_id, services.now())[0] is False
        cache = session.scalar(select(AgendaCache))
        assert cache is not None and cache.changed_at is not None and cache.changed_at >= edited_after
        assert [b["type"] for b in cache.content] == ["paragraph", "to_do"]
    # Notion is down: the last copy stays, and says how old it is.
    stand_in.faults.outage(503)
    assert notion.refresh_agenda(services, initiative_id) is False
    stand_in.faults.restore()
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        cache = cached_agenda(session, initiative)
        assert cache is not None and len(cache.content) == 2 and cache.failed_at is not None
        later = cache.fetched_at + timedelta(hours=3)
        _, blocks = notion_agenda(cache, later)
    shown = json.dumps(blocks)
    assert "New goal" in shown and ":white_square:" in shown
    assert "Notion could not be reached" in shown and "read 3 hours ago" in shown


def test_someone_asking_while_the_page_is_being_read_is_answered_from_that_read(
    stand_in: NotionStandIn, services: Services
) -> None:
    """`/ci agenda` before the first copy: "it is being read now and will follow here". Asked while
    another read of the same page runs (someone else's, the scheduled one), the person was left with
    nothing; they are answered once that read is done, from what it kept."""
    page = stand_in.add_page(
        "Our common agenda", blocks=[{"type": "paragraph", "paragraph": {"rich_text": [_text("Vision")]}}]
    )
    initiative_id = _with_agenda_page(services, page)
    slack = SlackStandIn(bot_token="xoxb-unit", team_id="T0UNIT")
    slack.start()
    try:
        url = slack.response_url("agenda-asked")
        reading = agenda_command._read_lock(initiative_id)
        reading.acquire()  # another person's read of the page is under way
        asked = threading.Thread(target=agenda_command._refresh_then_answer, args=(services, initiative_id, url))
        asked.start()
        assert notion.refresh_agenda(services, initiative_id) is True  # that read, done
        reading.release()
        asked.join(timeout=30)
        said = wait_for(lambda: slack.responses("agenda-asked"), timeout=10)
        assert "Vision" in json.dumps(said[-1]) and said[-1]["response_type"] == "ephemeral"
    finally:
        slack.stop()


def test_another_configured_page_is_not_shown_from_the_old_copy(stand_in: NotionStandIn, services: Services) -> None:
    first = stand_in.add_page("First agenda")
    initiative_id = _with_agenda_page(services, first)
    notion.refresh_agenda(services, initiative_id)
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        initiative.notion_agenda_page = stand_in.add_page("Second agenda")
        assert cached_agenda(session, initiative) is None


def test_a_property_removed_in_notion_meanwhile_is_added_again_on_the_next_try(
    stand_in: NotionStandIn, services: Services
) -> None:
    database_id, data_source_id = stand_in.add_database(None, "Decisions", {"Name": {"title": {}}})
    adapter = notion.adapter_of(services)
    notion.write_decision_page(services, adapter, database_id, _record("First decision", decision_id=1))
    # Someone deletes the Goal column while our copy of the schema still lists it.
    adapter.call(adapter.client.data_sources.update, data_source_id, properties={"Goal": None})
    with pytest.raises(DeliveryError) as stale:
        notion.write_decision_page(services, adapter, database_id, _record("Second decision", decision_id=2))
    assert stale.value.retryable  # not parked: the schema is read again
    notion.write_decision_page(services, adapter, database_id, _record("Second decision", decision_id=2))
    assert sorted(stand_in.page_text(p["id"]) for p in stand_in.pages_in(database_id)) == [
        "First decision",
        "Second decision",
    ]
    assert "Goal" in stand_in.data_source(data_source_id)["properties"]


# -- requests per decision, through the real outbox (SQLite and PostgreSQL) ------------------

STOP = threading.Event()


def _settings(database_url: str, stand_in: NotionStandIn) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        SLACK_BOT_TOKEN="xoxb-unit",
        SLACK_API_URL="http://127.0.0.1:9/api/",  # nothing listens: Slack lookups fall back to IDs
        NOTION_TOKEN=TOKEN,
        NOTION_API_URL=stand_in.url,
    )


def _process(database_url: str, stand_in: NotionStandIn) -> Services:
    """What one app process has: its own services, registry, rate limiter and Notion adapter."""
    built = bootstrap(_settings(database_url, stand_in))
    built.slack.retry_handlers = []
    return built


@pytest.fixture
def mirror(stand_in: NotionStandIn, database_url: str) -> Iterator[Services]:
    load_example(database_url)
    built = _process(database_url, stand_in)
    yield built
    built.db.dispose()


def _decisions_database(stand_in: NotionStandIn, services: Services) -> str:
    """A decisions database whose schema this process has read already (as after its first page)."""
    database_id, _ = stand_in.add_database(None, "Decisions", {"Name": {"title": {}}})
    notion.adapter_of(services).ensure_properties(database_id, notion.DECISION_PROPERTIES)
    return database_id


def _queue_decision(services: Services, database_id: str, text: str, announcement: str | None = None) -> int:
    """A decision and its outbox row, as `record_decision` leaves them; returns the row's id."""
    with services.db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        decision = Decision(initiative_id=initiative.id, text=text, recorded_by="U0BACK0001")
        session.add(decision)
        session.flush()
        return enqueue(
            session,
            initiative_id=initiative.id,
            service=notion.SERVICE,
            kind=notion.DECISION_PAGE_KIND,
            key=notion_key(decision.id),
            payload={"decision_id": decision.id, "database_id": database_id, "announcement": announcement},
        )


def _notion_worker(services: Services) -> Outbox:
    return Outbox(services, services.outbox_registry(), notion.SERVICE)


def _outbox_row(services: Services, item_id: int) -> OutboxItem:
    return outbox_row(services.db, item_id)


def _make_due(services: Services, item_id: int, *, lease_ran_out: bool = False) -> None:
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        row.next_attempt_at = services.now() - timedelta(seconds=1)
        if lease_ran_out:
            assert row.status == "delivering"
            row.claimed_until = services.now() - timedelta(seconds=1)


class Traffic:
    """The requests the Notion stand-in received from here on, by kind."""

    def __init__(self, stand_in: NotionStandIn) -> None:
        self.stand_in = stand_in
        self.start = self.counts()

    def counts(self) -> dict[str, int]:
        return {
            "all": self.stand_in.request_count(),
            "create": self.stand_in.request_count("POST", "/v1/pages"),
            # The only POSTs under /v1/data_sources/ the app sends are queries (…/{id}/query).
            "query": self.stand_in.request_count("POST", "/v1/data_sources/"),
        }

    def since(self) -> dict[str, int]:
        now = self.counts()
        return {name: now[name] - self.start[name] for name in now}


def _page_keys(stand_in: NotionStandIn, database_id: str) -> list[str]:
    return [
        "".join(t["plain_text"] for t in page["properties"][notion.KEY_PROPERTY]["rich_text"])
        for page in stand_in.pages_in(database_id)
    ]


def test_a_first_delivery_of_a_plain_decision_is_one_request(stand_in: NotionStandIn, mirror: Services) -> None:
    database_id = _decisions_database(stand_in, mirror)
    item_id = _queue_decision(mirror, database_id, "We meet monthly from March.")
    traffic = Traffic(stand_in)
    assert _notion_worker(mirror).run_once(STOP) == 1
    assert traffic.since() == {"all": 1, "create": 1, "query": 0}
    row = _outbox_row(mirror, item_id)
    assert (row.status, row.claims) == ("done", 1)
    assert [stand_in.page_text(p["id"]) for p in stand_in.pages_in(database_id)] == ["We meet monthly from March."]
    with mirror.db.unit_of_work() as session:
        decision = session.scalar(select(Decision))
        assert decision is not None and decision.notion_page_id == row.result["page_id"]


def test_a_delivery_retried_after_kill_9_looks_the_page_up_and_creates_none(
    stand_in: NotionStandIn, mirror: Services, database_url: str
) -> None:
    database_id = _decisions_database(stand_in, mirror)
    item_id = _queue_decision(mirror, database_id, "Killed after Notion answered.\n" + "More. " * 50)
    # The process that dies: it claims the row, Notion creates the page, and kill -9 lands
    # before the row is marked delivered (nothing after the deliverer's return runs).
    dying = _notion_worker(mirror)
    items = dying.claim()
    assert [(i.id, i.claimed_before) for i in items] == [(item_id, False)]
    mirror.outbox_registry().deliverers[(notion.SERVICE, notion.DECISION_PAGE_KIND)](mirror, items)
    assert len(stand_in.pages_in(database_id)) == 1
    assert _outbox_row(mirror, item_id).status == "delivering"
    _make_due(mirror, item_id, lease_ran_out=True)

    restarted = _process(database_url, stand_in)  # a new process: its own adapter and schema copy
    try:
        traffic = Traffic(stand_in)
        assert _notion_worker(restarted).run_once(STOP) == 1
    finally:
        restarted.db.dispose()
    counts = traffic.since()
    assert (counts["query"], counts["create"]) == (1, 0)  # looked up, found, not created again
    assert _page_keys(stand_in, database_id) == [notion.decision_key(1, 1)]
    assert _outbox_row(mirror, item_id).status == "done"


def test_a_delivery_retried_after_a_failure_looks_up_first(stand_in: NotionStandIn, mirror: Services) -> None:
    database_id = _decisions_database(stand_in, mirror)
    item_id = _queue_decision(mirror, database_id, "Notion was down the first time.")
    worker = _notion_worker(mirror)
    stand_in.faults.fail_next(1, status=503)
    traffic = Traffic(stand_in)
    assert worker.run_once(STOP) == 1
    assert traffic.since() == {"all": 1, "create": 1, "query": 0}
    assert _outbox_row(mirror, item_id).status == "pending" and stand_in.pages_in(database_id) == []
    _make_due(mirror, item_id)
    traffic = Traffic(stand_in)
    assert worker.run_once(STOP) == 1
    assert traffic.since() == {"all": 2, "create": 1, "query": 1}
    assert len(_page_keys(stand_in, database_id)) == 1
    row = _outbox_row(mirror, item_id)
    assert (row.status, row.attempts, row.claims) == ("done", 1, 2)


def test_waiting_for_the_announcement_does_not_cost_a_look_up(stand_in: NotionStandIn, mirror: Services) -> None:
    database_id = _decisions_database(stand_in, mirror)
    with mirror.db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        announcement = "decision:1:announce"
        announcement_id = enqueue(
            session, initiative_id=initiative.id, service="slack", kind="post", key=announcement, payload={}
        )
    item_id = _queue_decision(mirror, database_id, "Announced first, then mirrored.", announcement)
    worker = _notion_worker(mirror)
    traffic = Traffic(stand_in)
    assert worker.run_once(STOP) == 1  # not posted yet: nothing is sent to Notion
    assert traffic.since()["all"] == 0
    row = _outbox_row(mirror, item_id)
    assert (row.status, row.claims) == ("pending", 0)
    with mirror.db.unit_of_work() as session:
        posted = session.get(OutboxItem, announcement_id)
        assert posted is not None
        posted.status, posted.result = "done", {"channel": "C0DECIDE01", "ts": "1700000000.000100"}
    _make_due(mirror, item_id)
    assert worker.run_once(STOP) == 1
    assert traffic.since() == {"all": 1, "create": 1, "query": 0}
    assert _outbox_row(mirror, item_id).status == "done"


# -- one pace for every process (SQLite and PostgreSQL) ----------------------------------------


def test_processes_sharing_a_database_keep_to_notions_rate_together(database_url: str) -> None:
    """Three processes, two threads each, as fast as they may: Notion never answers 429.

    Each alone keeps to the rate; without the shared pace the three together would send three
    times as much. (Faster than Notion's 3 a second, to keep the test short; the stand-in keeps a
    bigger burst than ours, so that a request held up on its way does not count as too early.)
    """
    server = NotionStandIn(token=TOKEN, rate=10.0, burst=6)
    server.start()
    processes = [_process(database_url, server) for _ in range(3)]
    try:
        adapters = []
        for services in processes:
            registry = services.outbox_registry()
            registry.policies[notion.SERVICE] = dataclasses.replace(registry.policy(notion.SERVICE), rate=10.0, burst=2)
            adapters.append(notion.adapter_of(services))
        failures: list[BaseException] = []

        def work(adapter: notion.NotionAdapter) -> None:
            try:
                for _ in range(5):
                    adapter.call(adapter.client.users.me)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(adapter,)) for adapter in adapters for _ in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        elapsed = time.monotonic() - started
        assert failures == []
        assert server.throttled_count == 0
        assert server.request_count("GET", "/v1/users/me") == 30
        # 30 requests at 10 a second with a burst of 2: no sooner than 2.8 s, however many processes.
        assert elapsed >= 2.6
    finally:
        for services in processes:
            services.db.dispose()
        server.stop()


def test_an_action_item_changed_while_another_process_makes_its_page_gets_one_page(
    stand_in: NotionStandIn, mirror: Services, database_url: str
) -> None:
    """Added, then marked done a moment later: two outbox rows of one item. While one process is still
    making the page for the first, another claims the second; finding no page yet, it would make a
    second one. It waits for the first instead, and then updates the one page."""
    database_id, _ = stand_in.add_database(None, "Action items", {"Task": {"title": {}}})
    with mirror.db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        initiative.notion_actions_database = database_id
        hospital = who_is(session, initiative, "U0CHLD0001")
        action_id = add_action(session, initiative, hospital, "Book the gym", None, None, None, mirror.now()).id
    first = _notion_worker(mirror)
    making = first.claim()  # the "created" row: this process is about to make the page
    assert len(making) == 1
    with mirror.db.unit_of_work() as session:
        initiative = session.scalar(select(Initiative))
        assert initiative is not None
        close_action(session, initiative, who_is(session, initiative, "U0CHLD0001"), action_id, mirror.now())

    other = _process(database_url, stand_in)
    try:
        traffic = Traffic(stand_in)
        assert _notion_worker(other).run_once(STOP) == 1  # the "closed" row: it waits
        assert traffic.since()["all"] == 0 and stand_in.pages_in(database_id) == []
        first.deliver(making)  # the page is made
        assert len(stand_in.pages_in(database_id)) == 1
        with other.db.unit_of_work() as session:
            closed_row = session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key.endswith(":closed")))
        assert closed_row is not None and _outbox_row(other, closed_row).status == "pending"
        _make_due(other, closed_row)
        assert _notion_worker(other).run_once(STOP) == 1
    finally:
        other.db.dispose()
    pages = stand_in.pages_in(database_id)
    assert len(pages) == 1
    assert _outbox_row(mirror, closed_row).status == "done"
    assert "done" in json.dumps(pages[0]["properties"]).lower()
