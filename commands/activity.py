"""`/ci activity add <goal> <text> [strategy <n>] [org <key>]`: put what your organization does on the map."""

from __future__ import annotations

from ci_slackbot.services.activities import add_activity, end_activity, parse_activity_id
from commands.grammar import UsageError, Words
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import map_blocks as views

ADD_USAGE = "/ci activity add <goal> <text> [strategy <n>]"
END_USAGE = "/ci activity end <id>"
USAGE = f"{ADD_USAGE}` or `{END_USAGE}"


def _strategy_number(words: Words) -> int | None:
    value = words.take_keyword_value("strategy")
    if value is None:
        return None
    number = value.removeprefix("#")
    if not number.isdigit() or len(number) > 3:
        raise UsageError(
            "`strategy` takes the strategy's number, as `/ci agenda` lists them, like `strategy 2`.", USAGE
        )
    return int(number)


def activity(invocation: Invocation) -> Reply:
    words = invocation.words
    verb = (words.peek() or "").lower()
    if verb == "end":
        return end(invocation)
    if verb != "add":
        raise UsageError(
            "Say `add`, then the goal and what your organization does toward it; or `end` and the activity's number.",
            USAGE,
        )
    words.take("add")
    invocation.person.require_member()
    strategy = _strategy_number(words)
    org_key = words.take_keyword_value("org")
    goal_key = words.take("the goal's key, like `G1`")
    text = words.rest()
    if not text:
        raise UsageError("Say what your organization does toward that goal.", USAGE)
    added = add_activity(
        invocation.session,
        invocation.initiative,
        invocation.person,
        goal_key,
        text,
        invocation.services.now(),
        strategy=strategy,
        org_key=org_key,
    )
    return Reply(text="Added to the activities map", blocks=views.activity_added(added))


def end(invocation: Invocation) -> Reply:
    words = invocation.words
    words.take("end")
    activity_id = parse_activity_id(words.take("the activity's number, as `/ci map G1` shows it"))
    if words.rest():
        raise UsageError("`end` takes only the activity's number, like `/ci activity end 7`.", END_USAGE)
    ended = end_activity(invocation.session, invocation.initiative, invocation.person, activity_id)
    return Reply(text="Taken off the activities map", blocks=views.activity_ended(ended))


def register(router: Router) -> None:
    add = Subcommand(
        "activity",
        ADD_USAGE,
        "put an activity of your organization on the map, toward a goal or one of its strategies",
        activity,
        ("/ci activity add G1 strategy 2 Community health workers in 75216",),
        who="members",
    )
    router.register(
        add,
        listed=(
            add,
            Subcommand(
                "activity",
                END_USAGE,
                "take an activity your organization no longer does off the map (`/ci map G1` shows its number)",
                activity,
                who="the organization or backbone staff",
            ),
        ),
    )
