"""The stories partners tell with their numbers, as plain data for the digest, the prep page and App Home.

A story is either the note given with a value (`/ci update er-visits 17.2 fewer visits after the
campaign`: told by its reporter) or the story behind the number told afterwards through "Add the
story" (told by whoever told it, with any Turn-the-Curve notes). Withdrawn values tell nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.periods import Period
from ci_slackbot.domain.stories import TurnTheCurve, own_note
from ci_slackbot.services.measurement import IndicatorView, describe_breakdown, indicator_views
from ci_slackbot.store.models import IndicatorValue, Organization, ValueStory

# Rows read for one digest, prep page or Home tab: more than any of them shows.
STORIES_READ = 200


@dataclass(frozen=True)
class StoryLine:
    """One story told about one indicator's value, and by whom."""

    indicator_key: str
    indicator_name: str
    period: Period
    organization: str
    breakdown: str  # "zip 75216", or "" for the whole population
    text: str
    told_by: str  # a Slack user ID
    told_at: datetime
    curve: TurnTheCurve


def _views(session: Session, initiative_id: int, indicator_ids: Sequence[int] | None) -> list[IndicatorView]:
    views = indicator_views(session, initiative_id)
    if indicator_ids is None:
        return views
    wanted = set(indicator_ids)
    return [v for v in views if v.id in wanted]


def _line(
    view: IndicatorView, value: IndicatorValue, organization: str, text: str, by: str, at: datetime, curve: TurnTheCurve
) -> StoryLine:
    return StoryLine(
        indicator_key=view.key,
        indicator_name=view.name,
        period=Period.parse(value.period),
        organization=organization,
        breakdown=describe_breakdown(dict(value.breakdown or {})),
        text=text,
        told_by=by,
        told_at=at,
        curve=curve,
    )


def _stories(
    session: Session,
    initiative_id: int,
    views: Sequence[IndicatorView],
    *,
    noted: ColumnElement[bool],
    told: ColumnElement[bool],
) -> list[StoryLine]:
    """Notes of values matching `noted` and stories matching `told`, on `views`' indicators, newest first."""
    by_id = {v.id: v for v in views}
    if not by_id:
        return []
    counting = (
        IndicatorValue.initiative_id == initiative_id,
        IndicatorValue.withdrawn == false(),
        IndicatorValue.indicator_id.in_(list(by_id)),
    )
    lines: list[StoryLine] = []
    told_rows = session.execute(
        select(ValueStory, IndicatorValue, Organization.name)
        .join(IndicatorValue, ValueStory.value_id == IndicatorValue.id)
        .join(Organization, IndicatorValue.organization_id == Organization.id)
        .where(ValueStory.initiative_id == initiative_id, told, *counting)
        .order_by(ValueStory.told_at.desc(), ValueStory.id.desc())
        .limit(STORIES_READ)
    ).all()
    for story, value, org in told_rows:
        curve = TurnTheCurve(story.curve_story, story.partners, story.what_works, story.next_action)
        lines.append(
            _line(
                by_id[value.indicator_id],
                value,
                org,
                story.story,
                by=story.told_by,
                at=story.told_at,
                curve=curve,
            )
        )
    noted_rows = session.execute(
        select(IndicatorValue, Organization.name)
        .join(Organization, IndicatorValue.organization_id == Organization.id)
        .where(noted, IndicatorValue.note != "", *counting)
        .order_by(IndicatorValue.recorded_at.desc(), IndicatorValue.id.desc())
        .limit(STORIES_READ)
    ).all()
    # The stories told are appended to their value's note: what is left is the reporter's own.
    appended: dict[int, list[str]] = defaultdict(list)
    for value_id, text in session.execute(
        select(ValueStory.value_id, ValueStory.story)
        .where(ValueStory.value_id.in_([value.id for value, _ in noted_rows]))
        .order_by(ValueStory.told_at, ValueStory.id)
    ):
        appended[value_id].append(text)
    for value, org in noted_rows:
        note = own_note(value.note, appended[value.id])
        if note:
            lines.append(
                _line(
                    by_id[value.indicator_id],
                    value,
                    org,
                    note,
                    by=value.reporter,
                    at=value.recorded_at,
                    curve=TurnTheCurve(),
                )
            )
    lines.sort(key=lambda line: line.told_at, reverse=True)
    return lines[:STORIES_READ]


def stories_since(
    session: Session, initiative_id: int, since: datetime, views: Sequence[IndicatorView] | None = None
) -> list[StoryLine]:
    """The stories told since `since` (notes of values reported since, stories added since), in
    indicator order, then as they were told: for the digest and the meeting prep. `views`: the
    initiative's indicators, when the caller has read them already."""
    views = list(views) if views is not None else _views(session, initiative_id, None)
    lines = _stories(
        session,
        initiative_id,
        views,
        noted=IndicatorValue.recorded_at > since,
        told=ValueStory.told_at > since,
    )
    order = {v.key: i for i, v in enumerate(views)}
    return sorted(lines, key=lambda line: (order.get(line.indicator_key, len(order)), line.told_at))


def latest_stories(
    session: Session,
    initiative_id: int,
    indicator_ids: Sequence[int] | None,
    limit: int,
    *,
    views: Sequence[IndicatorView] | None = None,
) -> list[StoryLine]:
    """The latest stories told on these indicators (all of them with None), newest first: for App Home.

    `views`: the initiative's indicators when the caller has them (read otherwise)."""
    if views is None:
        views = _views(session, initiative_id, indicator_ids)
    elif indicator_ids is not None:
        wanted = set(indicator_ids)
        views = [v for v in views if v.id in wanted]
    everything = IndicatorValue.id.is_not(None)
    return _stories(session, initiative_id, views, noted=everything, told=everything)[:limit]
