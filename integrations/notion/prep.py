"""Meeting-prep pages under the initiative's agenda hub, found by their title before they are created."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from ci_slackbot.outbox import Item
from ci_slackbot.services.prep import prep_link_key
from ci_slackbot.store.models import MeetingPrep
from integrations.notion.adapter import adapter_of
from integrations.notion.slack_links import enqueue_follow_up, slack_name
from integrations.notion.text import JSON, clip, rich_text, text_blocks
from integrations.slack import blocks as bk
from integrations.slack.escape import link

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services


def prep_blocks(content: JSON) -> list[JSON]:
    """A prep page's body: the intro, then a heading and a bulleted list a section."""
    body: list[JSON] = text_blocks(str(content.get("intro", "")))
    for section in content.get("sections", []):
        body.append({"type": "heading_2", "heading_2": {"rich_text": rich_text(clip(str(section["heading"]), 1000))}})
        lines = section.get("lines") or []
        if not lines:
            empty = {"type": "text", "text": {"content": clip(str(section["when_empty"]), 1000)}}
            body.append({"type": "paragraph", "paragraph": {"rich_text": [{**empty, "annotations": {"italic": True}}]}})
        for line in lines:
            body.extend(text_blocks(str(line), "bulleted_list_item"))
    return body


def story_blocks(stories: list[JSON], name_of: Callable[[str], str]) -> list[JSON]:
    """The stories told with the numbers, whole, with their Turn-the-Curve notes: to discuss at the meeting."""
    if not stories:
        return []
    body: list[JSON] = [
        {"type": "heading_2", "heading_2": {"rich_text": rich_text("The stories behind the numbers, for discussion")}}
    ]
    for story in stories:
        who = name_of(str(story.get("told_by", "")))
        head = f"{story.get('indicator', '')}, {story.get('where', '')} — told by {who} on {story.get('told_on', '')}"
        body.extend(text_blocks(head, "bulleted_list_item"))
        body.extend(text_blocks(str(story.get("story", ""))))
        for label, text in story.get("curve") or []:
            body.extend(text_blocks(f"{label}: {text}"))
    return body


def prep_title(content: JSON, prep_id: int) -> str:
    # The number makes the title the page's key: a retried delivery finds the page by it.
    return f"{clip(str(content.get('title', 'Meeting prep')), 150)} (#{prep_id})"


def deliver_prep_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    results: dict[int, JSON] = {}
    for item in items:
        payload = item.payload
        prep_id = int(payload["prep_id"])
        parent = str(payload["parent_page"])
        title = prep_title(payload["content"], prep_id)
        body = prep_blocks(payload["content"])
        body += story_blocks(
            payload["content"].get("stories") or [],
            partial(slack_name, services, item.initiative_id),
        )
        existing = next(
            (
                child
                for child in adapter.children(parent)
                if child.get("type") == "child_page" and child.get("child_page", {}).get("title") == title
            ),
            None,
        )
        if existing is not None:
            adapter.complete_body(existing["id"], body)
            page: JSON = adapter.call(adapter.client.pages.retrieve, existing["id"])
        else:
            page = adapter.create_page(
                parent={"type": "page_id", "page_id": parent},
                properties={"title": {"title": rich_text(title)}},
                body=body,
            )
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            prep = session.get(MeetingPrep, prep_id)
            if prep is not None:
                prep.notion_page_id = page["id"]
                prep.notion_url = url or None
        reply_to = payload.get("reply_to")
        if reply_to:
            message = bk.Message(
                f"The meeting prep page is ready: {url}",
                [bk.section(f":clipboard: The meeting prep page is ready: {link(url, title)}")],
            ).build()
            enqueue_follow_up(services, item.initiative_id, prep_link_key(prep_id), {"channel": reply_to, **message})
        results[item.id] = {"page_id": page["id"], "url": url}
    return results
