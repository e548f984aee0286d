"""Organizations that follow a Slack user group: their members are kept in step with the group's.

An organization's `usergroup` (the file's `organizations[].usergroup`, a user group ID like
S0123ABCD) says that its members are whoever is in that group in the initiative's own workspace.
A job reads the group from Slack (integrations/slack/usergroups.py) and hands its members here;
the change is made as any set-up change is, through `change_setup`, with the group as its author
(`Slack user group @childrens-health`): it enters the change log, new members get their welcome
DM, and `export --config` lists the members as they now are. A group that vanished changes nothing
here: the caller tells the backbone team and the members stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.services.change_log import usergroup_author
from ci_slackbot.services.initiatives import ApplyReport
from ci_slackbot.services.setup import SetupDocument, SetupError, change_setup, find_section
from ci_slackbot.store.models import Initiative, Organization


@dataclass(frozen=True)
class Followed:
    """An organization following a user group."""

    organization_key: str
    organization_name: str
    usergroup: str


def followed_usergroups(session: Session, initiative_id: int) -> list[Followed]:
    """The organizations of an initiative that follow a user group, in the file's order."""
    return [
        Followed(key, name, group or "")
        for key, name, group in session.execute(
            select(Organization.key, Organization.name, Organization.usergroup)
            .where(
                Organization.initiative_id == initiative_id,
                Organization.retired.is_(False),
                Organization.usergroup.is_not(None),
            )
            .order_by(Organization.position, Organization.id)
        )
    ]


def all_followed_usergroups(session: Session) -> dict[int, frozenset[tuple[str, str]]]:
    """Per initiative, the (organization key, user group) pairs followed: the scheduler syncs at once
    when these change."""
    out: dict[int, set[tuple[str, str]]] = {}
    for iid, key, group in session.execute(
        select(Organization.initiative_id, Organization.key, Organization.usergroup).where(
            Organization.retired.is_(False), Organization.usergroup.is_not(None)
        )
    ):
        out.setdefault(iid, set()).add((key, group or ""))
    return {iid: frozenset(pairs) for iid, pairs in out.items()}


def set_usergroup(
    session: Session,
    initiative: Initiative,
    author: str,
    organization_key: str,
    usergroup: str | None,
    *,
    now: datetime | None = None,
) -> ApplyReport:
    """The organization follows the user group `usergroup` (its ID, S0123ABCD) from now on; None: none.

    For the organization form. Checked as `init` checks the file: a bad ID raises `SetupError` with
    the problem at `organizations[<i>].usergroup`. The members are not changed here: the user group
    job reads the group from Slack after the commit (at once, then hourly) and brings them in step.
    """
    value = usergroup.strip() if usergroup is not None else None

    def edit(document: SetupDocument) -> None:
        _, section = find_section(document, "organizations", organization_key)
        if value:
            section["usergroup"] = value
        else:
            section.pop("usergroup", None)

    return change_setup(session, initiative, author, edit, now=now)


def follow_members(
    session: Session,
    initiative: Initiative,
    organization_key: str,
    usergroup: str,
    handle: str,
    members: Iterable[str],
    *,
    read_at: datetime,
    now: datetime | None = None,
) -> ApplyReport | None:
    """Make the organization's members the user group's `members`, as Slack gave them at `read_at`,
    authored by the group.

    None when nothing was to change, when the organization no longer follows this group (it was
    changed or retired while Slack was being asked), or when members read after `read_at` have been
    applied already (two syncs overlapped, and this one's read is the older): what Slack said then
    is not applied.
    """
    wanted = sorted({m for m in members if _is_user_id(m)})
    organization = (
        select(Organization)
        .where(Organization.initiative_id == initiative.id, Organization.key == organization_key)
        .execution_options(populate_existing=True)
    )

    def edit(document: SetupDocument) -> None:
        # Run by change_setup once it holds the initiative's row: another sync's commit is seen here.
        try:
            _, section = find_section(document, "organizations", organization_key)
        except SetupError:
            raise _Stale from None
        if section.get("usergroup") != usergroup:
            raise _Stale
        applied = session.scalar(organization)
        if applied is not None and applied.usergroup_read_at is not None and applied.usergroup_read_at > read_at:
            raise _Stale
        if sorted(section.get("members") or []) == wanted:
            raise _InStep  # nothing to change: not even a revision bump
        section["members"] = wanted

    try:
        report: ApplyReport | None = change_setup(session, initiative, usergroup_author(handle), edit, now=now)
    except _InStep:
        report = None
    except _Stale:
        return None
    applied = session.scalar(organization)
    if applied is not None:
        applied.usergroup_read_at = read_at
    return report


class _Stale(Exception):
    """The group's answer applies to nothing (any more)."""


class _InStep(Exception):
    """The organization's members are the group's already."""


def _is_user_id(value: str) -> bool:
    # usergroups.users.list gives user IDs: U… (W… on Enterprise Grid), as the file's members are.
    return len(value) > 2 and value[0] in "UW" and value.isalnum()
