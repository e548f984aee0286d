"""App Home: published when a user opens the app's Home tab (`app_home_opened`).

Not a `/ci` subcommand: `register` only sets `router.home`. The "Report"
buttons use the `open_update_modal` action registered by `commands/update.py`.
"""

from __future__ import annotations

from ci_slackbot.services.home import home_data
from commands.router import Interaction, Reply, Router
from integrations.slack import home_blocks


def home(interaction: Interaction) -> Reply:
    data = home_data(interaction.session, interaction.initiative, interaction.person, interaction.services.now())
    return Reply(text="", blocks=home_blocks.home_view(data)["blocks"])


def register(router: Router) -> None:
    router.home = home
