"""`/ci map [<goal>]`: who does what toward each goal and strategy, with the gaps and possible overlaps."""

from __future__ import annotations

from ci_slackbot.services.activities import activities_map
from ci_slackbot.services.decisions import find_goal
from commands.grammar import refuse_split_key
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import map_blocks as views

USAGE = "/ci map [<goal>]"


def show_map(invocation: Invocation) -> Reply:
    the_map = activities_map(invocation.session, invocation.initiative.id)
    goals = [(g.key, g.title) for g in the_map.goals]
    refuse_split_key(invocation.words, goals, "/ci map", "goal")
    goal_key = invocation.words.peek()
    if goal_key is None:
        return Reply(text="The activities map", blocks=views.map_blocks(the_map))
    # An unknown key is refused with the goals there are; a known one is on the map.
    key = find_goal(invocation.session, invocation.initiative.id, goal_key).key
    goal = next(g for g in the_map.goals if g.key == key)
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
