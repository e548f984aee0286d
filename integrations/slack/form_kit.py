"""Pieces of Block Kit the set-up forms share: inputs, selects and a paged list, within Slack's limits.

Limits (docs.slack.dev/reference/block-kit): input labels and hints 2000 characters, placeholders
150, option text 75 in static selects, 100 options a select, `initial_value` within `max_length`
(3000 for a plain_text_input), a modal's title, submit and close 24, its private_metadata 3000.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from integrations.slack import blocks as bk
from integrations.slack.blocks import Block
from integrations.slack.escape import escape

ELEMENT = "value"  # every input's one element has this action_id; the block_id names the field
MAX_INPUT = 3000
MAX_OPTION_TEXT = 75
MAX_OPTIONS = 100
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150
# Items of a paged list shown at once: two blocks each (the item, its buttons) leave room for the
# header, the Add button and the page buttons within 100 blocks a view.
PAGE_SIZE = 20


def text_input(
    initial: str | None = None, *, multiline: bool = False, max_length: int = MAX_INPUT, placeholder: str = ""
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ELEMENT,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = bk.plain(placeholder, MAX_PLACEHOLDER)
    return element


def option(value: str, text: str) -> dict[str, Any]:
    return {"text": bk.plain(text or value, MAX_OPTION_TEXT), "value": value[:150]}


def _within_limit(choices: Sequence[tuple[str, str]], chosen: Sequence[str]) -> list[tuple[str, str]]:
    """At most 100 choices, as Slack allows a select. Past that, the chosen ones come first: a choice
    left out of the options would be left out of the initial ones too, and saving the form unchanged
    would then drop it."""
    if len(choices) <= MAX_OPTIONS:
        return list(choices)
    wanted = set(chosen)
    return [*(c for c in choices if c[0] in wanted), *(c for c in choices if c[0] not in wanted)][:MAX_OPTIONS]


def static_select(
    choices: Sequence[tuple[str, str]], initial: str | None = None, *, placeholder: str = "Choose"
) -> dict[str, Any]:
    """One of `choices` (value, text); `initial` only if it is one of them."""
    options = [option(value, text) for value, text in _within_limit(choices, [initial] if initial else [])]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ELEMENT,
        "placeholder": bk.plain(placeholder, MAX_PLACEHOLDER),
        "options": options,
    }
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def multi_select(
    choices: Sequence[tuple[str, str]], initial: Sequence[str] = (), *, placeholder: str = "Choose"
) -> dict[str, Any]:
    options = [option(value, text) for value, text in _within_limit(choices, initial)]
    element: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": ELEMENT,
        "placeholder": bk.plain(placeholder, MAX_PLACEHOLDER),
        "options": options,
    }
    chosen = [o for o in options if o["value"] in set(initial)]
    if chosen:
        element["initial_options"] = chosen
    return element


def checkbox(value: str, text: str, checked: bool) -> dict[str, Any]:
    choice = {"text": bk.plain(text, MAX_OPTION_TEXT), "value": value}
    element: dict[str, Any] = {"type": "checkboxes", "action_id": ELEMENT, "options": [choice]}
    if checked:
        element["initial_options"] = [choice]
    return element


def channel_select(initial: str | None, placeholder: str) -> dict[str, Any]:
    """A public or private channel (never a DM: nothing the app posts there belongs in one)."""
    element: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": ELEMENT,
        "placeholder": bk.plain(placeholder, MAX_PLACEHOLDER),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if initial:
        element["initial_conversation"] = initial
    return element


def field(block_id: str, label: str, element: dict[str, Any], *, hint: str = "", optional: bool = False) -> bk.Block:
    block: bk.Block = {
        "type": "input",
        "block_id": block_id,
        "label": bk.plain(label, MAX_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = bk.plain(hint, MAX_LABEL)
    return block


def modal(
    callback_id: str, title: str, blocks: list[bk.Block], metadata: dict[str, Any], *, submit: str | None = "Save"
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": bk.plain(title, bk.MAX_MODAL_TITLE),
        "close": bk.plain("Close" if submit is None else "Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks[: bk.MAX_VIEW_BLOCKS],
    }
    if submit is not None:
        view["submit"] = bk.plain(submit, bk.MAX_MODAL_TITLE)
    return view


def confirm(title: str, text: str, yes: str) -> dict[str, Any]:
    """Block Kit's confirmation dialog: title 100, text 300, buttons 30 characters."""
    return {
        "title": bk.plain(title, 100),
        "text": bk.plain(text, 300),
        "confirm": bk.plain(yes, 30),
        "deny": bk.plain("Keep it", 30),
        "style": "danger",
    }


def page_of(count: int, page: int) -> tuple[int, int, int]:
    """The page shown (kept within the list), and its first and last item's index + 1."""
    pages = max(1, -(-count // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    return page, page * PAGE_SIZE, min(count, (page + 1) * PAGE_SIZE)


def page_actions(action_id: str) -> tuple[str, str]:
    """The Previous and Next buttons' action_ids: two, as no two elements of a block may share one."""
    return f"{action_id}_previous", f"{action_id}_next"


def pager(action_id: str, count: int, page: int) -> list[bk.Block]:
    """Previous/Next buttons (their value: the page they show), and where the page is in the list;
    nothing when one page holds all."""
    page, start, end = page_of(count, page)
    if count <= PAGE_SIZE:
        return []
    previous, following = page_actions(action_id)
    buttons = []
    if page > 0:
        buttons.append(bk.button("◀ Previous", previous, str(page - 1)))
    if end < count:
        buttons.append(bk.button("Next ▶", following, str(page + 1)))
    return [bk.context(f"{start + 1}–{end} of {count}"), bk.actions(*buttons)]


def list_head(intro: str, add: Block, notice: str = "") -> list[Block]:
    """The top of a set-up list: what went wrong last (if anything), what the list is, its Add button."""
    head: list[Block] = [bk.section(f":warning: {escape(notice)}")] if notice else []
    head.append(bk.section(intro, accessory=add))
    return head
