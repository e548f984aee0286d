"""Systems changes: what the coalition changed in the systems around it, which will outlast it.

A member records one (proposed); backbone staff confirm it. Until then only backbone staff and
its author see it. A confirmed change is mirrored to the initiative's Notion "Systems changes"
database, when one is named, through the outbox in the confirming transaction, and the next
digest announces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.decisions import active_goals, claim_submission, find_goal
from ci_slackbot.services.people import Person
from ci_slackbot.store.models import Goal, Initiative, Organization, SystemsChange

# The five kinds of systems change of ORS Impact's 2018 study of 25 initiatives, in its order.
KINDS: dict[str, str] = {
    "services": "Services started or expanded",
    "practices": "Organizational practices aligned",
    "workforce": "Workforce capacity",
    "legislative-policy": "Legislative policy",
    "organizational-policy": "Organizational policy",
}
PROPOSED, CONFIRMED = "proposed", "confirmed"
NOTION, NOTION_PAGE_KIND = "notion", "systems_change_page"
MAX_TEXT = 20_000
MAX_LISTED = 500


class SystemsChangeError(InputError):
    """A change that cannot be recorded or confirmed; the message says how to do it right."""


@dataclass(frozen=True)
class ChangeDraft:
    """What the person recording a change gives; the text is raw (escaped only on output)."""

    text: str
    kind: str
    organization_keys: tuple[str, ...]
    goal_key: str | None
    took_effect: date | None
    recorded_by: str
    source_permalink: str | None = None
    submission_id: str | None = None


@dataclass(frozen=True)
class ChangeView:
    id: int
    text: str
    kind: str
    kind_label: str
    goal_key: str | None
    goal_title: str | None
    organizations: tuple[str, ...]
    took_effect: date
    status: str
    recorded_by: str
    confirmed_by: str | None
    notion_url: str | None

    @property
    def confirmed(self) -> bool:
        return self.status == CONFIRMED


def notion_key(change_id: int) -> str:
    return f"systems-change:{change_id}:notion"


def organizations_of(session: Session, initiative_id: int) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.initiative_id == initiative_id, Organization.retired.is_(False))
            .order_by(Organization.position, Organization.id)
        )
    )


def record_change(session: Session, initiative: Initiative, draft: ChangeDraft) -> SystemsChange:
    """Store a proposed change, in the caller's transaction; a second submission of one form records nothing."""
    text = draft.text.strip()
    if not text:
        raise SystemsChangeError("Describe the change: what is different now, and for whom.")
    if len(text) > MAX_TEXT:
        raise SystemsChangeError(f"A systems change can be up to {MAX_TEXT:,} characters; this one is {len(text):,}.")
    if draft.kind not in KINDS:
        raise SystemsChangeError("Choose one of the kinds: " + ", ".join(KINDS.values()) + ".")
    if draft.took_effect is None:
        raise SystemsChangeError("Give the date the change took effect, as YYYY-MM-DD.")
    goal = find_goal(session, initiative.id, draft.goal_key) if draft.goal_key else None
    known = {o.key: o for o in organizations_of(session, initiative.id)}
    unknown = [key for key in draft.organization_keys if key not in known]
    if unknown:
        raise SystemsChangeError("Choose the organizations from the initiative's list.")
    if draft.submission_id and not claim_submission(session, draft.submission_id):
        raise SystemsChangeError("This form was already submitted: the change is recorded.")
    change = SystemsChange(
        initiative_id=initiative.id,
        text=text,
        kind=draft.kind,
        goal_id=goal.id if goal else None,
        organization_ids=[known[key].id for key in dict.fromkeys(draft.organization_keys)],
        took_effect=draft.took_effect,
        status=PROPOSED,
        recorded_by=draft.recorded_by,
        source_permalink=draft.source_permalink,
    )
    session.add(change)
    session.flush()
    return change


def confirm_change(
    session: Session, initiative: Initiative, person: Person, change_id: int, *, mirror_to_notion: bool, now: datetime
) -> SystemsChange:
    """Backbone staff confirm a change; its Notion page is queued in the same transaction (once)."""
    person.require_backbone("confirm systems changes")
    change = session.scalar(
        select(SystemsChange)
        .where(SystemsChange.id == change_id, SystemsChange.initiative_id == initiative.id)
        .with_for_update()
    )
    if change is None:
        raise SystemsChangeError(f"There is no systems change #{change_id}. `/ci changes` lists them.")
    if change.status == CONFIRMED:
        return change
    change.status = CONFIRMED
    change.confirmed_by = person.user_id
    change.confirmed_at = now
    if mirror_to_notion and initiative.notion_systems_changes_database:
        enqueue(
            session,
            initiative_id=initiative.id,
            service=NOTION,
            kind=NOTION_PAGE_KIND,
            key=notion_key(change.id),
            payload={"change_id": change.id, "database_id": initiative.notion_systems_changes_database},
        )
    return change


def _views(session: Session, initiative_id: int, rows: list[SystemsChange]) -> list[ChangeView]:
    goals = {g.id: g for g in session.scalars(select(Goal).where(Goal.initiative_id == initiative_id))}
    org_rows = session.scalars(select(Organization).where(Organization.initiative_id == initiative_id))
    orgs = {o.id: o.name for o in org_rows}
    views = []
    for row in rows:
        goal = goals.get(row.goal_id) if row.goal_id else None
        views.append(
            ChangeView(
                id=row.id,
                text=row.text,
                kind=row.kind,
                kind_label=KINDS.get(row.kind, row.kind),
                goal_key=goal.key if goal else None,
                goal_title=goal.title if goal else None,
                organizations=tuple(orgs[i] for i in row.organization_ids if i in orgs),
                took_effect=row.took_effect,
                status=row.status,
                recorded_by=row.recorded_by,
                confirmed_by=row.confirmed_by,
                notion_url=row.notion_url,
            )
        )
    return views


def change_view(session: Session, change: SystemsChange) -> ChangeView:
    return _views(session, change.initiative_id, [change])[0]


def list_changes(session: Session, initiative: Initiative, person: Person) -> list[ChangeView]:
    """The changes this person may see, by goal (the agenda's order, no goal last), then kind, then date.

    Confirmed changes are everyone's; a proposed one is seen by backbone staff and its author only.
    """
    query = select(SystemsChange).where(SystemsChange.initiative_id == initiative.id)
    if not person.is_backbone:
        query = query.where((SystemsChange.status == CONFIRMED) | (SystemsChange.recorded_by == person.user_id))
    rows = list(session.scalars(query.order_by(SystemsChange.took_effect, SystemsChange.id).limit(MAX_LISTED)))
    goal_rank = {g.key: i for i, g in enumerate(active_goals(session, initiative.id))}
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    views = _views(session, initiative.id, rows)
    return sorted(
        views,
        key=lambda v: (
            goal_rank.get(v.goal_key, len(goal_rank)) if v.goal_key else len(goal_rank) + 1,
            kind_rank.get(v.kind, len(kind_rank)),
            v.took_effect,
            v.id,
        ),
    )


def confirmed_since(session: Session, initiative_id: int, since: datetime, *, limit: int = 50) -> list[ChangeView]:
    """Changes confirmed after `since`, oldest first: what the digest announces."""
    rows = list(
        session.scalars(
            select(SystemsChange)
            .where(
                SystemsChange.initiative_id == initiative_id,
                SystemsChange.status == CONFIRMED,
                SystemsChange.confirmed_at > since,
            )
            .order_by(SystemsChange.confirmed_at, SystemsChange.id)
            .limit(limit)
        )
    )
    return _views(session, initiative_id, rows)
