"""Text into Notion's rich text and blocks, within Notion's limits on size and count."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

JSON = dict[str, Any]

# Notion's limits (developers.notion.com/reference/request-limits): a rich-text item holds
# 2000 characters (counted in UTF-16 code units, as JavaScript counts them), an array 100
# items, a request 100 children and 500 KB.
MAX_TEXT_UNITS = 2000
MAX_RICH_TEXT_ITEMS = 100
MAX_CHILDREN_PER_REQUEST = 100
# Leaves room in the 500 KB for the page's properties and the JSON around the children.
MAX_CHILDREN_BYTES = 400_000
MAX_TITLE = 200
MAX_SELECT_NAME = 100


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, never splitting a surrogate pair.

    The pieces concatenate back to `text` exactly (rich-text items are shown run together).
    """
    pieces: list[str] = []
    start = 0
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            pieces.append(text[start:index])
            start, units = index, 0
        units += width
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def rich_text(text: str) -> list[JSON]:
    return [{"type": "text", "text": {"content": piece}} for piece in split_text(text)]


def encoded_size(value: Any) -> int:
    """Bytes of `value` in a request body, encoded the way httpx encodes JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def text_blocks(text: str, kind: str = "paragraph") -> list[JSON]:
    """The body of a page holding `text`: one block a line, each line's text in ≤2000-unit pieces.

    A line too long for one block (100 pieces, or the request size) continues in the
    next block. Read back block by block, one line each, the text is exactly `text`.
    """
    blocks: list[JSON] = []
    for line in text.split("\n"):
        pieces = rich_text(line)
        if not pieces:
            blocks.append({"type": kind, kind: {"rich_text": []}})
            continue
        chunk: list[JSON] = []
        size = 0
        for piece in pieces:
            piece_size = encoded_size(piece)
            if chunk and (len(chunk) >= MAX_RICH_TEXT_ITEMS or size + piece_size > MAX_CHILDREN_BYTES - 1000):
                blocks.append({"type": kind, kind: {"rich_text": chunk}})
                chunk, size = [], 0
            chunk.append(piece)
            size += piece_size
        blocks.append({"type": kind, kind: {"rich_text": chunk}})
    return blocks


def batches(blocks: Sequence[JSON]) -> list[list[JSON]]:
    """`blocks` in request-sized groups: at most 100 children and `MAX_CHILDREN_BYTES` each."""
    groups: list[list[JSON]] = []
    group: list[JSON] = []
    size = 0
    for block in blocks:
        block_size = encoded_size(block)
        if group and (len(group) >= MAX_CHILDREN_PER_REQUEST or size + block_size > MAX_CHILDREN_BYTES):
            groups.append(group)
            group, size = [], 0
        group.append(block)
        size += block_size
    if group:
        groups.append(group)
    return groups


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str, limit: int = MAX_TITLE) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return clip(line, limit)
