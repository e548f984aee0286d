"""Decisions: recorded from Slack, announced in the decisions channel, mirrored to Notion.

A decision and every write it causes outside the database are committed
together: the row, the announcement and the Notion page are outbox rows of
the same transaction. The Notion deliverer posts the page's link in the
announcement's thread once the page exists, because only then is there a
link to post.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.matching import close_keys, did_you_mean
from ci_slackbot.outbox import enqueue
from ci_slackbot.store.models import Decision, Goal, Initiative, SlackEvent

# Slack shows a few thousand characters; Notion keeps any length. This bound only
# stops a runaway paste from filling the database.
MAX_TEXT = 1_000_000

SLACK, NOTION = "slack", "notion"
NOTION_PAGE_KIND = "decision_page"

# Only words like these are quoted back in an error: answers are mrkdwn, and user text could carry `<!channel>`.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class DecisionError(InputError):
    """A decision that cannot be recorded; the message says how to write it right."""


@dataclass(frozen=True)
class DecisionDraft:
    """What the person recording a decision gives us; the text is raw (escaped only on output)."""

    text: str
    recorded_by: str
    goal_key: str | None = None
    source_permalink: str | None = None
    source_author: str | None = None
    # The modal submission this draft comes from (Slack's view id): a second submission of the
    # same view (a double click, a retry after a slow answer) records nothing new.
    submission_id: str | None = None


# Renders the announcement of a decision as messages (`{"text": …, "blocks": […]}`): the first for
# the channel, any others for its thread (a long text). The commands layer supplies it, because
# services know nothing of Slack.
AnnouncementRenderer = Callable[[Decision, Goal | None], list[dict[str, Any]]]


def announcement_key(decision_id: int) -> str:
    return f"decision:{decision_id}:announce"


def announcement_reply_key(decision_id: int, number: int) -> str:
    return f"{announcement_key(decision_id)}:{number}"


def notion_key(decision_id: int) -> str:
    return f"decision:{decision_id}:notion"


def link_reply_key(decision_id: int) -> str:
    return f"decision:{decision_id}:notion-link"


def active_goals(session: Session, initiative_id: int) -> list[Goal]:
    return list(
        session.scalars(
            select(Goal).where(Goal.initiative_id == initiative_id, Goal.retired.is_(False)).order_by(Goal.position)
        )
    )


def find_goal(session: Session, initiative_id: int, key: str) -> Goal:
    goals = active_goals(session, initiative_id)
    for goal in goals:
        if goal.key.lower() == key.strip().lower():
            return goal
    known = ", ".join(f"`{g.key}`" for g in goals) or "none yet"
    shown = f"`{key}`" if _PLAIN_WORD.match(key) else "like that"
    guess = did_you_mean(close_keys(key, [(g.key, g.title) for g in goals])) if _PLAIN_WORD.match(key) else ""
    raise DecisionError(f"This initiative has no goal {shown}.{guess} The goals are: {known}.")


def record_decision(
    session: Session,
    initiative: Initiative,
    draft: DecisionDraft,
    *,
    announce: AnnouncementRenderer,
    mirror_to_notion: bool,
    now: datetime,
) -> Decision:
    """Store a decision and queue its announcement and its Notion page, in the caller's transaction."""
    text = draft.text.strip()
    if not text:
        raise DecisionError("Write the decision after `decide`, like `/ci decide We meet monthly from March`.")
    if len(text) > MAX_TEXT:
        raise DecisionError(f"A decision can be up to {MAX_TEXT:,} characters; this one is {len(text):,}.")
    goal = find_goal(session, initiative.id, draft.goal_key) if draft.goal_key else None
    if draft.submission_id and not claim_submission(session, draft.submission_id):
        earlier = _earlier_decision(session, initiative.id, draft, text)
        if earlier is None:
            raise DecisionError("This form was already submitted: the decision is recorded.")
        return earlier
    decision = Decision(
        initiative_id=initiative.id,
        text=text,
        goal_id=goal.id if goal else None,
        recorded_by=draft.recorded_by,
        recorded_at=now,
        source_permalink=draft.source_permalink,
        source_author=draft.source_author,
        announcement_channel=initiative.decisions_channel,
    )
    session.add(decision)
    session.flush()

    announced = bool(initiative.decisions_channel)
    if announced:
        message, *replies = announce(decision, goal)
        enqueue(
            session,
            initiative_id=initiative.id,
            service=SLACK,
            kind="post",
            key=announcement_key(decision.id),
            payload={"channel": initiative.decisions_channel, **message, "decision_id": decision.id},
        )
        # The rest of a long text, in the announcement's thread: each reply posted once, after it.
        for number, reply in enumerate(replies, start=2):
            enqueue(
                session,
                initiative_id=initiative.id,
                service=SLACK,
                kind="post",
                key=announcement_reply_key(decision.id, number),
                payload={
                    "channel": initiative.decisions_channel,
                    **reply,
                    "thread_of": announcement_key(decision.id),
                },
            )
    if mirror_to_notion and initiative.notion_decisions_database:
        enqueue(
            session,
            initiative_id=initiative.id,
            service=NOTION,
            kind=NOTION_PAGE_KIND,
            key=notion_key(decision.id),
            payload={
                "decision_id": decision.id,
                "database_id": initiative.notion_decisions_database,
                # The page links back to the announcement, and its link is replied in that thread.
                "announcement": announcement_key(decision.id) if announced else None,
            },
        )
    return decision


def claim_submission(session: Session, submission_id: str) -> bool:
    """Claim a modal submission in the caller's transaction; False when it was already used.

    The claim is a row with a unique key, so of two submissions racing on PostgreSQL the
    second waits for the first to commit and then fails here. It is taken only once the
    input is valid: a submission refused with field errors leaves the form usable.
    """
    try:
        with session.begin_nested():
            session.add(SlackEvent(event_id=f"view_submission:{submission_id}"[:64]))
    except IntegrityError:
        return False
    return True


def _earlier_decision(session: Session, initiative_id: int, draft: DecisionDraft, text: str) -> Decision | None:
    """The decision an earlier submission of the same form recorded (committed by now)."""
    return session.scalar(
        select(Decision)
        .where(
            Decision.initiative_id == initiative_id,
            Decision.recorded_by == draft.recorded_by,
            Decision.text == text,
        )
        .order_by(Decision.id.desc())
        .limit(1)
    )


def decisions_since(
    session: Session, initiative_id: int, since: datetime | None, *, limit: int = 200
) -> list[Decision]:
    """Decisions recorded after `since` (all of them when None), oldest first."""
    query = select(Decision).where(Decision.initiative_id == initiative_id)
    if since is not None:
        query = query.where(Decision.recorded_at > since)
    return list(session.scalars(query.order_by(Decision.recorded_at, Decision.id).limit(limit)))
