"""The first set-up of a workspace without an initiative, from App Home.

Whoever installed the app and the workspace's admins and owners see a "Set up your initiative"
button; its form makes the initiative (`services.setup.start_initiative`), logged under its author.
Everyone else is told who can. The right is asked of Slack again on every click and submission
(the dispatcher's `Founding`), so a forged submission from anyone else sets nothing up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError, SlackClientError

from ci_slackbot.outbox import enqueue
from ci_slackbot.services.home import home_data
from ci_slackbot.services.initiatives import DEFAULT_TEAM
from ci_slackbot.services.people import who_is
from ci_slackbot.services.setup import SetupError, start_initiative
from ci_slackbot.services.setup_organizations import FirstRunDraft, first_run_document, first_run_problems
from commands.router import Founding, Reply, Router, ViewAnswer, opening
from integrations.slack import home_blocks
from integrations.slack import setup_blocks as views

log = logging.getLogger(__name__)

# Where each of the file's paths is in the form.
FIELDS = {
    "initiative.name": views.FR_NAME,
    "initiative.timezone": views.FR_TIMEZONE,
    "initiative.vision": views.FR_VISION,
    "initiative.backbone": views.FR_BACKBONE_KEY,
    "organizations[0].key": views.FR_BACKBONE_KEY,
    "organizations[0].name": views.FR_BACKBONE_NAME,
    "organizations[0].sector": views.FR_BACKBONE_NAME,
    "organizations[0].members": views.FR_STAFF,
    "channels.digest": views.FR_DIGEST,
    "channels.decisions": views.FR_DECISIONS,
    "schedule.digest": views.FR_DIGEST_AT,
    "schedule.reminders": views.FR_REMINDERS_AT,
}


def home(founding: Founding) -> Reply:
    command = "ci-slackbot init --config initiative.yml"
    if founding.services.workspaces is not None:
        command += f" --team {founding.team_id}"  # many workspaces: the file names which one it is for
    view = views.first_run_home(allowed=founding.may_set_up, installer=founding.installer, init_command=command)
    return Reply(text="", blocks=view["blocks"])


def start(founding: Founding) -> Reply:
    """The "Set up your initiative" button."""
    founding.require_founder()
    form = views.first_run_modal(user_id=founding.user_id, user_zone=founding.user_zone)
    return opening(founding, form, "set-up form")


def save(founding: Founding) -> ViewAnswer:
    if not founding.may_set_up:
        return ViewAnswer(errors={views.FR_NAME: founding.refusal})
    state = founding.view_state()

    def text(block_id: str) -> str:
        return (state.get(block_id) or "").strip()

    draft = FirstRunDraft(
        name=text(views.FR_NAME),
        timezone=text(views.FR_TIMEZONE),
        vision=text(views.FR_VISION),
        backbone_key=text(views.FR_BACKBONE_KEY),
        backbone_name=text(views.FR_BACKBONE_NAME),
        staff=tuple(founding.selected_users(views.FR_STAFF)),
        digest_channel=text(views.FR_DIGEST) or None,
        decisions_channel=text(views.FR_DECISIONS) or None,
        digest_at=text(views.FR_DIGEST_AT),
        reminders_at=text(views.FR_REMINDERS_AT),
    )
    problems = first_run_problems(draft)
    try:
        if problems:
            raise SetupError(problems)
        start_initiative(
            founding.session,
            _home_team(founding),
            founding.user_id,
            first_run_document(draft),
            now=founding.services.now(),
        )
    except SetupError as exc:
        return ViewAnswer(errors=views.errors_on_fields(exc.problems, FIELDS, views.FR_NAME))
    channels = [
        (c, what) for c, what in ((draft.digest_channel, "digest"), (draft.decisions_channel, "decisions")) if c
    ]
    return ViewAnswer(after=_welcome(founding, draft.name, channels))


def _home_team(founding: Founding) -> str:
    """Where the new initiative is kept. With one workspace (SLACK_BOT_TOKEN) that is the row `init`
    loads into without `--team`: a file loaded later then changes this initiative, and does not make
    a second one that the first would hide. With OAuth, the workspace's own."""
    return DEFAULT_TEAM if founding.services.workspaces is None else founding.team_id


def _welcome(founding: Founding, name: str, channels: list[tuple[str, str]]) -> Callable[[], None]:
    """After the commit: is the app in the channels picked? Say so, and show the new initiative's Home."""
    services, team_id, user = founding.services, founding.team_id, founding.user_id
    slack = founding.slack

    def run() -> None:
        # Home first, then the DM, each on its own: the initiative exists whatever Slack answers, and a
        # failed DM (a 429, the network) must not leave Home on its first-run screen, nor the reverse.
        with services.db.unit_of_work() as session:
            initiative = services.initiative_of(session, team_id, services.token_team())
            if initiative is None:
                return
            initiative_id = initiative.id
            data = home_data(session, initiative, who_is(session, initiative, user), services.now())
        try:
            slack.views_publish(user_id=user, view=home_blocks.home_view(data))
        except (SlackApiError, SlackClientError, OSError):
            log.warning("the new initiative's Home could not be published; it will be when the tab is next opened")
        not_member = []
        for channel, what in channels:
            try:
                found = slack.conversations_info(channel=channel).get("channel") or {}
                member = bool(found.get("is_member"))
            except (SlackApiError, SlackClientError, OSError) as exc:
                # A private channel the app is not in is one it cannot see (`channel_not_found`).
                error = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
                log.info("conversations.info for a set-up channel: %s", error)
                member = False
            if not member:
                not_member.append((channel, what))
        # Through the outbox: a 429 or the network on the way is tried again, not lost.
        with services.db.unit_of_work() as session:
            enqueue(
                session,
                initiative_id=initiative_id,
                service="slack",
                kind="post",
                key=f"slack:first-run:{initiative_id}:{user}",
                payload={"channel": user, "text": views.set_up_text(name, not_member)},
            )

    return run


def register(router: Router) -> None:
    router.first_run_home = home
    router.on_first_run_action(views.START_SETUP, start)
    router.on_first_run_view(views.FIRST_RUN_SAVE, save)
