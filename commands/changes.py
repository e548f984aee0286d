"""`/ci changes`: the systems changes the coalition contributed to, by goal and kind.

Everyone sees the confirmed ones; backbone staff and each change's author also see it while it
is proposed, and backbone staff get a Confirm button on each proposed one.
"""

from __future__ import annotations

from ci_slackbot.services.systems_changes import list_changes
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import systems_change_blocks as views


def changes(invocation: Invocation) -> Reply:
    listing = list_changes(invocation.session, invocation.initiative, invocation.person)
    message = views.changes_message(listing, backbone=invocation.person.is_backbone)
    return Reply(text=message["text"], blocks=message["blocks"])


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "changes",
            "/ci changes",
            "the systems changes the coalition contributed to, by goal and kind: what will outlast it",
            changes,
            ("/ci changes",),
        )
    )
