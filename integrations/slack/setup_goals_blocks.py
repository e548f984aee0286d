"""App Home's "Goals and strategies": the list of goals in their order, and the goal form.

Action ids (buttons in the list modal, their value in brackets): `setup_goal_add` ("new"),
`setup_goal_edit` / `setup_goal_up` / `setup_goal_down` / `setup_goal_retire` (the goal's key),
`setup_goals_page_previous` / `setup_goals_page_next` (the page they show). The form's callback_id
is `setup_goal_save`; its fields' block_ids are GOAL_KEY (adding only), GOAL_TITLE, GOAL_DESCRIPTION,
GOAL_STRATEGIES, each with one element whose action_id is `value`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.slack import blocks as bk
from integrations.slack import form_kit as kit
from integrations.slack.escape import escape

GOALS_LIST = "setup_goals_list"
GOAL_SAVE = "setup_goal_save"
ADD_GOAL = "setup_goal_add"
EDIT_GOAL = "setup_goal_edit"
GOAL_UP = "setup_goal_up"
GOAL_DOWN = "setup_goal_down"
RETIRE_GOAL = "setup_goal_retire"
GOALS_PAGE = "setup_goals_page"

GOAL_KEY = "goal_key"
GOAL_TITLE = "goal_title"
GOAL_DESCRIPTION = "goal_description"
GOAL_STRATEGIES = "goal_strategies"

STRATEGIES_HINT = (
    "One strategy a line. They are numbered 1, 2, 3… in this order, and activities name a strategy by its "
    "number: moving, adding or removing a line renumbers the ones after it."
)


def _goal_text(goal: dict[str, Any]) -> str:
    lines = [f"*{escape(str(goal['key']))} · {escape(str(goal.get('title', '')))}*"]
    if goal.get("description"):
        lines.append(escape(str(goal["description"])))
    lines.extend(f"{n}. {escape(str(s))}" for n, s in enumerate(goal.get("strategies") or [], start=1))
    return bk.clip("\n".join(lines), bk.MAX_SECTION_TEXT)


def goals_list(goals: Sequence[dict[str, Any]], *, page: int = 0, notice: str = "") -> dict[str, Any]:
    """The goals in the order the digest and `/ci agenda` show them, a page at a time."""
    page, start, end = kit.page_of(len(goals), page)
    blocks = kit.list_head(
        "The common agenda's goals, in the order everyone sees them. Retiring a goal keeps its history; "
        "adding its key again brings it back.",
        bk.button("Add a goal", ADD_GOAL, "new", style="primary"),
        notice,
    )
    if not goals:
        blocks.append(bk.context("No goals yet."))
    for index in range(start, end):
        goal = goals[index]
        key = str(goal["key"])
        buttons = [bk.button("Edit", EDIT_GOAL, key)]
        if index > 0:
            buttons.append(bk.button("Move up", GOAL_UP, key))
        if index < len(goals) - 1:
            buttons.append(bk.button("Move down", GOAL_DOWN, key))
        retire = bk.button("Retire", RETIRE_GOAL, key, style="danger")
        retire["confirm"] = kit.confirm(
            "Retire this goal?",
            f"{key} leaves the agenda; its history stays, and adding {key} again brings it back.",
            "Retire",
        )
        buttons.append(retire)
        blocks.append(bk.section(_goal_text(goal)))
        blocks.append(bk.actions(*buttons))
    blocks.extend(kit.pager(GOALS_PAGE, len(goals), page))
    return kit.modal(GOALS_LIST, "Goals and strategies", blocks, {"page": page}, submit=None)


def goal_form(goal: dict[str, Any] | None, *, list_view: str | None) -> dict[str, Any]:
    """Add a goal (`goal` None) or edit one; `list_view` is the list to refresh once it is saved."""
    blocks: list[bk.Block] = []
    if goal is None:
        blocks.append(
            kit.field(
                GOAL_KEY,
                "Key",
                kit.text_input(max_length=40, placeholder="G4"),
                hint="A short name that never changes; indicators and activities refer to the goal by it.",
            )
        )
    else:
        blocks.append(bk.context(f"Goal *{escape(str(goal['key']))}*"))
    current = goal or {}
    blocks.append(kit.field(GOAL_TITLE, "Title", kit.text_input(current.get("title"), max_length=150)))
    blocks.append(
        kit.field(
            GOAL_DESCRIPTION,
            "Description",
            kit.text_input(current.get("description"), multiline=True),
            optional=True,
        )
    )
    blocks.append(
        kit.field(
            GOAL_STRATEGIES,
            "Strategies",
            kit.text_input("\n".join(current.get("strategies") or []), multiline=True),
            hint=STRATEGIES_HINT,
            optional=True,
        )
    )
    metadata = {"key": goal["key"] if goal is not None else None, "list": list_view}
    return kit.modal(GOAL_SAVE, "Edit goal" if goal else "Add a goal", blocks, metadata)
