"""`/ci help`: the commands with examples; `/ci` alone: the two or three a person needs. (Unknown words
answer with the full help.)"""

from __future__ import annotations

from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import blocks as bk

# What each kind of person reaches for first, with a line a newcomer understands.
FIRST_COMMANDS = {
    "update": "report a number for your organization (a form opens)",
    "actions": "your open action items, with buttons to close them",
    "indicators": "where every indicator stands",
    "status": "who has reported for the current period, and who has not",
    "digest": "a private preview of the weekly digest",
    "agenda": "the common agenda: vision, goals and strategies",
    "map": "who works on what, and the gaps",
}
PARTNER = ("update", "actions", "indicators")
BACKBONE = ("status", "digest", "actions")
VISITOR = ("indicators", "agenda", "map")


def starter_reply(router: Router, invocation: Invocation) -> Reply:
    person = invocation.person
    names = BACKBONE if person.is_backbone else PARTNER if person.is_member else VISITOR
    lines = [f"*`/ci {name}`* — {FIRST_COMMANDS[name]}" for name in names if name in router.subcommands]
    return Reply(
        text="What you can do with /ci",
        blocks=[
            bk.section("*What you'll need most:*\n" + "\n".join(lines)),
            bk.context("Every other command, with examples: `/ci help`"),
        ],
    )


def register(router: Router) -> None:
    def handle(invocation: Invocation) -> Reply:
        return router.help_reply()

    def starter(invocation: Invocation) -> Reply:
        return starter_reply(router, invocation)

    router.register(Subcommand("help", "/ci help", "the commands, with examples", handle, ("/ci help",)))
    router.starter = starter
