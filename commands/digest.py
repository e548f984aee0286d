"""`/ci digest` (a private preview of the next digest) and `/ci digest post` (backbone: post it now)."""

from __future__ import annotations

from ci_slackbot import jobs
from ci_slackbot.services.digest import build_digest
from commands.grammar import UsageError
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import digest_blocks
from integrations.slack.escape import escape

USAGE = "/ci digest [post]"
NO_CHANNEL = (
    "This initiative has no digest channel yet, so there is nowhere to post it. "
    "The backbone team sets one under `channels: digest:` in the initiative file."
)


def digest(invocation: Invocation) -> Reply:
    words = invocation.words
    post = words.take_if("post")
    if words:
        raise UsageError(f"`/ci digest` takes no `{escape(words.rest()[:40])}`.", USAGE)
    session, initiative, now = invocation.session, invocation.initiative, invocation.services.now()
    if not post:
        message = digest_blocks.digest_message(build_digest(session, initiative, now), preview=True)
        return Reply(text=message["text"], blocks=message["blocks"])
    invocation.person.require_backbone("post the digest")
    if not initiative.digest_channel:
        raise UsageError(NO_CHANNEL)
    # Its own slot, so a digest posted by hand never takes the weekly slot's place.
    queued = jobs.queue_digest(
        session, build_digest(session, initiative, now), jobs.manual_slot(now), node=invocation.services.node
    )
    chart = " The chart of headline indicators follows it." if queued.chart else ""
    return Reply(text=f":outbox_tray: Posting the digest to <#{queued.channel}> now.{chart}")


def register(router: Router) -> None:
    router.register(
        Subcommand("digest", USAGE, "a private preview of the next digest", digest, ("/ci digest",)),
        listed=(
            Subcommand("digest", "/ci digest", "a private preview of the next digest", digest, ("/ci digest",)),
            Subcommand(
                "digest",
                "/ci digest post",
                "posts the digest to the digest channel now",
                digest,
                ("/ci digest post",),
                who="backbone staff",
            ),
        ),
    )
