"""`/ci change <text>` and the "Record as a systems change" message shortcut (members); the Confirm button.

Both open the same form (kind, organizations, goal, date, text); the change is recorded as
proposed, and backbone staff confirm it from `/ci changes` (their rights checked again on the click).
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.links import is_slack_permalink
from ci_slackbot.services.actions import local_today
from ci_slackbot.services.decisions import active_goals
from ci_slackbot.services.systems_changes import (
    ChangeDraft,
    change_view,
    confirm_change,
    list_changes,
    organizations_of,
    record_change,
)
from ci_slackbot.store.models import Initiative
from commands.payload import record_id
from commands.router import (
    Interaction,
    Invocation,
    Reply,
    Router,
    Subcommand,
    ViewAnswer,
    open_view,
    opening,
    replacing,
)
from integrations.slack import systems_change_blocks as views
from integrations.slack.escape import unescape

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

USAGE = "/ci change <text>"


def mirrors_to_notion(services: Services, initiative: Initiative) -> bool:
    return bool(services.settings.notion_enabled and initiative.notion_systems_changes_database)


def _form(interaction: Invocation | Interaction, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    session, initiative = interaction.session, interaction.initiative
    return views.change_modal(
        text=text,
        organizations=[(o.key, o.name) for o in organizations_of(session, initiative.id)],
        goals=[(g.key, g.title) for g in active_goals(session, initiative.id)],
        today=local_today(initiative, interaction.services.now()),
        metadata=metadata,
    )


def handle(invocation: Invocation) -> Reply:
    invocation.person.require_member()
    text = invocation.free_text("change")
    return opening(
        invocation, _form(invocation, text, {}), "systems change form", text="Opening the systems change form…"
    )


def open_from_message(interaction: Interaction) -> Reply:
    """ "Record as a systems change" on a message: the form, prefilled with its text and a link to it."""
    interaction.person.require_member()
    message = interaction.read.obj("message")
    channel = interaction.read.text("channel", "id") or interaction.channel_id
    ts = message.text("ts") or None
    text = unescape(message.text("text"))
    slack, trigger_id = interaction.slack, interaction.trigger_id
    # The permalink costs a Web API call: after the ack, with the form.
    base = _form(interaction, text, {})

    def open_modal() -> None:
        permalink = None
        if channel and ts:
            try:
                permalink = str(slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
            except (SlackApiError, KeyError):
                log.warning("no permalink for the message %s in %s", ts, channel)
        view = dict(base)
        view["private_metadata"] = json.dumps({"permalink": permalink})
        open_view(slack, trigger_id, view, "systems change form")

    return Reply(text="", after=open_modal)


def _chosen(interaction: Interaction, block: str) -> list[str]:
    options = interaction.read.get("view", "state", "values", block, views.ELEMENT, "selected_options")
    if not isinstance(options, list):
        return []
    return [str(o["value"]) for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def save_change(interaction: Interaction) -> ViewAnswer:
    if not interaction.person.is_member:
        return ViewAnswer(errors={views.TEXT_BLOCK: "Only members of the initiative's organizations record changes."})
    state = interaction.view_state()
    taken = state.get(views.DATE_BLOCK)
    try:
        took_effect = date.fromisoformat(taken) if taken else None
    except ValueError:
        return ViewAnswer(errors={views.DATE_BLOCK: "Choose the date the change took effect."})
    permalink = interaction.metadata().text("permalink") or None
    services = interaction.services
    if permalink is not None and not is_slack_permalink(permalink, services.settings.trusted_url_prefixes):
        permalink = None
    try:
        change = record_change(
            interaction.session,
            interaction.initiative,
            ChangeDraft(
                text=str(state.get(views.TEXT_BLOCK) or ""),
                kind=str(state.get(views.KIND_BLOCK) or ""),
                organization_keys=tuple(_chosen(interaction, views.ORGS_BLOCK)),
                goal_key=state.get(views.GOAL_BLOCK) or None,
                took_effect=took_effect,
                recorded_by=interaction.user_id,
                source_permalink=permalink,
                submission_id=interaction.view_id,
            ),
        )
    except InputError as exc:
        return ViewAnswer(errors={views.TEXT_BLOCK: str(exc)[:2000]})
    return ViewAnswer(update_view=views.recorded_modal(change_view(interaction.session, change)))


def confirm(interaction: Interaction) -> Reply:
    """The Confirm button: backbone rights checked again now, then the list replaces the message."""
    change_id = record_id(interaction.action_value)
    services, initiative = interaction.services, interaction.initiative
    in_notion = mirrors_to_notion(services, initiative)
    change = confirm_change(
        interaction.session,
        initiative,
        interaction.person,
        change_id,
        mirror_to_notion=in_notion,
        now=services.now(),
    )
    note = views.confirmed_note(change_view(interaction.session, change), in_notion)
    listing = list_changes(interaction.session, initiative, interaction.person)
    message = views.changes_message(listing, backbone=interaction.person.is_backbone, note=note)
    return Reply(text="", after=replacing(interaction.response_url, message))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "change",
            USAGE,
            "records a systems change the coalition contributed to, for backbone staff to confirm "
            '(or use "Record as a systems change" on a message)',
            handle,
            ("/ci change The district now screens every enrolling child for asthma",),
            who="member",
        )
    )
    router.on_shortcut(views.RECORD_CHANGE, open_from_message)
    router.on_view(views.RECORD_CHANGE, save_change)
    router.on_action(views.CONFIRM_CHANGE, confirm)
