"""`/ci actions`: open action items, the user's own first, with "Mark done" and "Push a week" buttons.

A click answers with the refreshed list, replacing the message it came from
through the click's response_url once the change is committed.
"""

from __future__ import annotations

from ci_slackbot.services.actions import (
    ActionAlreadyClosedError,
    ActionAlreadyMovedError,
    action_view,
    close_action,
    list_actions,
    local_today,
    parse_action_id,
    parse_push_value,
    push_action,
)
from commands.router import Interaction, Invocation, Reply, Router, Subcommand, replacing
from integrations.slack import action_blocks as views


def actions(invocation: Invocation) -> Reply:
    today = local_today(invocation.initiative, invocation.services.now())
    listing = list_actions(invocation.session, invocation.initiative, invocation.user_id, today)
    return Reply(text=views.LIST_TITLE, blocks=views.list_blocks(listing, invocation.person, today))


def _refreshed(interaction: Interaction, note: str) -> Reply:
    """No immediate text: the refreshed list replaces the clicked message after the commit."""
    today = local_today(interaction.initiative, interaction.services.now())
    listing = list_actions(interaction.session, interaction.initiative, interaction.user_id, today)
    message = views.list_message(listing, interaction.person, today, note=note)
    return Reply(text="", after=replacing(interaction.response_url, message))


def mark_done(interaction: Interaction) -> Reply:
    action_id = parse_action_id(interaction.action_value)
    now = interaction.services.now()
    try:
        item = close_action(interaction.session, interaction.initiative, interaction.person, action_id, now)
    except ActionAlreadyClosedError as already:
        # A second click, or someone else closed it first: nothing changed, show where things stand.
        return _refreshed(interaction, f":information_source: {already}")
    view = action_view(interaction.session, item, local_today(interaction.initiative, now))
    return _refreshed(interaction, views.closed_note(view))


def push_week(interaction: Interaction) -> Reply:
    action_id, shown = parse_push_value(interaction.action_value)
    now = interaction.services.now()
    try:
        item = push_action(
            interaction.session,
            interaction.initiative,
            interaction.person,
            action_id,
            now,
            shown_due=shown,
        )
    except ActionAlreadyMovedError as already:
        # A second click, or someone else moved it first: nothing changed, show where things stand.
        return _refreshed(interaction, f":information_source: {already}")
    view = action_view(interaction.session, item, local_today(interaction.initiative, now))
    return _refreshed(interaction, views.pushed_note(view))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "actions",
            "/ci actions",
            "open action items, yours first, with buttons to mark them done or push them a week",
            actions,
            ("/ci actions",),
        )
    )
    router.on_action(views.MARK_DONE, mark_done)
    router.on_action(views.PUSH_WEEK, push_week)
