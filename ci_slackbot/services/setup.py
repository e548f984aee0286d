"""Changing an initiative's set-up from Slack, through the same rules as `ci-slackbot init`.

Every change made in App Home is made to the initiative *file*: the set-up is exported as `init`
would read it (`export_initiative_file`), the change is made to that document, the document is
checked by the file's own schema and cross-checks (`parse_initiative`), and then applied by
`apply_initiative` under the author's Slack user ID. So a form can accept nothing that `init`
would refuse, each change enters the change log and is announced exactly as a loaded file's
would be, and `export --config` always describes what Slack made.

Errors come back as `SetupError.problems`: `{path: message}` with the file's paths
(`organizations[2].members`, `indicators[0].target.period`), which a form maps to its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.initiative_file import InitiativeFile, InitiativeFileError, parse_initiative
from ci_slackbot.services.initiative_export import export_initiative_file
from ci_slackbot.services.initiatives import DEFAULT_TEAM, ApplyReport, apply_initiative
from ci_slackbot.store.models import Initiative, Workspace

SetupDocument = dict[str, Any]
Edit = Callable[[SetupDocument], None]


class SetupError(ValueError):
    """The change cannot be made; `problems` maps a file path (or "" for the whole) to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems.items()))
        self.problems = problems

    def at(self, *prefixes: str) -> dict[str, str]:
        """The problems under any of `prefixes` (a path or its start), by their full path."""
        return {
            path: message
            for path, message in self.problems.items()
            if any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)
        }


def _problems(error: InitiativeFileError) -> dict[str, str]:
    out: dict[str, str] = {}
    for problem in error.problems:
        path, sep, message = problem.partition(": ")
        if not sep:
            path, message = "", problem
        # Two problems on one field: both are said.
        out[path] = f"{out[path]}; {message}" if path in out else message
    return out


def check_document(document: SetupDocument) -> InitiativeFile:
    """The document as `init` reads it, or `SetupError` with each problem at its path."""
    try:
        return parse_initiative(document)
    except InitiativeFileError as exc:
        raise SetupError(_problems(exc)) from None


def setup_document(session: Session, initiative: Initiative) -> SetupDocument:
    """The initiative's set-up as its file: what every form reads its current values from."""
    return export_initiative_file(session, initiative)


def change_setup(
    session: Session, initiative: Initiative, author: str, edit: Edit, *, now: datetime | None = None
) -> ApplyReport:
    """Make `edit` to the initiative's file and apply it under `author`, or change nothing.

    `edit` changes the document in place and may raise `SetupError` for what it sees itself
    (an unknown key, say); the document is then checked as `init` checks a file.
    """
    # Another coordinator's change still being saved is waited for, and this one starts from it: the
    # file below is rewritten whole, so one read before the other committed would undo what it did
    # not know of. (SQLite: the write turn, held since BEGIN, already keeps the other out.)
    session.refresh(initiative, with_for_update=True)
    document = setup_document(session, initiative)
    edit(document)
    data = check_document(document)
    team = session.scalar(select(Workspace.team_id).where(Workspace.id == initiative.workspace_id)) or DEFAULT_TEAM
    try:
        _, report = apply_initiative(session, data, team_id=team, now=now, author=author)
    except InitiativeFileError as exc:  # refused before any change: a workspace another initiative has
        raise SetupError(_problems(exc)) from None
    return report


def start_initiative(
    session: Session, team_id: str, author: str, document: SetupDocument, *, now: datetime | None = None
) -> Initiative:
    """A new initiative for the workspace `team_id` from a first set-up's document (first-run App Home).

    Refused when the workspace has one already: set-up is then changed through `change_setup`.
    """
    existing = select(Initiative).join(Workspace).where(Workspace.team_id == team_id)
    if session.scalar(existing) is not None:
        raise SetupError({"": "this workspace has an initiative already; backbone staff change it in App Home"})
    data = check_document(document)
    try:
        # In a savepoint: the same form sent twice, or by two admins at once, makes the later wait at
        # the workspace's unique keys (PostgreSQL) and fail there once the earlier has committed.
        with session.begin_nested():
            initiative, _ = apply_initiative(session, data, team_id=team_id, now=now, author=author)
    except InitiativeFileError as exc:  # e.g. the workspace is another initiative's partner workspace
        raise SetupError(_problems(exc)) from None
    except IntegrityError:
        if session.scalar(existing) is None:
            raise
        raise SetupError({"": "this workspace's initiative was set up a moment ago; it is in App Home now"}) from None
    return initiative


def find_section(document: SetupDocument, section: str, key: str) -> tuple[int, dict[str, Any]]:
    """The index and mapping of the item with `key` in a list section (`organizations`, `goals`…)."""
    for index, item in enumerate(document.get(section, [])):
        if item.get("key") == key:
            return index, item
    raise SetupError({section: f"`{key}` is not (or no longer) in {section}; it may have been retired meanwhile"})
