"""The Notion mirror of action items: one page per item in `notion.actions_database`.

Outbox rows (service "notion", kind "action_item") carry only the item's id:
the deliverer reads the item's current state and writes all of it, so the
rows queued by a creation, a push and a close each leave the page showing the
latest state, in whatever order they are delivered.

It shares the decisions mirror's machinery in `integrations.notion`: the
paced adapter, schema discovery (missing properties are added, existing ones
used as they are), the `ci-slackbot key` property by which a page is found
before it is created again, and the translation of failures for the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ci_slackbot.outbox import DeliveryError, Item, NotReady, Registry
from ci_slackbot.services.actions import DONE, NOTION_KIND, NOTION_SERVICE, page_being_made_elsewhere
from ci_slackbot.store.models import ActionItem, Goal, Organization
from integrations.notion.adapter import (
    KEY_PROPERTY,
    TEXT_TYPES,
    DataSourceSchema,
    NotionAdapter,
    adapter_of,
    page_properties,
)
from integrations.notion.slack_links import slack_name
from integrations.notion.text import JSON, MAX_TITLE, text_blocks

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

# The properties written besides the title, by name and the type given to them when they are missing.
ACTION_PROPERTIES: dict[str, str] = {
    "Status": "select",
    "Due": "date",
    "Owner": "rich_text",
    "Organization": "select",
    "Goal": "select",
    KEY_PROPERTY: "rich_text",
}
OPEN_LABEL, DONE_LABEL = "Open", "Done"
# A `status` column (Notion's own kind) cannot get new options through the API: use its defaults.
STATUS_OPEN, STATUS_DONE = "Not started", "Done"


def action_key(initiative_id: int, action_id: int) -> str:
    return f"action-{initiative_id}-{action_id}"


@dataclass(frozen=True)
class ActionRecord:
    """What the page shows, read from the store when the row is delivered."""

    id: int
    initiative_id: int
    text: str
    owner: str
    done: bool
    due: date | None
    organization: str | None
    goal: str | None
    notion_page_id: str | None


def _load(services: Services, action_id: int) -> ActionRecord:
    with services.db.unit_of_work() as session:
        item = session.get(ActionItem, action_id)
        if item is None:
            raise DeliveryError(f"action item {action_id} no longer exists", retryable=False)
        org = session.get(Organization, item.organization_id) if item.organization_id else None
        goal = session.get(Goal, item.goal_id) if item.goal_id else None
        return ActionRecord(
            id=item.id,
            initiative_id=item.initiative_id,
            text=item.text,
            owner=item.owner,
            done=item.status == DONE,
            due=item.due,
            organization=org.name if org else None,
            goal=f"{goal.key} — {goal.title}" if goal else None,
            notion_page_id=item.notion_page_id,
        )


def _status_value(kind: str, done: bool) -> JSON | None:
    if kind == "checkbox":
        return {"checkbox": done}
    if kind == "status":
        return {"status": {"name": STATUS_DONE if done else STATUS_OPEN}}
    if kind in ("select", "multi_select"):
        option = {"name": DONE_LABEL if done else OPEN_LABEL}
        return {"select": option} if kind == "select" else {"multi_select": [option]}
    if kind in TEXT_TYPES:
        return {kind: [{"type": "text", "text": {"content": DONE_LABEL if done else OPEN_LABEL}}]}
    return None


def action_properties(services: Services, schema: DataSourceSchema, record: ActionRecord) -> JSON:
    """The page's properties from the item, each written in the type its column has."""
    properties = page_properties(
        schema,
        record.text,
        {
            "Owner": slack_name(services, record.initiative_id, record.owner),
            "Organization": record.organization,
            "Goal": record.goal,
            KEY_PROPERTY: action_key(record.initiative_id, record.id),
        },
    )
    status = schema.name_for("Status")
    if status is not None and status != schema.title_property:
        value = _status_value(schema.types[status], record.done)
        if value is not None:
            properties[status] = value
    due = schema.name_for("Due")
    if due is not None and schema.types[due] == "date":
        # Written even when empty, so that a date removed here is removed there too.
        properties[due] = {"date": {"start": record.due.isoformat()} if record.due else None}
    return properties


def write_action_page(services: Services, adapter: NotionAdapter, database_id: str, record: ActionRecord) -> JSON:
    """Create the item's page or bring it up to date; found by key first, so never created twice."""
    schema = adapter.ensure_properties(database_id, ACTION_PROPERTIES)
    key_property = schema.name_for(KEY_PROPERTY)
    if key_property is None or schema.types[key_property] not in TEXT_TYPES:
        raise DeliveryError(
            f"the property `{KEY_PROPERTY}` of the actions database must be text, to find pages already written",
            retryable=False,
        )
    properties = action_properties(services, schema, record)
    page_id = record.notion_page_id
    if page_id is None:
        found = adapter.find_by_key(schema, key_property, action_key(record.initiative_id, record.id))
        page_id = str(found["id"]) if found is not None else None
    try:
        if page_id is not None:
            return adapter.call(adapter.client.pages.update, page_id, properties=properties)
        # The title holds the first 200 characters; a longer item is written whole in the body,
        # in the same request as the page (an item is at most 1000 characters: one block).
        return adapter.create_page(
            parent={"type": "data_source_id", "data_source_id": schema.data_source_id},
            properties=properties,
            body=text_blocks(record.text) if len(record.text) > MAX_TITLE else [],
        )
    except DeliveryError as exc:
        if not exc.retryable:
            # Someone may have changed the database since we read it: read it again next time.
            adapter.forget_schema(database_id)
        raise


def deliver_action_items(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    # Before any request: an item whose page another process is making now waits for it (and the
    # batch with it, a few seconds), rather than making a second page.
    batch = [item.id for item in items]
    with services.db.unit_of_work() as session:
        for item in items:
            action_id = int(item.payload["action_id"])
            stored = session.get(ActionItem, action_id)
            unmade = stored is not None and stored.notion_page_id is None
            if unmade and page_being_made_elsewhere(session, action_id, item.id, batch):
                raise NotReady(f"action item {action_id}'s page is being made elsewhere", sent_nothing=True)
    results: dict[int, JSON] = {}
    for item in items:
        # Read for each row: an earlier row of the same item in this batch may have made its page.
        record = _load(services, int(item.payload["action_id"]))
        page = write_action_page(services, adapter, str(item.payload["database_id"]), record)
        if page["id"] != record.notion_page_id:
            with services.db.unit_of_work() as session:
                stored = session.get(ActionItem, record.id)
                if stored is not None:
                    stored.notion_page_id = str(page["id"])
        results[item.id] = {"page_id": page["id"], "url": str(page.get("url") or "")}
    return results


def register(registry: Registry[Services]) -> None:
    # The "notion" service's policy (pace, backoff) is set in `integrations.notion.register`.
    registry.register(NOTION_SERVICE, NOTION_KIND, deliver_action_items)
