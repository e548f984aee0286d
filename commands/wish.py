"""`/ci wish …`: the data development agenda, indicators the coalition wants but has no data for yet.

`/ci wish` opens the form; `/ci wish <question> [org <key>] [by <date>]` records it at once (any
member); `/ci wish promote <id> <indicator-key>` links it to an indicator that now exists (backbone
staff). App Home's buttons open the same form for backbone staff, to add or edit one.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ci_slackbot.domain.errors import InputError
from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.services.systems_changes import organizations_of
from ci_slackbot.services.wishes import (
    WishDraft,
    add_wish,
    edit_wish,
    promote_wish,
    wish_draft_of,
    wish_view,
)
from ci_slackbot.store.models import DataWish
from commands.grammar import UsageError, parse_date
from commands.payload import record_id
from commands.router import Interaction, Invocation, Reply, Router, Subcommand, ViewAnswer, opening
from integrations.slack import blocks as bk
from integrations.slack import systems_change_blocks as views

USAGE = "/ci wish <question> [org <key>] [by <YYYY-MM-DD>]"
PROMOTE_USAGE = "/ci wish promote <id> <indicator-key>"
# Trailing `org <key>` and `by <date>`, in either order, name who develops the data and by when.
_TRAILING = re.compile(r"\s+(org|by)\s+(\S+)\s*$", re.IGNORECASE)


def split_wish(text: str) -> tuple[str, str | None, date | None]:
    """The question, and the organization and date given after it, if any."""
    org: str | None = None
    due: date | None = None
    while (match := _TRAILING.search(text)) is not None:
        word, value = match.group(1).lower(), match.group(2)
        if word == "org" and org is None:
            org = value
        elif word == "by" and due is None:
            due = parse_date(value)
        else:
            break
        text = text[: match.start()]
    return text, org, due


def _form(invocation: Invocation | Interaction, wish: DataWish | None) -> dict[str, Any]:
    session = invocation.session
    return views.wish_modal(
        organizations=[(o.key, o.name) for o in organizations_of(session, invocation.initiative.id)],
        draft=wish_draft_of(session, wish) if wish is not None else None,
        wish_id=wish.id if wish is not None else None,
    )


def handle(invocation: Invocation) -> Reply:
    tokens = invocation.words.tokens
    if tokens and tokens[0].lower() == "promote":
        return promote(invocation)
    invocation.person.require_member()
    question = invocation.free_text("wish")
    if not question.strip():
        return opening(invocation, _form(invocation, None), "wish form", text="Opening the form…")
    text, org, due = split_wish(question)
    wish = add_wish(invocation.session, invocation.initiative, invocation.person, WishDraft(text, org, due))
    text = views.wish_recorded_text(wish_view(invocation.session, wish))
    return Reply(text=text, blocks=[bk.section(text)])


def promote(invocation: Invocation) -> Reply:
    args = invocation.words.tokens[1:]
    if len(args) != 2:
        raise UsageError("Name the wish and the indicator that now reports it.", PROMOTE_USAGE)
    wish_id = args[0].lstrip("#")
    if not (wish_id.isascii() and wish_id.isdigit() and len(wish_id) <= 9):
        raise UsageError("A wish is named by its number, like `3`.", PROMOTE_USAGE)
    wish, _ = promote_wish(
        invocation.session, invocation.initiative, invocation.person, int(wish_id), args[1], invocation.services.now()
    )
    text = views.promoted_text(wish_view(invocation.session, wish))
    return Reply(text=text, blocks=[bk.section(text)])


def open_from_home(interaction: Interaction) -> Reply:
    """App Home's "Add to the agenda" / "Edit #n" (backbone staff, checked again on the click)."""
    interaction.person.require_backbone("edit the data development agenda")
    value = interaction.action_value
    wish = None
    if value != "new":
        wish = interaction.session.get(DataWish, record_id(value))
        if wish is None or wish.initiative_id != interaction.initiative.id:
            raise UsageError("That wish no longer exists.")
    return opening(interaction, _form(interaction, wish), "wish form")


def save_wish(interaction: Interaction) -> ViewAnswer:
    state = interaction.view_state()
    due_text = str(state.get(views.DUE_BLOCK) or "")
    try:
        due = parse_date(due_text) if due_text else None
    except UsageError as exc:  # a date picker sends ISO dates; anything else was not Slack's
        return ViewAnswer(errors={views.DUE_BLOCK: str(exc)[:150]})
    draft = WishDraft(
        question=str(state.get(views.QUESTION_BLOCK) or ""),
        developer_key=state.get(views.DEVELOPER_BLOCK) or None,
        due=due,
        submission_id=interaction.view_id,
    )
    wish_id = interaction.metadata().get("wish_id")
    session, initiative, person = interaction.session, interaction.initiative, interaction.person
    try:
        if wish_id is None:
            add_wish(session, initiative, person, draft)
        else:
            edit_wish(session, initiative, person, record_id(wish_id), draft, interaction.services.now())
    except (InputError, NotAllowedError) as exc:
        # The rights are checked again on submit: the form says why and changes nothing.
        return ViewAnswer(errors={views.QUESTION_BLOCK: str(exc)[:2000]})
    return ViewAnswer()


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "wish",
            USAGE,
            "adds an indicator we want but have no data for yet to the data development agenda "
            f"(backbone staff promote one with `{PROMOTE_USAGE}` once its data exists)",
            handle,
            ("/ci wish How many children have an asthma action plan at school? org DISD by 2026-12-01",),
            who="member",
        )
    )
    router.on_action(views.OPEN_WISH, open_from_home)
    router.on_view(views.SAVE_WISH, save_wish)
