"""The partner workspaces an initiative names, changed from Slack (the file's `initiative.partner_workspaces`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ci_slackbot.services.initiatives import ApplyReport
from ci_slackbot.services.setup import SetupDocument, change_setup
from ci_slackbot.store.models import Initiative


def set_partner_workspaces(
    session: Session, initiative: Initiative, author: str, teams: Sequence[str], *, now: datetime | None = None
) -> ApplyReport:
    """The initiative names `teams` (Slack team IDs, T0123ABCD) as its partner workspaces from now on.

    For a set-up form. Checked as `init` checks the file, and against the other initiatives: a bad ID,
    a team named twice, this initiative's own workspace, or a workspace another initiative has raise
    `SetupError` with the problem at `initiative.partner_workspaces` (or `…[<i>]`); nothing changes.
    """
    wanted = [team.strip() for team in teams if team.strip()]

    def edit(document: SetupDocument) -> None:
        if wanted:
            document["initiative"]["partner_workspaces"] = wanted
        else:
            document["initiative"].pop("partner_workspaces", None)

    return change_setup(session, initiative, author, edit, now=now)
