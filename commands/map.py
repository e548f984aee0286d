"""`/ci map [<goal>]`: who does what toward each goal and strategy, with the gaps and possible overlaps."""

from __future__ import annotations

from ci_slackbot.services.actions import shown
from ci_slackbot.services.activities import activities_map
from commands.grammar import UsageError
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import map_blocks as views

USAGE = "/ci map [<goal>]"


def show_map(invocation: Invocation) -> Reply:
    the_map = activities_map(invocation.session, invocation.initiative.id)
    goal_key = invocation.words.peek()
    if goal_key is None:
        return Reply(text="The activities map", blocks=views.map_blocks(the_map))
    goal = the_map.goal(goal_key)
    if goal is None:
        known = ", ".join(f"`{g.key}`" for g in the_map.goals) or "none yet"
        raise UsageError(f"This initiative has no goal {shown(goal_key, 'like that')}. The goals are: {known}.", USAGE)
    return Reply(text=f"The activities map: {goal.key}", blocks=views.goal_blocks(goal, the_map.overlap_threshold))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "map",
            USAGE,
            "who does what toward each goal and strategy; gaps nobody works on and possible overlaps",
            show_map,
            ("/ci map", "/ci map G1"),
        )
    )
