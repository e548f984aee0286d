"""The id of a Notion page or database and of a Google spreadsheet, from what a person pastes.

People copy links, not ids: Notion's "Copy link" gives `https://www.notion.so/team/Decisions-<32 hex>?v=…`
and Sheets' address bar `https://docs.google.com/spreadsheets/d/<id>/edit#gid=0`. The App Home
forms and the initiative file both take either, and keep the id alone, so that what is stored is
what the APIs take (and what the database's columns hold: a link is longer than any id).
"""

from __future__ import annotations

import re

__all__ = ["NOTION_HINT", "SPREADSHEET_HINT", "PastedIdError", "notion_id", "spreadsheet_id"]

_NOTION_ID = re.compile(r"([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})")
_SHEET_LINK = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
# Google's ids are 44 characters today; the column holds 128 (`Initiative.sheets_spreadsheet_id`).
_SHEET_ID = re.compile(r"^[A-Za-z0-9_-]{10,128}$")
NOTION_HINT = "paste the Notion link (••• → Copy link) or its id, 32 letters and digits like 0123abcd…"
SPREADSHEET_HINT = "paste the spreadsheet's link (Share → Copy link) or the long id in it"


class PastedIdError(ValueError):
    """What was pasted is neither the link nor the id; the message says what to paste."""


def notion_id(text: str | None) -> str | None:
    """A Notion page or database id from the id itself (with or without dashes) or a link to it,
    written as Notion's dashed UUID; None for nothing pasted."""
    raw = (text or "").strip()
    if not raw:
        return None
    where = raw
    if "://" in raw or raw.startswith(("www.", "notion.so")):
        # The id is the end of the link's path; `?v=` names a view and `#` a block: neither is it.
        where = re.split(r"[?#]", raw, maxsplit=1)[0].rstrip("/").rsplit("/", 1)[-1]
    matches = list(_NOTION_ID.finditer(where))
    if not matches or (where == raw and matches[-1].group(0) != raw):
        raise PastedIdError(NOTION_HINT)
    return "-".join(part.lower() for part in matches[-1].groups())


def spreadsheet_id(text: str | None) -> str | None:
    """A Google spreadsheet id from its link (`…/spreadsheets/d/<id>/edit`) or the id itself; None for
    nothing pasted."""
    raw = (text or "").strip()
    if not raw:
        return None
    link = _SHEET_LINK.search(raw)
    if link is not None and len(link.group(1)) <= 128:
        return link.group(1)
    if _SHEET_ID.match(raw):
        return raw
    raise PastedIdError(SPREADSHEET_HINT)
