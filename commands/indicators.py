"""`/ci indicators`: every indicator with its latest value, trend and progress toward target."""

from __future__ import annotations

from ci_slackbot.services.measurement import STANDING_PERIODS, standings
from ci_slackbot.services.wishes import wish_views
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import blocks as bk
from integrations.slack import measurement_blocks as views
from integrations.slack.systems_change_blocks import wishes_block


def indicators(invocation: Invocation) -> Reply:
    # Each line shows the latest figure and its move from the one before: two periods are read, not years.
    board = standings(invocation.session, invocation.initiative.id, recent=STANDING_PERIODS)
    # Partners may see small breakdown numbers privately; anyone else sees them hidden, as in a channel.
    blocks = views.scoreboard(board, invocation.services.now(), partner=invocation.person.is_member)
    # The data development agenda, apart from the indicators that are reported.
    wishes = wishes_block(
        wish_views(invocation.session, invocation.initiative.id), more="the digest and App Home list them too"
    )
    if wishes is not None:
        blocks = [*blocks, bk.divider(), wishes]
    return Reply(text="Where our indicators stand", blocks=blocks)


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
