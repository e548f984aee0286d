"""The decisions database: one page per decision, found by its key before it is created."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from ci_slackbot.outbox import DONE, FAILED, DeliveryError, Item, NotReady
from ci_slackbot.services.decisions import link_reply_key
from ci_slackbot.store.models import Decision, Goal, OutboxItem
from integrations.notion.adapter import KEY_PROPERTY, NotionAdapter, adapter_of
from integrations.notion.slack_links import enqueue_follow_up, slack_name, slack_permalink
from integrations.notion.text import JSON, first_line, text_blocks
from integrations.slack import blocks as bk

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

# The properties the app writes in the decisions database, by name and type. Missing ones are
# added; existing ones are used as they are, whatever their type, and none is ever removed.
DECISION_PROPERTIES: dict[str, str] = {
    "Date": "date",
    "Recorded by": "rich_text",
    "Goal": "rich_text",
    "Slack link": "url",
    KEY_PROPERTY: "rich_text",
}
# The page links to its announcement; waiting for Slack to post it is worth this long, not a missing record.
ANNOUNCEMENT_WAIT = 600.0


def decision_key(initiative_id: int, decision_id: int) -> str:
    return f"decision-{initiative_id}-{decision_id}"


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    initiative_id: int
    text: str
    recorded_by: str
    recorded_at: datetime
    goal: str | None
    slack_link: str | None
    channel: str | None


def _announcement_link(services: Services, decision: Decision, announcement: str | None) -> str | None:
    """The announcement's permalink; NotReady while it is still on its way (for a while)."""
    if not announcement:
        return None
    with services.db.unit_of_work() as session:
        row = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == announcement))
        if row is None or row.status == FAILED:
            return None
        if row.status != DONE:
            waited = (services.now() - row.created_at).total_seconds()
            if waited < ANNOUNCEMENT_WAIT:
                # Raised before any request to Notion (deliveries load their records first).
                raise NotReady("waiting for the announcement to be posted, to link to it", delay=2.0, sent_nothing=True)
            return None
        posted = dict(row.result or {})
        stored = session.get(Decision, decision.id)
        if stored is not None and posted.get("ts"):
            stored.announcement_channel = posted.get("channel")
            stored.announcement_ts = posted.get("ts")
    if not posted.get("channel") or not posted.get("ts"):
        return None
    return slack_permalink(services, decision.initiative_id, str(posted["channel"]), str(posted["ts"]))


def _load_decision(services: Services, decision_id: int, announcement: str | None) -> DecisionRecord:
    with services.db.unit_of_work() as session:
        decision = session.get(Decision, decision_id)
        if decision is None:
            raise DeliveryError(f"decision {decision_id} no longer exists", retryable=False)
        goal = session.get(Goal, decision.goal_id) if decision.goal_id else None
        session.expunge(decision)
    link = decision.source_permalink or _announcement_link(services, decision, announcement)
    return DecisionRecord(
        id=decision.id,
        initiative_id=decision.initiative_id,
        text=decision.text,
        recorded_by=decision.recorded_by,
        recorded_at=decision.recorded_at,
        goal=f"{goal.key} — {goal.title}" if goal else None,
        slack_link=link,
        channel=decision.announcement_channel,
    )


def write_decision_page(
    services: Services, adapter: NotionAdapter, database_id: str, record: DecisionRecord, *, look_up: bool = True
) -> JSON:
    """The decision's page, created once (`NotionAdapter.write_keyed_page`)."""
    return adapter.write_keyed_page(
        database_id,
        DECISION_PROPERTIES,
        decision_key(record.initiative_id, record.id),
        what="decisions",
        title=first_line(record.text),
        values={
            "Date": record.recorded_at,
            "Recorded by": slack_name(services, record.initiative_id, record.recorded_by),
            "Goal": record.goal,
            "Slack link": record.slack_link,
        },
        body=text_blocks(record.text),
        look_up=look_up,
    )


def deliver_decision_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    results: dict[int, JSON] = {}
    # Every record first: a NotReady from one of them then comes before any request is sent.
    records = [_load_decision(services, int(i.payload["decision_id"]), i.payload.get("announcement")) for i in items]
    for item, record in zip(items, records, strict=True):
        payload = item.payload
        announcement = payload.get("announcement")
        # The first claim of the row: nothing can have written the page yet, so it is created at once.
        # Any later claim (a retry, a lease that ran out under a killed worker) looks it up first.
        page = write_decision_page(services, adapter, str(payload["database_id"]), record, look_up=item.claimed_before)
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            stored = session.get(Decision, record.id)
            if stored is not None:
                stored.notion_page_id = page["id"]
                stored.notion_url = url or None
        if announcement and record.channel:
            message = bk.Message(
                f"This decision is in Notion: {url}",
                [bk.section(f":notebook: This decision is recorded in Notion: <{url}|open its page>.")],
            ).build()
            enqueue_follow_up(
                services,
                item.initiative_id,
                link_reply_key(record.id),
                {"channel": record.channel, "thread_of": announcement, **message},
            )
        results[item.id] = {"page_id": page["id"], "url": url}
    return results
