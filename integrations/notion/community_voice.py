"""The "Community voice" database: one page per story told with consent, found by its key first.

Only stories the teller agreed to share are queued (`services.community_voice`), and each is read
again here through `shareable_community_story`: a story that may not leave the backbone team is
never written, whatever the outbox row says.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ci_slackbot.outbox import DeliveryError, Item, Registry
from ci_slackbot.services.community_voice import NOTION_PAGE_KIND, CommunityStoryLine, shareable_community_story
from ci_slackbot.store.models import CommunityStory
from integrations.notion.adapter import KEY_PROPERTY, SERVICE, TEXT_TYPES, NotionAdapter, adapter_of, page_properties
from integrations.notion.slack_links import slack_name
from integrations.notion.text import JSON, first_line, text_blocks

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

# The properties written, by name and type: missing ones are added, existing ones used as they are.
COMMUNITY_VOICE_PROPERTIES: dict[str, str] = {
    "Date": "date",
    "Told by": "select",
    # Not "Name": that is the title property of many databases. "anonymous" when they asked to be.
    "Teller": "rich_text",
    "Indicator": "rich_text",
    "Goal": "rich_text",
    "Place": "rich_text",
    "Recorded by": "rich_text",
    KEY_PROPERTY: "rich_text",
}
ANONYMOUS = "anonymous"


def community_story_key(initiative_id: int, story_id: int) -> str:
    return f"community-story-{initiative_id}-{story_id}"


def write_community_story_page(
    services: Services, adapter: NotionAdapter, database_id: str, initiative_id: int, story: CommunityStoryLine
) -> JSON:
    """The story's page, created once: looked up by its key, its body completed if a crash cut it short."""
    started = time.monotonic()
    schema = adapter.ensure_properties(database_id, COMMUNITY_VOICE_PROPERTIES)
    key_property = schema.name_for(KEY_PROPERTY)
    if key_property is None or schema.types[key_property] not in TEXT_TYPES:
        raise DeliveryError(
            f"the property `{KEY_PROPERTY}` of the community voice database must be text, to find pages written",
            retryable=False,
        )
    key = community_story_key(initiative_id, story.id)
    body = text_blocks(story.text)
    page = adapter.find_by_key(schema, key_property, key)
    if page is not None:
        adapter.complete_body(page["id"], body)
        return page
    properties = page_properties(
        schema,
        first_line(story.text),
        {
            "Date": story.recorded_at,
            "Told by": story.role,
            "Teller": story.teller_name or ANONYMOUS,
            "Indicator": f"{story.indicator_key} — {story.indicator_name}" if story.indicator_key else None,
            "Goal": f"{story.goal_key} — {story.goal_title}" if story.goal_key else None,
            "Place": story.place or None,
            "Recorded by": slack_name(services, initiative_id, story.recorded_by),
            KEY_PROPERTY: key,
        },
    )
    return adapter.create_database_page(database_id, schema, started, properties=properties, body=body)


def deliver_community_story_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    results: dict[int, JSON] = {}
    adapter: NotionAdapter | None = None
    for item in items:
        story_id = int(item.payload["story_id"])
        with services.db.unit_of_work() as session:
            story = shareable_community_story(session, item.initiative_id, story_id)
        if story is None:
            # Gone, or not to be shared: nothing to write, and nothing to try again.
            results[item.id] = {"skipped": "not shareable"}
            continue
        adapter = adapter or adapter_of(services)
        database_id = str(item.payload["database_id"])
        page = write_community_story_page(services, adapter, database_id, item.initiative_id, story)
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            stored = session.get(CommunityStory, story_id)
            if stored is not None:
                stored.notion_page_id = page["id"]
                stored.notion_url = url or None
        results[item.id] = {"page_id": page["id"], "url": url}
    return results


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, NOTION_PAGE_KIND, deliver_community_story_pages)
