"""`/ci help`: the commands with examples. (`/ci` alone and unknown words answer the same.)"""

from __future__ import annotations

from commands.router import Invocation, Reply, Router, Subcommand


def register(router: Router) -> None:
    def handle(invocation: Invocation) -> Reply:
        return router.help_reply()

    router.register(Subcommand("help", "/ci help", "the commands, with examples", handle, ("/ci help",)))
