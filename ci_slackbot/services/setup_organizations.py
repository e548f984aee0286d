"""Organizations and their people, and a workspace's first set-up, changed from App Home.

Every change goes through `services/setup.py`: the organizations are read from the initiative's
file document and changed there, so a form accepts exactly what `ci-slackbot init` accepts, each
change is logged under its author, and `export --config` describes what was made in Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ci_slackbot.services.initiatives import ApplyReport
from ci_slackbot.services.setup import SetupDocument, SetupError, change_setup, find_section, setup_document
from ci_slackbot.store.models import Initiative

DEFAULT_DIGEST = "mon 09:00"
DEFAULT_REMINDERS = "thu 10:00"


@dataclass(frozen=True)
class OrganizationRow:
    """One organization as the set-up lists it."""

    key: str
    name: str
    sector: str
    members: tuple[str, ...]
    backup: str | None
    is_backbone: bool
    usergroup: str | None = None  # the Slack user group whose people are its members


@dataclass(frozen=True)
class OrganizationDraft:
    """What the organization form sends: `key` is read on adding only (a key never changes)."""

    name: str
    sector: str
    members: tuple[str, ...]
    backup: str | None
    key: str = ""
    # The user group to follow ("" for none); None: the form did not ask, what it follows stays.
    usergroup: str | None = None


def organization_rows(session: Session, initiative: Initiative) -> list[OrganizationRow]:
    """The initiative's current organizations, in the file's order."""
    document = setup_document(session, initiative)
    backbone = document["initiative"].get("backbone")
    return [
        OrganizationRow(
            key=str(org["key"]),
            name=str(org.get("name", "")),
            sector=str(org.get("sector", "")),
            members=tuple(org.get("members") or ()),
            backup=org.get("backup"),
            is_backbone=org["key"] == backbone,
            usergroup=org.get("usergroup"),
        )
        for org in document.get("organizations", [])
    ]


def organization_row(session: Session, initiative: Initiative, key: str) -> OrganizationRow:
    """One organization by key; `SetupError` when it is not (or no longer) there."""
    for row in organization_rows(session, initiative):
        if row.key == key:
            return row
    raise SetupError({"organizations": f"`{key}` is not (or no longer) an organization; it may have been retired"})


def _fill(item: dict[str, Any], draft: OrganizationDraft) -> None:
    item["name"] = draft.name
    if draft.sector:
        item["sector"] = draft.sector
    else:
        item.pop("sector", None)
    # One person listed once, in the order picked: the picker never repeats anyone, a forged form might.
    item["members"] = list(dict.fromkeys(draft.members))
    if draft.backup:
        item["backup"] = draft.backup
    else:
        item.pop("backup", None)
    if draft.usergroup:
        item["usergroup"] = draft.usergroup
    elif draft.usergroup is not None:
        item.pop("usergroup", None)


def save_organization(
    session: Session,
    initiative: Initiative,
    author: str,
    key: str | None,
    draft: OrganizationDraft,
    *,
    now: datetime | None = None,
) -> ApplyReport:
    """Add an organization (`key` None: `draft.key` is the new key) or change the one with `key`.

    Re-adding a retired key brings that organization back, with its history.
    """

    def edit(document: SetupDocument) -> None:
        organizations = document.setdefault("organizations", [])
        if key is None:
            if any(org.get("key") == draft.key for org in organizations):
                index = next(i for i, org in enumerate(organizations) if org.get("key") == draft.key)
                raise SetupError({f"organizations[{index}].key": f"`{draft.key}` is taken: pick another key"})
            item: dict[str, Any] = {"key": draft.key}
            _fill(item, draft)
            organizations.append(item)
        else:
            _, item = find_section(document, "organizations", key)
            _fill(item, draft)

    return change_setup(session, initiative, author, edit, now=now)


def retire_organization(
    session: Session, initiative: Initiative, author: str, key: str, *, now: datetime | None = None
) -> ApplyReport:
    """Retire an organization: its people lose what they did through it; its history stays.

    The backbone organization is never retired: its staff run the set-up.
    """
    if key == initiative.backbone_org_key:
        raise SetupError(
            {
                "": "the backbone organization cannot be retired: its staff run the initiative's set-up. "
                "Move its people to another organization's members instead, or change the backbone in the file."
            }
        )

    def edit(document: SetupDocument) -> None:
        index, _ = find_section(document, "organizations", key)
        reported = [str(i.get("key")) for i in document.get("indicators", []) if key in (i.get("reporters") or [])]
        if reported:
            # The file would refuse it too (a reporter that is no organization); said the way a person acts on it.
            raise SetupError(
                {
                    f"organizations[{index}]": f"`{key}` still reports {', '.join(f'`{k}`' for k in reported)}: "
                    "take it off those indicators' reporters first (Set-up → Indicators), then retire it"
                }
            )
        del document["organizations"][index]

    return change_setup(session, initiative, author, edit, now=now)


@dataclass(frozen=True)
class FirstRunDraft:
    """The first set-up of a workspace, as the App Home form sends it."""

    name: str
    timezone: str
    vision: str
    backbone_key: str
    backbone_name: str
    staff: tuple[str, ...]
    digest_channel: str | None
    decisions_channel: str | None
    digest_at: str = DEFAULT_DIGEST
    reminders_at: str = DEFAULT_REMINDERS


def first_run_document(draft: FirstRunDraft) -> SetupDocument:
    """The initiative file a first set-up makes: what `start_initiative` checks and applies."""
    initiative: dict[str, Any] = {"name": draft.name, "timezone": draft.timezone, "backbone": draft.backbone_key}
    if draft.vision:
        initiative["vision"] = draft.vision
    channels = {
        name: channel
        for name, channel in (("digest", draft.digest_channel), ("decisions", draft.decisions_channel))
        if channel
    }
    document: SetupDocument = {
        "initiative": initiative,
        "organizations": [
            {
                "key": draft.backbone_key,
                "name": draft.backbone_name,
                "sector": "backbone",
                "members": list(dict.fromkeys(draft.staff)),
            }
        ],
        "schedule": {"digest": draft.digest_at, "reminders": draft.reminders_at},
    }
    if channels:
        document["channels"] = channels
    return document


def first_run_problems(draft: FirstRunDraft) -> dict[str, str]:
    """What the file would accept but a first set-up must not: a backbone team of nobody."""
    if not draft.staff:
        return {"organizations[0].members": "pick at least one person: backbone staff are the ones who run the set-up"}
    return {}
