"""Which initiative a CLI command works on: the only one loaded, or the one named by `--team`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.store.models import Initiative, Workspace


class NoSuchInitiativeError(Exception):
    """The message says how to pick an initiative."""


def choose_initiative(session: Session, team: str | None) -> Initiative:
    initiatives = all_initiatives(session)
    if not initiatives:
        raise NoSuchInitiativeError("No initiative is loaded yet: load one with `ci-slackbot init --config FILE`.")
    teams = {i.id: session.get(Workspace, i.workspace_id) for i in initiatives}
    if team is not None:
        for initiative in initiatives:
            workspace = teams[initiative.id]
            if workspace is not None and workspace.team_id == team:
                return initiative
        known = ", ".join(w.team_id for w in teams.values() if w is not None)
        raise NoSuchInitiativeError(f"No initiative belongs to team `{team}`. Teams with one: {known}.")
    if len(initiatives) == 1:
        return initiatives[0]
    listed = ", ".join(f"{w.team_id} ({i.name})" for i in initiatives if (w := teams[i.id]) is not None)
    raise NoSuchInitiativeError(f"Several initiatives are loaded: say which with --team. Teams: {listed}.")
