"""`/ci prep` (backbone staff): a Notion page under the agenda hub with what the next meeting should look at.

The page is written through the outbox; its link comes by DM once it exists.
"""

from __future__ import annotations

from ci_slackbot.domain.errors import InputError
from ci_slackbot.services.prep import request_prep
from commands.grammar import UsageError
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import blocks as bk

USAGE = "/ci prep"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def handle(invocation: Invocation) -> Reply:
    invocation.person.require_backbone("prepare meetings")
    if invocation.words:
        raise UsageError("`/ci prep` takes nothing after it.", USAGE)
    services, initiative, session = invocation.services, invocation.initiative, invocation.session
    if not services.settings.notion_enabled:
        raise InputError(
            "Meeting prep pages are written to Notion, and this app is not connected to Notion: "
            "its administrator sets NOTION_TOKEN."
        )
    prep, content = request_prep(
        session, initiative, invocation.user_id, reply_to=invocation.user_id, now=services.now()
    )
    counts = [_count(len(section.lines), "item") + f" under “{section.heading}”" for section in content.sections]
    told = len(content.stories)
    counts.append(f"{told} {'story' if told == 1 else 'stories'} told with the numbers")
    text = (
        f":hourglass_flowing_sand: Preparing meeting page #{prep.id} in Notion; I'll send you its link when it's ready."
    )
    return Reply(text=text, blocks=[bk.section(text), bk.context("It lists " + "; ".join(counts) + ".")])


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "prep",
            USAGE,
            "writes a Notion page for the next meeting: missing reports, indicators off track, "
            "overdue action items, recent decisions, the stories told with the numbers",
            handle,
            ("/ci prep",),
            who="backbone staff",
        )
    )
