"""The "Community voice" database: one page per story told with consent, found by its key first.

Only stories the teller agreed to share are queued (`services.community_voice`), and each is read
again here through `shareable_community_story`: a story that may not leave the backbone team is
never written, whatever the outbox row says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ci_slackbot.outbox import Item, Registry
from ci_slackbot.services.community_voice import NOTION_PAGE_KIND, CommunityStoryLine, shareable_community_story
from ci_slackbot.store.models import CommunityStory
from integrations.notion.adapter import KEY_PROPERTY, SERVICE, NotionAdapter, adapter_of
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
    """The story's page, created once (`NotionAdapter.write_keyed_page`)."""
    return adapter.write_keyed_page(
        database_id,
        COMMUNITY_VOICE_PROPERTIES,
        community_story_key(initiative_id, story.id),
        what="community voice",
        title=first_line(story.text),
        values={
            "Date": story.recorded_at,
            "Told by": story.role,
            "Teller": story.teller_name or ANONYMOUS,
            "Indicator": f"{story.indicator_key} — {story.indicator_name}" if story.indicator_key else None,
            "Goal": f"{story.goal_key} — {story.goal_title}" if story.goal_key else None,
            "Place": story.place or None,
            "Recorded by": slack_name(services, initiative_id, story.recorded_by),
        },
        body=text_blocks(story.text),
    )


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
