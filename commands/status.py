"""`/ci status` (backbone): who has and has not reported for the current period."""

from __future__ import annotations

from ci_slackbot import outbox
from ci_slackbot.services.measurement import reporting_status
from commands.router import Invocation, Reply, Router, Subcommand
from integrations.slack import blocks as bk
from integrations.slack import measurement_blocks as views


def status(invocation: Invocation) -> Reply:
    invocation.person.require_backbone("see the reporting status")
    reports = reporting_status(invocation.session, invocation.initiative, invocation.services.now())
    health = outbox.health(invocation.session, invocation.initiative.id)
    extra = []
    if health.failed:
        extra.append(
            f":rotating_light: {health.failed} mirror writes failed and are parked: "
            "run `ci-slackbot outbox` to see them and `ci-slackbot outbox retry` to send them again."
        )
    if health.pending:
        oldest = health.oldest_pending_seconds
        age = f", the oldest waiting for {bk.age(oldest)}" if oldest is not None else ""
        extra.append(f"{health.pending} mirror writes waiting to be delivered{age}.")
    return Reply(text="Reporting status", blocks=views.status_blocks(reports, extra))


def register(router: Router) -> None:
    router.register(
        Subcommand(
            "status",
            "/ci status",
            "which organizations have reported the period due, which are due by a date, which are missing",
            status,
            ("/ci status",),
            who="backbone staff",
        )
    )
