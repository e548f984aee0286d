"""Block Kit for systems changes and the data development agenda: forms, lists, digest and Home sections.

Every text here that a person wrote (a change, a wish, names of goals and organizations) is
escaped; lists are capped sections, so that a long history stays within Slack's limits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from ci_slackbot.services.systems_changes import KINDS, ChangeView
from ci_slackbot.services.wishes import WishDraft, WishView
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, link, mention

RECORD_CHANGE = "record_systems_change"  # the message shortcut's and the modal's callback_id
CONFIRM_CHANGE = "confirm_systems_change"  # the Confirm button's action_id
TEXT_BLOCK, KIND_BLOCK, ORGS_BLOCK, GOAL_BLOCK, DATE_BLOCK = (
    "change_text",
    "change_kind",
    "change_orgs",
    "change_goal",
    "change_date",
)
SAVE_WISH = "save_data_wish"  # the wish form's callback_id
OPEN_WISH = "open_data_wish"  # App Home's "Add" / "Edit" buttons
QUESTION_BLOCK, DEVELOPER_BLOCK, DUE_BLOCK = "wish_question", "wish_developer", "wish_due"
ELEMENT = "value"  # every input's action_id
MODAL_TEXT_LIMIT = 3000
ITEM_TEXT = 200
MAX_CONFIRM_BUTTONS = 10  # proposed changes shown with a button; `/ci changes` again for the rest
LIST_TITLE = "Systems changes: what will outlast the coalition"
WISHES_TITLE = "Data we still need"


def day(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def _one_line(text: str, limit: int = ITEM_TEXT) -> str:
    return escape(bk.clip(" ".join(text.split()), limit))


def _options(pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"text": bk.plain(label, 75), "value": value[:150]} for value, label in pairs[:100]]


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> bk.Block:
    block: bk.Block = {"type": "input", "block_id": block_id, "label": bk.plain(label, 2000), "element": element}
    if optional:
        block["optional"] = True
    if hint:
        block["hint"] = bk.plain(hint, 2000)
    return block


# -- systems changes ---------------------------------------------------------------------------


def change_modal(
    *,
    text: str,
    organizations: Sequence[tuple[str, str]],
    goals: Sequence[tuple[str, str]],
    today: date,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """The form of a systems change: kind, organizations, goal, date it took effect, and the text."""
    text_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ELEMENT,
        "multiline": True,
        "max_length": MODAL_TEXT_LIMIT,
    }
    if text.strip():
        text_element["initial_value"] = text[:MODAL_TEXT_LIMIT]
    blocks: list[bk.Block] = [
        bk.context(
            "A lasting change in a system the coalition contributed to. Backbone staff confirm it; "
            "until then only they and you see it."
        ),
        _input(
            KIND_BLOCK,
            "Kind of change",
            {"type": "static_select", "action_id": ELEMENT, "options": _options(list(KINDS.items()))},
        ),
        _input(
            TEXT_BLOCK,
            "What changed",
            text_element,
            hint="What is different now, for whom, and what the coalition did toward it.",
        ),
    ]
    if organizations:
        blocks.append(
            _input(
                ORGS_BLOCK,
                "Organizations involved",
                {
                    "type": "multi_static_select",
                    "action_id": ELEMENT,
                    "placeholder": bk.plain("Choose organizations", 150),
                    "options": _options(organizations),
                },
                optional=True,
            )
        )
    if goals:
        blocks.append(
            _input(
                GOAL_BLOCK,
                "Goal it serves",
                {
                    "type": "static_select",
                    "action_id": ELEMENT,
                    "placeholder": bk.plain("No particular goal", 150),
                    "options": _options([(key, f"{key} — {title}") for key, title in goals]),
                },
                optional=True,
            )
        )
    blocks.append(
        _input(DATE_BLOCK, "Took effect on", {"type": "datepicker", "action_id": ELEMENT, "initial_date": str(today)})
    )
    return {
        "type": "modal",
        "callback_id": RECORD_CHANGE,
        "title": bk.plain("A systems change", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Record", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata)[:3000],
        "blocks": blocks,
    }


def change_line(change: ChangeView, *, limit: int = ITEM_TEXT) -> str:
    """`• #3 What changed — Dallas ISD, Children's Health · since Mar 1, 2026 · _proposed_`."""
    text = f"• #{change.id} {_one_line(change.text, limit)}"
    if change.organizations:
        text += f" — {escape(', '.join(change.organizations))}"
    text += f" · since {day(change.took_effect)}"
    if not change.confirmed:
        text += f" · _proposed by {mention(change.recorded_by)}, not confirmed yet_"
    elif change.notion_url and not any(c in change.notion_url for c in "<>| \n"):
        text += f" · {link(change.notion_url, 'Notion')}"
    return text


def _goal_head(change: ChangeView) -> str:
    if change.goal_key:
        return f"*{escape(change.goal_key)} · {escape(change.goal_title or '')}*"
    return "*No particular goal*"


def changes_blocks(changes: Sequence[ChangeView], *, backbone: bool) -> list[bk.Block]:
    """`/ci changes`: one section a goal, its changes by kind; then, for backbone staff, Confirm buttons."""
    out: list[bk.Block] = [bk.header(LIST_TITLE)]
    if not changes:
        out.append(
            bk.section(
                "No systems change is recorded yet. Record one with `/ci change <text>`, "
                'or "Record as a systems change" on a message.'
            )
        )
        return out
    by_goal: dict[str | None, list[ChangeView]] = {}
    for change in changes:
        by_goal.setdefault(change.goal_key, []).append(change)
    for goal_changes in by_goal.values():
        lines: list[str] = []
        kind = None
        for change in goal_changes:
            if change.kind != kind:
                kind = change.kind
                lines.append(f"_{escape(change.kind_label)}_")
            lines.append(change_line(change))
        out.append(bk.capped_section(_goal_head(goal_changes[0]), lines, more="the full list is in Notion"))
    proposed = [c for c in changes if not c.confirmed]
    if backbone and proposed:
        out.append(bk.divider())
        out.append(bk.section(f"*Waiting for confirmation* ({len(proposed)})"))
        for change in proposed[:MAX_CONFIRM_BUTTONS]:
            out.append(
                bk.section(
                    change_line(change, limit=400),
                    accessory=bk.button("Confirm", CONFIRM_CHANGE, str(change.id), style="primary"),
                )
            )
        if len(proposed) > MAX_CONFIRM_BUTTONS:
            out.append(bk.context(f"…and {len(proposed) - MAX_CONFIRM_BUTTONS} more: confirm these first."))
    out.append(bk.context("Kinds of change after ORS Impact's 2018 study of 25 collective impact initiatives."))
    return out


def changes_message(changes: Sequence[ChangeView], *, backbone: bool, note: str = "") -> dict[str, Any]:
    blocks = changes_blocks(changes, backbone=backbone)
    if note:
        blocks.insert(0, bk.section(note))
    return bk.Message(LIST_TITLE, blocks).build("`/ci changes` lists them again.")


def recorded_text(change: ChangeView) -> str:
    if change.confirmed:
        return f":white_check_mark: Systems change #{change.id} is recorded and confirmed."
    return (
        f":hourglass: Systems change #{change.id} is recorded as *proposed*: backbone staff confirm it "
        "(`/ci changes`), and until then only they and you see it."
    )


def recorded_modal(change: ChangeView) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": f"{RECORD_CHANGE}_done",
        "title": bk.plain("Change recorded", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Done", bk.MAX_MODAL_TITLE),
        "blocks": [bk.section(recorded_text(change)), bk.section(change_line(change, limit=1000))],
    }


def confirmed_note(change: ChangeView, in_notion: bool) -> str:
    then = " It will be written to the Notion systems changes database." if in_notion else ""
    return f":white_check_mark: Systems change #{change.id} is confirmed; the next digest announces it.{then}"


def digest_changes_block(changes: Sequence[ChangeView]) -> bk.Block | None:
    """The digest's news: changes confirmed since the last one."""
    if not changes:
        return None
    lines = [f"{change_line(c)} · _{escape(c.kind_label)}_" for c in changes]
    return bk.capped_section(
        f":classical_building: *Systems changes confirmed* ({len(changes)}) — what will outlast us",
        lines,
        more="`/ci changes` lists them all",
    )


# -- the data development agenda ---------------------------------------------------------------


def wish_line(wish: WishView) -> str:
    """`• #2 How many … — Dallas ISD is developing the data, by Sep 1, 2026` or `… now reported as key`."""
    text = f"• #{wish.id} {_one_line(wish.question)}"
    if not wish.open:
        return f"{text} — now reported as *{escape(wish.promoted_to or '')}*"
    who = f"{escape(wish.developer)} is developing the data" if wish.developer else "nobody is developing the data yet"
    when = f", by {day(wish.due)}" if wish.due else ""
    return f"{text} — {who}{when}"


def wishes_block(wishes: Sequence[WishView], *, more: str = "`/ci indicators` lists them all") -> bk.Block | None:
    """ "Data we still need": the open wishes, then those promoted (in the digest: since the last one)."""
    if not wishes:
        return None
    open_count = sum(1 for w in wishes if w.open)
    return bk.capped_section(
        f":mag: *{WISHES_TITLE}* ({open_count}) — indicators we want but have no data for yet",
        [wish_line(w) for w in wishes],
        more=more,
    )


def wish_recorded_text(wish: WishView) -> str:
    return f":mag: Added to the data we still need: {wish_line(wish)[2:]}"


def promoted_text(wish: WishView) -> str:
    key = escape(wish.promoted_to or "")
    return f":white_check_mark: Wish #{wish.id} is now reported as *{key}*; its history is kept."


def wish_modal(
    *, organizations: Sequence[tuple[str, str]], draft: WishDraft | None, wish_id: int | None
) -> dict[str, Any]:
    """Add (or, for backbone staff, edit) an item of the data development agenda."""
    question: dict[str, Any] = {"type": "plain_text_input", "action_id": ELEMENT, "multiline": True, "max_length": 2000}
    developer: dict[str, Any] = {
        "type": "static_select",
        "action_id": ELEMENT,
        "placeholder": bk.plain("Nobody yet", 150),
        "options": _options(organizations),
    }
    due: dict[str, Any] = {"type": "datepicker", "action_id": ELEMENT}
    if draft is not None:
        question["initial_value"] = draft.question[:2000]
        chosen = next(((k, n) for k, n in organizations if k == draft.developer_key), None)
        if chosen is not None:
            developer["initial_option"] = _options([chosen])[0]
        if draft.due is not None:
            due["initial_date"] = draft.due.isoformat()
    blocks: list[bk.Block] = [
        _input(QUESTION_BLOCK, "The question the indicator would answer", question),
        _input(DEVELOPER_BLOCK, "Who is developing the data", developer, optional=True),
        _input(DUE_BLOCK, "By when", due, optional=True),
    ]
    if not organizations:
        blocks.pop(1)
    return {
        "type": "modal",
        "callback_id": SAVE_WISH,
        "title": bk.plain("Data we still need", bk.MAX_MODAL_TITLE),
        "submit": bk.plain("Save", bk.MAX_MODAL_TITLE),
        "close": bk.plain("Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps({"wish_id": wish_id}),
        "blocks": blocks,
    }


def home_blocks(changes: Sequence[ChangeView], wishes: Sequence[WishView], *, backbone: bool) -> list[bk.Block]:
    """App Home's sections: the systems changes by goal and kind, and the data we still need."""
    out: list[bk.Block] = [bk.divider()]
    # No Confirm buttons here: a click answers by replacing a message, and Home is a view.
    out.extend(changes_blocks(changes, backbone=False)[:-1])
    if backbone and any(not c.confirmed for c in changes):
        out.append(bk.context("Confirm the proposed changes with `/ci changes`."))
    block = wishes_block(wishes, more="`/ci indicators` lists them all")
    out.append(block or bk.section(f"*{WISHES_TITLE}*: nothing on the data development agenda yet."))
    if backbone:
        buttons = [bk.button("Add to the agenda", OPEN_WISH, "new")]
        buttons.extend(bk.button(f"Edit #{w.id}", OPEN_WISH, str(w.id)) for w in wishes if w.open)
        out.append(bk.actions(*buttons[:25]))
    else:
        out.append(bk.context("Add an indicator we want but have no data for with `/ci wish <question>`."))
    return out
