"""Block Kit for action items: the `/ci actions` list with its buttons, confirmations and the assignment DM.

Every list stays within Slack's 50 blocks a message whatever the number of
items: each item takes one section (plus one actions block when the viewer may
change it), and what does not fit is counted in one "…and N more" line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from ci_slackbot.services.actions import ActionListing, ActionView, push_value
from ci_slackbot.services.people import Person
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, mention

MARK_DONE = "action_mark_done"
PUSH_WEEK = "action_push_week"

# Command hints, escaped: `<text>` would otherwise be read by Slack as a link.
ADD_HINT = escape("`/ci action add <text> [@owner] [due <date>]`")
DONE_HINT = escape("`/ci action done <id>`")

MAX_ITEM_TEXT = 300  # in a list line; the whole text is in Notion and in the confirmation
LIST_TITLE = "Open action items"


def may_change(person: Person, view: ActionView) -> bool:
    """Who gets the buttons: the owner and backbone staff (the service checks again on click)."""
    return person.is_backbone or view.owner == person.user_id


def due_label(view: ActionView, today: date) -> str:
    if view.due is None:
        return "no due date"
    if view.overdue:
        days = (today - view.due).days
        return f":red_circle: *overdue* — was due {view.due.isoformat()} ({days} day{'s' if days != 1 else ''} ago)"
    if view.due == today:
        return ":large_orange_circle: due *today*"
    return f"due {view.due.isoformat()}"


def item_line(view: ActionView, today: date, *, text_limit: int = MAX_ITEM_TEXT) -> str:
    """`#12 Call the nurses — @owner (Org) · due … · G1`; user text escaped."""
    parts = [mention(view.owner) + (f" ({escape(view.organization_name)})" if view.organization_name else "")]
    if view.is_open:
        parts.append(due_label(view, today))
    if view.goal_key:
        parts.append(f"goal {escape(view.goal_key)}")
    return f"*#{view.id}* {escape(bk.clip(view.text, text_limit))} — " + " · ".join(parts)


def item_buttons(view: ActionView) -> bk.Block:
    return bk.actions(
        bk.button("Mark done", MARK_DONE, str(view.id), style="primary"),
        bk.button("Push a week", PUSH_WEEK, push_value(view.id, view.due)),
        block_id=f"action-{view.id}",
    )


def list_blocks(listing: ActionListing, person: Person, today: date, *, note: str | None = None) -> list[bk.Block]:
    """The `/ci actions` answer; `note` (already escaped) says what a click just did."""
    blocks: list[bk.Block] = []
    if note:
        blocks.append(bk.section(note))
    overdue = sum(1 for v in listing.all if v.overdue)
    title = f"{LIST_TITLE} ({len(listing)})" + (f" · {overdue} overdue" if overdue else "")
    blocks.append(bk.header(title))
    if not len(listing):
        blocks.append(bk.section(f"Nothing open. Add an item with {ADD_HINT}."))
        return blocks
    closing = bk.context(f"Close one with {DONE_HINT} · add one with {ADD_HINT}")
    # Keep room for the closing context line and a possible "…and N more" line.
    room = bk.Room()
    room.reserve(*blocks, closing, bk.context("…and 1000 more open items not shown."))
    hidden = 0
    groups: Sequence[tuple[str, tuple[ActionView, ...]]] = (
        ("Yours", listing.own),
        ("Your organization's", listing.organization),
        ("Everyone else's", listing.others),
    )
    for label, views in groups:
        if not views:
            continue
        heading = bk.context(f"*{label}* ({len(views)})")
        if not room.take(heading):
            hidden += len(views)
            continue
        blocks.append(heading)
        for view in views:
            item = [bk.section(item_line(view, today), block_id=f"item-{view.id}")]
            if may_change(person, view):
                item.append(item_buttons(view))
            if not room.take(*item):
                hidden += 1
                continue
            blocks.extend(item)
    if hidden:
        blocks.append(bk.context(f"…and {hidden} more open item{'s' if hidden != 1 else ''} not shown."))
    blocks.append(closing)
    return blocks


def list_message(listing: ActionListing, person: Person, today: date, *, note: str | None = None) -> dict[str, Any]:
    """A whole message (text + blocks) for a response_url."""
    fallback = f"{LIST_TITLE}: {len(listing)}"
    return bk.Message(fallback, list_blocks(listing, person, today, note=note)).build()


def added_blocks(view: ActionView, today: date, *, assigned_by_someone_else: bool) -> list[bk.Block]:
    head = f":white_check_mark: Added action item *#{view.id}*"
    if assigned_by_someone_else:
        head += f"; I'll let {mention(view.owner)} know"
    return [
        bk.section(f"{head}:\n{item_line(view, today, text_limit=bk.MAX_SECTION_TEXT - 500)}"),
        bk.context("See everything open with `/ci actions` · close it with " + f"`/ci action done {view.id}`"),
    ]


def closed_note(view: ActionView) -> str:
    return f":white_check_mark: Closed *#{view.id}*: {escape(bk.clip(view.text, MAX_ITEM_TEXT))}"


def pushed_note(view: ActionView) -> str:
    due = view.due.isoformat() if view.due else "later"
    return f":calendar: *#{view.id}* {escape(bk.clip(view.text, MAX_ITEM_TEXT))} is now due {due}."


def assignment_dm(view: ActionView, assigned_by: str, today: date) -> dict[str, Any]:
    """The DM an owner gets when someone else assigns them an item."""
    text = f"{mention(assigned_by)} assigned you action item #{view.id}: {escape(bk.clip(view.text, 500))}"
    details = [due_label(view, today)]
    if view.goal_key:
        details.append(f"goal {escape(view.goal_key)}")
    if view.organization_name:
        details.append(f"for {escape(view.organization_name)}")
    blocks = [
        bk.section(
            f":inbox_tray: {mention(assigned_by)} assigned you action item *#{view.id}*:\n"
            f">{escape(bk.clip(view.text, bk.MAX_SECTION_TEXT - 200))}"
        ),
        bk.context(" · ".join(details)),
        bk.context(f"Your open items: `/ci actions` · when it's done: `/ci action done {view.id}`"),
    ]
    return bk.Message(text, blocks).build()
