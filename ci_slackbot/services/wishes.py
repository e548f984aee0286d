"""The data development agenda (Results-Based Accountability): indicators wanted, whose data does not exist yet.

Any member adds a wish: the question the indicator would answer, the organization developing the
data, and by when. Backbone staff edit them, and promote one once its data exists: it is then
linked to an indicator of the initiative file, and its row stays, so that its history is kept
("now reported as <key>").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.matching import close_keys, did_you_mean
from ci_slackbot.services.decisions import claim_submission
from ci_slackbot.services.people import Person
from ci_slackbot.store.models import DataWish, Indicator, Initiative, Organization

MAX_QUESTION = 2_000
MAX_LISTED = 200


class WishError(InputError):
    """A wish that cannot be recorded, edited or promoted; the message says how to do it right."""


@dataclass(frozen=True)
class WishDraft:
    question: str
    developer_key: str | None
    due: date | None
    submission_id: str | None = None  # the form's: one sent twice (a double click) adds one wish


@dataclass(frozen=True)
class WishView:
    id: int
    question: str
    developer: str | None
    due: date | None
    recorded_by: str
    promoted_to: str | None  # the key of the indicator it became, once promoted

    @property
    def open(self) -> bool:
        return self.promoted_to is None


def _organization(session: Session, initiative_id: int, key: str | None) -> Organization | None:
    if not key:
        return None
    orgs = list(
        session.scalars(
            select(Organization).where(Organization.initiative_id == initiative_id, Organization.retired.is_(False))
        )
    )
    for org in orgs:
        if org.key.lower() == key.strip().lower():
            return org
    known = ", ".join(f"`{o.key}`" for o in orgs)
    shown = f"`{key}`" if key.isascii() and key.replace("-", "").replace("_", "").isalnum() else "like that"
    guess = did_you_mean(close_keys(key, [(o.key, o.name) for o in orgs])) if shown != "like that" else ""
    raise WishError(f"This initiative has no organization {shown}.{guess} The organizations are: {known}.")


def _checked(draft: WishDraft) -> str:
    question = draft.question.strip()
    if not question:
        raise WishError(
            "Write the question the indicator would answer, like `/ci wish How many families have a home visit?`"
        )
    if len(question) > MAX_QUESTION:
        raise WishError(f"A wish can be up to {MAX_QUESTION:,} characters; this one is {len(question):,}.")
    return question


def add_wish(session: Session, initiative: Initiative, person: Person, draft: WishDraft) -> DataWish:
    """Any member adds a wish to the agenda, in the caller's transaction."""
    person.require_member()
    question = _checked(draft)
    developer = _organization(session, initiative.id, draft.developer_key)
    if draft.submission_id and not claim_submission(session, draft.submission_id):
        raise WishError("This form was already sent: the wish is on the agenda (`/ci indicators`).")
    wish = DataWish(
        initiative_id=initiative.id,
        question=question,
        developer_id=developer.id if developer else None,
        due=draft.due,
        recorded_by=person.user_id,
    )
    session.add(wish)
    session.flush()
    return wish


def _wish(session: Session, initiative_id: int, wish_id: int) -> DataWish:
    wish = session.scalar(
        select(DataWish).where(DataWish.id == wish_id, DataWish.initiative_id == initiative_id).with_for_update()
    )
    if wish is None:
        raise WishError(f"There is no wish #{wish_id}. `/ci indicators` lists the data we still need.")
    return wish


def edit_wish(
    session: Session, initiative: Initiative, person: Person, wish_id: int, draft: WishDraft, now: datetime
) -> DataWish:
    """Backbone staff change a wish's question, developer or date."""
    person.require_backbone("edit the data development agenda")
    wish = _wish(session, initiative.id, wish_id)
    developer = _organization(session, initiative.id, draft.developer_key)
    wish.question = _checked(draft)
    wish.developer_id = developer.id if developer else None
    wish.due = draft.due
    wish.updated_by, wish.updated_at = person.user_id, now
    return wish


def promote_wish(
    session: Session, initiative: Initiative, person: Person, wish_id: int, indicator_key: str, now: datetime
) -> tuple[DataWish, Indicator]:
    """Backbone staff link a wish to the indicator that now reports it; the wish's row stays."""
    person.require_backbone("promote a wish to a reported indicator")
    wish = _wish(session, initiative.id, wish_id)
    indicators = list(
        session.scalars(select(Indicator).where(Indicator.initiative_id == initiative.id, Indicator.retired.is_(False)))
    )
    indicator = next((i for i in indicators if i.key.lower() == indicator_key.strip().lower()), None)
    if indicator is None:
        plain = indicator_key.isascii() and indicator_key.replace("-", "").replace("_", "").isalnum()
        shown = f"`{indicator_key}`" if plain else "like that"
        guess = did_you_mean(close_keys(indicator_key, [(i.key, i.name) for i in indicators])) if plain else ""
        raise WishError(
            f"There is no indicator {shown}.{guess} Add it to the initiative file and load it with "
            "`ci-slackbot init`, then promote the wish to it."
        )
    if wish.promoted_indicator_id is not None and wish.promoted_indicator_id != indicator.id:
        raise WishError(f"Wish #{wish.id} was already promoted to another indicator.")
    wish.promoted_indicator_id = indicator.id
    wish.promoted_by = wish.promoted_by or person.user_id
    wish.promoted_at = wish.promoted_at or now
    return wish, indicator


def _later(moment: datetime | None, than: datetime) -> bool:
    return moment is not None and moment > than


def wish_views(session: Session, initiative_id: int, *, promoted_since: datetime | None = None) -> list[WishView]:
    """Open wishes by due date (none last), then the promoted ones (those since `promoted_since` when given)."""
    org_rows = session.scalars(select(Organization).where(Organization.initiative_id == initiative_id))
    orgs = {o.id: o.name for o in org_rows}
    keys = {i.id: i.key for i in session.scalars(select(Indicator).where(Indicator.initiative_id == initiative_id))}
    rows = list(
        session.scalars(
            select(DataWish).where(DataWish.initiative_id == initiative_id).order_by(DataWish.id).limit(MAX_LISTED)
        )
    )
    if promoted_since is not None:
        # Promoted before `promoted_since`: no longer news.
        rows = [r for r in rows if r.promoted_indicator_id is None or _later(r.promoted_at, promoted_since)]
    views = []
    for row in rows:
        views.append(
            WishView(
                id=row.id,
                question=row.question,
                developer=orgs.get(row.developer_id) if row.developer_id else None,
                due=row.due,
                recorded_by=row.recorded_by,
                promoted_to=keys.get(row.promoted_indicator_id) if row.promoted_indicator_id else None,
            )
        )
    return sorted(views, key=lambda v: (not v.open, v.due is None, v.due or date.max, v.id))


def wish_view(session: Session, wish: DataWish) -> WishView:
    developer = session.get(Organization, wish.developer_id) if wish.developer_id else None
    indicator = session.get(Indicator, wish.promoted_indicator_id) if wish.promoted_indicator_id else None
    return WishView(
        id=wish.id,
        question=wish.question,
        developer=developer.name if developer else None,
        due=wish.due,
        recorded_by=wish.recorded_by,
        promoted_to=indicator.key if indicator else None,
    )


def wish_draft_of(session: Session, wish: DataWish) -> WishDraft:
    """A stored wish as the draft its edit form starts from."""
    developer = session.get(Organization, wish.developer_id) if wish.developer_id else None
    return WishDraft(question=wish.question, developer_key=developer.key if developer else None, due=wish.due)
