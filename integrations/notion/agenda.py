"""Reading the initiative's agenda page into `AgendaCache`, which `/ci agenda` shows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ci_slackbot.outbox import DeliveryError
from ci_slackbot.services.agenda import BLOCK_TYPES, note_refresh_failure, store_agenda
from ci_slackbot.store.models import Initiative
from integrations.notion.adapter import NotionAdapter, adapter_of
from integrations.notion.text import JSON

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

AGENDA_MAX_BLOCKS = 1000
AGENDA_MAX_DEPTH = 3


def _runs(items: Sequence[JSON]) -> list[JSON]:
    runs = []
    for item in items:
        annotations = item.get("annotations") or {}
        runs.append(
            {
                "text": str(item.get("plain_text", "")),
                "href": item.get("href"),
                "bold": bool(annotations.get("bold")),
                "italic": bool(annotations.get("italic")),
                "code": bool(annotations.get("code")),
                "strike": bool(annotations.get("strikethrough")),
            }
        )
    return runs


def normalise_block(block: JSON, depth: int) -> JSON:
    """A Notion block as the agenda cache keeps it (see `ci_slackbot.services.agenda`)."""
    kind = str(block.get("type", ""))
    data: JSON = block.get(kind) or {}
    if kind in ("child_page", "child_database"):
        return {"type": kind, "depth": depth, "runs": [{"text": str(data.get("title", ""))}]}
    if kind not in BLOCK_TYPES:
        return {"type": "other", "kind": kind, "depth": depth, "runs": []}
    normal: JSON = {"type": kind, "depth": depth, "runs": _runs(data.get("rich_text") or [])}
    if kind == "to_do":
        normal["checked"] = bool(data.get("checked"))
    return normal


def read_blocks(adapter: NotionAdapter, block_id: str) -> list[JSON]:
    """Every block of a page, nested ones after their parent, as far as the agenda needs."""
    out: list[JSON] = []

    def walk(container: str, depth: int) -> None:
        for block in adapter.children(container):
            if len(out) >= AGENDA_MAX_BLOCKS:
                return
            out.append(normalise_block(block, depth))
            nested = block.get("has_children") and block.get("type") not in ("child_page", "child_database")
            if nested and depth + 1 < AGENDA_MAX_DEPTH:
                walk(str(block["id"]), depth + 1)

    walk(block_id, 0)
    return out


def page_title(page: JSON) -> str:
    for prop in (page.get("properties") or {}).values():
        if prop.get("type") == "title":
            return "".join(str(item.get("plain_text", "")) for item in prop.get("title") or [])
    return ""


def refresh_agenda(services: Services, initiative_id: int) -> bool:
    """Read the initiative's agenda page into the cache; True when the copy is fresh.

    For the scheduler to call every few minutes. When Notion cannot be reached
    the last copy stays, marked with the failure, and `/ci agenda` shows its age.
    """
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        page_id = initiative.notion_agenda_page if initiative is not None else None
    if not page_id or not services.settings.notion_enabled:
        return False
    try:
        adapter = adapter_of(services)
        page: JSON = adapter.call(adapter.client.pages.retrieve, page_id)
        content = read_blocks(adapter, page_id)
    except DeliveryError as exc:
        log.warning("the agenda page could not be read from Notion: %s", exc)
        with services.db.unit_of_work() as session:
            note_refresh_failure(session, initiative_id, str(exc), services.now())
        return False
    with services.db.unit_of_work() as session:
        store_agenda(
            session,
            initiative_id,
            page_id=page_id,
            title=page_title(page),
            url=page.get("url"),
            last_edited_time=page.get("last_edited_time"),
            content=content,
            now=services.now(),
        )
    return True
