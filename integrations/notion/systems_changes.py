"""The systems changes database: one page per confirmed change, found by its key before it is created."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ci_slackbot.outbox import DeliveryError, Item, Registry
from ci_slackbot.services.systems_changes import NOTION_PAGE_KIND, ChangeView, change_view
from ci_slackbot.store.models import SystemsChange
from integrations.notion.adapter import KEY_PROPERTY, SERVICE, NotionAdapter, adapter_of
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


def write_change_page(
    services: Services, adapter: NotionAdapter, database_id: str, record: ChangeRecord, *, look_up: bool = True
) -> JSON:
    """The change's page, created once (`NotionAdapter.write_keyed_page`)."""
    change = record.view
    return adapter.write_keyed_page(
        database_id,
        SYSTEMS_CHANGE_PROPERTIES,
        systems_change_key(record.initiative_id, change.id),
        what="systems changes",
        title=first_line(change.text),
        values={
            "Kind": change.kind_label,
            "Took effect": change.took_effect,
            "Organizations": ", ".join(change.organizations),
            "Goal": f"{change.goal_key} — {change.goal_title}" if change.goal_key else None,
            "Recorded by": slack_name(services, record.initiative_id, change.recorded_by),
            "Confirmed by": slack_name(services, record.initiative_id, change.confirmed_by)
            if change.confirmed_by
            else None,
        },
        body=text_blocks(change.text),
        look_up=look_up,
    )


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
