"""Community voice: what residents, parents, frontline staff and partners said or saw.

Not the stories behind the numbers (`services/stories.py`, a partner's account
of a reported value): these are the community's own words, recorded by a member
of the coalition with the teller's role, their name only if they asked to be
named, and whether they agreed to have it shared.

A story without consent never leaves the backbone team. Who may read a story is
decided here alone, in `visible_community_stories`: every surface (the digest,
`/ci indicator`, App Home, the Notion mirror) reads stories through it, with the
viewer it shows them to (`None` for the coalition at large: a channel, Notion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.outbox import enqueue
from ci_slackbot.services.decisions import claim_submission, find_goal
from ci_slackbot.services.measurement import find_indicator, indicator_views
from ci_slackbot.services.people import Person
from ci_slackbot.store.models import CommunityStory, Goal, Indicator, Initiative

# Who told it, by role; the keys are stored, the labels shown.
ROLES: dict[str, str] = {
    "resident": "Resident",
    "parent": "Parent",
    "frontline-staff": "Frontline staff",
    "partner": "Partner",
}
# A story is said in a modal's text field, which holds 3,000 characters.
MAX_TEXT = 3000
MAX_NAME = 200
MAX_PLACE = 200

NOTION, NOTION_PAGE_KIND = "notion", "community_story_page"


class CommunityStoryError(InputError):
    """A story that cannot be recorded; the message says how to give it right."""


@dataclass(frozen=True)
class CommunityStoryDraft:
    """What the recorder gives; text raw (escaped only on output)."""

    text: str
    teller_role: str
    consent: bool
    recorded_by: str
    teller_name: str | None = None  # None: the teller asked to stay anonymous
    indicator_key: str | None = None
    goal_key: str | None = None
    place: str = ""
    # The modal submission this comes from: a second submission of the same form records nothing.
    submission_id: str | None = None


@dataclass(frozen=True)
class CommunityStoryLine:
    """A story as one viewer may see it."""

    id: int
    text: str
    role: str  # the label, e.g. "Parent"
    teller_name: str | None  # None for an anonymous teller, whoever looks
    shared: bool  # the teller agreed to share it beyond the backbone team
    indicator_key: str | None
    indicator_name: str | None
    goal_key: str | None
    goal_title: str | None
    place: str
    recorded_by: str
    recorded_at: datetime
    notion_url: str | None


def notion_key(story_id: int) -> str:
    return f"community-story:{story_id}:notion"


def record_community_story(
    session: Session, initiative: Initiative, draft: CommunityStoryDraft, *, mirror_to_notion: bool, now: datetime
) -> CommunityStory:
    """Store a story and, when it may be shared and a database is named, queue its Notion page."""
    text = draft.text.strip()
    if not text:
        raise CommunityStoryError("Write what was said or seen, in their words where you can.")
    if len(text) > MAX_TEXT:
        raise CommunityStoryError(f"A story can be up to {MAX_TEXT:,} characters; this one is {len(text):,}.")
    if draft.teller_role not in ROLES:
        raise CommunityStoryError("Choose who told it: " + ", ".join(ROLES.values()).lower() + ".")
    name = (draft.teller_name or "").strip() or None
    if name is not None and len(name) > MAX_NAME:
        raise CommunityStoryError(f"A name can be up to {MAX_NAME} characters.")
    place = draft.place.strip()
    if len(place) > MAX_PLACE:
        raise CommunityStoryError(f"A place can be up to {MAX_PLACE} characters.")
    indicator_id = None
    if draft.indicator_key:
        indicator_id = find_indicator(indicator_views(session, initiative.id), draft.indicator_key).id
    goal = find_goal(session, initiative.id, draft.goal_key) if draft.goal_key else None
    if draft.submission_id and not claim_submission(session, draft.submission_id):
        raise CommunityStoryError("This form was already submitted: the story is recorded.")
    story = CommunityStory(
        initiative_id=initiative.id,
        text=text,
        teller_role=draft.teller_role,
        teller_name=name,
        consent=draft.consent,
        indicator_id=indicator_id,
        goal_id=goal.id if goal else None,
        place=place,
        recorded_by=draft.recorded_by,
        recorded_at=now,
    )
    session.add(story)
    session.flush()
    if story.consent and mirror_to_notion and initiative.notion_community_voice_database:
        enqueue(
            session,
            initiative_id=initiative.id,
            service=NOTION,
            kind=NOTION_PAGE_KIND,
            key=notion_key(story.id),
            payload={"story_id": story.id, "database_id": initiative.notion_community_voice_database},
        )
    return story


def may_see(story: CommunityStory, viewer: Person | None) -> bool:
    """Whether `viewer` may read `story`; `None` is the coalition at large (a channel, Notion)."""
    if story.consent:
        return True
    return viewer is not None and (viewer.is_backbone or viewer.user_id == story.recorded_by)


def visible_community_stories(
    session: Session,
    initiative_id: int,
    viewer: Person | None,
    *,
    since: datetime | None = None,
    indicator_id: int | None = None,
    story_id: int | None = None,
    kept_only: bool = False,
    limit: int = 50,
) -> list[CommunityStoryLine]:
    """The stories `viewer` may read, newest first: the one place consent is enforced.

    `viewer=None` is anyone outside the backbone team (the digest, `/ci indicator`, Notion): only
    stories told with consent. Backbone staff see every story; any other member sees the shared ones
    and those they recorded themselves. `kept_only` gives only the stories kept within the backbone team.
    """
    query = (
        select(CommunityStory, Indicator, Goal)
        .outerjoin(Indicator, CommunityStory.indicator_id == Indicator.id)
        .outerjoin(Goal, CommunityStory.goal_id == Goal.id)
        .where(CommunityStory.initiative_id == initiative_id)
    )
    if viewer is None:
        query = query.where(CommunityStory.consent.is_(True))
    elif not viewer.is_backbone:
        query = query.where(CommunityStory.consent.is_(True) | (CommunityStory.recorded_by == viewer.user_id))
    if kept_only:
        query = query.where(CommunityStory.consent.is_(False))
    if since is not None:
        query = query.where(CommunityStory.recorded_at > since)
    if indicator_id is not None:
        query = query.where(CommunityStory.indicator_id == indicator_id)
    if story_id is not None:
        query = query.where(CommunityStory.id == story_id)
    query = query.order_by(CommunityStory.recorded_at.desc(), CommunityStory.id.desc()).limit(limit)
    lines = []
    for story, indicator, goal in session.execute(query):
        # The query already filters; checked again so that no change to it can let one through.
        if not may_see(story, viewer):
            continue
        lines.append(
            CommunityStoryLine(
                id=story.id,
                text=story.text,
                role=ROLES.get(story.teller_role, story.teller_role),
                teller_name=story.teller_name,
                shared=story.consent,
                indicator_key=indicator.key if indicator else None,
                indicator_name=indicator.name if indicator else None,
                goal_key=goal.key if goal else None,
                goal_title=goal.title if goal else None,
                place=story.place,
                recorded_by=story.recorded_by,
                recorded_at=story.recorded_at,
                notion_url=story.notion_url,
            )
        )
    return lines


def shareable_community_story(session: Session, initiative_id: int, story_id: int) -> CommunityStoryLine | None:
    """The story as it may leave the backbone team, or None when it may not (or no longer exists)."""
    found = visible_community_stories(session, initiative_id, None, story_id=story_id, limit=1)
    return found[0] if found else None
