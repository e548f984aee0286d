"""App Home's "Goals and strategies" (backbone staff, checked again on every click and submission).

`setup_goals` opens the list of goals; Add and Edit push the goal form over it, Move up/down and
Retire change the order or the agenda at once. Every change is an edit of the initiative file
(`services/setup.py`), so a goal that indicators or activities still use cannot be retired, and
fewer strategies than an activity's number is refused on the strategies field.
"""

from __future__ import annotations

from typing import Any

from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.services.setup import SetupError, change_setup, setup_document
from ci_slackbot.services.setup_agenda import GoalDraft, move_goal, retire_goal, save_goal
from commands._setup_forms import (
    editing_key,
    field_errors,
    form_state,
    page_clicked,
    page_of,
    text_of,
    updating,
    within,
)
from commands.router import Interaction, Reply, Router, ViewAnswer, opening, pushing
from integrations.slack import setup_blocks
from integrations.slack import setup_goals_blocks as views
from integrations.slack.form_kit import page_actions

DOING = "change the goals and strategies"
OPEN_GOALS = setup_blocks.SETUP_GOALS  # App Home's Set-up button


def _goals(interaction: Interaction) -> list[dict[str, Any]]:
    return list(setup_document(interaction.session, interaction.initiative).get("goals") or [])


def open_goals(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return opening(interaction, views.goals_list(_goals(interaction)), "goals list")


def _refreshed(interaction: Interaction, *, page: int, notice: str = "", failed: bool = False) -> Reply:
    """The list clicked in, shown again after the commit (with why nothing changed, if so)."""
    view = views.goals_list(_goals(interaction), page=page, notice=notice)
    return Reply(text="", failed=failed, after=updating(interaction, interaction.view_id, view, "goals list"))


def add_goal(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return pushing(interaction, views.goal_form(None, list_view=interaction.view_id), "goal form")


def edit_goal(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    key = interaction.action_value
    goal = next((g for g in _goals(interaction) if g.get("key") == key), None)
    if goal is None:
        return _refreshed(interaction, page=page_of(interaction), notice=f"{key} is no longer a goal.")
    return pushing(interaction, views.goal_form(goal, list_view=interaction.view_id), "goal form")


def _change(interaction: Interaction, edit: Any) -> Reply:
    interaction.person.require_backbone(DOING)
    page = page_of(interaction)
    try:
        change_setup(interaction.session, interaction.initiative, interaction.user_id, edit)
    except SetupError as exc:
        return _refreshed(
            interaction, page=page, notice="Nothing was changed: " + "; ".join(exc.problems.values()), failed=True
        )
    return _refreshed(interaction, page=page)


def move_up(interaction: Interaction) -> Reply:
    return _change(interaction, move_goal(interaction.action_value, -1))


def move_down(interaction: Interaction) -> Reply:
    return _change(interaction, move_goal(interaction.action_value, +1))


def retire(interaction: Interaction) -> Reply:
    return _change(interaction, retire_goal(interaction.action_value))


def turn_page(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return _refreshed(interaction, page=page_clicked(interaction))


def _locate(adding: bool) -> Any:
    def locate(path: str, message: str) -> str | None:
        rest = within(path, "goals")
        if rest is not None:
            if rest.startswith("key"):
                return views.GOAL_KEY if adding else views.GOAL_TITLE
            if rest.startswith("title"):
                return views.GOAL_TITLE
            if rest.startswith("description"):
                return views.GOAL_DESCRIPTION
            if rest.startswith("strategies"):
                return views.GOAL_STRATEGIES
            return None
        # An activity naming a strategy number the goal no longer has: the strategies are the cause.
        if path.startswith("organizations[") and path.endswith(".strategy"):
            return views.GOAL_STRATEGIES
        return None

    return locate


def save(interaction: Interaction) -> ViewAnswer:
    metadata = interaction.metadata()
    editing = editing_key(interaction)
    first = views.GOAL_TITLE if editing else views.GOAL_KEY
    try:
        interaction.person.require_backbone(DOING)
    except NotAllowedError as exc:
        return ViewAnswer(errors={first: str(exc)})
    state = form_state(interaction)
    draft = GoalDraft(
        key=text_of(state, views.GOAL_KEY),
        title=text_of(state, views.GOAL_TITLE),
        description=text_of(state, views.GOAL_DESCRIPTION),
        strategies=text_of(state, views.GOAL_STRATEGIES),
    )
    try:
        change_setup(interaction.session, interaction.initiative, interaction.user_id, save_goal(draft, editing))
    except SetupError as exc:
        return ViewAnswer(errors=field_errors(exc.problems, _locate(editing is None), first))
    list_view = metadata.get("list")
    # The form closes (back to the list under it), and the list shows the change.
    after = updating(
        interaction,
        list_view if isinstance(list_view, str) else None,
        views.goals_list(_goals(interaction)),
        "goals list",
    )
    return ViewAnswer(after=after)


def register(router: Router) -> None:
    router.on_action(OPEN_GOALS, open_goals)
    router.on_action(views.ADD_GOAL, add_goal)
    router.on_action(views.EDIT_GOAL, edit_goal)
    router.on_action(views.GOAL_UP, move_up)
    router.on_action(views.GOAL_DOWN, move_down)
    router.on_action(views.RETIRE_GOAL, retire)
    for action_id in page_actions(views.GOALS_PAGE):
        router.on_action(action_id, turn_page)
    router.on_view(views.GOAL_SAVE, save)
