"""A local stand-in for the Notion API as Notion-Version 2025-09-03 shapes it.

Since 2025-09-03 a database is a container of data sources: the schema
(`properties`) and the rows (pages) belong to a data source, and a database
only lists its data sources. Pages either sit under a page (their only
property is `title`) or in a data source, whose schema they must follow.

The response shapes were taken from traffic that notion-sdk-py's own suite
recorded against the live API (`/work/shared/reference/recordings/notion`), and
`tests/sandbox/test_notion_replay.py` replays that traffic into this stand-in
to keep the two in step. The limits (3 requests a second with bursts, 2000
characters a rich-text item, 100 items an array, 100 children an append, two
levels of nesting, page_size ≤ 100) are the documented ones.

Deliberate differences from the live service, each switchable or harmless:

* `last_edited_time` has millisecond precision and strictly increases on every
  edit, so a poller can see each change; the live API rounds page and block
  times down to the minute (`minute_timestamps=True` does that too).
* Page URLs default to `https://www.notion.so/<slug>-<id>`, the form
  notion_client's `get_id` helper accepts; the live API now answers
  `https://app.notion.com/p/...` (pass `page_url_base` to get that).
* With no `sorts`, a query lists pages newest first; the docs leave the order
  unspecified, so callers must not rely on it either way.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from ci_slackbot.sandbox.base import Handler, Request, Response, StandIn, TokenBucket, retry_after_header

JSON = dict[str, Any]

API_VERSION = "2025-09-03"
# 2026-03-11 only renames fields (archived → in_trash, after → position) that
# the stand-in accepts in both spellings, so it is served the same way.
SUPPORTED_VERSIONS = frozenset({"2025-09-03", "2026-03-11"})

MAX_TEXT = 2000
MAX_URL = 2000
MAX_EQUATION = 1000
MAX_EMAIL = 200
MAX_PHONE = 200
MAX_ARRAY = 100
MAX_CHILDREN = 100
MAX_NESTING = 2
MAX_BLOCKS_PER_REQUEST = 1000
MAX_BODY_BYTES = 500 * 1024
MAX_PAGE_SIZE = 100

_ANNOTATIONS: JSON = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}

# The block types the stand-in can create, with the fields the live API adds
# when a request leaves them out.
_TEXT_BLOCKS: dict[str, JSON] = {
    "paragraph": {"icon": None, "color": "default"},
    "heading_1": {"is_toggleable": False, "color": "default"},
    "heading_2": {"is_toggleable": False, "color": "default"},
    "heading_3": {"is_toggleable": False, "color": "default"},
    "bulleted_list_item": {"color": "default"},
    "numbered_list_item": {"color": "default"},
    "to_do": {"checked": False, "color": "default"},
    "toggle": {"color": "default"},
    "quote": {"color": "default"},
    "callout": {"icon": None, "color": "gray_background"},
    "code": {"caption": [], "language": "plain text"},
}
_OTHER_BLOCKS: dict[str, JSON] = {
    "divider": {},
    "breadcrumb": {},
    "table_of_contents": {"color": "default"},
    "equation": {"expression": ""},
    "bookmark": {"caption": [], "url": ""},
    "embed": {"caption": [], "url": ""},
    "image": {"caption": [], "type": "external", "external": {"url": ""}},
    "video": {"caption": [], "type": "external", "external": {"url": ""}},
    "file": {"caption": [], "type": "external", "external": {"url": ""}, "name": ""},
    "pdf": {"caption": [], "type": "external", "external": {"url": ""}},
    "audio": {"caption": [], "type": "external", "external": {"url": ""}},
    "link_to_page": {},
    "column_list": {},
    "column": {},
    "table": {"table_width": 1, "has_column_header": False, "has_row_header": False},
    "table_row": {"cells": []},
    "synced_block": {"synced_from": None},
}
_BLOCK_TYPES = frozenset(_TEXT_BLOCKS) | frozenset(_OTHER_BLOCKS)
_CAN_HAVE_CHILDREN = frozenset(_TEXT_BLOCKS) - {"code"} | {"column_list", "column", "table", "synced_block"}

_WRITABLE_TYPES = frozenset(
    {
        "title",
        "rich_text",
        "number",
        "select",
        "multi_select",
        "status",
        "date",
        "people",
        "files",
        "checkbox",
        "url",
        "email",
        "phone_number",
        "relation",
    }
)
_COMPUTED_TYPES = frozenset({"created_time", "created_by", "last_edited_time", "last_edited_by", "unique_id"})
_PROPERTY_TYPES = _WRITABLE_TYPES | _COMPUTED_TYPES
# Real types whose evaluation (formulas, rollups...) the stand-in does not model.
_UNMODELLED_TYPES = frozenset({"formula", "rollup", "button", "verification", "place", "location"})
_TEXT_LIKE = frozenset({"title", "rich_text", "url", "email", "phone_number"})
_LIST_TYPES = frozenset({"title", "rich_text", "multi_select", "people", "relation", "files"})

_DEFAULT_STATUS: JSON = {
    "options": [
        {"name": "Not started", "color": "default"},
        {"name": "In progress", "color": "blue"},
        {"name": "Done", "color": "green"},
    ],
    "groups": [
        {"name": "To-do", "color": "gray", "option_names": ["Not started"]},
        {"name": "In progress", "color": "blue", "option_names": ["In progress"]},
        {"name": "Complete", "color": "green", "option_names": ["Done"]},
    ],
}

_PAGE_SCHEMA: dict[str, JSON] = {
    "title": {"id": "title", "name": "title", "description": None, "type": "title", "title": {}}
}

_UUID_HEX = re.compile(r"^[0-9a-f]{32}$")
_PROPERTY_ID_CHARS = string.ascii_letters + string.digits


class NotionAPIError(Exception):
    """An error answered in Notion's shape; raised inside handlers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> NotionAPIError:
    return NotionAPIError(400, "validation_error", message)


def _body_invalid(detail: str) -> NotionAPIError:
    # The live API prefixes schema failures of the body like this.
    return _invalid(f"body failed validation: {detail}")


def _not_found(kind: str, object_id: str) -> NotionAPIError:
    return NotionAPIError(
        404,
        "object_not_found",
        f"Could not find {kind} with ID: {object_id}. "
        "Make sure the relevant pages and databases are shared with your integration.",
    )


def _archived_error() -> NotionAPIError:
    return _invalid("Can't edit block that is archived. You must unarchive the block before editing.")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def normalize_id(raw: Any) -> str | None:
    """The dashed lower-case form of a Notion ID given with or without dashes; None if it is not one."""
    if not isinstance(raw, str):
        return None
    hex_id = raw.replace("-", "").lower()
    if not _UUID_HEX.match(hex_id):
        return None
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


def _new_id() -> str:
    return str(uuid.uuid4())


def _plain(rich_text: Iterable[JSON] | None) -> str:
    return "".join(item.get("plain_text", "") for item in rich_text or [])


def _slug(title: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", title).strip("-")


def _iso(stamp: float, *, minute: bool = False, offset_style: bool = False) -> str:
    moment = datetime.fromtimestamp(stamp, UTC)
    if minute:
        moment = moment.replace(second=0, microsecond=0)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    # Databases answer "+00:00" where pages, blocks and data sources answer "Z".
    return text + ("+00:00" if offset_style else "Z")


def _parse_when(value: Any) -> tuple[datetime, bool] | None:
    """An ISO 8601 date or date-time as an aware datetime, and whether it was a bare date."""
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, False


def _page_size(raw: Any, where: str) -> int:
    if raw is None:
        return MAX_PAGE_SIZE
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise _invalid(
            f"{where} failed validation: {where}.page_size should be a number, instead was `{_show(raw)}`."
        ) from None
    if size < 1:
        raise _invalid(f"{where} failed validation: {where}.page_size should be ≥ `1`, instead was `{size}`.")
    if size > MAX_PAGE_SIZE:
        raise _invalid(
            f"{where} failed validation: {where}.page_size should be ≤ `{MAX_PAGE_SIZE}`, instead was `{size}`."
        )
    return size


def _paginate(items: list[tuple[str, JSON]], start_cursor: Any, page_size: int, where: str) -> JSON:
    """A list response whose cursors are item IDs, as the live API's are."""
    start = 0
    if start_cursor is not None:
        cursor = normalize_id(start_cursor)
        ids = [item_id for item_id, _ in items]
        if cursor is None or cursor not in ids:
            raise _invalid(f"{where} failed validation: {where}.start_cursor should be a valid cursor.")
        start = ids.index(cursor)
    window = items[start : start + page_size]
    more = start + page_size < len(items)
    return {
        "object": "list",
        "results": [body for _, body in window],
        "next_cursor": items[start + page_size][0] if more else None,
        "has_more": more,
    }


# -- rich text ------------------------------------------------------------------------


def _check_length(value: str, limit: int, path: str) -> None:
    if len(value) > limit:
        raise _body_invalid(f"{path}.length should be ≤ `{limit}`, instead was `{len(value)}`.")


def _annotations(raw: Any, path: str) -> JSON:
    result = dict(_ANNOTATIONS)
    if raw is None:
        return result
    if not isinstance(raw, dict):
        raise _body_invalid(f"{path} should be an object, instead was `{_show(raw)}`.")
    for key, value in raw.items():
        if key not in result:
            raise _body_invalid(f"{path}.{key} should be not present, instead was `{_show(value)}`.")
        if key == "color":
            if not isinstance(value, str):
                raise _body_invalid(f"{path}.color should be a string, instead was `{_show(value)}`.")
        elif not isinstance(value, bool):
            raise _body_invalid(f"{path}.{key} should be a boolean, instead was `{_show(value)}`.")
        result[key] = value
    return result


class _RichText:
    """Turns rich-text input into the stored (response) form, enforcing the size limits."""

    def __init__(self, describe_mention: Callable[[JSON], tuple[str, str | None]]) -> None:
        self._describe_mention = describe_mention

    def array(self, raw: Any, path: str) -> list[JSON]:
        if not isinstance(raw, list):
            raise _body_invalid(f"{path} should be an array, instead was `{_show(raw)}`.")
        if len(raw) > MAX_ARRAY:
            raise _body_invalid(f"{path}.length should be ≤ `{MAX_ARRAY}`, instead was `{len(raw)}`.")
        return [self.item(item, f"{path}[{index}]") for index, item in enumerate(raw)]

    def item(self, raw: Any, path: str) -> JSON:
        if not isinstance(raw, dict):
            raise _body_invalid(f"{path} should be an object, instead was `{_show(raw)}`.")
        kind = raw.get("type") or next((k for k in ("text", "mention", "equation") if k in raw), None)
        annotations = _annotations(raw.get("annotations"), f"{path}.annotations")
        if kind == "text":
            text = raw.get("text")
            if not isinstance(text, dict):
                raise _body_invalid(f"{path}.text should be an object, instead was `{_show(text)}`.")
            content = text.get("content")
            if not isinstance(content, str):
                raise _body_invalid(f"{path}.text.content should be a string, instead was `{_show(content)}`.")
            _check_length(content, MAX_TEXT, f"{path}.text.content")
            link = text.get("link")
            href = None
            if link is not None:
                url = link.get("url") if isinstance(link, dict) else None
                if not isinstance(url, str):
                    raise _body_invalid(f"{path}.text.link.url should be a string, instead was `{_show(url)}`.")
                _check_length(url, MAX_URL, f"{path}.text.link.url")
                link, href = {"url": url}, url
            return {
                "type": "text",
                "text": {"content": content, "link": link},
                "annotations": annotations,
                "plain_text": content,
                "href": href,
            }
        if kind == "equation":
            equation = raw.get("equation")
            expression = equation.get("expression") if isinstance(equation, dict) else None
            if not isinstance(expression, str):
                raise _body_invalid(
                    f"{path}.equation.expression should be a string, instead was `{_show(expression)}`."
                )
            _check_length(expression, MAX_EQUATION, f"{path}.equation.expression")
            return {
                "type": "equation",
                "equation": {"expression": expression},
                "annotations": annotations,
                "plain_text": expression,
                "href": None,
            }
        if kind == "mention":
            mention = raw.get("mention")
            if not isinstance(mention, dict):
                raise _body_invalid(f"{path}.mention should be an object, instead was `{_show(mention)}`.")
            mention = copy.deepcopy(mention)
            if "type" not in mention:
                mention["type"] = next((k for k in mention if k != "type"), "")
            plain, href = self._describe_mention(mention)
            return {
                "type": "mention",
                "mention": mention,
                "annotations": annotations,
                "plain_text": plain,
                "href": href,
            }
        raise _body_invalid(f"{path} should have one of `text`, `mention` or `equation`, instead was `{_show(raw)}`.")


def _text_items(content: str, annotations: JSON | None = None, url: str | None = None) -> list[JSON]:
    """Rich-text input for `content`, split at the 2000-character limit."""
    pieces = [content[i : i + MAX_TEXT] for i in range(0, len(content), MAX_TEXT)] or [""]
    return [
        {
            "type": "text",
            "text": {"content": piece, "link": {"url": url} if url else None},
            "annotations": {**_ANNOTATIONS, **(annotations or {})},
        }
        for piece in pieces
    ]


# -- markdown -------------------------------------------------------------------------

_INLINE = re.compile(
    r"\*\*(?P<bold>.+?)\*\*|~~(?P<strike>.+?)~~|`(?P<code>[^`]+)`"
    r"|\[(?P<label>[^\]]+)\]\((?P<url>[^)\s]+)\)|\*(?P<italic>[^*\s][^*]*)\*"
)


def _inline_markdown(text: str) -> list[JSON]:
    items: list[JSON] = []
    position = 0
    for match in _INLINE.finditer(text):
        if match.start() > position:
            items += _text_items(text[position : match.start()])
        if match["bold"] is not None:
            items += _text_items(match["bold"], {"bold": True})
        elif match["strike"] is not None:
            items += _text_items(match["strike"], {"strikethrough": True})
        elif match["code"] is not None:
            items += _text_items(match["code"], {"code": True})
        elif match["label"] is not None:
            items += _text_items(match["label"], url=match["url"])
        else:
            items += _text_items(match["italic"], {"italic": True})
        position = match.end()
    if position < len(text):
        items += _text_items(text[position:])
    # Rich-text arrays are capped too; long markdown lines are rare enough to merge.
    return items[:MAX_ARRAY]


def _markdown_blocks(markdown: str) -> list[JSON]:
    """Block input for a (Notion-flavoured, common subset of) markdown text."""
    roots: list[JSON] = []
    stack: list[tuple[int, JSON]] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        expanded = line.replace("    ", "\t")
        depth = len(expanded) - len(expanded.lstrip("\t"))
        text = line.strip()
        block: JSON
        if text.startswith("```"):
            language = text[3:].strip() or "plain text"
            body: list[str] = []
            while index < len(lines) and not lines[index].strip().startswith("```"):
                body.append(lines[index])
                index += 1
            index += 1
            block = {"code": {"rich_text": _text_items("\n".join(body)), "language": language}}
        elif re.match(r"^(-{3,}|\*{3,})$", text):
            block = {"divider": {}}
        elif text.startswith("$$") and text.endswith("$$") and len(text) > 4:
            block = {"equation": {"expression": text[2:-2].strip()}}
        elif match := re.match(r"^(#{1,3})\s+(.*)$", text):
            block = {f"heading_{len(match[1])}": {"rich_text": _inline_markdown(match[2])}}
        elif match := re.match(r"^[-*+]\s+\[([ xX])\]\s*(.*)$", text):
            block = {"to_do": {"rich_text": _inline_markdown(match[2]), "checked": match[1] != " "}}
        elif match := re.match(r"^[-*+]\s+(.*)$", text):
            block = {"bulleted_list_item": {"rich_text": _inline_markdown(match[1])}}
        elif match := re.match(r"^\d+[.)]\s+(.*)$", text):
            block = {"numbered_list_item": {"rich_text": _inline_markdown(match[1])}}
        elif match := re.match(r"^>\s?(.*)$", text):
            block = {"quote": {"rich_text": _inline_markdown(match[1])}}
        else:
            block = {"paragraph": {"rich_text": _inline_markdown(text)}}
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        parent_type = next(iter(parent)) if parent else None
        if parent is not None and parent_type in _CAN_HAVE_CHILDREN:
            parent[parent_type].setdefault("children", []).append(block)
        else:
            roots.append(block)
        stack.append((depth, block))
    return roots


def _inline_render(rich_text: list[JSON]) -> str:
    out = []
    for item in rich_text:
        text = item.get("plain_text", "")
        notes = item.get("annotations", {})
        if text.strip():
            if notes.get("code"):
                text = f"`{text}`"
            if notes.get("bold"):
                text = f"**{text}**"
            if notes.get("italic"):
                text = f"*{text}*"
            if notes.get("strikethrough"):
                text = f"~~{text}~~"
            if item.get("href"):
                text = f"[{text}]({item['href']})"
        out.append(text)
    return "".join(out)


def _select_range(markdown: str, selection: str) -> tuple[int, int] | None:
    """Where an ellipsis selection ("start text...end text") lies in `markdown`."""
    if "..." in selection:
        head, tail = selection.split("...", 1)
        start = markdown.find(head)
        if start < 0:
            return None
        end = markdown.find(tail, start + len(head))
        return None if end < 0 else (start, end + len(tail))
    start = markdown.find(selection)
    return None if start < 0 else (start, start + len(selection))


# -- the stored objects ---------------------------------------------------------------


@dataclass
class _User:
    id: str
    name: str
    kind: str  # "person" or "bot"
    email: str | None = None


@dataclass
class _Page:
    id: str
    parent: JSON
    data_source_id: str | None
    values: JSON  # property id -> stored value
    created: float
    edited: float
    created_by: str
    edited_by: str
    icon: Any = None
    cover: Any = None
    in_trash: bool = False
    is_locked: bool = False


@dataclass
class _Block:
    id: str
    parent: JSON
    type: str
    data: JSON
    created: float
    edited: float
    created_by: str
    edited_by: str
    in_trash: bool = False


@dataclass
class _Database:
    id: str
    parent: JSON
    title: list[JSON]
    created: float
    edited: float
    created_by: str
    edited_by: str
    description: list[JSON] = field(default_factory=list)
    data_sources: list[str] = field(default_factory=list)
    icon: Any = None
    cover: Any = None
    is_inline: bool = False
    is_locked: bool = False
    in_trash: bool = False


@dataclass
class _DataSource:
    id: str
    database_id: str
    title: list[JSON]
    properties: dict[str, JSON]  # property id -> schema, in column order
    created: float
    edited: float
    created_by: str
    edited_by: str
    description: list[JSON] = field(default_factory=list)
    icon: Any = None
    in_trash: bool = False
    next_unique_id: int = 1


@dataclass
class _BlockSpec:
    """A validated block from a request, not yet stored."""

    type: str
    data: JSON
    children: list[_BlockSpec]

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)


def _page_stamp(attr: str, page: _Page) -> float:
    return float(getattr(page, attr))


# -- the stand-in ---------------------------------------------------------------------


class NotionStandIn(StandIn):
    """The Notion API on a loopback port; `url` is the NOTION_API_URL setting."""

    name = "notion"

    def __init__(
        self,
        token: str = "secret_sandbox",
        *,
        rate: float | None = 3.0,
        burst: int = 10,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "ci-slackbot",
        workspace_name: str = "Sandbox workspace",
        owner_name: str = "Sandbox Owner",
        owner_email: str = "owner@example.org",
        page_url_base: str = "https://www.notion.so/",
        minute_timestamps: bool = False,
    ) -> None:
        self.tokens: set[str] = {token}
        self.token = token
        self.rate = rate
        self.burst = burst
        self.page_url_base = page_url_base
        self.minute_timestamps = minute_timestamps
        self.workspace_id = _new_id()
        self.workspace_name = workspace_name
        self._buckets: dict[str, TokenBucket] = {}
        self._users: dict[str, _User] = {}
        self._pages: dict[str, _Page] = {}
        self._blocks: dict[str, _Block] = {}
        self._databases: dict[str, _Database] = {}
        self._data_sources: dict[str, _DataSource] = {}
        # Ordered children of every page and block: blocks, child pages and inline databases.
        self._children: dict[str, list[str]] = {}
        self._last_stamp = 0.0
        self._rich = _RichText(self._describe_mention)
        # Kept apart from the base log, which is written only after the answer is sent:
        # a test reading counts right after its call returns must see that call.
        self._seen: list[tuple[str, str, int]] = []
        self._throttled = 0
        self._overloaded = 0
        # Each Notion-Version header received, with how often: tests check the app pins its version.
        self.versions_seen: dict[str, int] = {}
        # Its own generator: the module's is shared with the tests (hypothesis warns when a thread draws on it).
        self._random = random.Random()
        self._version = 0
        self._changed = threading.Condition(threading.Lock())
        super().__init__(host, port)
        self.bot_id = self._add_user(_User(_new_id(), bot_name, "bot"))
        # The person who owns the workspace: seeded content is theirs.
        self.owner_id = self._add_user(_User(_new_id(), owner_name, "person", owner_email))

    # Narrowed return types, so callers get a NotionStandIn without a cast.
    def start(self) -> NotionStandIn:
        super().start()
        return self

    def __enter__(self) -> NotionStandIn:
        return self.start()

    # -- routing ----------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Handler]]:
        table: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", r"/v1/users", self._list_users),
            ("GET", r"/v1/users/me", self._users_me),
            ("GET", r"/v1/users/(?P<user_id>[^/]+)", self._get_user),
            ("POST", r"/v1/pages", self._create_page),
            ("GET", r"/v1/pages/(?P<page_id>[^/]+)", self._get_page),
            ("PATCH", r"/v1/pages/(?P<page_id>[^/]+)", self._update_page),
            ("GET", r"/v1/pages/(?P<page_id>[^/]+)/properties/(?P<property_id>[^/]+)", self._get_page_property),
            ("GET", r"/v1/pages/(?P<page_id>[^/]+)/markdown", self._get_markdown),
            ("PATCH", r"/v1/pages/(?P<page_id>[^/]+)/markdown", self._update_markdown),
            ("POST", r"/v1/databases", self._create_database),
            ("GET", r"/v1/databases/(?P<database_id>[^/]+)", self._get_database),
            ("PATCH", r"/v1/databases/(?P<database_id>[^/]+)", self._update_database),
            ("POST", r"/v1/data_sources", self._create_data_source),
            ("GET", r"/v1/data_sources/(?P<data_source_id>[^/]+)", self._get_data_source),
            ("PATCH", r"/v1/data_sources/(?P<data_source_id>[^/]+)", self._update_data_source),
            ("POST", r"/v1/data_sources/(?P<data_source_id>[^/]+)/query", self._query_data_source),
            ("GET", r"/v1/data_sources/(?P<data_source_id>[^/]+)/templates", self._list_templates),
            ("GET", r"/v1/blocks/(?P<block_id>[^/]+)", self._get_block),
            ("PATCH", r"/v1/blocks/(?P<block_id>[^/]+)", self._update_block),
            ("DELETE", r"/v1/blocks/(?P<block_id>[^/]+)", self._delete_block),
            ("GET", r"/v1/blocks/(?P<block_id>[^/]+)/children", self._list_children),
            ("PATCH", r"/v1/blocks/(?P<block_id>[^/]+)/children", self._append_children),
            ("POST", r"/v1/search", self._search),
        ]
        routes: list[tuple[str, str, Handler]] = [(method, path, self._guarded(fn)) for method, path, fn in table]
        # Anything else is a URL the live API does not know: 400, not 404.
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            routes.append((method, r"/.*", self._guarded(self._unknown_url)))
        return routes

    def _guarded(self, fn: Callable[..., Response]) -> Handler:
        @functools.wraps(fn)
        def handler(request: Request, **params: str) -> Response:
            try:
                with self.lock:
                    return fn(request, **params)
            except NotionAPIError as error:
                return self._error(error.status, error.code, error.message)

        return handler

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        with self._changed:
            self._seen.append((request.method, request.path, response.status))
            if response.status == 429:
                self._throttled += 1
            if response.status == 529:
                self._overloaded += 1
            self._version += 1
            self._changed.notify_all()
        return response

    def before(self, request: Request) -> Response | None:
        version = request.headers.get("notion-version")
        with self.lock:
            self.versions_seen[str(version)] = self.versions_seen.get(str(version), 0) + 1
        if not version:
            return self._error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, "
                "instead was `undefined`.",
            )
        if version not in SUPPORTED_VERSIONS:
            return self._error(
                400,
                "validation_error",
                f"Notion-Version header failed validation: this stand-in answers as {API_VERSION}, "
                f"instead was `{version}`.",
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            return self._error(401, "unauthorized", "API token is invalid.")
        if self.rate is not None:
            with self.lock:
                bucket = self._buckets.setdefault(token, TokenBucket(self.rate, self.burst))
            wait = bucket.take()
            if wait > 0:
                return self.throttled_response(wait)
        if len(request.body) > MAX_BODY_BYTES:
            return self._error(400, "validation_error", f"Request body too large: limit is {MAX_BODY_BYTES} bytes.")
        return None

    # -- error shapes -----------------------------------------------------------------

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {"object": "error", "status": status, "code": code, "message": message, "request_id": _new_id()}
        return Response(status, body, dict(headers or {}))

    def error_response(self, status: int, message: str) -> Response:
        if status == 502:
            # A 502 comes from the edge proxy, not the API: an HTML page that
            # notion_client turns into UnknownHTTPResponseError (notion-sdk-js#457).
            page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(502, page, {"Content-Type": "text/html"})
        codes = {
            400: ("validation_error", "Invalid request."),
            401: ("unauthorized", "API token is invalid."),
            403: ("restricted_resource", "Insufficient permissions for this endpoint."),
            404: ("object_not_found", "Could not find the requested object."),
            409: ("conflict_error", "Conflict occurred while saving. Please try again."),
            429: ("rate_limited", "You have been rate limited. Please try again in a few minutes."),
            500: ("internal_server_error", "Unexpected error occurred."),
            503: ("service_unavailable", "Notion is unavailable, please try again later."),
            504: ("gateway_timeout", "Notion timed out while completing this request."),
            529: ("service_overload", "Notion is overloaded, please try again later."),
        }
        fallback = ("invalid_request", message) if status < 500 else ("internal_server_error", message)
        code, default = codes.get(status, fallback)
        return self._error(status, code, default if message == "injected fault" else message)

    def overloaded_response(self, retry_after: float) -> Response:
        # 529 service_overload, "Notion is overloaded, please try again later", with Retry-After
        # (developers.notion.com/reference/request-limits and /reference/status-codes).
        return self._error(
            529, "service_overload", "Notion is overloaded, please try again later.", retry_after_header(retry_after)
        )

    def throttled_response(self, retry_after: float) -> Response:
        return self._error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
            retry_after_header(retry_after),
        )

    def _ok(self, body: JSON) -> Response:
        return Response(200, {**body, "request_id": _new_id()})

    def _unknown_url(self, request: Request) -> Response:
        raise NotionAPIError(400, "invalid_request_url", "Invalid request URL.")

    # -- helpers ----------------------------------------------------------------------

    def _body(self, request: Request) -> JSON:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise NotionAPIError(400, "invalid_json", "Error parsing JSON body.") from None
        if not isinstance(body, dict):
            raise _body_invalid(f"body should be an object, instead was `{_show(body)}`.")
        return body

    def _path_id(self, raw: str, name: str) -> str:
        object_id = normalize_id(unquote(raw))
        if object_id is None:
            raise _invalid(
                f'path failed validation: path.{name} should be a valid uuid, instead was `"{unquote(raw)}"`.'
            )
        return object_id

    def _stamp(self) -> float:
        # Strictly increasing, so two edits in the same millisecond still differ.
        now = round(time.time(), 3)
        if now <= self._last_stamp:
            now = round(self._last_stamp + 0.001, 3)
        self._last_stamp = now
        return now

    def _time(self, stamp: float) -> str:
        return _iso(stamp, minute=self.minute_timestamps)

    def _add_user(self, user: _User) -> str:
        self._users[user.id] = user
        return user.id

    def _user_ref(self, user_id: str) -> JSON:
        return {"object": "user", "id": user_id}

    def _user_json(self, user: _User) -> JSON:
        if user.kind == "bot":
            return {
                "object": "user",
                "id": user.id,
                "name": user.name,
                "avatar_url": None,
                "type": "bot",
                "bot": {
                    "owner": {"type": "workspace", "workspace": True},
                    "workspace_name": self.workspace_name,
                    "workspace_id": self.workspace_id,
                    "workspace_limits": {"max_file_upload_size_in_bytes": 5242880},
                },
            }
        return {
            "object": "user",
            "id": user.id,
            "name": user.name,
            "avatar_url": None,
            "type": "person",
            "person": {"email": user.email, "email_verified": True},
        }

    def _describe_mention(self, mention: JSON) -> tuple[str, str | None]:
        kind = mention.get("type")
        target = mention.get(kind) if isinstance(kind, str) else None
        target_id = normalize_id(target.get("id")) if isinstance(target, dict) else None
        if kind == "user" and target_id:
            user = self._users.get(target_id)
            return f"@{user.name if user else 'Anonymous'}", None
        if kind == "page" and target_id:
            page = self._pages.get(target_id)
            return (self._page_title(page) or "Untitled", self._page_url(page)) if page else ("Untitled", None)
        if kind == "database" and target_id:
            database = self._databases.get(target_id)
            return (_plain(database.title) or "Untitled") if database else "Untitled", None
        if kind == "date" and isinstance(target, dict):
            start, end = target.get("start") or "", target.get("end")
            return (f"{start} → {end}" if end else str(start)), None
        return "", None

    def _container(self, parent: JSON) -> str | None:
        return parent.get("page_id") or parent.get("block_id")

    def _attach(self, container: str | None, child_id: str, index: int | None = None) -> None:
        if container is None:
            return
        children = self._children.setdefault(container, [])
        children.insert(len(children) if index is None else index, child_id)

    def _detach(self, container: str | None, child_id: str) -> None:
        if container is not None and child_id in self._children.get(container, []):
            self._children[container].remove(child_id)

    def _live_children(self, container: str) -> list[str]:
        return [child for child in self._children.get(container, []) if not self._node_trashed(child)]

    def _node_trashed(self, node_id: str) -> bool:
        node = self._pages.get(node_id) or self._blocks.get(node_id) or self._databases.get(node_id)
        return bool(node and node.in_trash)

    def _effectively_trashed(self, node_id: str) -> bool:
        """Whether the node or anything it sits in is in the trash."""
        seen: set[str] = set()
        current: str | None = node_id
        while current and current not in seen:
            seen.add(current)
            if self._node_trashed(current):
                return True
            node: _Page | _Block | _Database | None = (
                self._pages.get(current) or self._blocks.get(current) or self._databases.get(current)
            )
            if node is None:
                return False
            if isinstance(node, _Page) and node.data_source_id:
                data_source = self._data_sources.get(node.data_source_id)
                if data_source is None or data_source.in_trash:
                    return True
                current = data_source.database_id
            else:
                current = self._container(node.parent)
        return False

    def _touch(self, node_id: str | None, user_id: str) -> None:
        """Mark an edit on a block and on the page that holds it."""
        stamp = self._stamp()
        seen: set[str] = set()
        while node_id and node_id not in seen:
            seen.add(node_id)
            if node_id in self._pages:
                page = self._pages[node_id]
                page.edited, page.edited_by = stamp, user_id
                return
            block = self._blocks.get(node_id)
            if block is None:
                database = self._databases.get(node_id)
                if database is not None:
                    database.edited, database.edited_by = stamp, user_id
                return
            block.edited, block.edited_by = stamp, user_id
            node_id = self._container(block.parent)

    # -- JSON of stored objects -------------------------------------------------------

    def _page_title(self, page: _Page) -> str:
        for prop_id, prop in self._schema(page).items():
            if prop["type"] == "title":
                return _plain(page.values.get(prop_id))
        return ""

    def _page_url(self, page: _Page) -> str:
        slug = _slug(self._page_title(page))
        hex_id = page.id.replace("-", "")
        return f"{self.page_url_base}{slug}-{hex_id}" if slug else f"{self.page_url_base}{hex_id}"

    def _database_url(self, database: _Database) -> str:
        return f"{self.page_url_base}{database.id.replace('-', '')}"

    def _schema(self, page: _Page) -> dict[str, JSON]:
        if page.data_source_id is None:
            return _PAGE_SCHEMA
        return self._data_sources[page.data_source_id].properties

    def _empty_value(self, prop: JSON) -> Any:
        kind = prop["type"]
        if kind in _LIST_TYPES:
            return []
        if kind == "checkbox":
            return False
        if kind == "status":
            options = prop["status"].get("options", [])
            return copy.deepcopy(options[0]) if options else None
        return None

    def _value_json(self, page: _Page, prop: JSON) -> JSON:
        kind = prop["type"]
        value: Any
        if kind == "created_time":
            value = self._time(page.created)
        elif kind == "last_edited_time":
            value = self._time(page.edited)
        elif kind == "created_by":
            value = self._user_ref(page.created_by)
        elif kind == "last_edited_by":
            value = self._user_ref(page.edited_by)
        elif prop["id"] in page.values:
            value = copy.deepcopy(page.values[prop["id"]])
        else:
            value = self._empty_value(prop)
        if kind == "people":
            value = [self._user_json(self._users[p["id"]]) if p["id"] in self._users else p for p in value]
        result = {"id": prop["id"], "type": kind, kind: value}
        if kind == "relation":
            result["has_more"] = False
        return result

    def _page_json(self, page: _Page, only: set[str] | None = None) -> JSON:
        properties = {
            prop["name"]: self._value_json(page, prop)
            for prop in self._schema(page).values()
            if only is None or prop["id"] in only
        }
        return {
            "object": "page",
            "id": page.id,
            "created_time": self._time(page.created),
            "last_edited_time": self._time(page.edited),
            "created_by": self._user_ref(page.created_by),
            "last_edited_by": self._user_ref(page.edited_by),
            "cover": copy.deepcopy(page.cover),
            "icon": copy.deepcopy(page.icon),
            "parent": copy.deepcopy(page.parent),
            "in_trash": page.in_trash,
            # Notion's separate "archive" state, which integrations cannot set.
            "is_archived": False,
            "is_locked": page.is_locked,
            "properties": properties,
            "url": self._page_url(page),
            "public_url": None,
            "archived": page.in_trash,
        }

    def _block_json(self, node_id: str) -> JSON:
        page = self._pages.get(node_id)
        database = self._databases.get(node_id)
        block = self._blocks.get(node_id)
        if page is not None:
            parent, kind, data = page.parent, "child_page", {"title": self._page_title(page)}
            created, edited, created_by, edited_by, trashed = (
                page.created,
                page.edited,
                page.created_by,
                page.edited_by,
                page.in_trash,
            )
        elif database is not None:
            parent, kind, data = database.parent, "child_database", {"title": _plain(database.title)}
            created, edited, created_by, edited_by, trashed = (
                database.created,
                database.edited,
                database.created_by,
                database.edited_by,
                database.in_trash,
            )
        elif block is not None:
            parent, kind, data = block.parent, block.type, block.data
            created, edited, created_by, edited_by, trashed = (
                block.created,
                block.edited,
                block.created_by,
                block.edited_by,
                block.in_trash,
            )
        else:
            raise _not_found("block", node_id)
        return {
            "object": "block",
            "id": node_id,
            "parent": copy.deepcopy(parent),
            "created_time": self._time(created),
            "last_edited_time": self._time(edited),
            "created_by": self._user_ref(created_by),
            "last_edited_by": self._user_ref(edited_by),
            "has_children": bool(self._live_children(node_id)) if kind != "child_database" else False,
            "in_trash": trashed,
            "type": kind,
            kind: copy.deepcopy(data),
            "archived": trashed,
        }

    def _database_json(self, database: _Database) -> JSON:
        return {
            "object": "database",
            "id": database.id,
            "title": copy.deepcopy(database.title),
            "description": copy.deepcopy(database.description),
            "parent": copy.deepcopy(database.parent),
            "is_inline": database.is_inline,
            "in_trash": database.in_trash,
            "is_locked": database.is_locked,
            "created_time": _iso(database.created, offset_style=True),
            "last_edited_time": _iso(database.edited, offset_style=True),
            "data_sources": [
                {"id": ds_id, "name": _plain(self._data_sources[ds_id].title)}
                for ds_id in database.data_sources
                if not self._data_sources[ds_id].in_trash
            ],
            "icon": copy.deepcopy(database.icon),
            "cover": copy.deepcopy(database.cover),
            "url": self._database_url(database),
            "public_url": None,
            "archived": database.in_trash,
        }

    def _data_source_json(self, data_source: _DataSource) -> JSON:
        database = self._databases[data_source.database_id]
        return {
            "object": "data_source",
            "id": data_source.id,
            "cover": None,
            "icon": copy.deepcopy(data_source.icon),
            "created_time": self._time(data_source.created),
            "created_by": self._user_ref(data_source.created_by),
            "last_edited_by": self._user_ref(data_source.edited_by),
            "last_edited_time": self._time(data_source.edited),
            "title": copy.deepcopy(data_source.title),
            "description": copy.deepcopy(data_source.description),
            "is_inline": database.is_inline,
            "properties": {prop["name"]: copy.deepcopy(prop) for prop in data_source.properties.values()},
            "parent": {"type": "database_id", "database_id": database.id},
            "database_parent": copy.deepcopy(database.parent),
            "url": self._database_url(database),
            "public_url": None,
            "in_trash": data_source.in_trash,
            "archived": data_source.in_trash,
        }

    # -- lookups ----------------------------------------------------------------------

    def _page(self, page_id: str) -> _Page:
        page = self._pages.get(page_id)
        if page is None:
            raise _not_found("page", page_id)
        return page

    def _database(self, database_id: str) -> _Database:
        database = self._databases.get(database_id)
        if database is None:
            raise _not_found("database", database_id)
        return database

    def _data_source(self, data_source_id: str) -> _DataSource:
        data_source = self._data_sources.get(data_source_id)
        if data_source is None:
            raise _not_found("data_source", data_source_id)
        return data_source

    def _find_property(self, properties: dict[str, JSON], key: str) -> JSON | None:
        """A property by name or, failing that, by (possibly URL-encoded) ID."""
        for prop in properties.values():
            if prop["name"] == key:
                return prop
        return properties.get(key) or properties.get(unquote(key))

    # -- users ------------------------------------------------------------------------

    def _list_users(self, request: Request) -> Response:
        size = _page_size(request.arg("page_size"), "query")
        users = [(user.id, self._user_json(user)) for user in self._users.values() if user.kind == "person"]
        users += [(user.id, self._user_json(user)) for user in self._users.values() if user.kind == "bot"]
        listing = _paginate(users, request.arg("start_cursor"), size, "query")
        return self._ok({**listing, "type": "user", "user": {}})

    def _users_me(self, request: Request) -> Response:
        return self._ok(self._user_json(self._users[self.bot_id]))

    def _get_user(self, request: Request, user_id: str) -> Response:
        normal = self._path_id(user_id, "user_id")
        user = self._users.get(normal)
        if user is None:
            raise _not_found("user", normal)
        return self._ok(self._user_json(user))

    # -- schemas ----------------------------------------------------------------------

    def _property_id(self, existing: dict[str, JSON]) -> str:
        while True:
            candidate = "".join(self._random.choice(_PROPERTY_ID_CHARS) for _ in range(4))
            if candidate not in existing and candidate != "title":
                return candidate

    def _options(self, raw: Any, path: str, existing: list[JSON] | None = None) -> list[JSON]:
        if raw is None:
            return copy.deepcopy(existing or [])
        if not isinstance(raw, list):
            raise _body_invalid(f"{path} should be an array, instead was `{_show(raw)}`.")
        by_name = {option["name"]: option for option in existing or []}
        options = []
        for index, option in enumerate(raw):
            if not isinstance(option, dict) or not isinstance(option.get("name"), str):
                raise _body_invalid(f"{path}[{index}].name should be a string, instead was `{_show(option)}`.")
            known = by_name.get(option["name"])
            options.append(
                {
                    "id": known["id"] if known else option.get("id") or _new_id(),
                    "name": option["name"],
                    "color": option.get("color") or (known["color"] if known else "default"),
                    "description": option.get("description"),
                }
            )
        return options

    def _schema_type(self, raw: JSON, path: str) -> str | None:
        kind = raw.get("type")
        if kind is None:
            kinds = [key for key in raw if key in _PROPERTY_TYPES or key in _UNMODELLED_TYPES]
            if len(kinds) > 1:
                raise _body_invalid(f"{path} should have one property type, instead had `{_show(kinds)}`.")
            kind = kinds[0] if kinds else None
        if kind in _UNMODELLED_TYPES:
            raise _body_invalid(f"{path}.{kind}: the stand-in does not model `{kind}` properties.")
        if kind is not None and kind not in _PROPERTY_TYPES:
            raise _body_invalid(f"{path}.type should be a property type, instead was `{_show(kind)}`.")
        return kind

    def _schema_config(self, kind: str, raw: Any, path: str, previous: JSON | None) -> JSON:
        config = raw if raw is not None else {}
        if not isinstance(config, dict):
            raise _body_invalid(f"{path}.{kind} should be an object, instead was `{_show(config)}`.")
        old = previous.get(kind, {}) if previous and previous.get("type") == kind else {}
        if kind == "number":
            return {"format": config.get("format", old.get("format", "number"))}
        if kind in ("select", "multi_select"):
            return {"options": self._options(config.get("options"), f"{path}.{kind}.options", old.get("options"))}
        if kind == "status":
            base = old or {
                "options": self._options(_DEFAULT_STATUS["options"], path),
                "groups": copy.deepcopy(_DEFAULT_STATUS["groups"]),
            }
            options = self._options(config.get("options"), f"{path}.status.options", base["options"])
            by_name = {option["name"]: option["id"] for option in options}
            groups = [
                {
                    "id": group.get("id") or _new_id(),
                    "name": group["name"],
                    "color": group["color"],
                    "option_ids": [by_name[name] for name in group.get("option_names", []) if name in by_name]
                    or group.get("option_ids", []),
                }
                for group in base["groups"]
            ]
            return {"options": options, "groups": groups}
        if kind == "relation":
            target = normalize_id(config.get("data_source_id") or old.get("data_source_id"))
            if target is None or target not in self._data_sources:
                raise _body_invalid(f"{path}.relation.data_source_id should be the ID of a data source.")
            relation_type = config.get("type", old.get("type", "single_property"))
            return {
                "database_id": self._data_sources[target].database_id,
                "data_source_id": target,
                "type": relation_type,
                relation_type: copy.deepcopy(config.get(relation_type, {})),
            }
        if kind == "unique_id":
            return {"prefix": config.get("prefix", old.get("prefix"))}
        return {}

    def _new_schema(self, raw: Any, path: str) -> dict[str, JSON]:
        """A data source schema from request properties; adds a "Name" title when there is none."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise _body_invalid(f"{path} should be an object, instead was `{_show(raw)}`.")
        schema: dict[str, JSON] = {}
        for name, spec in raw.items():
            where = f"{path}.{name}"
            if not isinstance(spec, dict):
                raise _body_invalid(f"{where} should be an object, instead was `{_show(spec)}`.")
            kind = self._schema_type(spec, where)
            if kind is None:
                raise _body_invalid(f"{where} should define a property type, instead was `{_show(spec)}`.")
            if kind == "title" and any(prop["type"] == "title" for prop in schema.values()):
                raise _invalid("Cannot create a data source with more than one title property.")
            prop_id = "title" if kind == "title" else self._property_id(schema)
            schema[prop_id] = {
                "id": prop_id,
                "name": spec.get("name", name),
                "description": spec.get("description"),
                "type": kind,
                kind: self._schema_config(kind, spec.get(kind), where, None),
            }
        if not any(prop["type"] == "title" for prop in schema.values()):
            schema = {
                "title": {"id": "title", "name": "Name", "description": None, "type": "title", "title": {}},
                **schema,
            }
        return schema

    def _update_schema(self, data_source: _DataSource, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise _body_invalid(f"body.properties should be an object, instead was `{_show(raw)}`.")
        schema = copy.deepcopy(data_source.properties)
        dropped: set[str] = set()
        for key, spec in raw.items():
            where = f"body.properties.{key}"
            prop = self._find_property(schema, key)
            if spec is None:
                if prop is None:
                    raise _invalid(f"{key} is not a property that exists.")
                if prop["type"] == "title":
                    raise _invalid("Cannot delete the title property.")
                del schema[prop["id"]]
                dropped.add(prop["id"])
                continue
            if not isinstance(spec, dict):
                raise _body_invalid(f"{where} should be an object or `null`, instead was `{_show(spec)}`.")
            kind = self._schema_type(spec, where)
            if prop is None:
                if kind is None:
                    raise _invalid(f"{key} is not a property that exists.")
                if kind == "title":
                    raise _invalid("Cannot create a second title property.")
                prop_id = self._property_id(schema)
                prop = {"id": prop_id, "name": spec.get("name", key), "description": None, "type": kind}
                schema[prop_id] = prop
                previous = None
            else:
                previous = copy.deepcopy(prop)
                if kind is not None and kind != prop["type"]:
                    if "title" in (kind, prop["type"]):
                        raise _invalid("Cannot change the type of the title property.")
                    del prop[prop["type"]]
                    prop["type"] = kind
                    dropped.add(prop["id"])
            new_name = spec.get("name")
            if isinstance(new_name, str):
                clash = self._find_property(schema, new_name)
                if clash is not None and clash["id"] != prop["id"] and clash["name"] == new_name:
                    raise _invalid(f"A property named {new_name} already exists.")
                prop["name"] = new_name
            if "description" in spec:
                prop["description"] = spec["description"]
            kind = prop["type"]
            if kind in spec or previous is None or kind not in prop:
                prop[kind] = self._schema_config(kind, spec.get(kind), where, previous)
        data_source.properties = schema
        for page in self._pages.values():
            if page.data_source_id == data_source.id:
                for prop_id in dropped:
                    page.values.pop(prop_id, None)

    # -- property values --------------------------------------------------------------

    def _values(self, schema: dict[str, JSON], raw: Any, data_source: _DataSource | None) -> JSON:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise _body_invalid(f"body.properties should be an object, instead was `{_show(raw)}`.")
        values: JSON = {}
        for key, given in raw.items():
            prop = self._find_property(schema, key)
            if prop is None:
                raise _invalid(f"{key} is not a property that exists.")
            values[prop["id"]] = self._value(prop, key, given, f"body.properties.{key}", data_source)
        return values

    def _value(self, prop: JSON, key: str, given: Any, path: str, data_source: _DataSource | None) -> Any:
        kind = prop["type"]
        if kind in _COMPUTED_TYPES:
            raise _invalid(f"{key} is a {kind} property, which cannot be set.")
        # Either the full form ({"Status": {"select": {...}}}) or, as the live API
        # also takes, the bare value ({"Name": [...]}, {"Count": 3}).
        if isinstance(given, dict):
            if kind not in given or given.get("type") not in (None, kind):
                raise _invalid(f"{key} is expected to be {kind}.")
            inner = given[kind]
            path = f"{path}.{kind}"
        else:
            inner = given
        if kind in ("title", "rich_text"):
            return self._rich.array(inner, path)
        if kind == "number":
            if inner is not None and (isinstance(inner, bool) or not isinstance(inner, int | float)):
                raise _body_invalid(f"{path} should be a number or `null`, instead was `{_show(inner)}`.")
            return inner
        if kind == "checkbox":
            if not isinstance(inner, bool):
                raise _body_invalid(f"{path} should be a boolean, instead was `{_show(inner)}`.")
            return inner
        if kind in ("url", "email", "phone_number"):
            if inner is None:
                return None
            if not isinstance(inner, str):
                raise _body_invalid(f"{path} should be a string or `null`, instead was `{_show(inner)}`.")
            _check_length(inner, {"url": MAX_URL, "email": MAX_EMAIL, "phone_number": MAX_PHONE}[kind], path)
            return inner
        if kind in ("select", "status"):
            if inner is None:
                return None
            return self._option_value(prop, inner, path, data_source)
        if kind == "multi_select":
            items = self._array(inner, path)
            return [self._option_value(prop, item, f"{path}[{i}]", data_source) for i, item in enumerate(items)]
        if kind == "date":
            return self._date_value(inner, path)
        if kind in ("people", "relation"):
            refs = []
            for index, item in enumerate(self._array(inner, path)):
                ref_id = normalize_id(item.get("id")) if isinstance(item, dict) else None
                if ref_id is None:
                    raise _body_invalid(f"{path}[{index}].id should be a valid uuid, instead was `{_show(item)}`.")
                refs.append({"object": "user", "id": ref_id} if kind == "people" else {"id": ref_id})
            return refs
        if kind == "files":
            return copy.deepcopy(self._array(inner, path))
        raise _invalid(f"{key} is expected to be {kind}.")

    def _array(self, raw: Any, path: str) -> list[Any]:
        if not isinstance(raw, list):
            raise _body_invalid(f"{path} should be an array, instead was `{_show(raw)}`.")
        if len(raw) > MAX_ARRAY:
            raise _body_invalid(f"{path}.length should be ≤ `{MAX_ARRAY}`, instead was `{len(raw)}`.")
        return raw

    def _option_value(self, prop: JSON, raw: Any, path: str, data_source: _DataSource | None) -> JSON:
        kind = prop["type"]
        if not isinstance(raw, dict) or not (isinstance(raw.get("name"), str) or isinstance(raw.get("id"), str)):
            raise _body_invalid(f"{path} should be an object with a `name` or an `id`, instead was `{_show(raw)}`.")
        options: list[JSON] = prop[kind]["options"]
        for option in options:
            if option["id"] == raw.get("id") or option["name"] == raw.get("name"):
                return {"id": option["id"], "name": option["name"], "color": option["color"]}
        if kind == "status" or raw.get("name") is None:
            wanted = raw.get("name") or raw.get("id")
            raise _invalid(f'Invalid {kind} option. {kind.capitalize()} option "{wanted}" does not exist.')
        # Unknown select names become new options, as in the live API.
        option = {"id": _new_id(), "name": raw["name"], "color": raw.get("color") or "default", "description": None}
        options.append(option)
        if data_source is not None:
            data_source.edited = self._stamp()
        return {"id": option["id"], "name": option["name"], "color": option["color"]}

    def _date_value(self, raw: Any, path: str) -> JSON | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or _parse_when(raw.get("start")) is None:
            raise _body_invalid(f"{path}.start should be an ISO 8601 date, instead was `{_show(raw)}`.")
        end = raw.get("end")
        if end is not None and _parse_when(end) is None:
            raise _body_invalid(f"{path}.end should be an ISO 8601 date or `null`, instead was `{_show(end)}`.")
        return {"start": raw["start"], "end": end, "time_zone": raw.get("time_zone")}

    # -- blocks from requests ---------------------------------------------------------

    def _specs(self, raw: Any, path: str) -> list[_BlockSpec]:
        if not isinstance(raw, list):
            raise _body_invalid(f"{path} should be an array, instead was `{_show(raw)}`.")
        if len(raw) > MAX_CHILDREN:
            raise _body_invalid(f"{path}.length should be ≤ `{MAX_CHILDREN}`, instead was `{len(raw)}`.")
        specs = [self._spec(item, f"{path}[{index}]", 1) for index, item in enumerate(raw)]
        total = sum(spec.count() for spec in specs)
        if total > MAX_BLOCKS_PER_REQUEST:
            raise _invalid(f"A request can create at most {MAX_BLOCKS_PER_REQUEST} blocks, instead was {total}.")
        return specs

    def _spec(self, raw: Any, path: str, depth: int) -> _BlockSpec:
        if not isinstance(raw, dict):
            raise _body_invalid(f"{path} should be an object, instead was `{_show(raw)}`.")
        kind = raw.get("type")
        if kind is None:
            kinds = [key for key in raw if key in _BLOCK_TYPES or key in ("child_page", "child_database")]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind in ("child_page", "child_database"):
            raise _body_invalid(
                f"{path}.{kind} should be not present; create pages and databases with their own endpoints."
            )
        if kind not in _BLOCK_TYPES:
            raise _body_invalid(
                f"{path} should be a block object with one known block type, instead was `{_show(raw)}`."
            )
        for key, value in raw.items():
            # The live API refuses read-only fields echoed back (archived, has_children...).
            if key not in ("object", "type", kind):
                raise _body_invalid(f"{path}.{key} should be not present, instead was `{_show(value)}`.")
        payload = raw.get(kind, {})
        if not isinstance(payload, dict):
            raise _body_invalid(f"{path}.{kind} should be an object, instead was `{_show(payload)}`.")
        data = self._block_data(kind, payload, f"{path}.{kind}", None)
        children: list[_BlockSpec] = []
        nested = payload.get("children")
        if nested is not None:
            where = f"{path}.{kind}.children"
            if kind not in _CAN_HAVE_CHILDREN:
                raise _body_invalid(f"{where} should be not present: a {kind} block cannot have children.")
            if depth >= MAX_NESTING:
                raise _body_invalid(f"{where} should be not present: requests nest at most {MAX_NESTING} levels.")
            if not isinstance(nested, list):
                raise _body_invalid(f"{where} should be an array, instead was `{_show(nested)}`.")
            if len(nested) > MAX_CHILDREN:
                raise _body_invalid(f"{where}.length should be ≤ `{MAX_CHILDREN}`, instead was `{len(nested)}`.")
            children = [self._spec(child, f"{where}[{index}]", depth + 1) for index, child in enumerate(nested)]
        return _BlockSpec(kind, data, children)

    def _block_data(self, kind: str, payload: JSON, path: str, previous: JSON | None) -> JSON:
        if kind in _TEXT_BLOCKS:
            data = copy.deepcopy(previous) if previous else {"rich_text": [], **copy.deepcopy(_TEXT_BLOCKS[kind])}
            if "rich_text" in payload:
                data["rich_text"] = self._rich.array(payload["rich_text"], f"{path}.rich_text")
            elif previous is None:
                raise _body_invalid(f"{path}.rich_text should be defined, instead was `undefined`.")
        else:
            data = copy.deepcopy(previous) if previous else copy.deepcopy(_OTHER_BLOCKS[kind])
        for key, value in payload.items():
            if key in ("rich_text", "children"):
                continue
            if key == "caption":
                data["caption"] = self._rich.array(value, f"{path}.caption")
            elif key == "expression":
                if not isinstance(value, str):
                    raise _body_invalid(f"{path}.expression should be a string, instead was `{_show(value)}`.")
                _check_length(value, MAX_EQUATION, f"{path}.expression")
                data["expression"] = value
            elif key == "url":
                if not isinstance(value, str):
                    raise _body_invalid(f"{path}.url should be a string, instead was `{_show(value)}`.")
                _check_length(value, MAX_URL, f"{path}.url")
                data["url"] = value
            elif key == "cells":
                cells = self._array(value, f"{path}.cells")
                data["cells"] = [self._rich.array(cell, f"{path}.cells[{i}]") for i, cell in enumerate(cells)]
            else:
                data[key] = copy.deepcopy(value)
        return data

    def _store_blocks(
        self, container: str, parent: JSON, specs: list[_BlockSpec], index: int | None, user: str
    ) -> list[str]:
        created: list[str] = []
        for offset, spec in enumerate(specs):
            stamp = self._stamp()
            block = _Block(_new_id(), copy.deepcopy(parent), spec.type, spec.data, stamp, stamp, user, user)
            self._blocks[block.id] = block
            self._attach(container, block.id, None if index is None else index + offset)
            if spec.children:
                self._store_blocks(block.id, {"type": "block_id", "block_id": block.id}, spec.children, None, user)
            created.append(block.id)
        return created

    def _parent_of_children(self, container: str) -> JSON:
        if container in self._pages:
            return {"type": "page_id", "page_id": container}
        return {"type": "block_id", "block_id": container}

    def _block_parent_check(self, container: str) -> None:
        if container in self._pages:
            if self._pages[container].in_trash:
                raise _archived_error()
            return
        block = self._blocks.get(container)
        if block is None:
            raise _not_found("block", container)
        if block.in_trash:
            raise _archived_error()
        if block.type not in _CAN_HAVE_CHILDREN:
            raise _invalid(f"Block type {block.type} does not support children.")

    def _trash_children(self, container: str, user: str) -> None:
        for child in self._live_children(container):
            node = self._blocks.get(child) or self._pages.get(child) or self._databases.get(child)
            if node is not None:
                node.in_trash = True
                node.edited, node.edited_by = self._stamp(), user

    # -- markdown ---------------------------------------------------------------------

    def _render(self, container: str, depth: int, unknown: list[str]) -> list[tuple[str, str]]:
        """(block id, markdown) for each live child, children indented below their parent."""
        out: list[tuple[str, str]] = []
        numbered = 0
        for child in self._live_children(container):
            indent = "\t" * depth
            text = self._render_one(child, unknown)
            numbered = numbered + 1 if child in self._blocks and self._blocks[child].type == "numbered_list_item" else 0
            if numbered:
                text = f"{numbered}. " + text[3:]
            lines = [indent + line for line in text.split("\n")]
            out.append((child, "\n".join(lines)))
            if child in self._blocks:
                out += self._render(child, depth + 1, unknown)
        return out

    def _render_one(self, node_id: str, unknown: list[str]) -> str:
        if node_id in self._pages:
            page = self._pages[node_id]
            return f'<page url="{self._page_url(page)}">{self._page_title(page)}</page>'
        if node_id in self._databases:
            database = self._databases[node_id]
            return f'<database url="{self._database_url(database)}">{_plain(database.title)}</database>'
        block = self._blocks[node_id]
        data, kind = block.data, block.type
        text = _inline_render(data.get("rich_text", []))
        if kind == "paragraph":
            return text
        if kind.startswith("heading_"):
            return "#" * int(kind[-1]) + " " + text
        if kind == "bulleted_list_item":
            return "- " + text
        if kind == "numbered_list_item":
            return "1. " + text
        if kind == "to_do":
            return ("- [x] " if data.get("checked") else "- [ ] ") + text
        if kind in ("quote", "callout", "toggle"):
            return "> " + text
        if kind == "code":
            language = data.get("language", "plain text")
            return f"```{'' if language == 'plain text' else language}\n{_plain(data['rich_text'])}\n```"
        if kind == "divider":
            return "---"
        if kind == "equation":
            return f"$$ {data.get('expression', '')} $$"
        unknown.append(node_id)
        return f'<unknown alt="{kind}"/>'

    def _markdown_json(self, page: _Page) -> JSON:
        unknown: list[str] = []
        rendered = self._render(page.id, 0, unknown)
        return {
            "object": "page_markdown",
            "id": page.id,
            "markdown": "\n".join(text for _, text in rendered),
            "truncated": False,
            "unknown_block_ids": unknown,
        }

    def _markdown_specs(self, markdown: Any, path: str) -> list[_BlockSpec]:
        if not isinstance(markdown, str):
            raise _body_invalid(f"{path} should be a string, instead was `{_show(markdown)}`.")
        blocks = _markdown_blocks(markdown)
        specs = [self._spec(block, f"{path}[{index}]", 0) for index, block in enumerate(blocks)]
        total = sum(spec.count() for spec in specs)
        if total > MAX_BLOCKS_PER_REQUEST:
            raise _invalid(f"A request can create at most {MAX_BLOCKS_PER_REQUEST} blocks, instead was {total}.")
        return specs

    def _replace_content(self, page: _Page, markdown: str, path: str, user: str) -> None:
        specs = self._markdown_specs(markdown, path)
        self._trash_children(page.id, user)
        self._store_blocks(page.id, self._parent_of_children(page.id), specs, None, user)

    # -- pages ------------------------------------------------------------------------

    def _resolve_page_parent(self, raw: Any) -> tuple[JSON, str | None]:
        """The stored parent of a new page and its data source, from a request's `parent`."""
        if not isinstance(raw, dict):
            raise _body_invalid(f"body.parent should be an object, instead was `{_show(raw)}`.")
        kind = raw.get("type") or next(
            (k for k in ("page_id", "data_source_id", "database_id", "workspace") if k in raw), None
        )
        if kind == "workspace":
            return {"type": "workspace", "workspace": True}, None
        if kind not in ("page_id", "data_source_id", "database_id"):
            raise _body_invalid(
                f"body.parent should have a `page_id` or a `data_source_id`, instead was `{_show(raw)}`."
            )
        target = normalize_id(raw.get(kind))
        if target is None:
            raise _body_invalid(f"body.parent.{kind} should be a valid uuid, instead was `{_show(raw.get(kind))}`.")
        if kind == "page_id":
            parent_page = self._page(target)
            if parent_page.in_trash:
                raise _archived_error()
            return {"type": "page_id", "page_id": target}, None
        if kind == "database_id":
            database = self._database(target)
            live = [ds for ds in database.data_sources if not self._data_sources[ds].in_trash]
            if len(live) != 1:
                raise _invalid(
                    "Databases with multiple data sources are not supported in this API version: "
                    "use a `data_source_id` parent."
                )
            data_source = self._data_sources[live[0]]
        else:
            data_source = self._data_source(target)
        if data_source.in_trash or self._databases[data_source.database_id].in_trash:
            raise _archived_error()
        return {
            "type": "data_source_id",
            "data_source_id": data_source.id,
            "database_id": data_source.database_id,
        }, data_source.id

    def _new_page(self, body: JSON, user: str, page_id: str | None = None) -> _Page:
        parent, data_source_id = self._resolve_page_parent(body.get("parent"))
        data_source = self._data_sources.get(data_source_id) if data_source_id else None
        schema = data_source.properties if data_source else _PAGE_SCHEMA
        values = self._values(schema, body.get("properties"), data_source)
        if "children" in body and "markdown" in body:
            raise _body_invalid("body.markdown should be not present when body.children is.")
        raw_children = body.get("children", body.get("content"))
        specs = self._specs(raw_children, "body.children") if raw_children is not None else []
        if isinstance(body.get("markdown"), str):
            specs = self._markdown_specs(body["markdown"], "body.markdown")
            title_id = next(pid for pid, prop in schema.items() if prop["type"] == "title")
            if not values.get(title_id) and specs and specs[0].type == "heading_1":
                values[title_id] = specs.pop(0).data["rich_text"]
        stamp = self._stamp()
        page = _Page(page_id or _new_id(), parent, data_source_id, values, stamp, stamp, user, user)
        if data_source is not None:
            for prop in data_source.properties.values():
                if prop["type"] == "unique_id":
                    page.values[prop["id"]] = {
                        "prefix": prop["unique_id"].get("prefix"),
                        "number": data_source.next_unique_id,
                    }
            data_source.next_unique_id += 1
        if "icon" in body:
            page.icon = copy.deepcopy(body["icon"])
        if "cover" in body:
            page.cover = copy.deepcopy(body["cover"])
        self._pages[page.id] = page
        container = self._container(parent)
        self._attach(container, page.id)
        self._store_blocks(page.id, {"type": "page_id", "page_id": page.id}, specs, None, user)
        if container is not None:
            self._touch(container, user)
        return page

    def _create_page(self, request: Request) -> Response:
        page = self._new_page(self._body(request), self.bot_id)
        return self._ok(self._page_json(page))

    def _filter_properties(self, request: Request) -> set[str] | None:
        wanted = request.query.get("filter_properties")
        return {unquote(item) for item in wanted} if wanted else None

    def _get_page(self, request: Request, page_id: str) -> Response:
        page = self._page(self._path_id(page_id, "page_id"))
        return self._ok(self._page_json(page, self._filter_properties(request)))

    def _update_page(self, request: Request, page_id: str) -> Response:
        page = self._page(self._path_id(page_id, "page_id"))
        body = self._body(request)
        trash = body.get("in_trash", body.get("archived"))
        if trash is not None and not isinstance(trash, bool):
            raise _body_invalid(f"body.in_trash should be a boolean, instead was `{_show(trash)}`.")
        if page.in_trash and trash is not False and set(body) - {"in_trash", "archived"}:
            raise _archived_error()
        data_source = self._data_sources.get(page.data_source_id) if page.data_source_id else None
        values = self._values(self._schema(page), body.get("properties"), data_source)
        page.values.update(values)
        if "icon" in body:
            page.icon = copy.deepcopy(body["icon"])
        if "cover" in body:
            page.cover = copy.deepcopy(body["cover"])
        if isinstance(body.get("is_locked"), bool):
            page.is_locked = body["is_locked"]
        if body.get("erase_content") is True:
            self._trash_children(page.id, self.bot_id)
        if trash is not None:
            page.in_trash = trash
        self._touch(page.id, self.bot_id)
        return self._ok(self._page_json(page))

    def _get_page_property(self, request: Request, page_id: str, property_id: str) -> Response:
        page = self._page(self._path_id(page_id, "page_id"))
        prop = self._find_property(self._schema(page), unquote(property_id))
        if prop is None:
            raise _not_found("property", unquote(property_id))
        value = self._value_json(page, prop)
        kind = prop["type"]
        if kind not in ("title", "rich_text", "people", "relation"):
            return self._ok({"object": "property_item", "id": prop["id"], "type": kind, kind: value[kind]})
        items = [
            (f"{prop['id']}-{index}", {"object": "property_item", "type": kind, "id": prop["id"], kind: item})
            for index, item in enumerate(value[kind])
        ]
        size = _page_size(request.arg("page_size"), "query")
        cursor = request.arg("start_cursor") or "0"
        if not cursor.isdigit():
            raise _invalid("query failed validation: query.start_cursor should be a valid cursor.")
        start = int(cursor)
        window = items[start : start + size]
        more = start + size < len(items)
        return self._ok(
            {
                "object": "list",
                "results": [body for _, body in window],
                "next_cursor": str(start + size) if more else None,
                "has_more": more,
                "type": "property_item",
                "property_item": {"id": prop["id"], "next_url": None, "type": kind, kind: {}},
            }
        )

    def _get_markdown(self, request: Request, page_id: str) -> Response:
        return self._ok(self._markdown_json(self._page(self._path_id(page_id, "page_id"))))

    def _update_markdown(self, request: Request, page_id: str) -> Response:
        page = self._page(self._path_id(page_id, "page_id"))
        if page.in_trash:
            raise _archived_error()
        body = self._body(request)
        kind = body.get("type")
        command = body.get(kind) if isinstance(kind, str) else None
        if not isinstance(command, dict):
            raise _body_invalid(f"body.{kind} should be an object, instead was `{_show(command)}`.")
        user = self.bot_id
        current = self._markdown_json(page)["markdown"]
        if kind == "replace_content":
            self._replace_content(page, command.get("new_str", ""), "body.replace_content.new_str", user)
        elif kind == "update_content":
            text = current
            for index, update in enumerate(
                self._array(command.get("content_updates"), "body.update_content.content_updates")
            ):
                old, new = update.get("old_str"), update.get("new_str")
                if not isinstance(old, str) or not isinstance(new, str) or old not in text:
                    raise _invalid(f"body.update_content.content_updates[{index}].old_str was not found in the page.")
                text = text.replace(old, new) if update.get("replace_all_matches") else text.replace(old, new, 1)
            self._replace_content(page, text, "body.update_content", user)
        elif kind == "replace_content_range":
            found = _select_range(current, str(command.get("content_range", "")))
            if found is None:
                raise _invalid("body.replace_content_range.content_range was not found in the page.")
            text = current[: found[0]] + str(command.get("content", "")) + current[found[1] :]
            self._replace_content(page, text, "body.replace_content_range.content", user)
        elif kind == "insert_content":
            specs = self._markdown_specs(command.get("content"), "body.insert_content.content")
            top = self._live_children(page.id)
            index = len(self._children.get(page.id, []))
            position = command.get("position") or {}
            if isinstance(position, dict) and position.get("type") == "start":
                index = 0
            elif isinstance(command.get("after"), str):
                found = _select_range(current, command["after"])
                if found is None:
                    raise _invalid("body.insert_content.after was not found in the page.")
                offset, anchor = 0, None
                for node_id, text in self._render(page.id, 0, []):
                    if node_id in top:
                        anchor = node_id
                    offset += len(text) + 1
                    if offset > found[1] - 1:
                        break
                if anchor is not None:
                    index = self._children[page.id].index(anchor) + 1
            self._store_blocks(page.id, self._parent_of_children(page.id), specs, index, user)
        else:
            raise _body_invalid(
                "body.type should be one of `insert_content`, `replace_content_range`, `update_content` "
                f"or `replace_content`, instead was `{_show(kind)}`."
            )
        self._touch(page.id, user)
        return self._ok(self._markdown_json(page))

    # -- databases and data sources ---------------------------------------------------

    def _title_input(self, raw: Any, path: str) -> list[JSON]:
        return [] if raw is None else self._rich.array(raw, path)

    def _database_parent(self, raw: Any) -> JSON:
        if not isinstance(raw, dict):
            raise _body_invalid(f"body.parent should be an object, instead was `{_show(raw)}`.")
        kind = raw.get("type") or next((k for k in ("page_id", "workspace") if k in raw), None)
        if kind == "workspace":
            return {"type": "workspace", "workspace": True}
        target = normalize_id(raw.get("page_id"))
        if kind != "page_id" or target is None:
            raise _body_invalid(f"body.parent.page_id should be a valid uuid, instead was `{_show(raw)}`.")
        if self._page(target).in_trash:
            raise _archived_error()
        return {"type": "page_id", "page_id": target}

    def _new_database(
        self, body: JSON, user: str, database_id: str | None = None, data_source_id: str | None = None
    ) -> _Database:
        parent = self._database_parent(body.get("parent"))
        title = self._title_input(body.get("title"), "body.title")
        description = self._title_input(body.get("description"), "body.description")
        initial = body.get("initial_data_source") or {}
        if not isinstance(initial, dict):
            raise _body_invalid(f"body.initial_data_source should be an object, instead was `{_show(initial)}`.")
        schema = self._new_schema(initial.get("properties"), "body.initial_data_source.properties")
        stamp = self._stamp()
        database = _Database(database_id or _new_id(), parent, title, stamp, stamp, user, user, description)
        database.icon = copy.deepcopy(body.get("icon"))
        database.cover = copy.deepcopy(body.get("cover"))
        database.is_inline = bool(body.get("is_inline", False))
        data_source = _DataSource(
            data_source_id or _new_id(), database.id, copy.deepcopy(title), schema, stamp, stamp, user, user
        )
        database.data_sources.append(data_source.id)
        self._databases[database.id] = database
        self._data_sources[data_source.id] = data_source
        container = self._container(parent)
        self._attach(container, database.id)
        if container is not None:
            self._touch(container, user)
        return database

    def _create_database(self, request: Request) -> Response:
        return self._ok(self._database_json(self._new_database(self._body(request), self.bot_id)))

    def _get_database(self, request: Request, database_id: str) -> Response:
        return self._ok(self._database_json(self._database(self._path_id(database_id, "database_id"))))

    def _update_database(self, request: Request, database_id: str) -> Response:
        database = self._database(self._path_id(database_id, "database_id"))
        body = self._body(request)
        if "title" in body:
            database.title = self._title_input(body["title"], "body.title")
        if "description" in body:
            database.description = self._title_input(body["description"], "body.description")
        for key in ("icon", "cover"):
            if key in body:
                setattr(database, key, copy.deepcopy(body[key]))
        for key in ("is_inline", "is_locked"):
            if isinstance(body.get(key), bool):
                setattr(database, key, body[key])
        if "parent" in body:
            new_parent = self._database_parent(body["parent"])
            self._detach(self._container(database.parent), database.id)
            database.parent = new_parent
            self._attach(self._container(new_parent), database.id)
        trash = body.get("in_trash", body.get("archived"))
        if isinstance(trash, bool):
            database.in_trash = trash
        database.edited, database.edited_by = self._stamp(), self.bot_id
        return self._ok(self._database_json(database))

    def _create_data_source(self, request: Request) -> Response:
        body = self._body(request)
        parent = body.get("parent")
        target = normalize_id(parent.get("database_id")) if isinstance(parent, dict) else None
        if target is None:
            raise _body_invalid(f"body.parent.database_id should be a valid uuid, instead was `{_show(parent)}`.")
        database = self._database(target)
        if database.in_trash:
            raise _archived_error()
        schema = self._new_schema(body.get("properties"), "body.properties")
        stamp = self._stamp()
        data_source = _DataSource(
            _new_id(),
            database.id,
            self._title_input(body.get("title"), "body.title"),
            schema,
            stamp,
            stamp,
            self.bot_id,
            self.bot_id,
        )
        data_source.icon = copy.deepcopy(body.get("icon"))
        self._data_sources[data_source.id] = data_source
        database.data_sources.append(data_source.id)
        return self._ok(self._data_source_json(data_source))

    def _get_data_source(self, request: Request, data_source_id: str) -> Response:
        return self._ok(self._data_source_json(self._data_source(self._path_id(data_source_id, "data_source_id"))))

    def _update_data_source(self, request: Request, data_source_id: str) -> Response:
        data_source = self._data_source(self._path_id(data_source_id, "data_source_id"))
        body = self._body(request)
        if "title" in body:
            data_source.title = self._title_input(body["title"], "body.title")
        if "description" in body:
            data_source.description = self._title_input(body["description"], "body.description")
        if "icon" in body:
            data_source.icon = copy.deepcopy(body["icon"])
        if "properties" in body:
            self._update_schema(data_source, body["properties"])
        trash = body.get("in_trash", body.get("archived"))
        if isinstance(trash, bool):
            data_source.in_trash = trash
        data_source.edited, data_source.edited_by = self._stamp(), self.bot_id
        return self._ok(self._data_source_json(data_source))

    def _list_templates(self, request: Request, data_source_id: str) -> Response:
        self._data_source(self._path_id(data_source_id, "data_source_id"))
        # The live answer carries no request_id.
        return Response(200, {"templates": [], "has_more": False, "next_cursor": None})

    # -- queries ----------------------------------------------------------------------

    def _query_data_source(self, request: Request, data_source_id: str) -> Response:
        data_source = self._data_source(self._path_id(data_source_id, "data_source_id"))
        body = self._body(request)
        size = _page_size(body.get("page_size"), "body")
        include_trashed = body.get("in_trash", body.get("archived")) is True
        pages = [
            page
            for page in self._pages.values()
            if page.data_source_id == data_source.id and (include_trashed or not page.in_trash)
        ]
        if body.get("result_type") == "data_source":
            pages = []
        if body.get("filter") is not None:
            matcher = self._filter(data_source, body["filter"], "body.filter", 0)
            pages = [page for page in pages if matcher(page)]
        pages = self._sorted(data_source, pages, body.get("sorts"))
        only = self._filter_properties(request)
        listing = _paginate(
            [(page.id, self._page_json(page, only)) for page in pages], body.get("start_cursor"), size, "body"
        )
        return self._ok({**listing, "type": "page_or_data_source", "page_or_data_source": {}})

    def _filter(self, data_source: _DataSource, raw: Any, path: str, depth: int) -> Callable[[_Page], bool]:
        if not isinstance(raw, dict):
            raise _body_invalid(f"{path} should be an object, instead was `{_show(raw)}`.")
        for compound in ("and", "or"):
            if compound in raw:
                if depth >= 2:
                    raise _body_invalid(f"{path}.{compound}: compound filters nest at most two levels deep.")
                parts = [
                    self._filter(data_source, part, f"{path}.{compound}[{index}]", depth + 1)
                    for index, part in enumerate(self._array(raw[compound], f"{path}.{compound}"))
                ]
                if compound == "and":
                    return lambda page: all(part(page) for part in parts)
                return lambda page: not parts or any(part(page) for part in parts)
        if "timestamp" in raw:
            stamp_kind = raw["timestamp"]
            if stamp_kind not in ("created_time", "last_edited_time"):
                raise _body_invalid(f"{path}.timestamp should be `created_time` or `last_edited_time`.")
            condition = raw.get(stamp_kind)

            def stamp_of(page: _Page) -> Any:
                return self._time(page.created if stamp_kind == "created_time" else page.edited)

            return self._date_condition(condition, f"{path}.{stamp_kind}", stamp_of)
        key = raw.get("property")
        if not isinstance(key, str):
            raise _body_invalid(f"{path}.property should be a string, instead was `{_show(key)}`.")
        prop = self._find_property(data_source.properties, key)
        if prop is None:
            raise _invalid(f"Could not find property with name or id: {key}")
        kind = prop["type"]
        filter_keys = [k for k in raw if k != "property"]
        if len(filter_keys) != 1:
            raise _body_invalid(f"{path} should have exactly one filter condition, instead was `{_show(raw)}`.")
        filter_kind = filter_keys[0]
        allowed = {kind}
        if kind in _TEXT_LIKE:
            allowed.add("rich_text")
        if kind in ("created_time", "last_edited_time"):
            allowed |= {"date", "created_time", "last_edited_time"}
        if kind in ("created_by", "last_edited_by"):
            allowed |= {"people", "created_by", "last_edited_by"}
        if filter_kind not in allowed:
            raise _invalid(f"Filter type `{filter_kind}` does not match property `{prop['name']}` of type `{kind}`.")
        condition = raw[filter_kind]
        where = f"{path}.{filter_kind}"

        def value_of(page: _Page) -> Any:
            return self._value_json(page, prop)[kind]

        if kind in _TEXT_LIKE:
            return self._text_condition(condition, where, value_of)
        if kind in ("number", "unique_id"):
            return self._number_condition(condition, where, lambda page: self._number(value_of(page)))
        if kind == "checkbox":
            return self._checkbox_condition(condition, where, value_of)
        if kind in ("select", "status"):
            return self._select_condition(condition, where, value_of)
        if kind in ("date", "created_time", "last_edited_time"):
            return self._date_condition(
                condition, where, lambda page: (value_of(page) or {}).get("start") if kind == "date" else value_of(page)
            )
        if kind in ("multi_select", "people", "relation", "created_by", "last_edited_by", "files"):
            return self._list_condition(kind, condition, where, value_of)
        raise _invalid(f"Filtering on `{kind}` properties is not supported.")

    @staticmethod
    def _number(value: Any) -> float | None:
        if isinstance(value, dict):
            value = value.get("number")
        return None if value is None else float(value)

    @staticmethod
    def _one_condition(condition: Any, where: str, known: set[str]) -> tuple[str, Any]:
        if not isinstance(condition, dict) or len(condition) != 1:
            raise _body_invalid(f"{where} should have exactly one condition, instead was `{_show(condition)}`.")
        operator, operand = next(iter(condition.items()))
        if operator not in known:
            raise _body_invalid(
                f"{where} should have one of {', '.join(f'`{k}`' for k in sorted(known))}, instead was `{operator}`."
            )
        return operator, operand

    def _text_condition(self, condition: Any, where: str, value_of: Callable[[_Page], Any]) -> Callable[[_Page], bool]:
        known = {"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with"}
        operator, operand = self._one_condition(condition, where, known | {"is_empty", "is_not_empty"})
        if operator not in ("is_empty", "is_not_empty") and not isinstance(operand, str):
            raise _body_invalid(f"{where}.{operator} should be a string, instead was `{_show(operand)}`.")

        def text(page: _Page) -> str:
            value = value_of(page)
            return _plain(value) if isinstance(value, list) else (value or "")

        needle = operand.lower() if isinstance(operand, str) else ""
        checks: dict[str, Callable[[str], bool]] = {
            "equals": lambda s: s == operand,
            "does_not_equal": lambda s: s != operand,
            "contains": lambda s: needle in s.lower(),
            "does_not_contain": lambda s: needle not in s.lower(),
            "starts_with": lambda s: s.lower().startswith(needle),
            "ends_with": lambda s: s.lower().endswith(needle),
            "is_empty": lambda s: s == "",
            "is_not_empty": lambda s: s != "",
        }
        check = checks[operator]
        return lambda page: check(text(page))

    def _number_condition(
        self, condition: Any, where: str, value_of: Callable[[_Page], float | None]
    ) -> Callable[[_Page], bool]:
        known = {
            "equals",
            "does_not_equal",
            "greater_than",
            "less_than",
            "greater_than_or_equal_to",
            "less_than_or_equal_to",
            "is_empty",
            "is_not_empty",
        }
        operator, operand = self._one_condition(condition, where, known)
        if operator not in ("is_empty", "is_not_empty") and (
            isinstance(operand, bool) or not isinstance(operand, int | float)
        ):
            raise _body_invalid(f"{where}.{operator} should be a number, instead was `{_show(operand)}`.")
        if operator == "is_empty":
            return lambda page: value_of(page) is None
        if operator == "is_not_empty":
            return lambda page: value_of(page) is not None
        compare: dict[str, Callable[[float, float], bool]] = {
            "equals": lambda a, b: a == b,
            "does_not_equal": lambda a, b: a != b,
            "greater_than": lambda a, b: a > b,
            "less_than": lambda a, b: a < b,
            "greater_than_or_equal_to": lambda a, b: a >= b,
            "less_than_or_equal_to": lambda a, b: a <= b,
        }
        op = compare[operator]

        def check(page: _Page) -> bool:
            value = value_of(page)
            if value is None:
                return operator == "does_not_equal"
            return op(value, float(operand))

        return check

    def _checkbox_condition(
        self, condition: Any, where: str, value_of: Callable[[_Page], Any]
    ) -> Callable[[_Page], bool]:
        operator, operand = self._one_condition(condition, where, {"equals", "does_not_equal"})
        if not isinstance(operand, bool):
            raise _body_invalid(f"{where}.{operator} should be a boolean, instead was `{_show(operand)}`.")
        if operator == "equals":
            return lambda page: bool(value_of(page)) == operand
        return lambda page: bool(value_of(page)) != operand

    def _select_condition(
        self, condition: Any, where: str, value_of: Callable[[_Page], Any]
    ) -> Callable[[_Page], bool]:
        operator, operand = self._one_condition(
            condition, where, {"equals", "does_not_equal", "is_empty", "is_not_empty"}
        )

        def name(page: _Page) -> str | None:
            value = value_of(page)
            return value.get("name") if isinstance(value, dict) else None

        if operator == "equals":
            return lambda page: name(page) == operand
        if operator == "does_not_equal":
            return lambda page: name(page) != operand
        if operator == "is_empty":
            return lambda page: name(page) is None
        return lambda page: name(page) is not None

    def _list_condition(
        self, kind: str, condition: Any, where: str, value_of: Callable[[_Page], Any]
    ) -> Callable[[_Page], bool]:
        known = (
            {"is_empty", "is_not_empty"}
            if kind == "files"
            else {"contains", "does_not_contain", "is_empty", "is_not_empty"}
        )
        operator, operand = self._one_condition(condition, where, known)

        def keys(page: _Page) -> set[str]:
            value = value_of(page)
            items = value if isinstance(value, list) else [value] if value else []
            found: set[str] = set()
            for item in items:
                if isinstance(item, dict):
                    found |= {str(item[k]) for k in ("id", "name") if item.get(k)}
            return found

        wanted = normalize_id(operand) or operand if isinstance(operand, str) else operand
        if operator == "contains":
            return lambda page: wanted in keys(page)
        if operator == "does_not_contain":
            return lambda page: wanted not in keys(page)
        if operator == "is_empty":
            return lambda page: not value_of(page)
        return lambda page: bool(value_of(page))

    def _date_condition(self, condition: Any, where: str, value_of: Callable[[_Page], Any]) -> Callable[[_Page], bool]:
        relative = {"past_week", "past_month", "past_year", "next_week", "next_month", "next_year", "this_week"}
        known = {"equals", "before", "after", "on_or_before", "on_or_after", "is_empty", "is_not_empty"} | relative
        operator, operand = self._one_condition(condition, where, known)

        def moment(page: _Page) -> datetime | None:
            parsed = _parse_when(value_of(page))
            return parsed[0] if parsed else None

        if operator == "is_empty":
            return lambda page: moment(page) is None
        if operator == "is_not_empty":
            return lambda page: moment(page) is not None
        now = datetime.now(UTC)
        if operator in relative:
            days = {"week": 7, "month": 30, "year": 365}[operator.split("_")[1]]
            if operator == "this_week":
                start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
                low, high = start, start + timedelta(days=7)
            elif operator.startswith("past"):
                low, high = now - timedelta(days=days), now
            else:
                low, high = now, now + timedelta(days=days)

            def within(page: _Page) -> bool:
                value = moment(page)
                return value is not None and low <= value <= high

            return within
        parsed = _parse_when(operand)
        if parsed is None:
            raise _body_invalid(f"{where}.{operator} should be an ISO 8601 date, instead was `{_show(operand)}`.")
        target, bare = parsed

        def check(page: _Page) -> bool:
            value = moment(page)
            if value is None:
                return False
            left: datetime | date = value.date() if bare else value
            right: datetime | date = target.date() if bare else target
            return {
                "equals": left == right,
                "before": left < right,
                "after": left > right,
                "on_or_before": left <= right,
                "on_or_after": left >= right,
            }[operator]

        return check

    def _sorted(self, data_source: _DataSource, pages: list[_Page], sorts: Any) -> list[_Page]:
        if sorts is None or sorts == []:
            return sorted(pages, key=lambda page: page.created, reverse=True)
        keys: list[tuple[Callable[[_Page], Any], bool]] = []
        for index, sort in enumerate(self._array(sorts, "body.sorts")):
            where = f"body.sorts[{index}]"
            if not isinstance(sort, dict):
                raise _body_invalid(f"{where} should be an object, instead was `{_show(sort)}`.")
            direction = sort.get("direction", "ascending")
            if direction not in ("ascending", "descending"):
                raise _body_invalid(f"{where}.direction should be `ascending` or `descending`.")
            if "timestamp" in sort:
                attr = {"created_time": "created", "last_edited_time": "edited"}.get(sort["timestamp"])
                if attr is None:
                    raise _body_invalid(f"{where}.timestamp should be `created_time` or `last_edited_time`.")
                keys.append((functools.partial(_page_stamp, attr), direction == "descending"))
                continue
            prop = self._find_property(data_source.properties, str(sort.get("property")))
            if prop is None:
                raise _invalid(f"Could not find sort property with name or id: {sort.get('property')}")
            keys.append((functools.partial(self._sort_value, prop), direction == "descending"))

        def compare(a: _Page, b: _Page) -> int:
            for key, descending in keys:
                left, right = key(a), key(b)
                # Empty values go last whichever the direction, as in the Notion UI.
                if left is None or right is None:
                    if left is None and right is None:
                        continue
                    return 1 if left is None else -1
                if left != right:
                    result = -1 if left < right else 1
                    return -result if descending else result
            return 0

        return sorted(pages, key=functools.cmp_to_key(compare))

    def _sort_value(self, prop: JSON, page: _Page) -> Any:
        kind = prop["type"]
        if kind == "created_time":
            return page.created
        if kind == "last_edited_time":
            return page.edited
        value = self._value_json(page, prop)[kind]
        if kind in _TEXT_LIKE:
            text = _plain(value) if isinstance(value, list) else value
            return text.lower() if text else None
        if kind in ("select", "status", "multi_select"):
            chosen = value[0] if isinstance(value, list) and value else value
            if not isinstance(chosen, dict):
                return None
            order = [option["id"] for option in prop[kind]["options"]]
            return order.index(chosen["id"]) if chosen["id"] in order else len(order)
        if kind == "date":
            parsed = _parse_when((value or {}).get("start"))
            return parsed[0] if parsed else None
        if kind in ("number", "unique_id"):
            return self._number(value)
        if kind == "checkbox":
            return bool(value)
        if isinstance(value, list):
            return len(value) or None
        return None

    def _search(self, request: Request) -> Response:
        body = self._body(request)
        size = _page_size(body.get("page_size"), "body")
        query = body.get("query") or ""
        if not isinstance(query, str):
            raise _body_invalid(f"body.query should be a string, instead was `{_show(query)}`.")
        wanted: str | None = None
        search_filter = body.get("filter")
        if search_filter is not None:
            value = search_filter.get("value") if isinstance(search_filter, dict) else None
            if value not in ("page", "data_source"):
                raise _body_invalid(
                    f'body.filter.value should be `"page"` or `"data_source"`, instead was `{_show(value)}`.'
                )
            wanted = value
        sort = body.get("sort") or {}
        descending = not (isinstance(sort, dict) and sort.get("direction") == "ascending")
        found: list[tuple[float, str, JSON]] = []
        if wanted in (None, "page"):
            for page in self._pages.values():
                if not self._effectively_trashed(page.id) and query.lower() in self._page_title(page).lower():
                    found.append((page.edited, page.id, self._page_json(page)))
        if wanted in (None, "data_source"):
            for data_source in self._data_sources.values():
                database = self._databases[data_source.database_id]
                if data_source.in_trash or self._effectively_trashed(database.id):
                    continue
                if query.lower() in _plain(data_source.title).lower():
                    found.append((data_source.edited, data_source.id, self._data_source_json(data_source)))
        found.sort(key=lambda item: item[0], reverse=descending)
        listing = _paginate([(item_id, item) for _, item_id, item in found], body.get("start_cursor"), size, "body")
        return self._ok({**listing, "type": "page_or_data_source", "page_or_data_source": {}})

    # -- blocks -----------------------------------------------------------------------

    def _node_exists(self, node_id: str) -> bool:
        return node_id in self._blocks or node_id in self._pages or node_id in self._databases

    def _get_block(self, request: Request, block_id: str) -> Response:
        return self._ok(self._block_json(self._path_id(block_id, "block_id")))

    def _update_block(self, request: Request, block_id: str) -> Response:
        node_id = self._path_id(block_id, "block_id")
        if not self._node_exists(node_id):
            raise _not_found("block", node_id)
        body = self._body(request)
        trash = body.get("in_trash", body.get("archived"))
        if trash is not None and not isinstance(trash, bool):
            raise _body_invalid(f"body.in_trash should be a boolean, instead was `{_show(trash)}`.")
        content_keys = [key for key in body if key not in ("in_trash", "archived", "type")]
        block = self._blocks.get(node_id)
        page = self._pages.get(node_id)
        trashed = self._node_trashed(node_id)
        if trashed and trash is not False and content_keys:
            raise _archived_error()
        if block is not None:
            for key in content_keys:
                if key != block.type:
                    raise _body_invalid(f"body.{key} should be not present: the block is a {block.type} block.")
                payload = body[key]
                if not isinstance(payload, dict):
                    raise _body_invalid(f"body.{key} should be an object, instead was `{_show(payload)}`.")
                block.data = self._block_data(block.type, payload, f"body.{key}", block.data)
        elif page is not None and "child_page" in content_keys:
            title = (body["child_page"] or {}).get("title")
            if not isinstance(title, str):
                raise _body_invalid(f"body.child_page.title should be a string, instead was `{_show(title)}`.")
            page.values["title"] = self._rich.array(_text_items(title), "body.child_page.title")
        elif content_keys:
            raise _body_invalid(f"body.{content_keys[0]} should be not present.")
        node = block or page or self._databases[node_id]
        if trash is not None:
            node.in_trash = trash
        self._touch(node_id, self.bot_id)
        return self._ok(self._block_json(node_id))

    def _delete_block(self, request: Request, block_id: str) -> Response:
        node_id = self._path_id(block_id, "block_id")
        node = self._blocks.get(node_id) or self._pages.get(node_id) or self._databases.get(node_id)
        if node is None:
            raise _not_found("block", node_id)
        if node.in_trash:
            raise _archived_error()
        node.in_trash = True
        self._touch(node_id, self.bot_id)
        if not isinstance(node, _Block):
            self._touch(self._container(node.parent), self.bot_id)
        return self._ok(self._block_json(node_id))

    def _list_children(self, request: Request, block_id: str) -> Response:
        node_id = self._path_id(block_id, "block_id")
        if not self._node_exists(node_id):
            raise _not_found("block", node_id)
        size = _page_size(request.arg("page_size"), "query")
        items = [(child, self._block_json(child)) for child in self._live_children(node_id)]
        listing = _paginate(items, request.arg("start_cursor"), size, "query")
        return self._ok({**listing, "type": "block", "block": {}})

    def _append_children(self, request: Request, block_id: str) -> Response:
        node_id = self._path_id(block_id, "block_id")
        if not self._node_exists(node_id) or node_id in self._databases:
            raise _not_found("block", node_id)
        self._block_parent_check(node_id)
        body = self._body(request)
        if "children" not in body:
            raise _body_invalid("body.children should be defined, instead was `undefined`.")
        specs = self._specs(body["children"], "body.children")
        index = self._insert_index(node_id, body)
        created = self._store_blocks(node_id, self._parent_of_children(node_id), specs, index, self.bot_id)
        self._touch(node_id, self.bot_id)
        results = [(child, self._block_json(child)) for child in created]
        listing = _paginate(results, None, max(len(results), 1), "body")
        return self._ok({**listing, "type": "block", "block": {}})

    def _insert_index(self, container: str, body: JSON) -> int | None:
        """Where appended children go: `after` (2025-09-03) or `position` (2026-03-11)."""
        after = body.get("after")
        position = body.get("position")
        if isinstance(position, dict):
            kind = position.get("type")
            if kind == "start":
                return 0
            if kind == "after_block":
                target = position.get("after_block")
                after = target.get("id") if isinstance(target, dict) else None
        if after is None:
            return None
        anchor = normalize_id(after)
        siblings = self._children.get(container, [])
        if anchor is None or anchor not in siblings:
            raise _body_invalid(f"body.after should be the ID of a child of the block, instead was `{_show(after)}`.")
        return siblings.index(anchor) + 1

    # -- seeding and inspection (for tests and the demo) ------------------------------

    def add_user(self, name: str, email: str | None = None) -> str:
        """A person in the workspace; returns their user ID."""
        with self.lock:
            return self._add_user(_User(_new_id(), name, "person", email))

    def add_page(
        self,
        title: str,
        parent_page_id: str | None = None,
        blocks: list[JSON] | None = None,
        page_id: str | None = None,
    ) -> str:
        """A page made by a person, at the top of the workspace or under a page; returns its ID."""
        wanted = normalize_id(page_id) if page_id is not None else None
        if page_id is not None and wanted is None:
            raise ValueError(f"not a Notion ID: {page_id!r}")
        parent: JSON = {"workspace": True}
        if parent_page_id is not None:
            parent = {"page_id": parent_page_id}
        body = {"parent": parent, "properties": {"title": _text_items(title) if title else []}}
        with self.lock:
            if wanted is not None and self._node_exists(wanted):
                raise ValueError(f"ID already in use: {wanted}")
            try:
                page = self._new_page(body, self.owner_id, wanted)
                if blocks:
                    self._seed_blocks(page.id, blocks)
            except NotionAPIError as error:
                raise ValueError(error.message) from None
            return page.id

    def add_database(
        self,
        parent_page_id: str | None,
        title: str,
        properties: dict[str, Any],
        database_id: str | None = None,
        data_source_id: str | None = None,
    ) -> tuple[str, str]:
        """A database with one data source whose schema is `properties` (request form,
        e.g. `{"Name": {"title": {}}, "Status": {"select": {"options": [{"name": "Open"}]}}}`);
        returns (database ID, data source ID)."""
        ids = [normalize_id(value) if value is not None else None for value in (database_id, data_source_id)]
        for given, normal in zip((database_id, data_source_id), ids, strict=True):
            if given is not None and normal is None:
                raise ValueError(f"not a Notion ID: {given!r}")
        parent: JSON = {"type": "workspace", "workspace": True}
        if parent_page_id is not None:
            parent = {"type": "page_id", "page_id": parent_page_id}
        body = {
            "parent": parent,
            "title": _text_items(title),
            "initial_data_source": {"properties": properties},
        }
        with self.lock:
            for normal in ids:
                if normal is not None and (self._node_exists(normal) or normal in self._data_sources):
                    raise ValueError(f"ID already in use: {normal}")
            try:
                database = self._new_database(body, self.owner_id, ids[0], ids[1])
            except NotionAPIError as error:
                raise ValueError(error.message) from None
            return database.id, database.data_sources[0]

    def _seed_blocks(self, container: str, blocks: list[JSON], index: int | None = None) -> list[str]:
        created: list[str] = []
        # Seeds may be longer than one request allows, so they go in request-sized pieces.
        for start in range(0, len(blocks), MAX_CHILDREN):
            specs = self._specs(blocks[start : start + MAX_CHILDREN], "blocks")
            at = None if index is None else index + len(created)
            created += self._store_blocks(container, self._parent_of_children(container), specs, at, self.owner_id)
        self._touch(container, self.owner_id)
        return created

    def append_blocks(self, block_id: str, blocks: list[JSON]) -> list[str]:
        """Blocks added by a person (as if typed in Notion); returns their IDs."""
        with self.lock:
            container = self._known(block_id)
            try:
                self._block_parent_check(container)
                return self._seed_blocks(container, blocks)
            except NotionAPIError as error:
                raise ValueError(error.message) from None

    def replace_blocks(self, page_id: str, blocks: list[JSON]) -> list[str]:
        """A person rewrites a page's content: old blocks go to the trash; returns the new IDs."""
        with self.lock:
            container = self._known(page_id)
            try:
                self._block_parent_check(container)
                self._trash_children(container, self.owner_id)
                return self._seed_blocks(container, blocks)
            except NotionAPIError as error:
                raise ValueError(error.message) from None

    def _known(self, object_id: str) -> str:
        normal = normalize_id(object_id)
        if normal is None or not (self._node_exists(normal) or normal in self._data_sources):
            raise KeyError(object_id)
        return normal

    def page(self, page_id: str) -> JSON:
        """The page as GET /v1/pages/{id} answers it."""
        with self.lock:
            return self._page_json(self._pages[self._known(page_id)])

    def pages_in(self, data_source_or_database_id: str, include_trashed: bool = False) -> list[JSON]:
        """The pages of a data source (or of every data source of a database), oldest first."""
        with self.lock:
            known = self._known(data_source_or_database_id)
            sources = set(self._databases[known].data_sources) if known in self._databases else {known}
            pages = [
                page
                for page in self._pages.values()
                if page.data_source_id in sources and (include_trashed or not page.in_trash)
            ]
            return [self._page_json(page) for page in sorted(pages, key=lambda page: page.created)]

    def children(self, block_id: str) -> list[JSON]:
        """The live child blocks of a page or block, in order, as the API answers them."""
        with self.lock:
            return [self._block_json(child) for child in self._live_children(self._known(block_id))]

    def page_text(self, page_id: str) -> str:
        """The plain text of a page's blocks (nested ones included), one block a line, in order.

        Child pages and databases are not part of the text."""
        with self.lock:
            lines: list[str] = []
            self._collect_text(self._known(page_id), lines)
            return "\n".join(lines)

    def _collect_text(self, container: str, lines: list[str]) -> None:
        for child in self._live_children(container):
            block = self._blocks.get(child)
            if block is None:
                continue
            data = block.data
            if "rich_text" in data:
                lines.append(_plain(data["rich_text"]))
            elif block.type == "equation":
                lines.append(data.get("expression", ""))
            elif block.type == "table_row":
                lines.append("\t".join(_plain(cell) for cell in data.get("cells", [])))
            self._collect_text(child, lines)

    def data_source(self, data_source_id: str) -> JSON:
        """The data source as GET /v1/data_sources/{id} answers it."""
        with self.lock:
            return self._data_source_json(self._data_sources[self._known(data_source_id)])

    def database(self, database_id: str) -> JSON:
        """The database as GET /v1/databases/{id} answers it."""
        with self.lock:
            return self._database_json(self._databases[self._known(database_id)])

    def request_count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many requests (answered in any way) matched; counted before the answer is sent."""
        with self._changed:
            return sum(
                1
                for seen_method, path, _ in self._seen
                if (method is None or seen_method == method) and path.startswith(path_prefix)
            )

    @property
    def throttled_count(self) -> int:
        """How many 429 answers the stand-in has given."""
        with self._changed:
            return self._throttled

    @property
    def overloaded_count(self) -> int:
        """How many 529 answers the stand-in has given."""
        with self._changed:
            return self._overloaded

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Call `predicate` until it returns something truthy, and return that.

        It is re-checked whenever the stand-in answers a request and at least every
        50 ms (for conditions on other state); TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._version
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with self._changed:
                if self._version == seen:
                    self._changed.wait(min(remaining, 0.05))
