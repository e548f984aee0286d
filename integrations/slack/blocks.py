"""Block Kit, built in one place and kept within Slack's limits for any data size.

Limits (docs.slack.dev/reference/block-kit): 50 blocks a message, 100 a modal
or Home tab, 3000 characters a section text, 10 fields of 2000, 150 for a
header, 10 context elements, 25 actions elements, 75 for button text.

And one limit the reference leaves out: Slack refuses a message whose blocks
come to more than about 12,000 characters in all (`msg_blocks_too_long`,
slackapi/bolt-js #2509 and #2867), although each block is within its own
limits. `size()` measures blocks the way the Slack stand-in does (their JSON),
and `Message.build()` keeps every message, ephemeral and response_url answer
within `MESSAGE_BUDGET`, summarising what does not fit; `pages()` cuts a long
list of blocks into consecutive messages instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_MODAL_TITLE = 24
MAX_FALLBACK_TEXT = 3000
# Slack's total for a message's blocks is about 12,000 characters and undocumented: keep a margin
# for what is changed after building (`defang`) and for Slack counting a little differently.
MESSAGE_BUDGET = 11_000


def size(blocks: Sequence[Block]) -> int:
    """The length Slack holds against `msg_blocks_too_long`: the blocks' JSON, containers and all."""
    return len(json.dumps(list(blocks), separators=(",", ":"), ensure_ascii=False))


def _trimmed_section(block: Block, room: int, note: str) -> Block | None:
    """A section cut to its first lines so that it takes at most `room` characters, or None."""
    text = block.get("text") if block.get("type") == "section" and not block.get("fields") else None
    if not isinstance(text, dict) or not isinstance(text.get("text"), str):
        return None
    lines = text["text"].split("\n")
    kept: list[str] = []
    for line in lines:
        candidate = {**block, "text": {**text, "text": "\n".join([*kept, line, note])}}
        if size([candidate]) > room:
            break
        kept.append(line)
    if not kept or len(kept) == len(lines):
        return None
    return {**block, "text": {**text, "text": "\n".join([*kept, note])}}


def fit(
    blocks: Sequence[Block],
    *,
    budget: int | None = MESSAGE_BUDGET,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
    more: str = "",
    keep_tail: int = 0,
) -> list[Block]:
    """`blocks` within `max_blocks` and `budget` characters (`size`), for one message.

    The leading blocks are kept as long as they fit, then the last `keep_tail` ones (buttons and
    footers that must stay), and a context line in between says what was left out and where to
    see it (`more`). A section that does not fit whole is cut after its last line that does.
    """
    blocks = list(blocks)
    if len(blocks) <= max_blocks and (budget is None or size(blocks) <= budget):
        return blocks
    keep_tail = min(keep_tail, len(blocks))
    tail = blocks[len(blocks) - keep_tail :] if keep_tail else []
    head = blocks[: len(blocks) - keep_tail]
    shown: list[Block] = []
    for index, block in enumerate(head):
        left = len(head) - index
        note = context(f"…and {left} more not shown here. {more}".strip())
        if len(shown) + 1 + len(tail) + (1 if left > 1 else 0) > max_blocks:
            break
        room = None if budget is None else budget - size([*shown, *tail, note]) - 2
        if room is None or size([block]) <= room:
            shown.append(block)
            continue
        trimmed = _trimmed_section(block, room, "…")
        if trimmed is not None:
            shown.append(trimmed)
        break
    left = len(head) - len(shown)
    if left:
        shown.append(context(f"…and {left} more not shown here. {more}".strip()))
    return [*shown, *tail]


@dataclass
class Room:
    """What is left of one message: blocks and characters (`size`). Lists that say "…and N more"
    take their items from it, so that they count what they leave out themselves."""

    blocks: int = MAX_MESSAGE_BLOCKS
    chars: int = MESSAGE_BUDGET - 2  # the array's brackets

    @staticmethod
    def cost(blocks: Sequence[Block]) -> int:
        return sum(size([b]) - 1 for b in blocks)  # each block's JSON and a comma

    def fits(self, *blocks: Block) -> bool:
        return len(blocks) <= self.blocks and self.cost(blocks) <= self.chars

    def reserve(self, *blocks: Block) -> None:
        self.blocks -= len(blocks)
        self.chars -= self.cost(blocks)

    def take(self, *blocks: Block) -> bool:
        """Reserve room for `blocks` when they fit; False (and nothing reserved) when they do not."""
        if not self.fits(*blocks):
            return False
        self.reserve(*blocks)
        return True


def pages(
    blocks: Sequence[Block], *, budget: int = MESSAGE_BUDGET, max_blocks: int = MAX_MESSAGE_BLOCKS
) -> list[list[Block]]:
    """`blocks` cut into consecutive messages, each within `max_blocks` and `budget`, nothing left out.

    Every block built here is well under the budget (a section holds at most 3,000 characters),
    so each page holds at least one.
    """
    out: list[list[Block]] = []
    page: list[Block] = []
    for block in blocks:
        if page and (len(page) >= max_blocks or size([*page, block]) > budget):
            out.append(page)
            page = []
        page.append(block)
    if page:
        out.append(page)
    return out


def age(seconds: float) -> str:
    """How old something is, as a person says it: `under a minute`, `12 min`, `3 h 5 min`, `2 days`."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes // (24 * 60)} days"


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT) or " "}


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def divider() -> Block:
    return {"type": "divider"}


def section(text: str, *, accessory: Block | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def sections(lines: Sequence[str], *, limit: int = MAX_SECTION_TEXT) -> list[Block]:
    """Lines packed into as few sections as fit, never splitting a line unless it alone is too long."""
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        line = clip(line, limit)
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > limit:
            blocks.append(section(chunk))
            chunk = line
        else:
            chunk = candidate
    if chunk:
        blocks.append(section(chunk))
    return blocks


def fields(items: Sequence[str]) -> Block:
    return {"type": "section", "fields": [mrkdwn(clip(i, MAX_FIELD_TEXT)) for i in items[:10]]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(clip(t, MAX_SECTION_TEXT)) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None, url: str | None = None) -> Block:
    element: Block = {"type": "button", "text": plain(text, MAX_BUTTON_TEXT), "action_id": action_id[:255]}
    if value:
        element["value"] = value[:2000]
    if style in ("primary", "danger"):
        element["style"] = style
    if url:
        element["url"] = url
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def image(*, alt: str, url: str | None = None, slack_file_id: str | None = None, title: str | None = None) -> Block:
    block: Block = {"type": "image", "alt_text": clip(alt, 2000)}
    if slack_file_id:
        block["slack_file"] = {"id": slack_file_id}
    elif url:
        block["image_url"] = url
    if title:
        block["title"] = plain(title, 2000)
    return block


@dataclass
class Message:
    """A message's blocks with a fallback text, trimmed to Slack's limits on `build()`."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    max_blocks: int = MAX_MESSAGE_BLOCKS
    # None for a Home tab or modal: views are not held to the message total (theirs is 250 kB).
    budget: int | None = MESSAGE_BUDGET
    keep_tail: int = 0  # how many last blocks (buttons, footer) must stay when the rest is cut

    def add(self, *blocks: Block) -> Message:
        self.blocks.extend(blocks)
        return self

    def extend(self, blocks: Iterable[Block]) -> Message:
        self.blocks.extend(blocks)
        return self

    def build(self, more_hint: str = "") -> dict[str, Any]:
        blocks = fit(
            self.blocks, budget=self.budget, max_blocks=self.max_blocks, more=more_hint, keep_tail=self.keep_tail
        )
        return {"text": clip(self.text, MAX_FALLBACK_TEXT), "blocks": blocks}


def bulleted(items: Sequence[str], *, limit: int, more: str) -> list[str]:
    """At most `limit` bullet lines; past that one line that says how many more and where to see them."""
    lines = [f"• {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"…and {len(items) - limit} more: {more}")
    return lines


def capped_section(
    head: str, items: Sequence[str], *, more: str, hidden: int = 0, limit: int = MAX_SECTION_TEXT
) -> Block:
    """One section: `head`, then as many item lines as fit in `limit` characters.

    Items that do not fit — and `hidden` ones the caller did not even pass — are
    summarised in a last line, "…and N more: <more>", so one section stays one
    block and within Slack's 3,000 characters whatever the number or length of
    the items.
    """
    item_limit = max(40, limit // 4)  # one runaway item must not crowd out the others
    text = clip(head, item_limit) if head else ""
    shown = 0
    for index, item in enumerate(items):
        line = clip(item, item_limit)
        left = len(items) - index - 1 + hidden
        # Room for this line, and for the "more" line should anything be left after it.
        tail = len(f"\n…and {left} more: {more}") if left else 0
        if len(text) + 1 + len(line) + tail > limit:
            break
        text = f"{text}\n{line}" if text else line
        shown += 1
    left_out = len(items) - shown + hidden
    if left_out:
        text += f"\n…and {left_out} more: {more}"
    return section(clip(text, limit))
