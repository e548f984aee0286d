"""The change log of an initiative's set-up, and the announcements its changes bring.

Every change records who made it (a Slack user ID, or `FILE_AUTHOR` for `ci-slackbot init`), when,
and its fields before and after. The changes that matter to partners are announced once:

- a new reporting duty (a new indicator, or an organization newly asked for one): a DM to the
  members of the organization that reports it;
- a new member: a welcome DM saying what their organizations report and how;
- a changed target: one line in the next digest, which shows the changes made since the last one.

DMs go through the outbox, keyed by the log entry that caused them: loading the same file again
logs nothing and so sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.measurement import format_number
from ci_slackbot.outbox import enqueue
from ci_slackbot.store.models import (
    ChangeLogEntry,
    Indicator,
    IndicatorReporter,
    Initiative,
    Membership,
    Organization,
)

FILE_AUTHOR = "loaded from file"
# Authors that are no person: changes loaded from the file, and those a followed Slack user group brought.
USERGROUP_AUTHOR = "Slack user group @"
SERVICE, KIND = "slack", "setup_notice"
# Announced to each person: at most this many indicators are listed in one welcome.
MAX_LISTED = 20


def usergroup_author(handle: str) -> str:
    """The author of the changes a Slack user group brings (`Slack user group @childrens-health`)."""
    return f"{USERGROUP_AUTHOR}{handle}"[:64]


def by_person(author: str) -> bool:
    """Whether a change's author is a Slack user (mentioned where shown), not the file or a user group."""
    return len(author) > 2 and author[0] in "UW" and author.isalnum()


def log_change(
    session: Session,
    initiative: Initiative,
    author: str,
    subject: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    at: datetime | None = None,
) -> ChangeLogEntry:
    """Record one change to the set-up (in the caller's transaction). `before` None: it was created."""
    entry = ChangeLogEntry(
        initiative_id=initiative.id,
        author=author,
        changed_at=at or datetime.now(UTC),
        subject=subject,
        before=before,
        after=after,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChangeLine:
    """One change as people read it: raw text, escaped where it is posted."""

    author: str  # a Slack user ID, or FILE_AUTHOR
    at: datetime
    subject: str
    what: str  # e.g. "target: 12 (2027-12) → 11 (2027-12)", "added", "members: + U0NEW0001"


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return format_number(float(value))
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items()) or "none"
    return str(value)


def describe(entry: ChangeLogEntry) -> str:
    before, after = entry.before, entry.after
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if after.get("retired") is True and before.get("retired") is False:
        return "retired"
    parts = []
    for name, new in after.items():
        old = before.get(name)
        if isinstance(old, list) and isinstance(new, list):
            added = [_shown(v) for v in new if v not in old]
            gone = [_shown(v) for v in old if v not in new]
            parts.append(f"{name}: " + " ".join([*(f"+ {v}" for v in added), *(f"− {v}" for v in gone)]))
        else:
            parts.append(f"{name}: {_shown(old)} → {_shown(new)}")
    return "; ".join(parts)


def recent_changes(session: Session, initiative_id: int, limit: int) -> list[ChangeLine]:
    """The latest changes to the set-up, newest first."""
    rows = session.scalars(
        select(ChangeLogEntry)
        .where(ChangeLogEntry.initiative_id == initiative_id)
        .order_by(ChangeLogEntry.changed_at.desc(), ChangeLogEntry.id.desc())
        .limit(limit)
    )
    return [ChangeLine(r.author, r.changed_at, r.subject, describe(r)) for r in rows]


@dataclass(frozen=True)
class TargetChange:
    """An indicator's target changed: the digest says so once, in the first digest after it."""

    key: str
    before: str  # the value as shown, e.g. "12"
    after: str
    author: str  # a Slack user ID, or FILE_AUTHOR

    def line(self) -> str:
        """Plain text; a Slack user author is named by ID (the digest renders a mention instead)."""
        who = f"by {self.author}" if by_person(self.author) else self.author
        return f"Target for {self.key} changed from {self.before} to {self.after} ({who})"


def target_changes_since(session: Session, initiative_id: int, since: datetime, until: datetime) -> list[TargetChange]:
    """Each indicator target changed in (since, until]: what the next digest says of them."""
    rows = session.scalars(
        select(ChangeLogEntry)
        .where(
            ChangeLogEntry.initiative_id == initiative_id,
            ChangeLogEntry.changed_at > since,
            ChangeLogEntry.changed_at <= until,
            ChangeLogEntry.subject.like("indicator %"),
        )
        .order_by(ChangeLogEntry.changed_at, ChangeLogEntry.id)
    )
    lines = []
    for entry in rows:
        before, after = entry.before or {}, entry.after or {}
        if entry.before is None or "target_value" not in after:
            continue
        key = entry.subject.removeprefix("indicator ")
        lines.append(TargetChange(key, _shown(before.get("target_value")), _shown(after["target_value"]), entry.author))
    return lines


def _list(entry: ChangeLogEntry, name: str) -> tuple[list[Any], list[Any]]:
    return list((entry.before or {}).get(name) or []), list((entry.after or {}).get(name) or [])


def announce_changes(session: Session, initiative: Initiative, entries: Sequence[ChangeLogEntry]) -> None:
    """Queue the DMs the logged changes bring: a welcome to each new member, and to the members of an
    organization newly asked for an indicator, what it now reports. Once per person and change.

    Each organization's duties and members, and the indicators, are read once however many people
    and changes a load brings (a new coalition's file may add hundreds of each)."""
    orgs = {
        o.key: o
        for o in session.scalars(
            select(Organization).where(Organization.initiative_id == initiative.id, Organization.retired.is_(False))
        )
    }
    duties: dict[int, list[dict[str, Any]]] = {}
    welcomed: set[str] = set()
    for entry in _about(entries, "organization ", " members"):
        org = orgs.get(entry.subject.removeprefix("organization ").removesuffix(" members"))
        if org is None:
            continue
        old, new = _list(entry, "members")
        for user in new:
            if user in old:
                continue
            welcomed.add(user)
            if org.id not in duties:
                duties[org.id] = _reported_by(session, [org.id])
            _notify(session, initiative, entry, "welcome", user, org, duties[org.id])
    asked = _about(entries, "indicator ", " reporters")
    if not asked:
        return
    indicators = {
        i.key: i
        for i in session.scalars(
            select(Indicator).where(Indicator.initiative_id == initiative.id, Indicator.retired.is_(False))
        )
    }
    members: dict[int, list[str]] = {}
    for entry in asked:
        indicator = indicators.get(entry.subject.removeprefix("indicator ").removesuffix(" reporters"))
        if indicator is None:
            continue
        old, new = _list(entry, "reporters")
        for org_key in new:
            org = orgs.get(org_key)
            if org_key in old or org is None:
                continue
            if org.id not in members:
                members[org.id] = list(
                    session.scalars(
                        select(Membership.slack_user_id)
                        .where(Membership.organization_id == org.id)
                        .order_by(Membership.slack_user_id)
                    )
                )
            for user in members[org.id]:
                if user not in welcomed:  # the welcome already lists every indicator of the organization
                    _notify(session, initiative, entry, "duty", user, org, [_indicator_item(indicator)])


def _about(entries: Sequence[ChangeLogEntry], prefix: str, suffix: str) -> list[ChangeLogEntry]:
    """The entries whose subject is `<prefix><key><suffix>` (`organization hwac members`)."""
    return [e for e in entries if e.subject.startswith(prefix) and e.subject.endswith(suffix)]


def _indicator_item(indicator: Indicator) -> dict[str, Any]:
    return {"key": indicator.key, "name": indicator.name, "frequency": indicator.frequency}


def _reported_by(session: Session, org_ids: list[int]) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Indicator)
        .join(IndicatorReporter, IndicatorReporter.indicator_id == Indicator.id)
        .where(IndicatorReporter.organization_id.in_(org_ids), Indicator.retired.is_(False))
        .order_by(Indicator.position, Indicator.id)
    )
    return [_indicator_item(i) for i in rows]


def _notify(
    session: Session,
    initiative: Initiative,
    entry: ChangeLogEntry,
    kind: str,
    user: str,
    org: Organization,
    indicators: list[dict[str, Any]],
) -> None:
    enqueue(
        session,
        initiative_id=initiative.id,
        service=SERVICE,
        kind=KIND,
        key=f"setup:{initiative.id}:{entry.id}:{kind}:{org.key}:{user}",
        payload={
            "channel": user,
            "notice": kind,
            "initiative": initiative.name,
            "organization": org.name,
            "indicators": indicators[:MAX_LISTED],
            "more": max(0, len(indicators) - MAX_LISTED),
        },
    )
