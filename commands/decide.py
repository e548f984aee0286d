"""`/ci decide <text> [goal <key>]` and the "Record as decision" message shortcut (backbone staff).

Both end in `record_decision`: the decision, its announcement and its Notion
page are committed together, and the outbox delivers them.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.links import is_slack_permalink
from ci_slackbot.services.decisions import AnnouncementRenderer, DecisionDraft, active_goals, record_decision
from ci_slackbot.store.models import Decision, Goal, Initiative
from commands.grammar import UsageError
from commands.router import Interaction, Invocation, Reply, Router, Subcommand, ViewAnswer, open_view
from integrations.slack import decision_blocks as views
from integrations.slack.escape import unescape

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

USAGE = "/ci decide <text> [goal <key>]"
DOING = "record decisions"
# `goal G1` at the very end names the goal; anywhere else "goal" is just a word of the decision.
_TRAILING_GOAL = re.compile(r"\s+goal\s+(\S+)\s*$", re.IGNORECASE)


def split_goal(text: str) -> tuple[str, str | None]:
    """The decision text and the goal key given after it, if any."""
    match = _TRAILING_GOAL.search(text)
    if match is None:
        return text, None
    return text[: match.start()], match.group(1)


def decision_text(invocation: Invocation) -> str:
    """What follows `decide`, as typed: line breaks and spacing kept, Slack's escaping undone."""
    return invocation.free_text("decide")


def mirrors_to_notion(services: Services, initiative: Initiative) -> bool:
    return bool(services.settings.notion_enabled and initiative.notion_decisions_database)


def _renderer(in_notion: bool) -> AnnouncementRenderer:
    def render(decision: Decision, goal: Goal | None) -> list[dict[str, Any]]:
        return views.announcement_messages(decision, goal, in_notion=in_notion)

    return render


def handle(invocation: Invocation) -> Reply:
    invocation.person.require_backbone(DOING)
    text, goal_key = split_goal(decision_text(invocation))
    if not text.strip():
        raise UsageError("Write the decision after `decide`.", USAGE)
    services, initiative = invocation.services, invocation.initiative
    in_notion = mirrors_to_notion(services, initiative)
    decision = record_decision(
        invocation.session,
        initiative,
        DecisionDraft(text=text, recorded_by=invocation.user_id, goal_key=goal_key),
        announce=_renderer(in_notion),
        mirror_to_notion=in_notion,
        now=services.now(),
    )
    reply_text, blocks = views.recorded_reply(decision, initiative.decisions_channel, in_notion)
    return Reply(text=reply_text, blocks=blocks)


# -- the message shortcut ------------------------------------------------------------------


def _permalink(slack: WebClient, channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    try:
        return str(slack.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except (SlackApiError, KeyError):
        # The modal is still useful without the link; the decision then links to its announcement.
        log.warning("no permalink for the message %s in %s", ts, channel)
        return None


def open_decision_modal(interaction: Interaction) -> Reply:
    """ "Record as decision" on a message: a modal prefilled with its text, author and link."""
    interaction.person.require_backbone(DOING)
    message = interaction.read.obj("message")
    channel = interaction.read.text("channel", "id") or interaction.channel_id
    ts = message.text("ts") or None
    author = message.text("user") or None
    text = unescape(message.text("text"))
    goals = [(goal.key, goal.title) for goal in active_goals(interaction.session, interaction.initiative.id)]
    slack, trigger_id = interaction.slack, interaction.trigger_id

    def open_modal() -> None:
        # After the ack: the permalink costs a Web API call, and views.open must follow within 3 s.
        permalink = _permalink(slack, channel, ts)
        view = views.decision_modal(
            text=text,
            author=author,
            permalink=permalink,
            goals=goals,
            metadata={"permalink": permalink, "author": author, "channel": channel, "ts": ts},
        )
        open_view(slack, trigger_id, view, "decision form")

    return Reply(text="", after=open_modal)


def save_decision(interaction: Interaction) -> ViewAnswer:
    """The modal was submitted: record the decision as edited."""
    if not interaction.person.is_backbone:
        return ViewAnswer(errors={views.TEXT_BLOCK: "Only backbone staff can record decisions."})
    state = interaction.view_state()
    text = str(state.get(views.TEXT_BLOCK) or "")
    if not text.strip():
        return ViewAnswer(errors={views.TEXT_BLOCK: "Write the decision as it should be remembered."})
    metadata = interaction.metadata()
    services, initiative = interaction.services, interaction.initiative
    in_notion = mirrors_to_notion(services, initiative)
    # private_metadata comes back from the client: only a Slack permalink is kept as the source.
    permalink = metadata.text("permalink") or None
    if permalink is not None and not is_slack_permalink(permalink, services.settings.trusted_url_prefixes):
        permalink = None
    author = metadata.text("author") or None
    try:
        decision = record_decision(
            interaction.session,
            initiative,
            DecisionDraft(
                text=text,
                recorded_by=interaction.user_id,
                goal_key=state.get(views.GOAL_BLOCK) or None,
                source_permalink=permalink,
                source_author=author if author is not None and author.isalnum() else None,
                submission_id=interaction.view_id,
            ),
            announce=_renderer(in_notion),
            mirror_to_notion=in_notion,
            now=services.now(),
        )
    except InputError as exc:
        return ViewAnswer(errors={views.TEXT_BLOCK: str(exc)[:2000]})
    return ViewAnswer(update_view=views.recorded_modal(decision, initiative.decisions_channel, in_notion))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "decide",
            USAGE,
            'records a decision, announces it and mirrors it to Notion (or use "Record as decision" on a message)',
            handle,
            ("/ci decide Home visits start within 7 days of an ER visit goal G1",),
            who="backbone staff",
        )
    )
    router.on_shortcut(views.RECORD_DECISION, open_decision_modal)
    router.on_view(views.RECORD_DECISION, save_decision)
