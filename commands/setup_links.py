"""App Home's "Initiative and links" (backbone staff, checked again on every click and submission).

`setup_links` opens one form: the initiative's name, time zone, vision and problem, the digest and
decisions channels, the schedule, the Notion pages and databases, the spreadsheet. Saved, it is
applied as an edit of the initiative file, and the form turns into "Saved — checking…" in the
submission's answer. The checks (the app in each channel, Notion shared and with the properties the
app writes, the spreadsheet shared with the service account) call Slack, Notion and Google, so they
run after the commit, never inside the transaction; the form then shows what works and what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.services.setup import SetupError, change_setup, setup_document
from ci_slackbot.services.setup_agenda import NOTION_FIELDS, LinksDraft, save_links
from commands._setup_forms import field_errors, form_state, list_of, text_of
from commands.router import Interaction, Reply, Router, ViewAnswer, opening, update_view
from integrations.setup_checks import Links, check_links
from integrations.slack import setup_blocks
from integrations.slack import setup_links_blocks as views

DOING = "change the initiative's channels, schedule and links"
OPEN_LINKS = setup_blocks.SETUP_LINKS  # App Home's Set-up button


def _other_workspaces(interaction: Interaction) -> list[tuple[str, str]] | None:
    """With OAuth, the workspaces the app is installed in besides this initiative's; None with one workspace."""
    workspaces = interaction.services.workspaces
    if workspaces is None:
        return None
    own = interaction.initiative.workspace.team_id
    return [(team, name) for team, name in workspaces.store.installed_teams(interaction.session) if team != own]


def open_links(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    document = setup_document(interaction.session, interaction.initiative)
    return opening(interaction, views.links_form(document, _other_workspaces(interaction)), "links form")


def _checking(interaction: Interaction, view_id: str | None) -> Callable[[], None]:
    """After the commit: check every link the initiative now has, and show the result in the form."""
    links = Links.of(setup_document(interaction.session, interaction.initiative))
    settings, slack = interaction.services.settings, interaction.slack

    def check() -> None:
        update_view(slack, view_id, views.checks_view(check_links(settings, slack, links)), "link checks")

    return check


def _locate(path: str, message: str) -> str | None:
    # `initiative.partner_workspaces[1]` is the partner workspaces field's.
    return views.FIELD_BLOCKS.get(path) or views.FIELD_BLOCKS.get(_ITEM.sub("", path))


_ITEM = re.compile(r"\[\d+\]$")


def save(interaction: Interaction) -> ViewAnswer:
    try:
        interaction.person.require_backbone(DOING)
    except NotAllowedError as exc:
        return ViewAnswer(errors={views.LINK_NAME: str(exc)})
    state = form_state(interaction)
    draft = LinksDraft(
        name=text_of(state, views.LINK_NAME),
        timezone=text_of(state, views.LINK_TIMEZONE),
        vision=text_of(state, views.LINK_VISION),
        problem=text_of(state, views.LINK_PROBLEM),
        digest_channel=text_of(state, views.LINK_DIGEST_CHANNEL) or None,
        decisions_channel=text_of(state, views.LINK_DECISIONS_CHANNEL) or None,
        digest_schedule=text_of(state, views.LINK_DIGEST_SCHEDULE),
        reminders_schedule=text_of(state, views.LINK_REMINDERS_SCHEDULE),
        notion={name: text_of(state, views.NOTION_BLOCKS[name]) for name in NOTION_FIELDS},
        spreadsheet=text_of(state, views.LINK_SPREADSHEET),
        # Asked only where the form had the field (OAuth, with other workspaces installed).
        partner_workspaces=list_of(state, views.LINK_PARTNERS) if views.LINK_PARTNERS in state else None,
    )
    try:
        change_setup(interaction.session, interaction.initiative, interaction.user_id, save_links(draft))
    except SetupError as exc:
        return ViewAnswer(errors=field_errors(exc.problems, _locate, views.LINK_NAME))
    return ViewAnswer(update_view=views.checking_view(), after=_checking(interaction, interaction.view_id))


def recheck(interaction: Interaction) -> Reply:
    """The checks view's "Check again", once the channel invite or the Notion share is done."""
    interaction.person.require_backbone(DOING)
    return Reply(text="", after=_checking(interaction, interaction.view_id))


def register(router: Router) -> None:
    router.on_action(OPEN_LINKS, open_links)
    router.on_action(views.RECHECK, recheck)
    router.on_view(views.LINKS_SAVE, save)
