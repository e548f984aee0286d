"""Creating a decisions database with every property the app writes (`ci-slackbot notion setup`)."""

from __future__ import annotations

from ci_slackbot.settings import Settings
from integrations.notion.adapter import NotionAdapter
from integrations.notion.decisions import DECISION_PROPERTIES
from integrations.notion.text import JSON, rich_text


def create_decisions_database(settings: Settings, parent_page: str, title: str = "Decisions") -> JSON:
    """A decisions database with every property the app writes, under `parent_page` (for `notion setup`)."""
    adapter = NotionAdapter(settings, pace=lambda: None, on_throttled=lambda seconds: None)
    properties: JSON = {"Decision": {"title": {}}}
    properties.update({name: {kind: {}} for name, kind in DECISION_PROPERTIES.items()})
    database: JSON = adapter.call(
        adapter.client.databases.create,
        parent={"type": "page_id", "page_id": parent_page},
        title=rich_text(title),
        initial_data_source={"properties": properties},
    )
    return database
