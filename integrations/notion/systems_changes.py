"""The systems changes database: one page per confirmed change, found by its key before it is created."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ci_slackbot.outbox import DeliveryError, Item, Registry
from ci_slackbot.services.systems_changes import NOTION_PAGE_KIND, ChangeView, change_view
from ci_slackbot.store.models import SystemsChange
from integrations.notion.adapter import KEY_PROPERTY, SERVICE, TEXT_TYPES, NotionAdapter, adapter_of, page_properties
from integrations.notion.slack_links import slack_name
from integrations.notion.text import JSON, first_line, text_blocks

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

# The properties the app writes, by name and type. Missing ones are added; existing ones are used
# as they are, whatever their type, and none is ever removed.
SYSTEMS_CHANGE_PROPERTIES: dict[str, str] = {
    "Kind": "select",
    "Took effect": "date",
    "Organizations": "rich_text",
    "Goal": "rich_text",
    "Recorded by": "rich_text",
    "Confirmed by": "rich_text",
    KEY_PROPERTY: "rich_text",
}


def systems_change_key(initiative_id: int, change_id: int) -> str:
    return f"systems-change-{initiative_id}-{change_id}"


@dataclass(frozen=True)
class ChangeRecord:
    initiative_id: int
    view: ChangeView


def _load(services: Services, change_id: int) -> ChangeRecord:
    with services.db.unit_of_work() as session:
        change = session.get(SystemsChange, change_id)
        if change is None:
            raise DeliveryError(f"systems change {change_id} no longer exists", retryable=False)
        return ChangeRecord(change.initiative_id, change_view(session, change))


def _date_property(schema_type: str, value: date) -> JSON | None:
    return {"date": {"start": value.isoformat()}} if schema_type == "date" else None


def write_change_page(
    services: Services, adapter: NotionAdapter, database_id: str, record: ChangeRecord, *, look_up: bool = True
) -> JSON:
    """The change's page, created once: looked up by key first, its body completed if a crash cut it short."""
    started = time.monotonic()
    schema = adapter.ensure_properties(database_id, SYSTEMS_CHANGE_PROPERTIES)
    key_property = schema.name_for(KEY_PROPERTY)
    if key_property is None or schema.types[key_property] not in TEXT_TYPES:
        raise DeliveryError(
            f"the property `{KEY_PROPERTY}` of the systems changes database must be text, "
            "to find pages already written",
            retryable=False,
        )
    change = record.view
    key = systems_change_key(record.initiative_id, change.id)
    body = text_blocks(change.text)
    page = adapter.find_by_key(schema, key_property, key) if look_up else None
    if page is not None:
        adapter.complete_body(page["id"], body)
        return page
    properties = page_properties(
        schema,
        first_line(change.text),
        {
            "Kind": change.kind_label,
            "Organizations": ", ".join(change.organizations),
            "Goal": f"{change.goal_key} — {change.goal_title}" if change.goal_key else None,
            "Recorded by": slack_name(services, record.initiative_id, change.recorded_by),
            "Confirmed by": slack_name(services, record.initiative_id, change.confirmed_by)
            if change.confirmed_by
            else None,
            KEY_PROPERTY: key,
        },
    )
    took_effect = schema.name_for("Took effect")
    if took_effect is not None and took_effect != schema.title_property:
        written = _date_property(schema.types[took_effect], change.took_effect)
        if written is not None:
            properties[took_effect] = written
    return adapter.create_database_page(database_id, schema, started, properties=properties, body=body)


def deliver_change_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    results: dict[int, JSON] = {}
    for item in items:
        record = _load(services, int(item.payload["change_id"]))
        # On the row's first claim nothing can have written the page yet; any later claim looks first.
        page = write_change_page(
            services, adapter, str(item.payload["database_id"]), record, look_up=item.claimed_before
        )
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            stored = session.get(SystemsChange, record.view.id)
            if stored is not None:
                stored.notion_page_id = page["id"]
                stored.notion_url = url or None
        results[item.id] = {"page_id": page["id"], "url": url}
    return results


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, NOTION_PAGE_KIND, deliver_change_pages)
