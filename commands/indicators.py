"""`/ci indicators`: every indicator with its latest value, trend and progress toward target."""

from __future__ import annotations

from ci_slackbot.services.measurement import standings
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import measurement_blocks as views


def indicators(invocation: Invocation) -> Reply:
    board = standings(invocation.session, invocation.initiative.id)
    return Reply(text="Where our indicators stand", blocks=views.scoreboard(board, invocation.services.now()))


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
