"""App Home's "Indicators" (backbone staff, checked again on every click and submission).

`setup_indicators` opens the list (twenty a page, so that any number fits a modal); Add and Edit push
the indicator form with every field the initiative file has; Retire (confirmed first) takes the
indicator out of the file, which retires it with its values kept. Each field refused by the file's
rules, or not a number where one is needed, gets its message on that field, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.services.setup import SetupError, change_setup, setup_document
from ci_slackbot.services.setup_agenda import IndicatorDraft, retire_indicator, save_indicator
from commands._setup_forms import (
    editing_key,
    field_errors,
    form_state,
    list_of,
    locate_in,
    page_clicked,
    page_of,
    text_of,
    updating,
    within,
)
from commands.router import Interaction, Reply, Router, ViewAnswer, opening, pushing
from integrations.slack import setup_blocks
from integrations.slack import setup_indicators_blocks as views
from integrations.slack.form_kit import page_actions

DOING = "change the indicators"
OPEN_INDICATORS = setup_blocks.SETUP_INDICATORS  # App Home's Set-up button


def _document(interaction: Interaction) -> dict[str, Any]:
    return setup_document(interaction.session, interaction.initiative)


def _list_view(document: dict[str, Any], *, page: int = 0, notice: str = "") -> dict[str, Any]:
    goal_titles = {str(g["key"]): str(g.get("title", "")) for g in document.get("goals") or []}
    return views.indicators_list(document.get("indicators") or [], goal_titles, page=page, notice=notice)


def open_indicators(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return opening(interaction, _list_view(_document(interaction)), "indicators list")


def _refreshed(interaction: Interaction, *, page: int, notice: str = "", failed: bool = False) -> Reply:
    view = _list_view(_document(interaction), page=page, notice=notice)
    return Reply(text="", failed=failed, after=updating(interaction, interaction.view_id, view, "indicators list"))


def _form(interaction: Interaction, document: dict[str, Any], indicator: dict[str, Any] | None) -> Reply:
    goals = [(str(g["key"]), str(g.get("title", ""))) for g in document.get("goals") or []]
    if not goals:
        return _refreshed(interaction, page=page_of(interaction), notice="Add a goal first: every indicator has one.")
    organizations = [(str(o["key"]), str(o.get("name", ""))) for o in document.get("organizations") or []]
    view = views.indicator_form(indicator, goals=goals, organizations=organizations, list_view=interaction.view_id)
    return pushing(interaction, view, "indicator form")


def add_indicator(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return _form(interaction, _document(interaction), None)


def edit_indicator(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    document = _document(interaction)
    key = interaction.action_value
    indicator = next((i for i in document.get("indicators") or [] if i.get("key") == key), None)
    if indicator is None:
        return _refreshed(interaction, page=page_of(interaction), notice=f"{key} is no longer a current indicator.")
    return _form(interaction, document, indicator)


def retire(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    page = page_of(interaction)
    try:
        change_setup(
            interaction.session, interaction.initiative, interaction.user_id, retire_indicator(interaction.action_value)
        )
    except SetupError as exc:
        notice = "Nothing was changed: " + "; ".join(exc.problems.values())
        return _refreshed(interaction, page=page, notice=notice, failed=True)
    return _refreshed(interaction, page=page)


def turn_page(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return _refreshed(interaction, page=page_clicked(interaction))


def _locate(path: str, message: str) -> str | None:
    rest = within(path, "indicators")
    if rest is None:
        return None
    if rest == "":
        # The whole indicator: the one such rule is that min must not be above max.
        return views.IND_MAX if "min" in message else None
    return locate_in(rest, views.FIELD_BLOCKS)


def draft_of(interaction: Interaction) -> IndicatorDraft:
    state = form_state(interaction)
    rollup = text_of(state, views.IND_ROLLUP)
    owner = text_of(state, views.IND_OWNER)
    return IndicatorDraft(
        key=text_of(state, views.IND_KEY),
        name=text_of(state, views.IND_NAME),
        goal=text_of(state, views.IND_GOAL),
        unit=text_of(state, views.IND_UNIT),
        direction=text_of(state, views.IND_DIRECTION),
        frequency=text_of(state, views.IND_FREQUENCY),
        minimum=text_of(state, views.IND_MIN),
        maximum=text_of(state, views.IND_MAX),
        baseline_period=text_of(state, views.IND_BASELINE_PERIOD),
        baseline_value=text_of(state, views.IND_BASELINE_VALUE),
        target_period=text_of(state, views.IND_TARGET_PERIOD),
        target_value=text_of(state, views.IND_TARGET_VALUE),
        reporters=list_of(state, views.IND_REPORTERS),
        breakdowns=text_of(state, views.IND_BREAKDOWNS),
        small_number_threshold=text_of(state, views.IND_THRESHOLD),
        source=text_of(state, views.IND_SOURCE),
        # An unticked checkbox is not in the state at all: only a ticked one keeps the headline.
        headline=views.HEADLINE_CHOSEN in list_of(state, views.IND_HEADLINE),
        rollup="" if rollup == views.DEFAULT_ROLLUP else rollup,
        owner="" if owner == views.NO_OWNER else owner,
        due_after_days=text_of(state, views.IND_DUE_AFTER),
        equity_lens=text_of(state, views.IND_EQUITY_LENS),
        group_targets=text_of(state, views.IND_GROUP_TARGETS),
    )


def save(interaction: Interaction) -> ViewAnswer:
    metadata = interaction.metadata()
    editing = editing_key(interaction)
    first = views.IND_NAME if editing else views.IND_KEY
    try:
        interaction.person.require_backbone(DOING)
    except NotAllowedError as exc:
        return ViewAnswer(errors={first: str(exc)})
    draft = draft_of(interaction)
    try:
        change_setup(interaction.session, interaction.initiative, interaction.user_id, save_indicator(draft, editing))
    except SetupError as exc:
        return ViewAnswer(errors=field_errors(exc.problems, _locate, first))
    list_view = metadata.get("list")
    page = metadata.get("page")
    view = _list_view(_document(interaction), page=page if isinstance(page, int) else 0)
    return ViewAnswer(
        after=updating(interaction, list_view if isinstance(list_view, str) else None, view, "indicators")
    )


def register(router: Router) -> None:
    router.on_action(OPEN_INDICATORS, open_indicators)
    router.on_action(views.ADD_INDICATOR, add_indicator)
    router.on_action(views.EDIT_INDICATOR, edit_indicator)
    router.on_action(views.RETIRE_INDICATOR, retire)
    for action_id in page_actions(views.INDICATORS_PAGE):
        router.on_action(action_id, turn_page)
    router.on_view(views.INDICATOR_SAVE, save)
