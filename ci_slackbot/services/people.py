"""Who a Slack user is in an initiative: their organizations and whether they are backbone staff."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.store.models import Initiative, Membership, Organization


class NotAllowedError(Exception):
    """The user may not do this; the message is shown to them as it is."""


@dataclass(frozen=True)
class OrgRef:
    id: int
    key: str
    name: str


@dataclass(frozen=True)
class Person:
    user_id: str
    organizations: tuple[OrgRef, ...]
    is_backbone: bool
    backbone_contacts: tuple[str, ...]

    @property
    def is_member(self) -> bool:
        return bool(self.organizations)

    def require_member(self) -> None:
        if not self.is_member:
            raise NotAllowedError(not_a_member_message(self.backbone_contacts))

    def require_backbone(self, doing: str) -> None:
        if not self.is_backbone:
            raise NotAllowedError(f"Only backbone staff can {doing}. {_ask(self.backbone_contacts)}")


def _ask(contacts: tuple[str, ...]) -> str:
    if not contacts:
        return "Ask your initiative's coordinator."
    return "Ask " + ", ".join(f"<@{c}>" for c in contacts[:3]) + "."


def not_a_member_message(contacts: tuple[str, ...]) -> str:
    return (
        "You are not listed as a member of any partner organization in this initiative yet, "
        f"so I can't record anything for you. The backbone team can add you to your organization's "
        f"`members` in the initiative file. {_ask(contacts)}"
    )


def who_is(session: Session, initiative: Initiative, user_id: str) -> Person:
    rows = session.execute(
        select(Organization.id, Organization.key, Organization.name)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(
            Membership.initiative_id == initiative.id,
            Membership.slack_user_id == user_id,
            Organization.retired.is_(False),
        )
        .order_by(Organization.position)
    ).all()
    orgs = tuple(OrgRef(r.id, r.key, r.name) for r in rows)
    contacts = tuple(
        session.scalars(
            select(Membership.slack_user_id)
            .join(Organization, Membership.organization_id == Organization.id)
            .where(Organization.initiative_id == initiative.id, Organization.key == initiative.backbone_org_key)
            .order_by(Membership.id)
        )
    )
    return Person(
        user_id=user_id,
        organizations=orgs,
        is_backbone=any(o.key == initiative.backbone_org_key for o in orgs),
        backbone_contacts=contacts,
    )
