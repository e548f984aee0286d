"""`/ci story <text>` and the "Save as a community story" message shortcut (members).

Both open the same form, prefilled with the text: who told it (by role), named or
anonymous, whether they agreed to share it, and what it concerns. The story is saved
by `services.community_voice`. Not the "Add the story" button of `/ci update`'s answer
(`add_story`), which tells the story behind a reported number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ci_slackbot.services.community_voice import CommunityStoryDraft, CommunityStoryError, record_community_story
from ci_slackbot.services.decisions import DecisionError, active_goals
from ci_slackbot.services.measurement import MeasurementError
from ci_slackbot.store.models import Initiative
from commands.router import Interaction, Invocation, Reply, Router, Subcommand, ViewAnswer, opening
from integrations.slack import community_voice_blocks as views
from integrations.slack.escape import unescape

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services


USAGE = "/ci story <text>"


def mirrors_to_notion(services: Services, initiative: Initiative) -> bool:
    return bool(services.settings.notion_enabled and initiative.notion_community_voice_database)


def _open_form(request: Invocation | Interaction, text: str) -> Reply:
    request.person.require_member()
    indicators = [(view.key, view.name) for view in request.indicators()]
    goals = [(goal.key, goal.title) for goal in active_goals(request.session, request.initiative.id)]
    view = views.community_story_modal(text=text, indicators=indicators, goals=goals, metadata={})
    return opening(request, view, "community story form")


def handle(invocation: Invocation) -> Reply:
    """`/ci story <text>`: the form, with the text in it (the text alone may be empty)."""
    return _open_form(invocation, invocation.free_text("story"))


def open_from_message(interaction: Interaction) -> Reply:
    """ "Save as a community story" on a message: the form, prefilled with the message's text."""
    return _open_form(interaction, unescape(interaction.read.obj("message").text("text")))


def _chosen(interaction: Interaction, block_id: str) -> str:
    """The value of a radio button or select in the submitted form ("" when none)."""
    return interaction.read.text("view", "state", "values", block_id, views.ACTION, "selected_option", "value")


def save(interaction: Interaction) -> ViewAnswer:
    """The form was submitted: check each field, then save the story."""
    if not interaction.person.is_member:
        return ViewAnswer(errors={views.TEXT_BLOCK: "Only members of the partner organizations can save stories."})
    state = interaction.view_state()
    credit, consent = _chosen(interaction, views.CREDIT_BLOCK), _chosen(interaction, views.CONSENT_BLOCK)
    name = str(state.get(views.NAME_BLOCK) or "").strip()
    errors: dict[str, str] = {}
    if not str(state.get(views.TEXT_BLOCK) or "").strip():
        errors[views.TEXT_BLOCK] = "Write what was said or seen."
    if not _chosen(interaction, views.ROLE_BLOCK):
        errors[views.ROLE_BLOCK] = "Choose who told it."
    if credit not in (views.NAMED, views.ANONYMOUS):
        errors[views.CREDIT_BLOCK] = "Choose whether they are named or anonymous."
    elif credit == views.NAMED and not name:
        errors[views.NAME_BLOCK] = "Write their name, or choose “Anonymously”."
    if consent not in (views.CONSENT_YES, views.CONSENT_NO):
        errors[views.CONSENT_BLOCK] = "Say whether they agreed to have it shared."
    if errors:
        return ViewAnswer(errors=errors)
    services, initiative = interaction.services, interaction.initiative
    in_notion = mirrors_to_notion(services, initiative)
    draft = CommunityStoryDraft(
        text=str(state.get(views.TEXT_BLOCK) or ""),
        teller_role=_chosen(interaction, views.ROLE_BLOCK),
        # An anonymous teller's name is dropped here, even if one was typed.
        teller_name=name if credit == views.NAMED else None,
        consent=consent == views.CONSENT_YES,
        recorded_by=interaction.user_id,
        indicator_key=_chosen(interaction, views.INDICATOR_BLOCK) or None,
        goal_key=_chosen(interaction, views.GOAL_BLOCK) or None,
        place=str(state.get(views.PLACE_BLOCK) or ""),
        submission_id=interaction.view_id,
    )
    try:
        story = record_community_story(
            interaction.session, initiative, draft, mirror_to_notion=in_notion, now=services.now()
        )
    except MeasurementError as exc:
        return ViewAnswer(errors={views.INDICATOR_BLOCK: str(exc)[:150]})
    except DecisionError as exc:
        return ViewAnswer(errors={views.GOAL_BLOCK: str(exc)[:150]})
    except CommunityStoryError as exc:
        return ViewAnswer(errors={views.TEXT_BLOCK: str(exc)[:150]})
    return ViewAnswer(update_view=views.recorded_modal(story.id, shared=story.consent, in_notion=in_notion))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "story",
            USAGE,
            "records a story from the community (who told it, consent and anonymity are asked in a form; "
            'or use "Save as a community story" on a message)',
            handle,
            ("/ci story A mother in 75216 said the clinic's new evening hours meant she kept her job",),
            who="members",
        )
    )
    router.on_shortcut(views.SAVE_COMMUNITY_STORY, open_from_message)
    router.on_view(views.SAVE_COMMUNITY_STORY, save)
