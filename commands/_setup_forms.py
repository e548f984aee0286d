"""What the set-up forms' handlers share: pushing a form over a list, refreshing the list after the
commit, reading a submitted form, and putting each refused field's message on its own block.

Not a subcommand (the leading underscore keeps `build_router` from registering it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from commands.router import Interaction, update_view

log = logging.getLogger(__name__)

# Slack shows a field's error under it; a few sentences at most (the wish form keeps to 2000 too).
MAX_ERROR = 2000


def updating(interaction: Interaction, view_id: str | None, view: dict[str, Any], what: str) -> Callable[[], None]:
    slack = interaction.slack
    return lambda: update_view(slack, view_id, view, what)


FormValue = str | list[str] | None


def form_state(interaction: Interaction) -> dict[str, FormValue]:
    """`{block_id: value}` of a submitted form: text as typed, a select's value, the values of a
    multi-select or checkboxes (a list), a chosen conversation's id; None for nothing given."""
    values: dict[str, FormValue] = {}
    for block_id, elements in interaction.read.obj("view", "state", "values").items():
        for _, element in elements.items():
            kind = element.text("type")
            value: FormValue
            if kind in ("multi_static_select", "checkboxes"):
                chosen = element.get("selected_options")
                value = [
                    str(o["value"]).replace("\x00", "")
                    for o in (chosen if isinstance(chosen, list) else [])
                    if isinstance(o, Mapping) and isinstance(o.get("value"), str)
                ]
            elif kind == "static_select":
                value = element.text("selected_option", "value") or None
            elif kind == "conversations_select":
                value = element.text("selected_conversation") or None
            else:
                value = element.text("value") or None
            values[block_id] = value
    return values


def text_of(state: Mapping[str, FormValue], block_id: str) -> str:
    value = state.get(block_id)
    return value if isinstance(value, str) else ""


def list_of(state: Mapping[str, FormValue], block_id: str) -> list[str]:
    value = state.get(block_id)
    return value if isinstance(value, list) else []


def page_of(interaction: Interaction) -> int:
    """The page the clicked list modal shows (its `private_metadata`)."""
    page = interaction.read.json_object("view", "private_metadata").get("page")
    return page if isinstance(page, int) and not isinstance(page, bool) and 0 <= page < 10_000 else 0


def page_clicked(interaction: Interaction) -> int:
    value = interaction.action_value
    return int(value) if value.isascii() and value.isdigit() and len(value) < 5 else 0


_INDEX = re.compile(r"\[\d+\]")


def field_errors(problems: Mapping[str, str], locate: Callable[[str, str], str | None], first: str) -> dict[str, str]:
    """`response_action: errors` for a refused change: each problem on the block `locate(path, message)`
    names, and any it cannot place on the form's first field, so that none is lost."""
    errors: dict[str, str] = {}
    for path, message in problems.items():
        block = locate(path, message) or first
        errors[block] = f"{errors[block]}; {message}" if block in errors else message
    return {block: message[:MAX_ERROR] for block, message in errors.items()}


def within(path: str, section: str) -> str | None:
    """The rest of `path` inside one item of `section` (`indicators[3].target.period` → `target.period`,
    `indicators[3]` → ""), or None for a path elsewhere."""
    match = re.match(rf"^{re.escape(section)}\[\d+\](?:\.(.*))?$", path)
    if match is None:
        return None
    return match.group(1) or ""


def locate_in(rest: str, blocks: Mapping[str, str]) -> str | None:
    """The block of the longest known field `rest` starts with (`reporters[1]` → `reporters`)."""
    plain = _INDEX.sub("", rest)
    parts = plain.split(".")
    for end in range(len(parts), 0, -1):
        block = blocks.get(".".join(parts[:end]))
        if block is not None:
            return block
    return None


def editing_key(interaction: Interaction) -> str | None:
    """The key of the item a submitted form edits (its `private_metadata`); None for a new one."""
    key = interaction.metadata().get("key")
    return key if isinstance(key, str) else None
