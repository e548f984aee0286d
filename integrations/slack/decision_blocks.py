"""Block Kit for decisions: the announcement, the "Record as decision" modal and its answers.

Decision text is user text: it is escaped here, and long text is cut into
sections that each stay within Slack's 3,000 characters.
"""

from __future__ import annotations

import json
from typing import Any

from ci_slackbot.domain.links import is_slack_permalink
from ci_slackbot.store.models import Decision, Goal
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, link, mention

RECORD_DECISION = "record_decision"  # the message shortcut's and the modal's callback_id
TEXT_BLOCK, TEXT_ACTION = "decision_text", "text"
GOAL_BLOCK, GOAL_ACTION = "decision_goal", "goal"
MODAL_TEXT_LIMIT = 3000  # a plain_text_input holds at most 3,000 characters
# A long decision is announced in full: what does not fit in the channel message (Slack takes about
# 12,000 characters of blocks a message) follows in its thread, up to this many replies, about
# 90,000 characters in all. Past that the announcement says so, and the full text is in Notion.
ANNOUNCED_REPLIES = 8
SECTION_ROOM = bk.MAX_SECTION_TEXT - 100


def escaped_chunks(text: str, limit: int = SECTION_ROOM) -> list[str]:
    """`text` escaped and cut into pieces of at most `limit` characters, never inside an entity.

    Cuts fall on a line break or a space near the end of a piece when there is one.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit:
            joined = "".join(current)
            cut = max(joined.rfind("\n"), joined.rfind(" "))
            if cut > limit // 2:
                chunks.append(joined[:cut])
                rest = joined[cut + 1 :]
            else:
                chunks.append(joined)
                rest = ""
            current, size = [rest] if rest else [], len(rest)
        current.append(piece)
        size += len(piece)
    if current:
        chunks.append("".join(current))
    return chunks


def announcement_messages(
    decision: Decision, goal: Goal | None, *, in_notion: bool, max_replies: int = ANNOUNCED_REPLIES
) -> list[dict[str, Any]]:
    """The decisions-channel message — who recorded what, for which goal, from which message — and,
    when the text is longer than one message holds, the replies in its thread that carry the rest."""
    sections = [bk.section(chunk) for chunk in escaped_chunks(decision.text)]
    head = bk.section(f":white_check_mark: *Decision recorded* by {mention(decision.recorded_by)}")
    notes = []
    if goal is not None:
        notes.append(f"Goal {escape(goal.key)}: {escape(goal.title)}")
    # Checked again here: a row stored before permalinks were checked on submit must not become a link.
    if decision.source_permalink and is_slack_permalink(decision.source_permalink):
        origin = link(decision.source_permalink, "the original message")
        by = f" by {mention(decision.source_author)}" if decision.source_author else ""
        notes.append(f"From {origin}{by}")
    total = f"{len(decision.text):,} characters in all"
    where = "the full text is in Notion (link below, once written)" if in_notion else "it is kept in full"

    def first(shown: int, posted: int) -> list[bk.Block]:
        lead = []
        if posted < len(sections):
            lead.append(f"Shortened here: {total}; the thread has the next part, and {where}.")
        elif shown < len(sections):
            lead.append(f"Continued in the thread below: {total}.")
        extra = [*lead, *notes]
        return [head, *sections[:shown], *([bk.context(*extra)] if extra else [])]

    # As many sections in the channel message as fit with its longest possible notes.
    shown = 0
    while shown < len(sections) and bk.size(first(shown + 1, 0)) <= bk.MESSAGE_BUDGET:
        shown += 1
    replies = bk.pages(sections[shown:])
    posted = shown + sum(len(page) for page in replies[:max_replies])
    fallback = f"Decision recorded: {escape(bk.clip(decision.text, 200))}"
    messages = [bk.Message(fallback, first(shown, posted)).build()]
    for number, page in enumerate(replies[:max_replies], start=2):
        messages.append({"text": f"Decision #{decision.id}, continued ({number})", "blocks": page})
    return messages


def recorded_reply(decision: Decision, channel: str | None, in_notion: bool) -> tuple[str, list[bk.Block]]:
    """The private answer to the person who recorded the decision."""
    where = []
    if channel:
        where.append(f"announced in <#{escape(channel)}>")
    if in_notion:
        where.append("written to the Notion decisions database")
    then = f" It will be {' and '.join(where)}." if where else ""
    text = f":white_check_mark: Decision #{decision.id} is recorded.{then}"
    return text, [bk.section(text)]


def decision_modal(
    *,
    text: str,
    author: str | None,
    permalink: str | None,
    goals: list[tuple[str, str]],
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The "Record as decision" modal, prefilled from the message and editable before saving."""
    shortened = len(text) > MODAL_TEXT_LIMIT
    origin = []
    if author:
        origin.append(f"From a message by {mention(author)}")
    if permalink and is_slack_permalink(permalink):
        origin.append(link(permalink, "open the message"))
    blocks: list[bk.Block] = []
    if origin:
        blocks.append(bk.context(" · ".join(origin)))
    text_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_ACTION,
        "multiline": True,
        "max_length": MODAL_TEXT_LIMIT,
    }
    if text.strip():
        text_element["initial_value"] = text[:MODAL_TEXT_LIMIT]
    blocks.append(
        {
            "type": "input",
            "block_id": TEXT_BLOCK,
            "label": bk.plain("The decision", 2000),
            "element": text_element,
            "hint": bk.plain(
                "The message was longer than a modal holds: its first 3,000 characters are shown."
                if shortened
                else "Edit it into the decision as it should be remembered.",
                2000,
            ),
        }
    )
    if goals:
        blocks.append(
            {
                "type": "input",
                "block_id": GOAL_BLOCK,
                "optional": True,
                "label": bk.plain("Goal", 2000),
                "element": {
                    "type": "static_select",
                    "action_id": GOAL_ACTION,
                    "placeholder": bk.plain("No particular goal", 150),
                    "options": [
                        {"text": bk.plain(f"{key} — {title}", 75), "value": key[:150]} for key, title in goals[:100]
                    ],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": RECORD_DECISION,
        "title": bk.plain("Record a decision", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Record", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata)[:3000],
        "blocks": blocks,
    }


def recorded_modal(decision: Decision, channel: str | None, in_notion: bool) -> dict[str, Any]:
    """What the modal turns into once the decision is saved."""
    _, body = recorded_reply(decision, channel, in_notion)
    return {
        "type": "modal",
        "callback_id": f"{RECORD_DECISION}_done",
        "title": bk.plain("Decision recorded", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Done", bk.MAX_MODAL_TITLE),
        "blocks": body,
    }
