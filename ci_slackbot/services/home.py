"""What one person's App Home shows, as plain data.

Everyone sees what their organizations owe for the current period, their own
open action items, the latest values of their goals (the goals their
organizations report on or work toward; all goals for people not in any
organization) and the latest stories told with their indicators' numbers.
Backbone staff also see the whole reporting status, the outbox's health, and
what is parked, per cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci_slackbot import outbox
from ci_slackbot.outbox import ParkedCause
from ci_slackbot.services.actions import list_actions
from ci_slackbot.services.change_log import ChangeLine, recent_changes
from ci_slackbot.services.community_voice import CommunityStoryLine, visible_community_stories
from ci_slackbot.services.digest import ActionLine, GoalDigest, Reporting, action_line, goal_digests, reporting_summary
from ci_slackbot.services.equity import equity_by_indicator
from ci_slackbot.services.measurement import (
    STANDING_PERIODS,
    DueReport,
    IndicatorView,
    indicator_views,
    reporting_status,
    standings,
)
from ci_slackbot.services.people import Person
from ci_slackbot.services.stories import StoryLine, latest_stories
from ci_slackbot.services.systems_changes import ChangeView, list_changes
from ci_slackbot.services.wishes import WishView, wish_views
from ci_slackbot.store.models import Activity, Goal, Initiative

HOME_STORIES = 5
HOME_CHANGES = 8


@dataclass(frozen=True)
class HomeData:
    initiative_name: str
    timezone: str
    now: datetime
    person: Person
    owed: tuple[DueReport, ...]  # the person's organizations' reports still missing this period
    reported: int  # of the reports their organizations owe this period, how many are in
    due: int
    my_actions: tuple[ActionLine, ...]
    goals: tuple[GoalDigest, ...]
    reporting: Reporting | None  # backbone staff only
    outbox: outbox.Health | None  # backbone staff only
    parked: tuple[ParkedCause, ...] = ()  # backbone staff only: what is parked, per cause
    # The latest stories told on the indicators the person's organizations report (every indicator
    # for backbone staff), newest first.
    stories: tuple[StoryLine, ...] = ()
    # The systems changes this person may see, by goal and kind, and the data development agenda.
    systems_changes: tuple[ChangeView, ...] = ()
    wishes: tuple[WishView, ...] = ()
    # Community stories kept within the backbone team (no consent to share): every one for backbone
    # staff, only those they recorded themselves for anyone else.
    kept_community_stories: tuple[CommunityStoryLine, ...] = ()
    # Backbone staff only: the latest changes to the set-up, newest first.
    changes: tuple[ChangeLine, ...] = ()


def _my_actions(session: Session, initiative: Initiative, person: Person, now: datetime) -> tuple[ActionLine, ...]:
    today = now.astimezone(ZoneInfo(initiative.timezone)).date()
    listing = list_actions(session, initiative, person.user_id, today)
    return tuple(action_line(v) for v in listing.own)


def _goal_keys(session: Session, initiative_id: int, person: Person, reporting_goals: set[str]) -> set[str]:
    """The goals a person's organizations report on or work toward."""
    org_ids = [o.id for o in person.organizations]
    worked_on = set(
        session.scalars(
            select(Goal.key)
            .join(Activity, Activity.goal_id == Goal.id)
            .where(Activity.initiative_id == initiative_id, Activity.organization_id.in_(org_ids))
        )
    )
    return reporting_goals | worked_on


def home_data(
    session: Session,
    initiative: Initiative,
    person: Person,
    now: datetime,
    views: Sequence[IndicatorView] | None = None,
) -> HomeData:
    """`views`: the initiative's current indicators when the caller has them (`Services.config`)."""
    views = list(views) if views is not None else indicator_views(session, initiative.id)
    all_reports = reporting_status(session, initiative, now, views)
    mine = {o.id for o in person.organizations}
    my_reports = [r for r in all_reports if r.organization.id in mine]
    all_standings = standings(session, initiative.id, views, recent=STANDING_PERIODS)
    if person.organizations:
        reporting_goals = {v.goal_key for v in views if v.goal_key and any(v.reported_by(o) for o in mine)}
        keys = _goal_keys(session, initiative.id, person, reporting_goals)
        all_standings = [s for s in all_standings if s.indicator.goal_key in keys]
    story_indicators = None if person.is_backbone else [v.id for v in views if any(v.reported_by(o) for o in mine)]
    return HomeData(
        initiative_name=initiative.name,
        timezone=initiative.timezone,
        now=now,
        person=person,
        owed=tuple(r for r in my_reports if not r.reported),
        reported=sum(1 for r in my_reports if r.reported),
        due=len(my_reports),
        my_actions=_my_actions(session, initiative, person, now),
        goals=goal_digests(all_standings, equity_by_indicator(session, [s.indicator for s in all_standings])),
        reporting=reporting_summary(all_reports) if person.is_backbone else None,
        outbox=outbox.health(session, initiative.id) if person.is_backbone else None,
        parked=tuple(outbox.parked_causes(session, initiative.id)) if person.is_backbone else (),
        stories=tuple(latest_stories(session, initiative.id, story_indicators, HOME_STORIES, views=views)),
        systems_changes=tuple(list_changes(session, initiative, person)),
        wishes=tuple(wish_views(session, initiative.id)),
        kept_community_stories=tuple(
            visible_community_stories(session, initiative.id, person, kept_only=True, limit=HOME_STORIES)
        ),
        changes=tuple(recent_changes(session, initiative.id, HOME_CHANGES)) if person.is_backbone else (),
    )
