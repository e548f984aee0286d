"""A local stand-in of the Slack Web API, for the end-to-end tests and `ci-slackbot demo`.

The real `slack_sdk.WebClient(base_url=stand_in.url)` talks to it over HTTP, so
everything the app does to Slack (messages, ephemerals, modals, App Home, file
uploads, response_url replies) lands here, is checked against Slack's own rules
(Block Kit limits, trigger expiry, rate tiers, scopes) and can be read back from
Python through the inspection methods.

Answers copy the real API's shape: HTTP 200 with `{"ok": false, "error": ...}`
for API errors, 429 + Retry-After when rate limited, and the keys each method
really returns. Where Slack's behaviour is not documented the choice made here
is stated next to the code.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import json
import mimetypes
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote
from zoneinfo import ZoneInfo

from ci_slackbot.sandbox.base import Request, Response, StandIn, TokenBucket, retry_after_header

__all__ = ["MAX_BLOCKS_TOTAL", "SlackStandIn", "blocks_size", "sdk_problems", "validate_blocks", "validate_view"]

T = TypeVar("T")

# -- Slack's limits -----------------------------------------------------------------
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MAX_MESSAGE_TEXT = 40_000
MAX_MARKDOWN_TOTAL = 12_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_ID = 255  # block_id, action_id, callback_id, external_id
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_SELECT_OPTIONS = 100
MAX_PLACEHOLDER = 150
MAX_LABEL = 2000
MAX_URL = 3000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_BYTES = 250_000
MAX_VIEW_STACK = 3  # a root modal plus two pushed views
MAX_ATTACHMENTS = 100
TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5
INSTALL_CODE_TTL = 600.0  # an OAuth code is exchanged within 10 minutes, once
DEFAULT_TZ = "America/Chicago"

# What a workspace grants when manifest.yml cannot be found (the demo run from an installed package):
# a token holds what the manifest asks for, see `manifest_scopes()`.
DEFAULT_SCOPES = [
    "app_mentions:read",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "mpim:read",
    "team:read",
    "usergroups:read",
    "users:read",
]

_BLOCK_TYPES_BY_SURFACE = {
    "message": {
        "section",
        "header",
        "divider",
        "context",
        "actions",
        "image",
        "input",
        "rich_text",
        "markdown",
        "video",
        "file",
    },
    "modal": {"section", "header", "divider", "context", "actions", "image", "input", "rich_text", "video"},
    "home": {"section", "header", "divider", "context", "actions", "image", "input", "rich_text", "video"},
}
_ALL_BLOCK_TYPES = set().union(*_BLOCK_TYPES_BY_SURFACE.values())

_SELECTS = {
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
}
_ACTION_ELEMENTS = _SELECTS | {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
    "rich_text_input",
}
_ACCESSORY_ELEMENTS = _SELECTS | {
    "button",
    "checkboxes",
    "datepicker",
    "image",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
}
_INPUT_ELEMENTS = _SELECTS | {
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "email_text_input",
    "file_input",
    "number_input",
    "plain_text_input",
    "radio_buttons",
    "rich_text_input",
    "timepicker",
    "url_text_input",
}
_RICH_TEXT_PARTS = {"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"}

# Rate tiers in calls per minute (docs.slack.dev/apis/web-api/rate-limits).
_TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
# The generous tier buckets used unless `strict_rate_limits` is set: ten times the rate.
# (chat.postMessage's per-channel pace is always Slack's: see `_post_pace`.)
_LENIENT_FACTOR = 10

_ID_RE = re.compile(r"^[A-Z0-9]{3,}$")
_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")
_TS_RE = re.compile(r"^\d{9,}\.\d{6}$")


# ===================================================================================
# Block Kit validation (pure)
# ===================================================================================
class _Problems:
    """Collects problems in Slack's own wording: `message [json-pointer:/path]`."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, pointer: str, message: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")

    # -- generic checks -------------------------------------------------------------
    def max_len(self, pointer: str, value: Any, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(pointer, f"must be less than {limit + 1} characters")

    def string(self, pointer: str, value: Any, limit: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.add(pointer, "missing required field")
            return
        if not isinstance(value, str):
            self.add(pointer, "must be a string")
            return
        if required and not value:
            self.add(pointer, "must be more than 0 characters")
        self.max_len(pointer, value, limit)

    def text(
        self,
        pointer: str,
        obj: Any,
        limit: int,
        *,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None:
            if required:
                self.add(pointer, "missing required field")
            return
        if not isinstance(obj, dict):
            self.add(pointer, "must provide an object")
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            expected = " or ".join(allowed)
            self.add(f"{pointer}/type", f"must be {expected}, got {kind!r}")
        value = obj.get("text")
        if not isinstance(value, str):
            self.add(f"{pointer}/text", "must be a string")
        elif not value:
            self.add(f"{pointer}/text", "must be more than 0 characters")
        else:
            self.max_len(f"{pointer}/text", value, limit)

    def items_list(self, pointer: str, value: Any, *, minimum: int, maximum: int, required: bool = True) -> list[Any]:
        if value is None:
            if required:
                self.add(pointer, "missing required field")
            return []
        if not isinstance(value, list):
            self.add(pointer, "must provide an array")
            return []
        if len(value) < minimum:
            self.add(pointer, f"must provide at least {minimum} items")
        if len(value) > maximum:
            self.add(pointer, f"no more than {maximum} items allowed")
        return value


def validate_blocks(blocks: Any, *, surface: str) -> list[str]:
    """Problems Slack would report for these blocks on `surface` ("message", "modal" or "home").

    An empty list means Slack would accept them. Each problem names the offending
    field with a JSON pointer, the way Slack's `invalid_blocks` errors do.
    """
    if surface not in MAX_BLOCKS:
        raise ValueError(f"unknown surface {surface!r}; use 'message', 'modal' or 'home'")
    problems = _Problems()
    _check_blocks(problems, blocks, "/blocks", surface)
    return problems.items


def validate_view(view: Any, *, surface: str | None = None) -> list[str]:
    """Problems Slack would report for a modal or Home tab view (`/view/...` pointers)."""
    problems = _Problems()
    _check_view(problems, view, surface)
    return problems.items


def _check_blocks(problems: _Problems, blocks: Any, base: str, surface: str) -> None:
    if not isinstance(blocks, list):
        problems.add(base, "must provide an array")
        return
    limit = MAX_BLOCKS[surface]
    if len(blocks) > limit:
        problems.add(base, f"no more than {limit} items allowed")
    seen_ids: set[str] = set()
    markdown_total = 0
    for index, block in enumerate(blocks):
        pointer = f"{base}/{index}"
        if not isinstance(block, dict):
            problems.add(pointer, "must provide an object")
            continue
        kind = block.get("type")
        if kind not in _ALL_BLOCK_TYPES:
            problems.add(f"{pointer}/type", f"unsupported block type: {kind!r}")
            continue
        if kind not in _BLOCK_TYPES_BY_SURFACE[surface]:
            problems.add(f"{pointer}/type", f"block type {kind!r} is not allowed in a {surface}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems.string(f"{pointer}/block_id", block_id, MAX_ID)
            if isinstance(block_id, str):
                if block_id in seen_ids:
                    problems.add(f"{pointer}/block_id", f"duplicate block_id {block_id!r}; block_id must be unique")
                seen_ids.add(block_id)
        _BLOCK_CHECKS[kind](problems, block, pointer)
        if kind == "markdown" and isinstance(block.get("text"), str):
            markdown_total += len(block["text"])
    if markdown_total > MAX_MARKDOWN_TOTAL:
        problems.add(base, f"markdown blocks must total less than {MAX_MARKDOWN_TOTAL + 1} characters")


def _check_section(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        problems.add(pointer, "must provide either text or fields")
    problems.text(f"{pointer}/text", text, MAX_SECTION_TEXT, required=False)
    for index, item in enumerate(
        problems.items_list(f"{pointer}/fields", fields, minimum=1, maximum=MAX_SECTION_FIELDS, required=False)
    ):
        problems.text(f"{pointer}/fields/{index}", item, MAX_FIELD_TEXT)
    accessory = block.get("accessory")
    if accessory is not None:
        _check_element(problems, accessory, f"{pointer}/accessory", _ACCESSORY_ELEMENTS, set())


def _check_header(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    problems.text(f"{pointer}/text", block.get("text"), MAX_HEADER_TEXT, plain_only=True)


def _check_divider(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    return


def _check_context(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    elements = problems.items_list(
        f"{pointer}/elements", block.get("elements"), minimum=1, maximum=MAX_CONTEXT_ELEMENTS
    )
    for index, element in enumerate(elements):
        element_pointer = f"{pointer}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            _check_image_element(problems, element, element_pointer)
        else:
            problems.text(element_pointer, element, MAX_SECTION_TEXT)


def _check_actions(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    elements = problems.items_list(
        f"{pointer}/elements", block.get("elements"), minimum=1, maximum=MAX_ACTIONS_ELEMENTS
    )
    action_ids: set[str] = set()
    for index, element in enumerate(elements):
        _check_element(problems, element, f"{pointer}/elements/{index}", _ACTION_ELEMENTS, action_ids)


def _check_image(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    if block.get("image_url") is None and block.get("slack_file") is None:
        problems.add(pointer, "must provide either image_url or slack_file")
    problems.string(f"{pointer}/image_url", block.get("image_url"), MAX_URL)
    problems.string(f"{pointer}/alt_text", block.get("alt_text"), 2000, required=True)
    problems.text(f"{pointer}/title", block.get("title"), 2000, plain_only=True, required=False)


def _check_input(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    problems.text(f"{pointer}/label", block.get("label"), MAX_LABEL, plain_only=True)
    problems.text(f"{pointer}/hint", block.get("hint"), MAX_LABEL, plain_only=True, required=False)
    element = block.get("element")
    if element is None:
        problems.add(f"{pointer}/element", "missing required field")
    else:
        _check_element(problems, element, f"{pointer}/element", _INPUT_ELEMENTS, set())
    for flag in ("optional", "dispatch_action"):
        if flag in block and not isinstance(block[flag], bool):
            problems.add(f"{pointer}/{flag}", "must be a boolean")


def _check_rich_text(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    elements = problems.items_list(f"{pointer}/elements", block.get("elements"), minimum=1, maximum=10_000)
    for index, element in enumerate(elements):
        if not isinstance(element, dict) or element.get("type") not in _RICH_TEXT_PARTS:
            problems.add(f"{pointer}/elements/{index}/type", "must be a rich_text_section, list, preformatted or quote")


def _check_markdown(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    problems.string(f"{pointer}/text", block.get("text"), MAX_MARKDOWN_TOTAL, required=True)


def _check_video(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    for name in ("alt_text", "video_url", "thumbnail_url"):
        problems.string(f"{pointer}/{name}", block.get(name), MAX_URL, required=True)
    problems.text(f"{pointer}/title", block.get("title"), 200, plain_only=True)


def _check_file(problems: _Problems, block: dict[str, Any], pointer: str) -> None:
    problems.string(f"{pointer}/external_id", block.get("external_id"), MAX_ID, required=True)
    if block.get("source") != "remote":
        problems.add(f"{pointer}/source", "must be 'remote'")


_BLOCK_CHECKS: dict[str, Callable[[_Problems, dict[str, Any], str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "divider": _check_divider,
    "context": _check_context,
    "actions": _check_actions,
    "image": _check_image,
    "input": _check_input,
    "rich_text": _check_rich_text,
    "markdown": _check_markdown,
    "video": _check_video,
    "file": _check_file,
}


def _check_image_element(problems: _Problems, element: dict[str, Any], pointer: str) -> None:
    if element.get("image_url") is None and element.get("slack_file") is None:
        problems.add(pointer, "must provide either image_url or slack_file")
    problems.string(f"{pointer}/image_url", element.get("image_url"), MAX_URL)
    problems.string(f"{pointer}/alt_text", element.get("alt_text"), 2000, required=True)


def _check_element(problems: _Problems, element: Any, pointer: str, allowed: set[str], action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        problems.add(pointer, "must provide an object")
        return
    kind = element.get("type")
    if kind not in allowed:
        problems.add(f"{pointer}/type", f"unsupported element type here: {kind!r}")
        return
    if kind == "image":
        _check_image_element(problems, element, pointer)
        return
    _check_initial_options(problems, element, pointer)
    action_id = element.get("action_id")
    if action_id is not None:
        problems.string(f"{pointer}/action_id", action_id, MAX_ID)
        if isinstance(action_id, str):
            if action_id in action_ids:
                problems.add(f"{pointer}/action_id", f"duplicate action_id {action_id!r} in this block")
            action_ids.add(action_id)
    problems.text(
        f"{pointer}/placeholder", element.get("placeholder"), MAX_PLACEHOLDER, plain_only=True, required=False
    )
    if element.get("confirm") is not None:
        _check_confirm(problems, element["confirm"], f"{pointer}/confirm")
    if kind == "button":
        problems.text(f"{pointer}/text", element.get("text"), MAX_BUTTON_TEXT, plain_only=True)
        problems.string(f"{pointer}/value", element.get("value"), 2000)
        problems.string(f"{pointer}/url", element.get("url"), MAX_URL)
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            problems.add(f"{pointer}/style", "must be 'primary' or 'danger'")
    elif kind in ("static_select", "multi_static_select"):
        options, groups = element.get("options"), element.get("option_groups")
        if options is None and groups is None:
            problems.add(pointer, "must provide either options or option_groups")
        _check_options(problems, options, f"{pointer}/options", 1, MAX_SELECT_OPTIONS, plain_only=True, required=False)
        for index, group in enumerate(
            problems.items_list(
                f"{pointer}/option_groups", groups, minimum=1, maximum=MAX_SELECT_OPTIONS, required=False
            )
        ):
            group_pointer = f"{pointer}/option_groups/{index}"
            if not isinstance(group, dict):
                problems.add(group_pointer, "must provide an object")
                continue
            problems.text(f"{group_pointer}/label", group.get("label"), MAX_OPTION_TEXT, plain_only=True)
            _check_options(
                problems, group.get("options"), f"{group_pointer}/options", 1, MAX_SELECT_OPTIONS, plain_only=True
            )
    elif kind == "overflow":
        _check_options(problems, element.get("options"), f"{pointer}/options", 1, 5, plain_only=True)
    elif kind in ("checkboxes", "radio_buttons"):
        _check_options(problems, element.get("options"), f"{pointer}/options", 1, 10, plain_only=False)
    elif kind == "plain_text_input":
        for name in ("min_length", "max_length"):
            value = element.get(name)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                problems.add(f"{pointer}/{name}", "must be an integer between 0 and 3000")
    elif kind == "datepicker":
        initial = element.get("initial_date")
        if initial is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(initial)):
            problems.add(f"{pointer}/initial_date", "must be in the format YYYY-MM-DD")
    elif kind == "timepicker":
        initial = element.get("initial_time")
        if initial is not None and not re.fullmatch(r"\d{2}:\d{2}", str(initial)):
            problems.add(f"{pointer}/initial_time", "must be in the format HH:mm")
    elif kind in ("users_select", "multi_users_select"):
        _check_user_select(problems, element, pointer)
    elif kind in ("conversations_select", "multi_conversations_select"):
        _check_conversation_select(problems, element, pointer)


# The filter of a conversations select: docs.slack.dev/reference/block-kit/composition-objects/
# conversation-filter-object — `include` is a non-empty list of "im", "mpim", "private", "public";
# `exclude_external_shared_channels` and `exclude_bot_users` are booleans; at least one is given.
_CONVERSATION_KINDS = {"im", "mpim", "private", "public"}


def _check_user_select(problems: _Problems, element: dict[str, Any], pointer: str) -> None:
    """users_select's `initial_user` is "the user ID of any valid user"; multi_users_select's
    `initial_users` "an array of user IDs of any valid user", and `max_selected_items` at least 1
    (docs.slack.dev/reference/block-kit/block-elements/select-menu-element#users_select, #users_multi_select)."""
    if element.get("type") == "users_select":
        initial = element.get("initial_user")
        if initial is not None and not (isinstance(initial, str) and _USER_RE.match(initial)):
            problems.add(f"{pointer}/initial_user", "must be a user ID")
        return
    initial_users = element.get("initial_users")
    if initial_users is not None:
        if not isinstance(initial_users, list):
            problems.add(f"{pointer}/initial_users", "must provide an array")
        else:
            for index, user in enumerate(initial_users):
                if not (isinstance(user, str) and _USER_RE.match(user)):
                    problems.add(f"{pointer}/initial_users/{index}", "must be a user ID")
    _check_max_selected(problems, element, pointer)


def _check_max_selected(problems: _Problems, element: dict[str, Any], pointer: str) -> None:
    limit = element.get("max_selected_items")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.add(f"{pointer}/max_selected_items", "must be an integer of 1 or more")


def _check_conversation_select(problems: _Problems, element: dict[str, Any], pointer: str) -> None:
    """conversations_select: `initial_conversation` a conversation ID (`initial_conversations` an array
    of them), `default_to_current_conversation` a boolean, and the filter as the reference above says
    (docs.slack.dev/reference/block-kit/block-elements/select-menu-element#conversations_select)."""
    if element.get("type") == "conversations_select":
        initial = element.get("initial_conversation")
        if initial is not None and not (isinstance(initial, str) and CONVERSATION_ID.match(initial)):
            problems.add(f"{pointer}/initial_conversation", "must be a conversation ID")
    else:
        initials = element.get("initial_conversations")
        if initials is not None and not (
            isinstance(initials, list) and all(isinstance(c, str) and CONVERSATION_ID.match(c) for c in initials)
        ):
            problems.add(f"{pointer}/initial_conversations", "must be an array of conversation IDs")
        _check_max_selected(problems, element, pointer)
    for flag in ("default_to_current_conversation", "response_url_enabled"):
        if flag in element and not isinstance(element[flag], bool):
            problems.add(f"{pointer}/{flag}", "must be a boolean")
    chosen = element.get("filter")
    if chosen is None:
        return
    if not isinstance(chosen, dict):
        problems.add(f"{pointer}/filter", "must provide an object")
        return
    known = {"include", "exclude_external_shared_channels", "exclude_bot_users"}
    for name in chosen:
        if name not in known:
            problems.add(f"{pointer}/filter/{name}", "is not a field of a conversation filter")
    if not known & set(chosen):
        problems.add(
            f"{pointer}/filter",
            "must provide at least one of include, exclude_external_shared_channels or exclude_bot_users",
        )
    include = chosen.get("include")
    if include is not None and (
        not isinstance(include, list) or not include or any(kind not in _CONVERSATION_KINDS for kind in include)
    ):
        problems.add(f"{pointer}/filter/include", "must be a non-empty array of im, mpim, private or public")
    for flag in ("exclude_external_shared_channels", "exclude_bot_users"):
        if flag in chosen and not isinstance(chosen[flag], bool):
            problems.add(f"{pointer}/filter/{flag}", "must be a boolean")


def _check_options(
    problems: _Problems,
    options: Any,
    pointer: str,
    minimum: int,
    maximum: int,
    *,
    plain_only: bool,
    required: bool = True,
) -> None:
    for index, option in enumerate(
        problems.items_list(pointer, options, minimum=minimum, maximum=maximum, required=required)
    ):
        option_pointer = f"{pointer}/{index}"
        if not isinstance(option, dict):
            problems.add(option_pointer, "must provide an object")
            continue
        problems.text(f"{option_pointer}/text", option.get("text"), MAX_OPTION_TEXT, plain_only=plain_only)
        problems.string(f"{option_pointer}/value", option.get("value"), MAX_OPTION_VALUE)
        problems.text(
            f"{option_pointer}/description", option.get("description"), MAX_OPTION_TEXT, plain_only=True, required=False
        )


def _check_confirm(problems: _Problems, confirm: Any, pointer: str) -> None:
    if not isinstance(confirm, dict):
        problems.add(pointer, "must provide an object")
        return
    problems.text(f"{pointer}/title", confirm.get("title"), 100, plain_only=True)
    problems.text(f"{pointer}/text", confirm.get("text"), 300)
    problems.text(f"{pointer}/confirm", confirm.get("confirm"), 30, plain_only=True)
    problems.text(f"{pointer}/deny", confirm.get("deny"), 30, plain_only=True)


def _check_view(problems: _Problems, view: Any, surface: str | None) -> None:
    if not isinstance(view, dict):
        problems.add("/view", "must provide an object")
        return
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.add("/view/type", f"must be 'modal' or 'home', got {kind!r}")
        return
    if surface is not None and kind != surface:
        problems.add("/view/type", f"must be {surface!r} for this method")
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        problems.add("/view", f"must be less than {MAX_VIEW_BYTES} bytes")
    blocks = view.get("blocks")
    if blocks is None:
        problems.add("/view/blocks", "missing required field")
    else:
        _check_blocks(problems, blocks, "/view/blocks", kind)
    if kind == "modal":
        problems.text("/view/title", view.get("title"), MAX_VIEW_TITLE, plain_only=True)
        has_input = isinstance(blocks, list) and any(
            isinstance(block, dict) and block.get("type") == "input" for block in blocks
        )
        if has_input and view.get("submit") is None:
            problems.add("/view/submit", "is required when a modal has input blocks")
    else:
        problems.text("/view/title", view.get("title"), MAX_VIEW_TITLE, plain_only=True, required=False)
    for name in ("submit", "close"):
        problems.text(f"/view/{name}", view.get(name), MAX_VIEW_TITLE, plain_only=True, required=False)
    problems.string("/view/private_metadata", view.get("private_metadata"), MAX_PRIVATE_METADATA)
    problems.string("/view/callback_id", view.get("callback_id"), MAX_ID)
    problems.string("/view/external_id", view.get("external_id"), MAX_ID)


def _assign_block_ids(blocks: list[Any]) -> list[Any]:
    """Give blocks without a block_id one, as Slack does when it stores them."""
    taken = {block.get("block_id") for block in blocks if isinstance(block, dict)}
    result = []
    for block in blocks:
        if isinstance(block, dict) and block.get("block_id") is None:
            block = dict(block)
            new_id = secrets.token_urlsafe(3)
            while new_id in taken:
                new_id = secrets.token_urlsafe(3)
            taken.add(new_id)
            block["block_id"] = new_id
        result.append(block)
    return result


# ===================================================================================
# Whole-message size, select consistency and the SDK's own models (rules kept apart)
# ===================================================================================
# Slack refuses a message whose blocks carry more than about 12,000 characters in all with
# `msg_blocks_too_long`, although every block is within its own limit. The Block Kit reference
# does not say so; slackapi/bolt-js #2509 measured the refusal at ~13,300 characters of text in
# markdown blocks alone, and a divider lowered it, and #2867 was refused with 11,341 characters
# of summed `.text` strings (Slack's answer there: "12,000 text characters with a buffer for
# block containers"). So the block containers count too, and summing text fields under-counts:
# the stand-in measures the JSON of the whole `blocks` array (compact separators, characters not
# bytes), which is never smaller than the text it carries, against 12,000 — the stricter of the
# plausible readings, so that a message it accepts is one Slack accepts.
# It applies to chat.postMessage, chat.postEphemeral, chat.update and response_url answers.
# Views have their own limits (250 kB a view, 100 blocks, per block) and are checked by
# `validate_view`, not by this rule.
MAX_BLOCKS_TOTAL = 12_000


def blocks_size(blocks: Any) -> int:
    """How long Slack counts a message's blocks for `msg_blocks_too_long` (see MAX_BLOCKS_TOTAL)."""
    return len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False))


def _check_blocks_total(blocks: Any) -> None:
    if blocks_size(blocks) > MAX_BLOCKS_TOTAL:
        raise _ApiError("msg_blocks_too_long")


_OPTION_LISTS = {
    "static_select": "options",
    "multi_static_select": "options",
    "radio_buttons": "options",
    "checkboxes": "options",
    "overflow": "options",
}


def _check_initial_options(problems: _Problems, element: dict[str, Any], pointer: str) -> None:
    """An `initial_option(s)` must be among the element's own options.

    Block Kit reference, static select: initial_option "must exactly match one of the options
    within options or option_groups"; the same words for multi-selects' initial_options, radio
    buttons and checkboxes. Slack answers `invalid_blocks` otherwise. External selects load their
    options later, so any initial option is theirs to give.
    """
    kind = element.get("type")
    if kind not in _OPTION_LISTS:
        return
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        if isinstance(group, dict):
            options.extend(o for o in group.get("options") or [] if isinstance(o, dict))
    initial = element.get("initial_option")
    if initial is not None and initial not in options:
        problems.add(f"{pointer}/initial_option", "must exactly match one of the options")
    for index, option in enumerate(element.get("initial_options") or []):
        if option not in options:
            problems.add(f"{pointer}/initial_options/{index}", "must exactly match one of the options")


def sdk_problems(blocks: Any, base: str = "/blocks") -> list[str]:
    """What `slack_sdk.models` refuses in these blocks: Slack's own SDK knows its per-field limits too."""
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block

    problems: list[str] = []
    if not isinstance(blocks, list):
        return problems
    for index, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            continue
        try:
            block = Block.parse(raw)
            if block is not None:
                block.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"{exc} [json-pointer:{base}/{index}]")
    return problems


# ===================================================================================
# The stand-in
# ===================================================================================
class _ApiError(Exception):
    """An API-level failure: answered as `{"ok": false, "error": code, **extra}`."""

    def __init__(self, code: str, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return Response(self.status, {"ok": False, "error": self.code, **self.extra}, dict(headers or {}))


def _invalid_arguments(*messages: str) -> _ApiError:
    return _ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


@dataclass
class _Workspace:
    team_id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    scopes: list[str]
    # User groups need a paid plan; on the free plan the usergroups.* methods answer plan_upgrade_required.
    usergroups_plan: bool = True


@dataclass
class _Usergroup:
    """A user group of a workspace (https://docs.slack.dev/reference/objects/usergroup-object)."""

    id: str
    team_id: str
    handle: str
    name: str
    description: str
    users: list[str]
    created: int
    updated: int
    disabled_at: int = 0  # date_delete: 0 while enabled


@dataclass
class _Trigger:
    trigger_id: str
    user: str | None
    team_id: str | None
    issued_at: float
    used: bool = False


@dataclass
class _ResponseUrl:
    key: str
    issued_at: float
    channel: str | None
    message_ts: str | None
    user: str | None
    team_id: str | None
    uses: int = 0


@dataclass
class _File:
    id: str
    team_id: str
    user: str
    filename: str
    length: int
    created: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    title: str | None = None
    content: bytes | None = None
    completed: bool = False
    shares: dict[str, list[str]] = field(default_factory=dict)  # channel -> message ts list


@dataclass
class _InstallCode:
    """An OAuth code, as slack.com hands it to the redirect URL once someone approved the install."""

    code: str
    team_id: str
    team_name: str | None
    installer: str
    scopes: list[str] | None
    redirect_uri: str | None
    issued_at: float
    used: bool = False


@dataclass
class _Method:
    handler: Callable[[_Workspace, dict[str, Any]], dict[str, Any]]
    tier: int | None  # None: chat.postMessage's per-channel limit
    scopes: tuple[str, ...]  # any one of these is enough


class SlackStandIn(StandIn):
    """The Slack Web API at `stand_in.url` (the SLACK_API_URL setting)."""

    name = "slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox",
        team_id: str = "T0SANDBOX",
        team_name: str = "Sandbox Coalition",
        team_domain: str = "sandbox",
        bot_user_id: str = "U0CIBOT",
        bot_id: str = "B0CIBOT",
        bot_name: str = "ci-slackbot",
        app_id: str = "A0CIBOT",
        client_id: str = "1111111111.2222222222",
        client_secret: str = "sandbox-client-secret",
        scopes: Iterable[str] | None = None,
        strict_rate_limits: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.bot_name = bot_name
        self.app_id = app_id
        # The app's credentials, which oauth.v2.access checks (Basic Authentication or form fields).
        self.client_id = client_id
        self.client_secret = client_secret
        self._install_codes: dict[str, _InstallCode] = {}
        self._revoked: set[str] = set()
        self.strict_rate_limits = strict_rate_limits
        self.default_team_id = team_id
        self._workspaces: dict[str, _Workspace] = {}
        self._tokens: dict[str, str] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[tuple[str, str], dict[str, Any]] = {}
        self._usergroups: dict[str, _Usergroup] = {}
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._local = threading.local()
        self._changed = threading.Condition(self.lock)
        self._version = 0
        self._seq = 0
        self._last_ts_us = 0
        self._reset_state()
        self.add_token(
            bot_token,
            team_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            scopes=scopes,
        )
        handlers: dict[str, tuple[Callable[[_Workspace, dict[str, Any]], dict[str, Any]], int | None]] = {
            "auth.test": (self._auth_test, 4),
            "apps.connections.open": (self._apps_connections_open, 1),
            "chat.postMessage": (self._chat_post_message, None),
            "chat.postEphemeral": (self._chat_post_ephemeral, 4),
            "chat.update": (self._chat_update, 3),
            "chat.delete": (self._chat_delete, 3),
            "chat.getPermalink": (self._chat_get_permalink, 4),
            "conversations.open": (self._conversations_open, 3),
            "conversations.info": (self._conversations_info, 3),
            "users.info": (self._users_info, 4),
            "team.info": (self._team_info, 3),
            "views.open": (self._views_open, 4),
            "views.push": (self._views_push, 4),
            "views.update": (self._views_update, 4),
            "views.publish": (self._views_publish, 4),
            "files.getUploadURLExternal": (self._files_get_upload_url, 4),
            "files.completeUploadExternal": (self._files_complete_upload, 4),
            "files.info": (self._files_info, 4),
            # Tier 2 both (https://docs.slack.dev/reference/methods/usergroups.list, …/usergroups.users.list).
            "usergroups.list": (self._usergroups_list, 2),
            "usergroups.users.list": (self._usergroups_users_list, 2),
        }
        self._methods: dict[str, _Method] = {
            name: _Method(handler, tier, METHOD_SCOPES[name]) for name, (handler, tier) in handlers.items()
        }

    def _reset_state(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._ephemerals: list[dict[str, Any]] = []
        self._responses: list[dict[str, Any]] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._view_log: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}  # view id -> current record
        self._stacks: dict[tuple[str, str | None], list[str]] = {}
        self._homes: dict[tuple[str, str], dict[str, Any]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._files: dict[str, _File] = {}
        # Uploads to files.slack.com to answer 503, as that host does in an outage: a plain HTTP
        # endpoint, posted to by slack_sdk's files_upload_v2 with urllib and none of its retry handlers.
        self._failing_uploads = 0
        self._calls: list[dict[str, Any]] = []
        self._buckets = {}

    # -- StandIn hooks ----------------------------------------------------------------
    def base_path(self) -> str:
        return "/api/"

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        api = r"/api/(?P<method>[A-Za-z0-9_.]+)"
        return [
            ("POST", api, self._api),
            ("GET", api, self._api),
            ("POST", r"/_upload/(?P<file_id>F[A-Z0-9]+)", self._upload),
            ("PUT", r"/_upload/(?P<file_id>F[A-Z0-9]+)", self._upload),
            ("GET", r"/_files/(?P<file_id>F[A-Z0-9]+)(?:/[^/]*)?", self._download),
            ("POST", r"/_response/(?P<key>[^/]+)", self._respond),
        ]

    def error_response(self, status: int, message: str) -> Response:
        if status == 500:
            body: dict[str, Any] = {"ok": False, "error": "internal_error"}
            if message != "injected fault":
                # Only a bug in the stand-in gets here; say which, so the test log shows it.
                body["warning"] = message
            return Response(500, body)
        if status >= 500:
            # Slack's edge answers gateway failures with a plain page, not the JSON envelope.
            reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Error")
            return Response(status, f"{status} {reason}".encode(), {"Content-Type": "text/plain; charset=utf-8"})
        if status == 404:
            return Response(404, f"Not Found: {message}".encode(), {"Content-Type": "text/plain; charset=utf-8"})
        return Response(status, {"ok": False, "error": message})

    def throttled_response(self, retry_after: float) -> Response:
        return Response(429, {"ok": False, "error": "ratelimited"}, retry_after_header(retry_after))

    def handle(self, request: Request) -> Response:
        self._local.reached = False
        response = super().handle(request)
        if not self._local.reached and request.path.startswith(self.base_path()):
            # A fault answered before routing; keep it in calls() so retries can be counted.
            error = response.body.get("error") if isinstance(response.body, dict) else None
            method = request.path[len(self.base_path()) :]
            with self.lock:
                self._record_call(method, {}, None, response.status, error or f"http_{response.status}")
        return response

    # -- configuration ---------------------------------------------------------------
    def add_token(
        self,
        token: str,
        team_id: str,
        *,
        team_name: str | None = None,
        team_domain: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        scopes: Iterable[str] | None = None,
    ) -> None:
        """Accept `token` as a bot token of workspace `team_id` (created if new)."""
        with self.lock:
            workspace = self._workspaces.get(team_id)
            if workspace is None:
                suffix = team_id[1:] if len(team_id) > 1 else team_id
                workspace = _Workspace(
                    team_id=team_id,
                    name=team_name or f"Workspace {team_id}",
                    domain=team_domain or re.sub(r"[^a-z0-9-]", "", (team_name or team_id).lower()) or "sandbox",
                    bot_user_id=bot_user_id or f"U{suffix}BOT",
                    bot_id=bot_id or f"B{suffix}BOT",
                    scopes=list(manifest_scopes() if scopes is None else scopes),
                )
                self._workspaces[team_id] = workspace
                self._users[workspace.bot_user_id] = self._make_user(
                    workspace.bot_user_id, team_id, name=self.bot_name, real_name=self.bot_name, is_bot=True
                )
            elif scopes is not None:
                workspace.scopes = list(scopes)
            self._tokens[token] = team_id

    def prepare_install(
        self,
        team_id: str,
        team_name: str | None = None,
        *,
        installer: str = "U0INSTALL1",
        scopes: Iterable[str] | None = None,
        redirect_uri: str | None = None,
        issued_at: float | None = None,
    ) -> str:
        """What slack.com does when someone approves the install: a code for the app's redirect URL.

        oauth.v2.access exchanges it, once and within 10 minutes, for a new bot token of `team_id`
        (the workspace is created if new). `scopes` are those granted (default: the manifest's);
        with `redirect_uri`, the exchange must name the same one; `issued_at` makes an expired code.
        """
        with self.lock:
            code = f"{self._next_seq()}.{secrets.token_hex(16)}"
            self._install_codes[code] = _InstallCode(
                code=code,
                team_id=team_id,
                team_name=team_name,
                installer=installer,
                scopes=None if scopes is None else list(scopes),
                redirect_uri=redirect_uri,
                issued_at=time.time() if issued_at is None else issued_at,
            )
            return code

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: every bot token of it now answers `token_revoked`.

        (Slack then sends the app the `app_uninstalled` event; a test sends that itself.)
        """
        with self.lock:
            for token, team in list(self._tokens.items()):
                if team == team_id:
                    del self._tokens[token]
                    self._revoked.add(token)
            self._touch()

    def tokens(self, team_id: str) -> list[str]:
        """The bot tokens that work in a workspace now (minted by installs, or added with add_token)."""
        with self.lock:
            return [token for token, team in self._tokens.items() if team == team_id]

    def set_scopes(self, scopes: Iterable[str], team_id: str | None = None) -> None:
        """Change the scopes granted to the app in a workspace (e.g. to test `doctor`)."""
        with self.lock:
            self._workspaces[team_id or self.default_team_id].scopes = list(scopes)

    def add_user(
        self,
        user_id: str,
        *,
        team_id: str | None = None,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str = DEFAULT_TZ,
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_primary_owner: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Define a user. Unknown well-formed user IDs are made up on first use anyway.

        `is_admin`, `is_owner` and `is_primary_owner` are users.info's flags (https://api.slack.com/types/user);
        the primary owner is one of the owners, so both flags are set for them. `is_bot`: another app's
        bot user, such as a workflow bot someone put among a coalition's members.
        """
        with self.lock:
            user = self._make_user(
                user_id,
                team_id or self.default_team_id,
                name=name,
                real_name=real_name,
                display_name=display_name,
                tz=tz,
                email=email,
                is_admin=is_admin,
                deleted=deleted,
                is_bot=is_bot,
            )
            user["is_owner"] = is_owner or is_primary_owner
            user["is_primary_owner"] = is_primary_owner
            self._users[user_id] = user
            return copy.deepcopy(user)

    def set_status(self, user_id: str, text: str, emoji: str = "", expiration: int = 0) -> None:
        """A person's custom status, as they set it in Slack (e.g. "Vacationing", `:palm_tree:`).

        users.info gives it in `profile.status_text`, `status_emoji` and `status_expiration`
        (https://api.slack.com/methods/users.info, https://api.slack.com/types/user): a Unix time
        after which Slack clears it, 0 for a status that does not expire.
        """
        with self.lock:
            user = self._users.get(user_id) or self._make_user(user_id, self.default_team_id)
            user["profile"].update({"status_text": text, "status_emoji": emoji, "status_expiration": expiration})
            self._users[user_id] = user

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        team_id: str | None = None,
        is_private: bool | None = None,
        is_archived: bool = False,
        is_member: bool = True,
    ) -> dict[str, Any]:
        """Define a channel. `is_member=False` makes posts fail with `not_in_channel`."""
        if not CONVERSATION_ID.match(channel_id) or channel_id.startswith("D"):
            raise ValueError(f"{channel_id!r} is not a C… or G… channel ID (a letter, then 8 or more)")
        with self.lock:
            channel = self._make_channel(team_id or self.default_team_id, channel_id, name=name, is_private=is_private)
            channel["is_archived"] = is_archived
            channel["is_member"] = is_member
            return copy.deepcopy(channel)

    def add_usergroup(
        self,
        usergroup_id: str,
        handle: str,
        users: Iterable[str] = (),
        *,
        name: str | None = None,
        description: str = "",
        team_id: str | None = None,
    ) -> dict[str, Any]:
        """Define a user group (`@handle`) of a workspace with its members, as an admin makes one in Slack."""
        if not re.match(r"^S[A-Z0-9]{2,}$", usergroup_id):
            raise ValueError(f"{usergroup_id!r} is not a user group ID (S, then capitals and digits)")
        with self.lock:
            now = int(time.time())
            group = _Usergroup(
                id=usergroup_id,
                team_id=team_id or self.default_team_id,
                handle=handle,
                name=name or handle.replace("-", " ").title(),
                description=description,
                users=list(dict.fromkeys(users)),
                created=now,
                updated=now,
            )
            self._usergroups[usergroup_id] = group
            self._touch()
            return self._usergroup_object(group, include_users=True, include_count=True)

    def set_usergroup_users(self, usergroup_id: str, users: Iterable[str]) -> None:
        """Someone changed the group's members in Slack."""
        with self.lock:
            group = self._usergroups[usergroup_id]
            group.users = list(dict.fromkeys(users))
            group.updated = int(time.time())
            self._touch()

    def disable_usergroup(self, usergroup_id: str) -> None:
        """An admin disabled the group (Slack keeps it, with its members, and `date_delete` set)."""
        with self.lock:
            group = self._usergroups[usergroup_id]
            group.disabled_at = group.updated = int(time.time())
            self._touch()

    def remove_usergroup(self, usergroup_id: str) -> None:
        """The group is gone altogether (deleted on an Enterprise org): its ID is unknown from now on."""
        with self.lock:
            self._usergroups.pop(usergroup_id, None)
            self._touch()

    def set_usergroups_plan(self, allowed: bool, team_id: str | None = None) -> None:
        """False: the workspace is on Slack's free plan, which has no user groups."""
        with self.lock:
            self._workspaces[team_id or self.default_team_id].usergroups_plan = allowed

    def new_trigger_id(
        self, user_id: str | None = None, *, team_id: str | None = None, issued_at: float | None = None
    ) -> str:
        """Mint a trigger_id as Slack puts in an interaction payload (valid 3 s, once).

        `issued_at` (epoch seconds) lets a test make an already expired trigger.
        """
        with self.lock:
            stamp = time.time() if issued_at is None else issued_at
            trigger_id = f"{self._next_seq()}.{int(stamp)}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = _Trigger(trigger_id, user_id, team_id, stamp)
            return trigger_id

    def response_url(
        self,
        key: str | None = None,
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        user: str | None = None,
        team_id: str | None = None,
        issued_at: float | None = None,
    ) -> str:
        """A response_url served by this stand-in, as Slack puts in command/action payloads.

        Bind it to `channel`/`message_ts` to let replace_original/delete_original act on
        that message, and in_channel replies land in that channel. `issued_at` (epoch
        seconds) lets a test make one older than Slack's 30 minutes.
        """
        with self.lock:
            key = key or secrets.token_hex(12)
            self._response_urls[key] = _ResponseUrl(
                key=key,
                issued_at=time.time() if issued_at is None else issued_at,
                channel=channel,
                message_ts=message_ts,
                user=user,
                team_id=team_id or self.default_team_id,
            )
            return f"{self.origin}/_response/{quote(key, safe='')}"

    def close_views(self, user_id: str, team_id: str | None = None) -> None:
        """Forget the user's modal stack, as when they close or submit the modal."""
        with self.lock:
            self._stacks.pop((team_id or self.default_team_id, user_id), None)
            self._touch()

    def submission_answered(
        self,
        user_id: str,
        view_id: str,
        answer: Any,
        team_id: str | None = None,
        submitted: dict[str, Any] | None = None,
    ) -> None:
        """What Slack does with the app's answer to a view_submission (docs.slack.dev/surfaces/modals,
        "Responding to view submissions"): an empty answer closes the view submitted, and only that
        one, so that the view under a pushed one shows again; `response_action: clear` closes the whole
        stack; `update` puts the answer's view in place of the submitted one (same id, new hash);
        `push` stacks a new view on it (at most three); `errors` leaves everything as it is."""
        team = team_id or self.default_team_id
        action = answer.get("response_action") if isinstance(answer, dict) else None
        with self.lock:
            stack = self._stacks.get((team, user_id), [])
            if action == "errors":
                # Each error is shown under the input block its key names (docs.slack.dev/surfaces/modals,
                # "Displaying errors in views": keys are block_ids of the view's input blocks); a key that
                # names no input block shows nothing there, and the person reads "We had some trouble
                # connecting" at the top instead (slackapi/bolt-js#554), so the error is lost.
                record = self._views.get(view_id)
                shown = submitted if submitted is not None else record["view"] if record is not None else None
                errors = answer.get("errors")
                if isinstance(shown, dict) and isinstance(shown.get("blocks"), list) and isinstance(errors, dict):
                    blocks = [b for b in shown["blocks"] if isinstance(b, dict)]
                    inputs = {b.get("block_id") for b in blocks if b.get("type") == "input"}
                    stray = sorted(str(key) for key in errors if key not in inputs)
                    if stray:
                        raise ValueError(f"errors name no input block of the view: {stray}")
            elif action is None or action == "clear":
                if action == "clear" or not stack or stack[0] == view_id:
                    self._stacks.pop((team, user_id), None)
                elif view_id in stack:
                    stack.remove(view_id)
            elif action in ("update", "push"):
                view = answer.get("view")
                problems = validate_view(view, surface="modal")
                if problems:
                    # Slack shows the person an error in the modal and keeps it; the app's answer is lost.
                    raise ValueError(f"the submission's {action} view is invalid: {problems}")
                workspace = self._workspaces.get(team)
                record = self._views.get(view_id)
                if workspace is None or record is None or record["team"] != team:
                    return  # a view this Slack never showed (a test's own): nothing of it to change
                if action == "update":
                    current = record["view"]
                    built = self._build_view(
                        workspace,
                        view_id,
                        view,
                        root_view_id=current["root_view_id"],
                        previous_view_id=current["previous_view_id"],
                    )
                else:
                    if len(stack) >= MAX_VIEW_STACK:
                        raise ValueError("push_limit_reached: a submission cannot push a fourth view")
                    built = self._build_view(
                        workspace,
                        self._new_id("V"),
                        view,
                        root_view_id=stack[0] if stack else None,
                        previous_view_id=view_id,
                    )
                    stack.append(built["id"])
                self._log_view(f"response_action.{action}", built, user_id, team, None)
            self._touch()

    def reset(self) -> None:
        """Clear everything recorded (messages, views, files, calls, faults); keep tokens, users, channels."""
        self.faults.restore()
        with self.lock:
            self._reset_state()
            self.log.clear()
            self._touch()

    # -- inspection --------------------------------------------------------------------
    def messages(
        self, channel: str | None = None, *, team: str | None = None, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """Messages now in Slack (deleted ones excluded), oldest first.

        Each is the message as Slack stores it plus `channel`: ts, text, blocks,
        thread_ts, user (the bot user), bot_id, team, edited, files, reply_count.
        """
        with self.lock:
            return [_public(m) for m in self._messages if _keep(m, channel, team, thread_ts)]

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """Messages in the bot's direct-message conversation with `user_id`."""
        with self.lock:
            ims = {key[1] for key, ch in self._channels.items() if ch.get("is_im") and ch.get("user") == user_id}
            return [_public(m) for m in self._messages if not m.get("_deleted") and m["channel"] in ims]

    def ephemerals(self, user: str | None = None, *, channel: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (user is None or e["user"] == user) and (channel is None or e["channel"] == channel)
            ]

    def responses(self, key: str | None = None) -> list[dict[str, Any]]:
        """Accepted posts to response_urls, each with its `key`."""
        with self.lock:
            return [copy.deepcopy(r) for r in self._responses if key is None or r["key"] == key]

    def views(self, user: str | None = None, *, callback_id: str | None = None) -> list[dict[str, Any]]:
        """Every modal opened, pushed or updated: method, view_id, user, trigger_id, callback_id, view."""
        with self.lock:
            return [
                copy.deepcopy(v)
                for v in self._view_log
                if (user is None or v["user"] == user) and (callback_id is None or v["callback_id"] == callback_id)
            ]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The current state of a view, as Slack would return it."""
        with self.lock:
            record = self._views.get(view_id)
            return copy.deepcopy(record["view"]) if record else None

    def view_stack(self, user_id: str, team_id: str | None = None) -> list[dict[str, Any]]:
        """The user's open modals, root first."""
        with self.lock:
            ids = self._stacks.get((team_id or self.default_team_id, user_id), [])
            return [copy.deepcopy(self._views[i]["view"]) for i in ids]

    def home(self, user_id: str, team: str | None = None) -> dict[str, Any] | None:
        """The App Home view last published for the user."""
        with self.lock:
            view = self._homes.get((team or self.default_team_id, user_id))
            return copy.deepcopy(view)

    def files(self) -> list[dict[str, Any]]:
        """Every file whose upload was started: id, name, title, content (bytes), size, channels, …"""
        with self.lock:
            return [
                {
                    "id": f.id,
                    "name": f.filename,
                    "title": f.title or f.filename,
                    "content": f.content,
                    "size": len(f.content) if f.content is not None else 0,
                    "declared_length": f.length,
                    "completed": f.completed,
                    "channels": list(f.shares),
                    "shares": copy.deepcopy(f.shares),
                    "user": f.user,
                    "team": f.team_id,
                    "alt_txt": f.alt_txt,
                }
                for f in self._files.values()
            ]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every Web API call: method, params (token removed), team, ok, error, status, at."""
        with self.lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c["method"] == method]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Return the first truthy `predicate()`, re-checking whenever Slack's state changes.

        Raises TimeoutError after `timeout` seconds. The predicate runs without the
        stand-in's lock held, so it may call anything (the app, other stand-ins).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                seen = self._version
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with self._changed:
                if self._version == seen:
                    # Capped so predicates that also look outside this stand-in are re-polled.
                    self._changed.wait(min(remaining, 0.05))

    # -- internals: bookkeeping ------------------------------------------------------
    def _touch(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{self._next_seq():09d}"

    def _next_ts(self) -> str:
        # Unique and increasing even when two messages land in the same microsecond.
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _record_call(
        self, method: str, params: dict[str, Any], team: str | None, status: int, error: str | None
    ) -> None:
        self._calls.append(
            {
                "method": method,
                "params": copy.deepcopy({k: v for k, v in params.items() if k != "token"}),
                "team": team,
                "ok": error is None,
                "error": error,
                "status": status,
                "at": time.time(),
            }
        )
        self._touch()

    def _make_user(
        self,
        user_id: str,
        team_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        display_name: str | None = None,
        tz: str = DEFAULT_TZ,
        email: str | None = None,
        is_bot: bool = False,
        is_admin: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        real_name = real_name or f"Sandbox User {user_id}"
        display_name = name if display_name is None else display_name
        now = datetime.now(ZoneInfo(tz))
        offset = now.utcoffset()
        profile: dict[str, Any] = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "fields": {},
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": "g000000000",
            "first_name": real_name.split(" ")[0],
            "last_name": " ".join(real_name.split(" ")[1:]),
            "image_24": "https://a.slack-edge.com/80588/img/avatars/user_shapes/ava_0001-24.png",
            "image_48": "https://a.slack-edge.com/80588/img/avatars/user_shapes/ava_0001-48.png",
            "image_72": "https://a.slack-edge.com/80588/img/avatars/user_shapes/ava_0001-72.png",
            "team": team_id,
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self._workspaces[team_id].bot_id if team_id in self._workspaces else None
        return {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "deleted": deleted,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": now.tzname() or tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "is_email_confirmed": not is_bot,
            "who_can_share_contact_card": "EVERYONE",
        }

    def _user(self, workspace: _Workspace, user_id: Any) -> dict[str, Any]:
        if not isinstance(user_id, str) or not _USER_RE.match(user_id):
            raise _ApiError("user_not_found")
        user = self._users.get(user_id)
        if user is None:
            user = self._make_user(user_id, workspace.team_id)
            self._users[user_id] = user
        return user

    def _make_channel(
        self,
        team_id: str,
        channel_id: str,
        *,
        name: str | None = None,
        is_private: bool | None = None,
        im_user: str | None = None,
        mpim_users: list[str] | None = None,
    ) -> dict[str, Any]:
        created = int(time.time())
        if im_user is not None:
            channel: dict[str, Any] = {
                "id": channel_id,
                "created": created,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": team_id,
                "updated": created * 1000,
                "user": im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        else:
            private = channel_id.startswith("G") if is_private is None else is_private
            is_mpim = mpim_users is not None
            name = name or (f"mpdm-{'--'.join(mpim_users)}-1" if mpim_users else channel_id.lower())
            channel = {
                "id": channel_id,
                "name": name,
                "is_channel": not private and not is_mpim,
                "is_group": private or is_mpim,
                "is_im": False,
                "is_mpim": is_mpim,
                "is_private": private or is_mpim,
                "created": created,
                "is_archived": False,
                "is_general": False,
                "unlinked": 0,
                "name_normalized": name,
                "is_shared": False,
                "is_org_shared": False,
                "is_pending_ext_shared": False,
                "pending_shared": [],
                "context_team_id": team_id,
                "updated": created * 1000,
                "parent_conversation": None,
                "creator": "",
                "is_ext_shared": False,
                "shared_team_ids": [team_id],
                "pending_connected_team_ids": [],
                "is_member": True,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
                "previous_names": [],
            }
            if mpim_users is not None:
                channel["members"] = list(mpim_users)
        self._channels[(team_id, channel_id)] = channel
        return channel

    def _im_for(self, workspace: _Workspace, user_id: str) -> dict[str, Any]:
        if self._user(workspace, user_id).get("is_bot"):
            # A bot token cannot open a DM with a bot user, the app's own included: Slack answers
            # `cannot_dm_bot` ("a dm between two bots can not exist", Slack's support as quoted in
            # HubSpot/slack-client#90; conversations.open in yokonsan/claude-in-slack-api#8).
            raise _ApiError("cannot_dm_bot")
        # Stable per user, so a test can predict where DMs land.
        channel_id = f"D{user_id}"
        existing = self._channels.get((workspace.team_id, channel_id))
        return existing or self._make_channel(workspace.team_id, channel_id, im_user=user_id)

    def _channel(self, workspace: _Workspace, channel_id: Any, *, users_allowed: bool = False) -> dict[str, Any]:
        """Resolve a channel argument; C…/G… IDs are created on first use, D… must exist."""
        if not isinstance(channel_id, str) or not channel_id:
            raise _ApiError("channel_not_found")
        if users_allowed and _USER_RE.match(channel_id):
            return self._im_for(workspace, channel_id)
        if not CONVERSATION_ID.match(channel_id):
            raise _ApiError("channel_not_found")
        existing = self._channels.get((workspace.team_id, channel_id))
        if existing is not None:
            return existing
        if channel_id.startswith("D"):
            raise _ApiError("channel_not_found")
        return self._make_channel(workspace.team_id, channel_id)

    def _find_message(self, team_id: str, channel_id: str, ts: Any) -> dict[str, Any] | None:
        for message in self._messages:
            if (
                message["channel"] == channel_id
                and message["ts"] == ts
                and message["team"] == team_id
                and not message.get("_deleted")
            ):
                return message
        return None

    def _take_rate(self, workspace: _Workspace, method: str, spec: _Method, params: dict[str, Any]) -> float:
        factor = 1 if self.strict_rate_limits else _LENIENT_FACTOR
        if spec.tier is None:
            key: tuple[str, ...] = post_pace_key(workspace.team_id, params.get("channel"))
            rate, capacity = POST_RATE_PER_SECOND, float(POST_BURST)
        else:
            key = (workspace.team_id, method)
            per_minute = _TIER_PER_MINUTE[spec.tier]
            rate, capacity = per_minute / 60.0 * factor, float(per_minute * factor)
        with self.lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, capacity)
        return bucket.take()

    # -- internals: HTTP ---------------------------------------------------------------
    def _params(self, request: Request) -> tuple[dict[str, Any], bool]:
        """Merge query string and body the way Slack reads them; also say if the body was JSON."""
        params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        content_type = request.headers.get("content-type", "").lower()
        if not request.body:
            return params, False
        if content_type.startswith("application/json"):
            try:
                body = json.loads(request.body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _ApiError("invalid_json") from exc
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update({k: v for k, v in body.items() if v is not None})
            return params, True
        if content_type.startswith("multipart/form-data"):
            params.update(_parse_multipart(request.body, request.headers["content-type"]))
            return params, False
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise _ApiError("invalid_form_data") from exc
        params.update({k: v[-1] for k, v in form.items()})
        return params, False

    def _api(self, request: Request, method: str) -> Response:
        self._local.reached = True
        spec = self._methods.get(method)
        params: dict[str, Any] = {}
        workspace: _Workspace | None = None
        headers: dict[str, str] = {}
        try:
            params, from_json = self._params(request)
            if method == "oauth.v2.access":
                # Authenticated by the app's client ID and secret, not by a token.
                result = self._oauth_v2_access(request, params)
                with self.lock:
                    self._record_call(method, _without_secrets(params), result["team"]["id"], 200, None)
                return Response(200, {"ok": True, **result})
            if spec is None:
                raise _ApiError("unknown_method", req_method=method)
            if from_json and method in FORM_ONLY_METHODS:
                # Such a method does not read a JSON body: only the query string's arguments count.
                params = {k: v[-1] for k, v in request.query.items()}
            token = _bearer(request.headers.get("authorization"))
            if token is None and not from_json:
                # Slack reads a `token` form field, but never one inside a JSON body.
                token = params.get("token") or None
            if not token:
                raise _ApiError("not_authed")
            with self.lock:
                if token in self._revoked:
                    raise _ApiError("token_revoked")
                team_id = self._tokens.get(token)
                workspace = self._workspaces.get(team_id) if team_id else None
            if workspace is None:
                raise _ApiError("invalid_auth")
            headers = {
                "x-oauth-scopes": ",".join(workspace.scopes),
                "x-accepted-oauth-scopes": ",".join(spec.scopes),
            }
            refused = missing_scope(method, workspace.scopes)
            if refused is not None:
                raise refused
            wait = self._take_rate(workspace, method, spec, params)
            if wait > 0:
                response = self.throttled_response(wait)
                response.headers.update(headers)
                with self.lock:
                    self._record_call(method, params, workspace.team_id, 429, "ratelimited")
                return response
            with self.lock:
                result = spec.handler(workspace, params)
                self._record_call(method, params, workspace.team_id, 200, None)
            return Response(200, {"ok": True, **result}, headers)
        except _ApiError as error:
            with self.lock:
                team = workspace.team_id if workspace else None
                self._record_call(method, _without_secrets(params), team, error.status, error.code)
            return error.response(headers)

    def _oauth_v2_access(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: exchange a code from `prepare_install` for a new bot token of its workspace."""
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise _ApiError("invalid_client_id") from exc
        if client_id != self.client_id:
            raise _ApiError("invalid_client_id")
        if client_secret != self.client_secret:
            raise _ApiError("bad_client_secret")
        with self.lock:
            grant = self._install_codes.get(str(params.get("code") or ""))
            if grant is None or grant.used or time.time() - grant.issued_at > INSTALL_CODE_TTL:
                raise _ApiError("invalid_code")
            if grant.redirect_uri is not None and params.get("redirect_uri") != grant.redirect_uri:
                raise _ApiError("bad_redirect_uri")
            grant.used = True
            token = f"xoxb-{grant.team_id}-{self._next_seq()}-{secrets.token_hex(12)}"
        self.add_token(
            token,
            grant.team_id,
            team_name=grant.team_name,
            scopes=grant.scopes if grant.scopes is not None else manifest_scopes(),
        )
        with self.lock:
            workspace = self._workspaces[grant.team_id]
            return {
                "access_token": token,
                "token_type": "bot",
                "scope": ",".join(workspace.scopes),
                "bot_user_id": workspace.bot_user_id,
                "app_id": self.app_id,
                "team": {"id": workspace.team_id, "name": workspace.name},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": grant.installer},
            }

    def fail_uploads(self, count: int) -> None:
        """Answer the next `count` uploads of file bytes with 503 Service Unavailable."""
        with self.lock:
            self._failing_uploads = count

    def _upload(self, request: Request, file_id: str) -> Response:
        self._local.reached = True
        with self.lock:
            if self._failing_uploads > 0:
                self._failing_uploads -= 1
                return Response(503, b"Service Unavailable", {"Content-Type": "text/plain; charset=utf-8"})
        content = request.body
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            parts = _parse_multipart(request.body, content_type)
            blobs = [v for v in parts.values() if isinstance(v, bytes)]
            content = blobs[0] if blobs else b""
        with self.lock:
            upload = self._files.get(file_id)
            if upload is None or upload.completed:
                return Response(404, b"Not Found", {"Content-Type": "text/plain; charset=utf-8"})
            upload.content = content
            self._touch()
        # What files.slack.com answers to a successful upload.
        return Response(200, f"OK - {len(content)}".encode(), {"Content-Type": "text/plain; charset=utf-8"})

    def _download(self, request: Request, file_id: str) -> Response:
        self._local.reached = True
        token = _bearer(request.headers.get("authorization"))
        with self.lock:
            upload = self._files.get(file_id)
            authorised = token is not None and self._tokens.get(token) == (upload.team_id if upload else None)
            if upload is None or upload.content is None or not upload.completed:
                return Response(404, b"Not Found", {"Content-Type": "text/plain; charset=utf-8"})
            if not authorised:
                return Response(403, b"Forbidden", {"Content-Type": "text/plain; charset=utf-8"})
            mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            return Response(200, upload.content, {"Content-Type": mimetype})

    def _respond(self, request: Request, key: str) -> Response:
        self._local.reached = True
        key = unquote(key)
        try:
            params, _ = self._params(request)
            if "payload" in params and isinstance(params["payload"], str):
                params = json.loads(params["payload"])
        except (_ApiError, json.JSONDecodeError):
            return _json_error(400, "invalid_payload")
        with self.lock:
            entry = self._response_urls.get(key)
            # An unknown URL looks to Slack like one long expired.
            if entry is None or time.time() - entry.issued_at > RESPONSE_URL_TTL:
                return _json_error(404, "expired_url")
            if entry.uses >= RESPONSE_URL_USES:
                return _json_error(404, "used_url")
            try:
                record = self._apply_response(entry, params)
            except _ApiError as error:
                body = {"ok": False, "error": error.code, **error.extra}
                return Response(400, body)
            entry.uses += 1
            self._responses.append(record)
            self._touch()
        return Response(200, {"ok": True})

    def _apply_response(self, entry: _ResponseUrl, params: dict[str, Any]) -> dict[str, Any]:
        delete = _flag(params.get("delete_original"))
        replace = _flag(params.get("replace_original"))
        response_type = params.get("response_type") or "ephemeral"
        text, blocks, attachments = self._check_message(
            params,
            require_content=not delete,
            conversation=entry.channel,
            viewer=entry.user if response_type != "in_channel" else None,
        )
        team_id = entry.team_id or self.default_team_id
        record: dict[str, Any] = {
            "key": entry.key,
            "text": text,
            "blocks": blocks,
            "attachments": attachments,
            "response_type": response_type,
            "replace_original": replace,
            "delete_original": delete,
            "thread_ts": params.get("thread_ts"),
            "channel": entry.channel,
            "user": entry.user,
            "team": team_id,
            "at": time.time(),
        }
        original = (
            self._find_message(team_id, entry.channel, entry.message_ts) if entry.channel and entry.message_ts else None
        )
        original_ephemeral = next(
            (e for e in self._ephemerals if e["channel"] == entry.channel and e["ts"] == entry.message_ts),
            None,
        )
        if delete:
            if original is not None:
                original["_deleted"] = True
            if original_ephemeral is not None:
                self._ephemerals.remove(original_ephemeral)
        elif replace and (original is not None or original_ephemeral is not None):
            target = original if original is not None else original_ephemeral
            assert target is not None
            target["text"] = text
            target["blocks"] = blocks
            if attachments is not None:
                target["attachments"] = attachments
            if original is not None:
                target["edited"] = {"user": self._workspaces[team_id].bot_user_id, "ts": self._next_ts()}
        elif entry.channel is not None:
            workspace = self._workspaces[team_id]
            if response_type == "in_channel":
                message = self._store_message(
                    workspace, entry.channel, text, blocks, attachments, params.get("thread_ts"), {}
                )
                record["ts"] = message["ts"]
            elif entry.user is not None:
                ephemeral = self._store_ephemeral(
                    workspace, entry.channel, entry.user, text, blocks, attachments, params.get("thread_ts")
                )
                ephemeral["response_key"] = entry.key
                record["ts"] = ephemeral["ts"]
        return record

    # -- internals: messages -----------------------------------------------------------
    def _check_message(
        self,
        params: dict[str, Any],
        *,
        require_content: bool = True,
        conversation: str | None = None,
        viewer: str | None = None,
    ) -> tuple[str, list[Any] | None, list[Any] | None]:
        text = params.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = _json_param(params, "blocks", "invalid_blocks_format")
        attachments = _json_param(params, "attachments", "invalid_attachments")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        if blocks is not None:
            problems = validate_blocks(blocks, surface="message") or sdk_problems(blocks, "/blocks")
            if problems:
                raise _ApiError(
                    "invalid_blocks",
                    errors=problems,
                    response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
                )
            missing = self._unknown_slack_files(blocks, conversation, viewer)
            if missing:
                raise _ApiError(
                    "invalid_blocks",
                    errors=missing,
                    response_metadata={"messages": [f"[ERROR] {p}" for p in missing]},
                )
            _check_blocks_total(blocks)
            blocks = _assign_block_ids(blocks)
        if attachments is not None:
            if not isinstance(attachments, list):
                raise _ApiError("invalid_attachments")
            if len(attachments) > MAX_ATTACHMENTS:
                raise _ApiError("too_many_attachments")
            for index, attachment in enumerate(attachments):
                nested = attachment.get("blocks") if isinstance(attachment, dict) else None
                if nested is not None:
                    problems = [
                        p.replace("[json-pointer:/blocks", f"[json-pointer:/attachments/{index}/blocks")
                        for p in validate_blocks(nested, surface="message")
                    ]
                    if problems:
                        raise _ApiError("invalid_attachments", errors=problems)
        if require_content and not text and not blocks and not attachments:
            raise _ApiError("no_text")
        return text or "", blocks, attachments

    def _unknown_slack_files(
        self, blocks: list[Any], conversation: str | None = None, viewer: str | None = None
    ) -> list[str]:
        """Image blocks naming a `slack_file` that the message's readers cannot see are refused, as Slack
        does with "invalid slack file": one never uploaded, not completed, or shared nowhere they can see
        (`file_visible_to`). `conversation` is where the message goes; `viewer` the one person an ephemeral
        is for."""
        problems: list[str] = []
        public = {
            (team, channel_id)
            for (team, channel_id), channel in self._channels.items()
            if channel.get("is_channel") and not channel.get("is_private")
        }
        viewer_im = f"D{viewer}" if viewer else None

        def check(image: Any, pointer: str) -> None:
            if not isinstance(image, dict) or image.get("type") != "image":
                return
            slack_file = image.get("slack_file")
            if not isinstance(slack_file, dict) or "id" not in slack_file:
                return
            upload = self._files.get(str(slack_file["id"]))
            if not file_visible_to(upload, conversation, viewer_im, public):
                problems.append(f"invalid slack file [json-pointer:{pointer}/slack_file]")

        for index, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            check(block, f"/blocks/{index}")
            check(block.get("accessory"), f"/blocks/{index}/accessory")
            for position, element in enumerate(block.get("elements") or []):
                check(element, f"/blocks/{index}/elements/{position}")
        return problems

    def _store_message(
        self,
        workspace: _Workspace,
        channel_id: str,
        text: str,
        blocks: list[Any] | None,
        attachments: list[Any] | None,
        thread_ts: Any,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel_id,
            "text": text,
            "user": workspace.bot_user_id,
            "ts": ts,
            "bot_id": workspace.bot_id,
            "app_id": self.app_id,
            "team": workspace.team_id,
            "bot_profile": {
                "id": workspace.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "icons": {},
                "deleted": False,
                "updated": int(time.time()),
                "team_id": workspace.team_id,
            },
        }
        if blocks is not None:
            message["blocks"] = blocks
        if attachments is not None:
            message["attachments"] = attachments
        if thread_ts:
            # Slack accepts a thread_ts it cannot find (e.g. a user's message); only known parents are updated.
            message["thread_ts"] = str(thread_ts)
            parent = self._find_message(workspace.team_id, channel_id, str(thread_ts))
            if parent is not None:
                parent.setdefault("thread_ts", parent["ts"])
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                users = parent.setdefault("reply_users", [])
                if workspace.bot_user_id not in users:
                    users.append(workspace.bot_user_id)
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = ts
                message["parent_user_id"] = parent.get("user")
        message.update(extra)
        self._messages.append(message)
        return message

    def _store_ephemeral(
        self,
        workspace: _Workspace,
        channel_id: str,
        user: str,
        text: str,
        blocks: list[Any] | None,
        attachments: list[Any] | None,
        thread_ts: Any,
    ) -> dict[str, Any]:
        ephemeral: dict[str, Any] = {
            "channel": channel_id,
            "user": user,
            "ts": self._next_ts(),
            "text": text,
            "blocks": blocks,
            "attachments": attachments,
            "thread_ts": str(thread_ts) if thread_ts else None,
            "team": workspace.team_id,
            "bot_id": workspace.bot_id,
        }
        self._ephemerals.append(ephemeral)
        return ephemeral

    def _permalink(self, workspace: _Workspace, channel_id: str, message: dict[str, Any]) -> str:
        link = f"https://{workspace.domain}.slack.com/archives/{channel_id}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            link += f"?thread_ts={thread_ts}&cid={channel_id}"
        return link

    # -- Web API methods -----------------------------------------------------------------
    def _auth_test(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{workspace.domain}.slack.com/",
            "team": workspace.name,
            "user": self.bot_name,
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        # Socket Mode takes an app-level token (xapp-…), which the stand-in does not issue: a token it
        # knows is a bot token, and Slack refuses those here. Unknown tokens are invalid_auth, as ever.
        raise _ApiError("not_allowed_token_type")

    def _chat_post_message(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(workspace, params.get("channel"), users_allowed=True)
        if channel.get("is_archived"):
            raise _ApiError("is_archived")
        if not channel.get("is_im") and not channel.get("is_member", True):
            raise _ApiError("not_in_channel")
        text, blocks, attachments = self._check_message(params, conversation=channel["id"])
        extra = {k: params[k] for k in ("username", "icon_emoji", "icon_url") if params.get(k)}
        metadata = _json_param(params, "metadata", "invalid_metadata_format")
        if metadata is not None:
            extra["metadata"] = metadata
        message = self._store_message(
            workspace, channel["id"], text, blocks, attachments, params.get("thread_ts"), extra
        )
        return {"channel": channel["id"], "ts": message["ts"], "message": _api_message(message)}

    def _chat_post_ephemeral(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user")
        if not user:
            raise _invalid_arguments("missing required field: user")
        channel = self._channel(workspace, params.get("channel"), users_allowed=True)
        if not isinstance(user, str) or not _USER_RE.match(user):
            raise _ApiError("user_not_in_channel")
        self._user(workspace, user)
        if channel.get("is_archived"):
            raise _ApiError("is_archived")
        if not channel.get("is_im") and not channel.get("is_member", True):
            raise _ApiError("not_in_channel")
        text, blocks, attachments = self._check_message(params, conversation=channel["id"], viewer=user)
        ephemeral = self._store_ephemeral(
            workspace, channel["id"], user, text, blocks, attachments, params.get("thread_ts")
        )
        return {"message_ts": ephemeral["ts"]}

    def _chat_update(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(workspace, params.get("channel"))
        message = self._find_message(workspace.team_id, channel["id"], params.get("ts"))
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("bot_id") != workspace.bot_id:
            raise _ApiError("cant_update_message")
        has_blocks = params.get("blocks") is not None
        has_attachments = params.get("attachments") is not None
        text, blocks, attachments = self._check_message(params, conversation=channel["id"])
        message["text"] = text
        # Like Slack: blocks/attachments left out of the update are kept.
        if has_blocks:
            message["blocks"] = blocks
        if has_attachments:
            message["attachments"] = attachments
        message["edited"] = {"user": workspace.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "text": text,
            "message": _api_message(message),
        }

    def _chat_delete(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(workspace, params.get("channel"))
        message = self._find_message(workspace.team_id, channel["id"], params.get("ts"))
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("bot_id") != workspace.bot_id:
            raise _ApiError("cant_delete_message")
        message["_deleted"] = True
        return {"channel": channel["id"], "ts": message["ts"]}

    def _chat_get_permalink(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(workspace, params.get("channel"))
        message = self._find_message(workspace.team_id, channel["id"], params.get("message_ts"))
        if message is None:
            raise _ApiError("message_not_found")
        return {"channel": channel["id"], "permalink": self._permalink(workspace, channel["id"], message)}

    def _conversations_open(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        return_im = _flag(params.get("return_im"))
        if params.get("channel"):
            channel = self._channel(workspace, params["channel"])
            return {"no_op": True, "already_open": True, "channel": _channel_summary(channel, full=return_im)}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for user in users:
            self._user(workspace, user)
        if len(users) == 1:
            channel_id = f"D{users[0]}"
            existed = (workspace.team_id, channel_id) in self._channels
            channel = self._im_for(workspace, users[0])
        else:
            members = sorted({*users, workspace.bot_user_id})
            channel_id = "G" + "".join(m[1:] for m in members)[:20]
            existed = (workspace.team_id, channel_id) in self._channels
            channel = self._channels.get((workspace.team_id, channel_id)) or self._make_channel(
                workspace.team_id, channel_id, mpim_users=members
            )
        result: dict[str, Any] = {"channel": _channel_summary(channel, full=return_im)}
        if existed:
            result.update(no_op=True, already_open=True)
        return result

    def _conversations_info(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(workspace, params.get("channel"))
        # Any one of the method's scopes lets the call through, but the conversation's own type decides
        # what it may read: channels:read for a public channel, groups:read for a private one, im:read
        # and mpim:read for DMs (docs.slack.dev/reference/methods/conversations.info, "Required scopes",
        # one per conversation type; the Conversations API guide: "you'll need the corresponding scope").
        kind = (
            "im:read"
            if channel.get("is_im")
            else "mpim:read"
            if channel.get("is_mpim")
            else "groups:read"
            if channel.get("is_private")
            else "channels:read"
        )
        if kind not in workspace.scopes:
            raise _ApiError("missing_scope", needed=kind, provided=",".join(workspace.scopes))
        if channel.get("is_private") and not channel.get("is_im") and not channel.get("is_member"):
            # A private channel exists for the app only once it is a member: conversations.info answers
            # channel_not_found otherwise (docs.slack.dev/reference/methods/conversations.info, "Errors":
            # channel_not_found "Value passed for channel was invalid", and the Conversations API guide:
            # private channels are visible to a bot only when it has been invited).
            raise _ApiError("channel_not_found")
        return {"channel": copy.deepcopy(channel)}

    def _users_info(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        user = copy.deepcopy(self._user(workspace, params.get("user")))
        expiration = user["profile"].get("status_expiration") or 0
        if expiration and expiration <= time.time():
            # Slack clears a custom status when its expiration passes (https://api.slack.com/docs/presence-and-status).
            user["profile"].update({"status_text": "", "status_emoji": "", "status_expiration": 0})
        if _flag(params.get("include_locale")):
            user["locale"] = "en-US"
        if "users:read.email" not in workspace.scopes:
            user["profile"].pop("email", None)
        return {"user": user}

    def _team_info(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        team_id = params.get("team") or workspace.team_id
        team = self._workspaces.get(team_id)
        if team is None:
            raise _ApiError("team_not_found")
        icon = "https://a.slack-edge.com/80588/img/avatars-teams/ava_0001-{}.png"
        return {
            "team": {
                "id": team.team_id,
                "name": team.name,
                "url": f"https://{team.domain}.slack.com/",
                "domain": team.domain,
                "email_domain": "",
                "icon": {
                    "image_default": True,
                    **{f"image_{size}": icon.format(size) for size in (34, 44, 68, 88, 102, 132, 230)},
                },
                "avatar_base_url": "https://ca.slack-edge.com/",
                "is_verified": False,
            }
        }

    # -- user groups ---------------------------------------------------------------------
    # https://docs.slack.dev/reference/methods/usergroups.list and …/usergroups.users.list: scope
    # usergroups:read (checked with the other scopes, `METHOD_SCOPES`); `team_id` matters only with an
    # org-level token and is ignored with a workspace's bot token, as here. Neither method pages: they take
    # no `cursor` or `limit` and answer every group (every member) at once, so none is accepted or given.
    def _usergroup_object(self, group: _Usergroup, *, include_users: bool, include_count: bool) -> dict[str, Any]:
        # The fields of the usergroup object; `users` only with include_users, `user_count` (a string, as
        # in the reference's examples) only with include_count.
        out: dict[str, Any] = {
            "id": group.id,
            "team_id": group.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": group.name,
            "description": group.description,
            "handle": group.handle,
            "is_external": False,
            "date_create": group.created,
            "date_update": group.updated,
            "date_delete": group.disabled_at,
            "auto_type": None,
            "auto_provision": False,
            "enterprise_subteam_id": "",
            "created_by": "USLACKBOT",
            "updated_by": "USLACKBOT",
            "deleted_by": "USLACKBOT" if group.disabled_at else None,
            "prefs": {"channels": [], "groups": []},
        }
        if include_users:
            out["users"] = list(group.users)
        if include_count:
            out["user_count"] = str(len(group.users))
        return out

    def _groups_of(self, workspace: _Workspace) -> list[_Usergroup]:
        if not workspace.usergroups_plan:
            # "This workspace does not have access to User Groups, as that feature is only available on
            # Standard and above plans" (both methods' error lists).
            raise _ApiError("plan_upgrade_required")
        return [g for g in self._usergroups.values() if g.team_id == workspace.team_id]

    def _usergroups_list(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        include_disabled = _flag(params.get("include_disabled"))
        groups = [g for g in self._groups_of(workspace) if include_disabled or not g.disabled_at]
        return {
            "usergroups": [
                self._usergroup_object(
                    g,
                    include_users=_flag(params.get("include_users")),
                    include_count=_flag(params.get("include_count")),
                )
                for g in groups
            ]
        }

    def _usergroups_users_list(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        usergroup = params.get("usergroup")
        if not usergroup:
            # Slack documents no error for a missing `usergroup`; the stand-in answers as it does for
            # other missing required arguments (invalid_arguments, naming the field).
            raise _invalid_arguments("missing required field: usergroup")
        groups = {g.id: g for g in self._groups_of(workspace)}
        group = groups.get(str(usergroup))
        # "no_such_subteam: No usergroup found with the given ID" — also, here, for another workspace's group,
        # and for a disabled one unless include_disabled ("Allow results that involve disabled User Groups";
        # Slack does not document the error for that case, so the stand-in answers the same).
        if group is None or (group.disabled_at and not _flag(params.get("include_disabled"))):
            raise _ApiError("no_such_subteam")
        return {"users": list(group.users)}

    # -- views ---------------------------------------------------------------------------
    def _view_param(self, params: dict[str, Any], surface: str) -> dict[str, Any]:
        raw = params.get("view")
        if raw is None:
            raise _invalid_arguments("missing required field: view")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _invalid_arguments("failed to parse view as JSON [json-pointer:/view]") from exc
        problems = validate_view(raw, surface=surface)
        if not problems and isinstance(raw, dict):
            problems = sdk_problems(raw.get("blocks"), "/view/blocks")
        if problems:
            raise _invalid_arguments(*problems)
        assert isinstance(raw, dict)
        return raw

    def _take_trigger(self, params: dict[str, Any], workspace: _Workspace | None = None) -> _Trigger:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise _invalid_arguments("missing required field: trigger_id")
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if workspace is not None and trigger.team_id is not None and trigger.team_id != workspace.team_id:
            # A trigger from one workspace opens nothing with another workspace's token.
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if time.time() - trigger.issued_at > TRIGGER_TTL:
            raise _ApiError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _build_view(
        self,
        workspace: _Workspace,
        view_id: str,
        view: dict[str, Any],
        *,
        root_view_id: str | None,
        previous_view_id: str | None,
        state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        blocks = _assign_block_ids(list(view.get("blocks") or []))
        built: dict[str, Any] = {
            "id": view_id,
            "team_id": workspace.team_id,
            "type": view["type"],
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": state or {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": workspace.team_id,
            "bot_id": workspace.bot_id,
        }
        if view["type"] == "home":
            built["close"] = None
            built["submit"] = None
        return built

    def _log_view(
        self, method: str, built: dict[str, Any], user: str | None, team_id: str, trigger_id: str | None
    ) -> None:
        self._views[built["id"]] = {"view": built, "user": user, "team": team_id}
        self._view_log.append(
            {
                "method": method,
                "view_id": built["id"],
                "user": user,
                "team": team_id,
                "trigger_id": trigger_id,
                "callback_id": built["callback_id"],
                "external_id": built["external_id"],
                "private_metadata": built["private_metadata"],
                "type": built["type"],
                "view": copy.deepcopy(built),
                "at": time.time(),
            }
        )

    def _check_external_id(self, workspace: _Workspace, view: dict[str, Any], own_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for view_id, record in self._views.items():
            if (
                view_id != own_id
                and record["team"] == workspace.team_id
                and record["view"]["external_id"] == external_id
            ):
                raise _ApiError("duplicate_external_id")

    def _views_open(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        view = self._view_param(params, "modal")
        trigger = self._take_trigger(params, workspace)
        self._check_external_id(workspace, view)
        view_id = self._new_id("V")
        built = self._build_view(workspace, view_id, view, root_view_id=None, previous_view_id=None)
        if trigger.user:
            self._stacks[(workspace.team_id, trigger.user)] = [view_id]
        self._log_view("views.open", built, trigger.user, workspace.team_id, trigger.trigger_id)
        return {"view": built}

    def _views_push(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        view = self._view_param(params, "modal")
        trigger = self._take_trigger(params, workspace)
        # A trigger minted without a user cannot say whose stack it is; such pushes are not counted.
        stack = self._stacks.setdefault((workspace.team_id, trigger.user), []) if trigger.user else []
        if len(stack) >= MAX_VIEW_STACK:
            raise _ApiError("push_limit_reached")
        self._check_external_id(workspace, view)
        view_id = self._new_id("V")
        previous = stack[-1] if stack else None
        root = stack[0] if stack else None
        built = self._build_view(workspace, view_id, view, root_view_id=root, previous_view_id=previous)
        stack.append(view_id)
        self._log_view("views.push", built, trigger.user, workspace.team_id, trigger.trigger_id)
        return {"view": built}

    def _views_update(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise _invalid_arguments("either view_id or external_id is required")
        record = None
        if view_id:
            record = self._views.get(str(view_id))
        else:
            record = next(
                (
                    r
                    for r in self._views.values()
                    if r["team"] == workspace.team_id and r["view"]["external_id"] == external_id
                ),
                None,
            )
        if record is None or record["team"] != workspace.team_id:
            raise _ApiError("not_found")
        current = record["view"]
        view = self._view_param(params, current["type"])
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        self._check_external_id(workspace, view, own_id=current["id"])
        built = self._build_view(
            workspace,
            current["id"],
            view,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
            state=current["state"],
        )
        self._log_view("views.update", built, record["user"], workspace.team_id, None)
        if built["type"] == "home" and record["user"]:
            self._homes[(workspace.team_id, record["user"])] = built
        return {"view": built}

    def _views_publish(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise _invalid_arguments("missing required field: user_id")
        self._user(workspace, user_id)
        view = self._view_param(params, "home")
        current = self._homes.get((workspace.team_id, user_id))
        if params.get("hash") and (current is None or params["hash"] != current["hash"]):
            raise _ApiError("hash_conflict")
        view_id = current["id"] if current else self._new_id("V")
        built = self._build_view(workspace, view_id, view, root_view_id=None, previous_view_id=None)
        self._homes[(workspace.team_id, user_id)] = built
        self._views[view_id] = {"view": built, "user": user_id, "team": workspace.team_id}
        return {"view": built}

    # -- files ---------------------------------------------------------------------------
    def _files_get_upload_url(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        if not filename:
            raise _invalid_arguments("missing required field: filename")
        raw_length = params.get("length")
        if raw_length is None:
            raise _invalid_arguments("missing required field: length")
        try:
            length = int(raw_length)
        except (TypeError, ValueError) as exc:
            raise _invalid_arguments("length must be an integer") from exc
        if length < 0:
            raise _invalid_arguments("length must be a positive integer")
        file_id = self._new_id("F")
        self._files[file_id] = _File(
            id=file_id,
            team_id=workspace.team_id,
            user=workspace.bot_user_id,
            filename=str(filename),
            length=length,
            created=int(time.time()),
            alt_txt=params.get("alt_txt"),
            snippet_type=params.get("snippet_type"),
        )
        return {"upload_url": f"{self.origin}/_upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        items = _json_param(params, "files", "invalid_arguments")
        if not isinstance(items, list) or not items:
            raise _invalid_arguments("missing required field: files")
        uploads: list[tuple[_File, str | None]] = []
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                raise _invalid_arguments("each file needs an id [json-pointer:/files]")
            upload = self._files.get(str(item["id"]))
            if upload is None or upload.team_id != workspace.team_id:
                raise _ApiError("file_not_found")
            if upload.content is None:
                # The bytes never reached the upload URL.
                raise _ApiError("file_upload_not_found")
            uploads.append((upload, item.get("title")))
        targets: list[str] = []
        if params.get("channel_id"):
            targets.append(str(params["channel_id"]))
        targets += [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        for target in targets:
            refused = upload_channel_problem(target)
            if refused is not None:
                raise refused
        thread_ts = params.get("thread_ts")
        if thread_ts and len(targets) > 1:
            raise _invalid_arguments("thread_ts can only be used with a single channel")
        channels = [self._channel(workspace, target) for target in targets]
        for channel in channels:
            if channel.get("is_archived"):
                raise _ApiError("is_archived")
            if not channel.get("is_im") and not channel.get("is_member", True):
                raise _ApiError("not_in_channel")
        for upload, title in uploads:
            upload.title = str(title) if title else upload.title or upload.filename
            upload.completed = True
        comment = params.get("initial_comment")
        blocks = None if comment else _json_param(params, "blocks", "invalid_blocks_format")
        if blocks is not None:
            problems = validate_blocks(blocks, surface="message")
            if problems:
                raise _ApiError("invalid_blocks", errors=problems)
        for channel in channels:
            message = self._store_message(
                workspace,
                channel["id"],
                str(comment or ""),
                _assign_block_ids(blocks) if blocks is not None else None,
                None,
                thread_ts,
                {"files": [], "upload": True, "display_as_bot": False},
            )
            for upload, _ in uploads:
                upload.shares.setdefault(channel["id"], []).append(message["ts"])
            message["files"] = [self._file_object(workspace, upload) for upload, _ in uploads]
        return {"files": [self._file_object(workspace, upload) for upload, _ in uploads]}

    def _files_info(self, workspace: _Workspace, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._files.get(str(params.get("file")))
        if upload is None or not upload.completed or upload.team_id != workspace.team_id:
            raise _ApiError("file_not_found")
        return {
            "file": self._file_object(workspace, upload),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _file_object(self, workspace: _Workspace, upload: _File) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        filetype = upload.snippet_type or {"txt": "text", "": "binary"}.get(extension, extension)
        url = f"{self.origin}/_files/{upload.id}/{quote(upload.filename)}"
        public: dict[str, list[dict[str, Any]]] = {}
        private: dict[str, list[dict[str, Any]]] = {}
        ims, groups, channels = [], [], []
        for channel_id, stamps in upload.shares.items():
            channel = self._channels.get((upload.team_id, channel_id), {})
            shares = [{"ts": ts, "channel_name": channel.get("name", ""), "team_id": upload.team_id} for ts in stamps]
            if channel.get("is_im"):
                ims.append(channel_id)
                private[channel_id] = shares
            elif channel.get("is_private"):
                groups.append(channel_id)
                private[channel_id] = shares
            else:
                channels.append(channel_id)
                public[channel_id] = shares
        shares_obj: dict[str, Any] = {}
        if public:
            shares_obj["public"] = public
        if private:
            shares_obj["private"] = private
        size = len(upload.content) if upload.content is not None else upload.length
        return {
            "id": upload.id,
            "created": upload.created,
            "timestamp": upload.created,
            "name": upload.filename,
            "title": upload.title or upload.filename,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper() if filetype else "Binary",
            "user": upload.user,
            "user_team": upload.team_id,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(public),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": f"{url}?download=1",
            "permalink": f"https://{workspace.domain}.slack.com/files/{upload.user}/{upload.id}/{quote(upload.filename)}",
            "permalink_public": f"https://slack-files.com/{upload.team_id}-{upload.id}-{secrets.token_hex(5)}",
            "comments_count": 0,
            "is_starred": False,
            "shares": shares_obj,
            "channels": channels,
            "groups": groups,
            "ims": ims,
            "has_more_shares": False,
            "has_rich_preview": False,
            "file_access": "visible",
            **({"alt_txt": upload.alt_txt} if upload.alt_txt else {}),
        }


# ===================================================================================
# Rules a real workspace holds the app to: scopes, conversation ids, the posting pace, files
# shown in blocks. Each says where Slack documents it (or where its SDKs' users ran into it).
# ===================================================================================

# Bot scopes each Web API method needs, any one of them enough: "Required scopes" on the method's
# page on docs.slack.dev, as in slackapi/slack-api-specs (web-api/slack_web_openapi_v2.json,
# `security`, which still names the classic `chat:write:bot` beside the granular `chat:write`).
# auth.test, chat.getPermalink and views.* need none (views.* are allowed by the trigger_id or the
# user's App Home). files.*UploadExternal: docs.slack.dev/reference/methods/files.getUploadURLExternal.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "apps.connections.open": (),
    "chat.postMessage": ("chat:write", "chat:write:bot"),
    "chat.postEphemeral": ("chat:write", "chat:write:bot"),
    "chat.update": ("chat:write", "chat:write:bot"),
    "chat.delete": ("chat:write", "chat:write:bot"),
    "chat.getPermalink": (),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "users.info": ("users:read",),
    "team.info": ("team:read",),
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "files.info": ("files:read",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
}


def manifest_scopes() -> list[str]:
    """The bot scopes manifest.yml asks for: all that installing the app from it grants, and so all
    a token of this stand-in holds by default (a method outside them answers `missing_scope`)."""
    from integrations.slack.manifest import ManifestError, bot_scopes, find_manifest, load_manifest

    path = find_manifest()
    if path is None or not path.is_file():
        return list(DEFAULT_SCOPES)
    try:
        return bot_scopes(load_manifest(path))
    except ManifestError:
        return list(DEFAULT_SCOPES)


def missing_scope(method: str, granted: Iterable[str]) -> _ApiError | None:
    """`missing_scope` with `needed` and `provided`, as Slack answers a token without the method's scope."""
    needed = METHOD_SCOPES.get(method, ())
    granted = list(granted)
    if needed and not set(needed) & set(granted):
        # `needed` lists every scope that would do, comma-separated, as real answers show it (e.g. a
        # conversations.* call answered "needed": "channels:read,groups:read,mpim:read,im:read").
        return _ApiError("missing_scope", needed=",".join(needed), provided=",".join(granted))
    return None


# Methods that do not read a JSON body: "This method does not currently accept application/json"
# (docs.slack.dev/reference/methods/usergroups.users.list). slack_sdk sends it as GET with a query string.
FORM_ONLY_METHODS = frozenset({"usergroups.users.list"})


# A conversation id: C (channel), G (private channel, group DM), D (DM), Z; then at least eight more.
# files.completeUploadExternal checks its `channel_id` against exactly this pattern and answers
# invalid_arguments "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]"
# (slackapi/python-slack-sdk#1426, slackapi/bolt-js#2115, slackapi/node-slack-sdk#1653): a user id is refused
# there. Methods taking a `channel` answer channel_not_found to anything else, except that chat.postMessage
# (and chat.postEphemeral) take a user id for the app's DM with that user (the chat.postMessage docs, "Channels";
# slackapi/bolt-python#934: posting to a user id works, uploading to one does not).
CONVERSATION_ID = re.compile(r"^[CGDZ][A-Z0-9]{8,}$")


def upload_channel_problem(value: Any) -> _ApiError | None:
    if isinstance(value, str) and CONVERSATION_ID.match(value):
        return None
    return _invalid_arguments("input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]")


# chat.postMessage: "Posting messages: 1 per second [per channel]. Short bursts >1 allowed."
# (docs.slack.dev/apis/web-api/rate-limits); beyond that, 429 with Retry-After. Always on, whatever
# `strict_rate_limits` says, so that an app posting faster than that into one channel shows in tests.
POST_RATE_PER_SECOND = 1.0
POST_BURST = 3


def post_pace_key(team_id: str, channel: Any) -> tuple[str, ...]:
    # A user id posts to the app's DM with that user: the same conversation as its D… id.
    target = str(channel)
    return (team_id, "chat.postMessage", f"D{target}" if _USER_RE.match(target) else target)


def file_visible_to(
    upload: _File | None, conversation: str | None, viewer_im: str | None, public: set[tuple[str, str]]
) -> bool:
    """Can the people who see a message in `conversation` (or the one `viewer_im` belongs to) see this file?

    A file uploaded without a channel is visible only to its uploader, and a block that shows it to anyone
    else is refused with invalid_blocks / "invalid slack file" (slackapi/bolt-python#1251,
    slackapi/python-slack-sdk#1658 and #1797, slackapi/java-slack-sdk#1349 and #1335). It is visible where
    it was shared: in that conversation, in a public channel of its own workspace (any member there may
    open those; another workspace's members may not), or in the viewer's own DM with the app.
    """
    if upload is None or not upload.completed:
        return False
    shared = set(upload.shares)
    return bool(
        (conversation is not None and conversation in shared)
        or {(upload.team_id, channel) for channel in shared} & public
        or (viewer_im is not None and viewer_im in shared)
    )


# ===================================================================================
# helpers
# ===================================================================================
def _keep(message: dict[str, Any], channel: str | None, team: str | None, thread_ts: str | None) -> bool:
    return (
        not message.get("_deleted")
        and (channel is None or message["channel"] == channel)
        and (team is None or message["team"] == team)
        and (thread_ts is None or message.get("thread_ts") == thread_ts)
    )


def _without_secrets(params: dict[str, Any]) -> dict[str, Any]:
    """Call parameters as calls() keeps them: no client secret, no OAuth code."""
    return {k: v for k, v in params.items() if k not in ("client_secret", "code")}


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in message.items() if not k.startswith("_")})


def _api_message(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the API echoes it: no `channel` key, no stand-in bookkeeping."""
    return copy.deepcopy({k: v for k, v in message.items() if k != "channel" and not k.startswith("_")})


def _channel_summary(channel: dict[str, Any], *, full: bool) -> dict[str, Any]:
    return copy.deepcopy(channel) if full else {"id": channel["id"]}


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _json_param(params: dict[str, Any], name: str, error: str) -> Any:
    """Fields like blocks/view arrive as JSON text in form bodies and as objects in JSON bodies."""
    value = params.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise _ApiError(error) from exc
    return value


def _json_error(status: int, error: str) -> Response:
    return Response(status, {"ok": False, "error": error})


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Fields of a multipart/form-data body: text fields as str, file parts as bytes."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if part.get_filename() is not None:
            fields[name] = payload
        else:
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields
