"""`/ci indicators`: every indicator with its latest value, trend and progress toward target."""

from __future__ import annotations

from ci_slackbot.services.measurement import standings
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import measurement_blocks as views


def indicators(invocation: Invocation) -> Reply:
    board = standings(invocation.session, invocation.initiative.id)
    # Partners may see small breakdown numbers privately; anyone else sees them hidden, as in a channel.
    return Reply(
        text="Where our indicators stand",
        blocks=views.scoreboard(board, invocation.services.now(), partner=invocation.person.is_member),
    )


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "indicators",
            "/ci indicators",
            "every indicator with its latest value, trend and progress toward target",
            indicators,
            ("/ci indicators",),
        )
    )
