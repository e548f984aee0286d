"""Action items: who does what, by when, toward which goal — and who may change them.

An item belongs to its owner and, through them, to the owner's (first)
organization. Only the owner or backbone staff may close it or move its due
date: a partner never changes another organization's item. Every change is
queued for the Notion actions database in the same transaction, when the
initiative has one configured; the Notion deliverer reads the item's current
state, so one queued row per change is enough and their order does not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum, auto
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.outbox import DELIVERING, enqueue
from ci_slackbot.services.decisions import find_goal
from ci_slackbot.services.people import NotAllowedError, Person, who_is
from ci_slackbot.store.models import ActionItem, Goal, Initiative, Organization, OutboxItem, utcnow

OPEN, DONE = "open", "done"
MAX_TEXT = 1000  # a Notion title item holds 2000 characters; one readable line is far shorter
PUSH_DAYS = 7
NOTION_SERVICE, NOTION_KIND = "notion", "action_item"
_PLAIN_TOKEN = re.compile(r"^[\w.#\-]{1,40}$")


class ActionError(InputError):
    """An action item request that cannot be carried out; the message says how to write it right."""


class ActionAlreadyClosedError(ActionError):
    """Closing an item that is closed already (a second click on "Mark done")."""


class ActionAlreadyMovedError(ActionError):
    """Pushing an item whose due date has moved since the button was shown (a second click on "Push a week")."""


class Shown(Enum):
    """A "Push a week" button that does not say which due date it was shown with (posted before they did)."""

    UNSAID = auto()


# What "Push a week" carries: the item, and the due date it moves on from (`-`: none), e.g. `12:2026-12-04`.
def push_value(action_id: int, due: date | None) -> str:
    return f"{action_id}:{due.isoformat() if due else '-'}"


def parse_push_value(text: str) -> tuple[int, date | Literal[Shown.UNSAID] | None]:
    """The item, and the due date the button was shown with."""
    number, separator, shown = text.partition(":")
    action_id = parse_action_id(number)
    if not separator:
        return action_id, Shown.UNSAID
    if shown == "-":
        return action_id, None
    try:
        return action_id, date.fromisoformat(shown)
    except ValueError:
        raise ActionError("That button is out of date: run `/ci actions` again.") from None


@dataclass(frozen=True)
class ActionView:
    """An action item as the rest of the app sees it: plain values, no session needed."""

    id: int
    text: str
    owner: str
    organization_id: int | None
    organization_key: str | None
    organization_name: str | None
    due: date | None
    goal_key: str | None
    status: str
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    overdue: bool

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


@dataclass(frozen=True)
class ActionsSummary:
    """What the weekly digest says about action items."""

    done_this_week: tuple[ActionView, ...]
    due_next_week: tuple[ActionView, ...]
    overdue: tuple[ActionView, ...]
    open_count: int


@dataclass(frozen=True)
class OwnerItemsDue:
    """One owner's items for their reminder DM: overdue ones and ones due within the week."""

    overdue: tuple[ActionView, ...]
    due_this_week: tuple[ActionView, ...]

    def __bool__(self) -> bool:
        return bool(self.overdue or self.due_this_week)


def local_today(initiative: Initiative, now: datetime) -> date:
    """Today's date where the initiative is: due dates are calendar days in its time zone."""
    return now.astimezone(ZoneInfo(initiative.timezone)).date()


def shown(token: str, fallback: str = "that") -> str:
    """A word the user typed, fit to quote back in an answer: plain keys and numbers only,
    because answers are posted as mrkdwn and user text could carry `<!channel>`."""
    return f"`{token}`" if _PLAIN_TOKEN.match(token) else fallback


def parse_number(text: str, *, what: str, where: str, error: type[InputError]) -> int:
    """`12` or `#12` → 12; anything else raises `error` saying where the number is shown."""
    digits = text.strip().removeprefix("#")
    if not digits.isdigit() or len(digits) > 9:  # nine digits fit every backend's integer column
        raise error(f"I can't read {shown(text)} as {what}: write the number {where}.")
    return int(digits)


def parse_action_id(text: str) -> int:
    return parse_number(text, what="an action item number", where="`/ci actions` shows, like `12`", error=ActionError)


def notion_key_prefix(action_id: int) -> str:
    """What the keys of every outbox row of one item's Notion page begin with (one row per change)."""
    return f"notion:action:{action_id}:"


def page_being_made_elsewhere(session: Session, action_id: int, row_id: int, batch: Sequence[int]) -> bool:
    """Whether an earlier outbox row of the item, outside `batch`, is being delivered right now (by
    another process): that delivery makes the item's page, and a second maker would find nothing yet
    and make a second page. The earliest row goes ahead; later ones wait for it."""
    earlier = session.scalar(
        select(OutboxItem.id)
        .where(
            OutboxItem.service == NOTION_SERVICE,
            OutboxItem.kind == NOTION_KIND,
            OutboxItem.idempotency_key.startswith(notion_key_prefix(action_id), autoescape=True),
            OutboxItem.id < row_id,
            OutboxItem.id.not_in(batch),
            OutboxItem.status == DELIVERING,
            OutboxItem.claimed_until > utcnow(),
        )
        .limit(1)
    )
    return earlier is not None


def _mirror(session: Session, initiative: Initiative, item: ActionItem, change: str) -> None:
    """Queue the item for the Notion actions database (when there is one)."""
    if not initiative.notion_actions_database:
        return
    enqueue(
        session,
        initiative_id=initiative.id,
        service=NOTION_SERVICE,
        kind=NOTION_KIND,
        key=f"{notion_key_prefix(item.id)}{change}",
        payload={"action_id": item.id, "database_id": initiative.notion_actions_database},
        replace_pending=True,
    )


def add_action(
    session: Session,
    initiative: Initiative,
    person: Person,
    text: str,
    owner: str | None,
    due: date | None,
    goal_key: str | None,
    now: datetime,
) -> ActionItem:
    """Record an action item owned by `owner` (default: the person adding it)."""
    person.require_member()
    text = " ".join(text.split())
    if not text:
        raise ActionError("Say what needs doing: `/ci action add Call the school nurses due 2026-12-01`.")
    if len(text) > MAX_TEXT:
        raise ActionError(
            f"That action item is {len(text)} characters long; keep it under {MAX_TEXT} "
            "and put the details in a thread or a document."
        )
    owner_id = owner or person.user_id
    owner_person = person if owner_id == person.user_id else who_is(session, initiative, owner_id)
    if not owner_person.is_member:
        raise ActionError(
            f"<@{owner_id}> is not a member of any partner organization in this initiative, so they "
            "can't own an action item. Assign it to a member, or ask the backbone team to add them "
            "to their organization's `members`."
        )
    today = local_today(initiative, now)
    if due is not None and due < today:
        raise ActionError(f"{due.isoformat()} has already passed: give a due date from today ({today.isoformat()}) on.")
    goal = find_goal(session, initiative.id, goal_key) if goal_key else None
    item = ActionItem(
        initiative_id=initiative.id,
        text=text,
        owner=owner_id,
        organization_id=owner_person.organizations[0].id,
        created_by=person.user_id,
        created_at=now,
        due=due,
        goal_id=goal.id if goal else None,
        status=OPEN,
    )
    session.add(item)
    session.flush()
    _mirror(session, initiative, item, "created")
    return item


def _item(session: Session, initiative: Initiative, action_id: int) -> ActionItem:
    # Locked on PostgreSQL: of two clicks on "Mark done" at once, the second sees the first's close.
    item = session.get(ActionItem, action_id, with_for_update=True)
    if item is None or item.initiative_id != initiative.id:
        raise ActionError(
            f"There is no action item #{action_id}. `/ci actions` lists the open ones with their numbers."
        )
    return item


def _require_may_change(session: Session, person: Person, item: ActionItem, doing: str) -> None:
    """The owner or backbone staff only: a partner never changes another organization's item.

    Rights are those of now: an owner since removed from every organization changes nothing.
    """
    if person.is_backbone:
        return
    if item.owner == person.user_id:
        person.require_member()
        return
    org = session.get(Organization, item.organization_id) if item.organization_id else None
    whose = f"{org.name}'s" if org is not None else "someone else's"
    mine = {o.id for o in person.organizations}
    if item.organization_id in mine:
        whose = "a colleague's"
    raise NotAllowedError(
        f"Action item #{item.id} is {whose} (owner <@{item.owner}>): only its owner or backbone staff can {doing}. "
        f"Ask <@{item.owner}> to do it."
    )


def close_action(session: Session, initiative: Initiative, person: Person, action_id: int, now: datetime) -> ActionItem:
    """Mark an item done: its owner or backbone staff."""
    item = _item(session, initiative, action_id)
    _require_may_change(session, person, item, "close it")
    if item.status != OPEN:
        closed = f" on {item.closed_at.date().isoformat()}" if item.closed_at else ""
        raise ActionAlreadyClosedError(f"Action item #{item.id} is already done (closed{closed}).")
    item.status = DONE
    item.closed_at = now
    item.closed_by = person.user_id
    session.flush()
    _mirror(session, initiative, item, "closed")
    return item


def push_action(
    session: Session,
    initiative: Initiative,
    person: Person,
    action_id: int,
    now: datetime,
    days: int = PUSH_DAYS,
    *,
    shown_due: date | Literal[Shown.UNSAID] | None = Shown.UNSAID,
) -> ActionItem:
    """Move the due date a week on — from today when the item is overdue or has no date,
    so that pushing always gives the owner a real week.

    `shown_due`: the due date the clicked button was shown with; moved since (the same click sent
    twice, or someone else's), the item is left as it is: one click is one week."""
    item = _item(session, initiative, action_id)
    _require_may_change(session, person, item, "move its due date")
    if item.status != OPEN:
        raise ActionError(f"Action item #{item.id} is done already; there is no due date to move.")
    if shown_due is not Shown.UNSAID and item.due != shown_due:
        moved = f"due {item.due.isoformat()}" if item.due else "without a due date"
        raise ActionAlreadyMovedError(f"Action item #{item.id} was moved already: it is {moved}.")
    today = local_today(initiative, now)
    base = item.due if item.due is not None and item.due >= today else today
    item.due = base + timedelta(days=days)
    session.flush()
    _mirror(session, initiative, item, f"due-{item.due.isoformat()}")
    return item


def _views(session: Session, initiative_id: int, items: Iterable[ActionItem], today: date) -> list[ActionView]:
    items = list(items)
    org_ids = {i.organization_id for i in items if i.organization_id}
    goal_ids = {i.goal_id for i in items if i.goal_id}
    orgs = (
        {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(org_ids)))} if org_ids else {}
    )
    goals = {g.id: g.key for g in session.scalars(select(Goal).where(Goal.id.in_(goal_ids)))} if goal_ids else {}
    views = []
    for item in items:
        org = orgs.get(item.organization_id) if item.organization_id else None
        views.append(
            ActionView(
                id=item.id,
                text=item.text,
                owner=item.owner,
                organization_id=item.organization_id,
                organization_key=org.key if org else None,
                organization_name=org.name if org else None,
                due=item.due,
                goal_key=goals.get(item.goal_id) if item.goal_id else None,
                status=item.status,
                created_by=item.created_by,
                created_at=item.created_at,
                closed_at=item.closed_at,
                closed_by=item.closed_by,
                overdue=item.status == OPEN and item.due is not None and item.due < today,
            )
        )
    return views


def action_view(session: Session, item: ActionItem, today: date) -> ActionView:
    return _views(session, item.initiative_id, [item], today)[0]


def _by_due(view: ActionView) -> tuple[bool, date, int]:
    # Dated items first, soonest first; undated ones after them, oldest first.
    return (view.due is None, view.due or date.max, view.id)


@dataclass(frozen=True)
class ActionListing:
    """`/ci actions` for one user: their own items, their organization's, everyone else's."""

    own: tuple[ActionView, ...]
    organization: tuple[ActionView, ...]
    others: tuple[ActionView, ...]

    @property
    def all(self) -> tuple[ActionView, ...]:
        return (*self.own, *self.organization, *self.others)

    def __len__(self) -> int:
        return len(self.own) + len(self.organization) + len(self.others)


def list_actions(session: Session, initiative: Initiative, user_id: str, today: date) -> ActionListing:
    """Open items: the user's own first, then their organizations', then the rest; each group by due date."""
    person = who_is(session, initiative, user_id)
    mine = {o.id for o in person.organizations}
    items = session.scalars(
        select(ActionItem).where(ActionItem.initiative_id == initiative.id, ActionItem.status == OPEN)
    )
    views = sorted(_views(session, initiative.id, items, today), key=_by_due)
    own = tuple(v for v in views if v.owner == user_id)
    organization = tuple(v for v in views if v.owner != user_id and v.organization_id in mine)
    others = tuple(v for v in views if v.owner != user_id and v.organization_id not in mine)
    return ActionListing(own, organization, others)


def _initiative(session: Session, initiative_id: int) -> Initiative:
    initiative = session.get(Initiative, initiative_id)
    if initiative is None:
        raise LookupError(f"no initiative {initiative_id}")
    return initiative


def actions_summary(session: Session, initiative_id: int, today: date) -> ActionsSummary:
    """For the digest: items closed in the last seven days, open items due in the next seven, overdue ones."""
    initiative = _initiative(session, initiative_id)
    zone = ZoneInfo(initiative.timezone)
    week_ago = today - timedelta(days=7)
    week_on = today + timedelta(days=7)
    open_items = list(
        session.scalars(select(ActionItem).where(ActionItem.initiative_id == initiative_id, ActionItem.status == OPEN))
    )
    # Closed items are fetched from a day early and filtered by local date: closed_at is UTC.
    since = datetime.combine(week_ago - timedelta(days=1), datetime.min.time(), tzinfo=zone)
    closed = list(
        session.scalars(
            select(ActionItem).where(
                ActionItem.initiative_id == initiative_id, ActionItem.status == DONE, ActionItem.closed_at >= since
            )
        )
    )
    closed = [i for i in closed if i.closed_at and week_ago < i.closed_at.astimezone(zone).date() <= today]
    opened = sorted(_views(session, initiative_id, open_items, today), key=_by_due)
    done = sorted(_views(session, initiative_id, closed, today), key=lambda v: (v.closed_at or v.created_at, v.id))
    return ActionsSummary(
        done_this_week=tuple(done),
        due_next_week=tuple(v for v in opened if v.due is not None and today <= v.due < week_on),
        overdue=tuple(v for v in opened if v.overdue),
        open_count=len(opened),
    )


def owner_items_due(session: Session, initiative_id: int, user_id: str, today: date) -> OwnerItemsDue:
    """For the reminders DM: one owner's overdue items and those due within the next seven days."""
    items = session.scalars(
        select(ActionItem).where(
            ActionItem.initiative_id == initiative_id,
            ActionItem.owner == user_id,
            ActionItem.status == OPEN,
            ActionItem.due.is_not(None),
            ActionItem.due < today + timedelta(days=7),
        )
    )
    views = sorted(_views(session, initiative_id, items, today), key=_by_due)
    return OwnerItemsDue(
        overdue=tuple(v for v in views if v.overdue), due_this_week=tuple(v for v in views if not v.overdue)
    )
