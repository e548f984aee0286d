"""The common agenda: from the initiative file, or from the backbone's Notion page via a cache.

Slack never waits on Notion: a job (`integrations.notion.refresh_agenda`) reads
the page into `AgendaCache`, and `/ci agenda` reads only the cache. The cached
content is service-neutral: a list of blocks, each
`{"type": …, "depth": n, "runs": [{"text", "href", "bold", "italic", "code", "strike"}], "checked": …}`,
rendered as mrkdwn by the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.store.models import AgendaCache, Goal, Initiative, Strategy

# Block types the cache keeps (others, like images and embeds, have no text worth showing in Slack).
BLOCK_TYPES = (
    "heading_1",
    "heading_2",
    "heading_3",
    "paragraph",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "toggle",
    "quote",
    "callout",
    "code",
    "divider",
    "child_page",
    "child_database",
)


@dataclass(frozen=True)
class GoalAgenda:
    key: str
    title: str
    description: str
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class CommonAgenda:
    """The agenda as the initiative file states it."""

    name: str
    vision: str
    problem: str
    goals: tuple[GoalAgenda, ...]


def same_notion_id(a: str | None, b: str | None) -> bool:
    """Notion IDs are written with or without hyphens."""
    return bool(a and b) and str(a).replace("-", "").lower() == str(b).replace("-", "").lower()


def common_agenda(session: Session, initiative: Initiative) -> CommonAgenda:
    goals = list(
        session.scalars(
            select(Goal).where(Goal.initiative_id == initiative.id, Goal.retired.is_(False)).order_by(Goal.position)
        )
    )
    strategies: dict[int, list[str]] = {}
    for strategy in session.scalars(
        select(Strategy)
        .where(Strategy.initiative_id == initiative.id, Strategy.retired.is_(False))
        .order_by(Strategy.goal_id, Strategy.position)
    ):
        strategies.setdefault(strategy.goal_id, []).append(strategy.text)
    return CommonAgenda(
        name=initiative.name,
        vision=initiative.vision,
        problem=initiative.problem,
        goals=tuple(
            GoalAgenda(goal.key, goal.title, goal.description, tuple(strategies.get(goal.id, ()))) for goal in goals
        ),
    )


def cached_agenda(session: Session, initiative: Initiative) -> AgendaCache | None:
    """The cached copy of the configured agenda page, if one has been fetched."""
    cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative.id))
    if cache is None or not same_notion_id(cache.page_id, initiative.notion_agenda_page):
        return None
    return cache


def store_agenda(
    session: Session,
    initiative_id: int,
    *,
    page_id: str,
    title: str,
    url: str | None,
    last_edited_time: str | None,
    content: list[dict[str, Any]],
    now: datetime,
) -> bool:
    """Keep a freshly fetched copy of the agenda page; True when it differs from the last copy.

    `changed_at` is set when an earlier copy existed and the page was edited
    since (or another page was configured), so the digest can say so.
    """
    cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative_id))
    if cache is None:
        try:
            # In a savepoint: the very first copy fetched twice at once (`/ci agenda` beside the
            # scheduled refresh) makes the later wait at the unique key (PostgreSQL), then fail there.
            with session.begin_nested():
                session.add(
                    AgendaCache(
                        initiative_id=initiative_id,
                        page_id=page_id,
                        title=title,
                        url=url,
                        content=content,
                        last_edited_time=last_edited_time,
                        fetched_at=now,
                    )
                )
            return False
        except IntegrityError:
            # The other one's copy, committed by now: this one is compared with it, as with any earlier copy.
            cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative_id))
            if cache is None:
                raise
    changed = (
        not same_notion_id(cache.page_id, page_id)
        or cache.last_edited_time != last_edited_time
        or cache.content != content
        or cache.title != title
    )
    cache.page_id = page_id
    cache.title = title
    cache.url = url
    cache.content = content
    cache.last_edited_time = last_edited_time
    cache.fetched_at = now
    cache.failed_at = None
    cache.last_error = None
    if changed:
        cache.changed_at = now
    session.flush()
    return changed


def note_refresh_failure(session: Session, initiative_id: int, error: str, now: datetime) -> None:
    """Notion could not be read: keep the last copy, and remember why it is getting old."""
    cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative_id))
    if cache is not None:
        cache.failed_at = now
        cache.last_error = error[:2000]


def agenda_changed_since(session: Session, initiative_id: int, since: datetime) -> tuple[bool, str | None]:
    """Whether the Notion agenda page changed after `since`, and its link (for the digest)."""
    cache = session.scalar(select(AgendaCache).where(AgendaCache.initiative_id == initiative_id))
    if cache is None:
        return False, None
    return bool(cache.changed_at and cache.changed_at > since), cache.url
