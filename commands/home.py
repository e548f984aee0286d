"""App Home: published when a user opens the app's Home tab (`app_home_opened`).

Not a `/ci` subcommand: `register` sets `router.home`, and the Retry button of
parked outbox items (backbone staff only, checked again on each click). The
"Report" buttons use the `open_update_modal` action registered by `commands/update.py`.
"""

from __future__ import annotations

from ci_slackbot import outbox
from ci_slackbot.services.home import home_data
from ci_slackbot.store.models import Initiative
from commands.router import Interaction, Reply, Router
from integrations.slack import home_blocks
from integrations.slack.parked import RETRY_PARKED


def home(interaction: Interaction) -> Reply:
    data = home_data(
        interaction.session,
        interaction.initiative,
        interaction.person,
        interaction.services.now(),
        interaction.indicators(),
    )
    return Reply(text="", blocks=home_blocks.home_view(data)["blocks"])


def retry_parked(interaction: Interaction) -> Reply:
    """App Home's Retry: the parked items of one cause go back in the queue; Home is shown again."""
    interaction.person.require_backbone("send parked items again")
    outbox.retry_failed(interaction.session, initiative_id=interaction.initiative.id, cause=interaction.action_value)
    services, initiative_id, user = interaction.services, interaction.initiative.id, interaction.user_id
    slack = interaction.slack

    def republish() -> None:
        # After the commit: Home shows the items waiting again, not parked.
        with services.db.unit_of_work() as session:
            initiative = session.get_one(Initiative, initiative_id)
            person = services.config.person(session, initiative, user)
            views = services.config.indicators(session, initiative)
            data = home_data(session, initiative, person, services.now(), views)
        slack.views_publish(user_id=user, view=home_blocks.home_view(data))

    return Reply(text="", after=republish)


def register(router: Router) -> None:
    router.home = home
    router.on_action(RETRY_PARKED, retry_parked)
