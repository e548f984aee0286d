"""The database schema. Every row belongs to an initiative, every initiative to a workspace.

Schema changes are Alembic migrations in `ci_slackbot/migrations/versions`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Workspace(Base):
    """A Slack workspace (team). `default` serves requests from teams not installed by OAuth."""

    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Initiative(Base):
    __tablename__ = "initiatives"
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    backbone_org_key: Mapped[str] = mapped_column(String(64))
    vision: Mapped[str] = mapped_column(Text, default="")
    problem: Mapped[str] = mapped_column(Text, default="")
    digest_channel: Mapped[str | None] = mapped_column(String(32))
    decisions_channel: Mapped[str | None] = mapped_column(String(32))
    digest_schedule: Mapped[str] = mapped_column(String(100), default="mon 09:00")
    reminders_schedule: Mapped[str] = mapped_column(String(100), default="thu 10:00")
    notion_agenda_page: Mapped[str | None] = mapped_column(String(64))
    notion_decisions_database: Mapped[str | None] = mapped_column(String(64))
    notion_actions_database: Mapped[str | None] = mapped_column(String(64))
    # Where confirmed systems changes are mirrored; None: they are kept in the app only.
    notion_systems_changes_database: Mapped[str | None] = mapped_column(String(64))
    # The "Community voice" database: stories shared with consent. None: that mirror is off.
    notion_community_voice_database: Mapped[str | None] = mapped_column(String(64))
    sheets_spreadsheet_id: Mapped[str | None] = mapped_column(String(128))
    # The file's `reporting:` and `holidays:` as written (only what it sets), so that the defaults stay
    # the code's and an exported file says no more than the one loaded.
    report_due_after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    nudges: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    workspace: Mapped[Workspace] = relationship()


class PartnerWorkspace(Base):
    """A Slack workspace an initiative names besides its own (the file's `initiative.partner_workspaces`):
    partner organizations' own workspaces, met in Slack Connect channels. Requests from it see the
    initiative. A team belongs to one initiative at most: unique here, and never another's own."""

    __tablename__ = "partner_workspaces"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    team_id: Mapped[str] = mapped_column(String(32), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("initiative_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(100), default="")
    # Asked to report when the members have not by the due date.
    backup_reporter: Mapped[str | None] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Slack user group (S…) whose members the organization's members follow (the file's `usergroup`);
    # a job keeps them in step (ci_slackbot/usergroups.py).
    usergroup: Mapped[str | None] = mapped_column(String(32))
    # When the members applied last were read from the user group: an older read that commits later is
    # not applied (services/usergroups.py `follow_members`).
    usergroup_read_at: Mapped[datetime | None]


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "slack_user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    slack_user_id: Mapped[str] = mapped_column(String(32), index=True)


class Goal(Base):
    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("initiative_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("goal_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Indicator(Base):
    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("initiative_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id"))
    unit: Mapped[str] = mapped_column(String(100), default="")
    direction: Mapped[str] = mapped_column(String(16))
    frequency: Mapped[str] = mapped_column(String(16))
    minimum: Mapped[float | None] = mapped_column(Float)
    maximum: Mapped[float | None] = mapped_column(Float)
    baseline_period: Mapped[str | None] = mapped_column(String(16))
    baseline_value: Mapped[float | None] = mapped_column(Float)
    target_period: Mapped[str | None] = mapped_column(String(16))
    target_value: Mapped[float | None] = mapped_column(Float)
    breakdowns: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(Text, default="")
    small_number_threshold: Mapped[float | None] = mapped_column(Float)
    headline: Mapped[bool] = mapped_column(Boolean, default=True)
    # Days after a period ends that its report is due; None: the initiative's lag for the frequency.
    due_after_days: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    # How partners' values combine (`Rollup`); None: the default for the unit, as the file left it.
    rollup: Mapped[str | None] = mapped_column(String(16))
    # With `rollup: owner`, the key of the organization whose value counts; None: the only reporter.
    rollup_owner: Mapped[str | None] = mapped_column(String(64))
    # The breakdown whose groups' gap is pointed out; None: the first breakdown.
    equity_lens: Mapped[str | None] = mapped_column(String(100))
    # Targets per group of the equity lens, by breakdown key (`zip=75216`); the others use the target.
    group_targets: Mapped[dict[str, Any]] = mapped_column(default=dict)

    goal: Mapped[Goal | None] = relationship()


class IndicatorReporter(Base):
    __tablename__ = "indicator_reporters"
    __table_args__ = (UniqueConstraint("indicator_id", "organization_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    # When the organization was first asked for this indicator: a missed streak counts
    # from here, not from the baseline, so a coalition that starts with the app today is
    # not told it has missed a year. None where the start of the duty is not known.
    since: Mapped[datetime | None] = mapped_column(default=utcnow)


class IndicatorValue(Base):
    """The current value for one (indicator, period, breakdown, organization)."""

    __tablename__ = "indicator_values"
    __table_args__ = (
        UniqueConstraint("indicator_id", "period", "breakdown_key", "organization_id"),
        # A series in period order: the value before the one reported (record_value), in one read.
        Index("ix_indicator_values_series", "indicator_id", "organization_id", "breakdown_key", "period_start"),
        # Where an indicator stands (`standings`): its latest whole-population periods, whether it has
        # breakdown values at all, and when a value was last recorded, each without walking its history;
        # the columns after `period` let those reads answer from the index alone.
        Index(
            "ix_indicator_values_breakdown_period",
            "indicator_id",
            "breakdown_key",
            "period",
            "organization_id",
            "withdrawn",
            "value",
            "numerator",
            "denominator",
        ),
        Index("ix_indicator_values_recorded", "indicator_id", "recorded_at"),
        # Who has reported (`reporting_status`): each reporter's latest period, in one probe.
        Index("ix_indicator_values_reporter", "indicator_id", "organization_id", "period", "withdrawn"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    breakdown_key: Mapped[str] = mapped_column(String(300), default="")
    breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    value: Mapped[float] = mapped_column(Float)
    # A rate reported as `412 of 700`: `value` is 412/700 in the unit, and these weigh it when
    # partners' rates are combined. None for a value reported bare.
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(32))
    entered_via: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Taken back by its reporter ("Undo"): the row stays, for its revisions and the Sheet's row,
    # but the value counts nowhere. Reporting the same period again brings it back, one revision on.
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ValueRevision(Base):
    """An earlier state of a value, kept when it is corrected."""

    __tablename__ = "value_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    value_id: Mapped[int] = mapped_column(ForeignKey("indicator_values.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(32))
    entered_via: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column()
    replaced_by: Mapped[str] = mapped_column(String(32))
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ValueStory(Base):
    """The story behind a reported number, told by a partner, with the optional Turn-the-Curve notes.

    The story is also appended to the value's note (the Sheet's note column shows it); this row
    keeps who told it and when, so that the digest, the meeting prep and App Home can say so.
    """

    __tablename__ = "value_stories"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    value_id: Mapped[int] = mapped_column(ForeignKey("indicator_values.id"), index=True)
    story: Mapped[str] = mapped_column(Text)
    # Turn the Curve (Results-Based Accountability): why the curve looks as it does, who has a
    # role to play in turning it, what works, and what to do next. Empty when not given.
    curve_story: Mapped[str] = mapped_column(Text, default="")
    partners: Mapped[str] = mapped_column(Text, default="")
    what_works: Mapped[str] = mapped_column(Text, default="")
    next_action: Mapped[str] = mapped_column(Text, default="")
    told_by: Mapped[str] = mapped_column(String(32))
    told_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id"))
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_permalink: Mapped[str | None] = mapped_column(Text)
    source_author: Mapped[str | None] = mapped_column(String(32))
    announcement_channel: Mapped[str | None] = mapped_column(String(32))
    announcement_ts: Mapped[str | None] = mapped_column(String(32))
    notion_page_id: Mapped[str | None] = mapped_column(String(64))
    notion_url: Mapped[str | None] = mapped_column(Text)


class SystemsChange(Base):
    """A change in a system the coalition contributed to: proposed by a member, confirmed by backbone staff.

    What outlasts the coalition (ORS Impact, 2018): services started or expanded, organizational
    practices aligned, workforce capacity, legislative and organizational policy (`kind`).
    """

    __tablename__ = "systems_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id"))
    # The organizations involved, by id: a handful, always read with the change.
    organization_ids: Mapped[list[Any]] = mapped_column(default=list)
    took_effect: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_permalink: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[str | None] = mapped_column(String(32))
    confirmed_at: Mapped[datetime | None] = mapped_column(index=True)
    notion_page_id: Mapped[str | None] = mapped_column(String(64))
    notion_url: Mapped[str | None] = mapped_column(Text)


class CommunityStory(Base):
    """What a resident, parent, frontline worker or partner said or saw, recorded by a member.

    Not a `ValueStory` (a partner's account of a reported number): these are the community's
    own words. Whether it may leave the backbone team is `consent`; who may read it is decided
    in one place, `services.community_voice.visible_community_stories`. An anonymous teller's
    name is never stored.
    """

    __tablename__ = "community_stories"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    teller_role: Mapped[str] = mapped_column(String(32))
    teller_name: Mapped[str | None] = mapped_column(String(200))  # None: anonymous
    consent: Mapped[bool] = mapped_column(Boolean)
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"), index=True)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id"))
    place: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    notion_page_id: Mapped[str | None] = mapped_column(String(64))
    notion_url: Mapped[str | None] = mapped_column(Text)


class DataWish(Base):
    """An item of the data development agenda: an indicator wanted, whose data does not exist yet.

    Promoted when the data exists: the row stays, linked to the indicator now reported.
    """

    __tablename__ = "data_wishes"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    developer_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    due: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime | None] = mapped_column()
    promoted_indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    promoted_by: Mapped[str | None] = mapped_column(String(32))
    promoted_at: Mapped[datetime | None] = mapped_column()


class ActionItem(Base):
    __tablename__ = "action_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(32), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due: Mapped[date | None] = mapped_column(Date)
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("goals.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(32))
    notion_page_id: Mapped[str | None] = mapped_column(String(64))


class Activity(Base):
    """What an organization does toward a goal or one of its strategies."""

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id"))
    strategy_id: Mapped[int | None] = mapped_column(ForeignKey("strategies.id"))
    text: Mapped[str] = mapped_column(Text)
    from_file: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeLogEntry(Base):
    """One change to an initiative's set-up: who made it (a Slack user ID, or "loaded from file"),
    when, what it changed (`subject`, e.g. `indicator er-visits`), and its fields before and after
    (None before: it was created)."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_recent", "initiative_id", "changed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"))
    author: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutboxItem(Base):
    """One write to an outside service, committed with the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_due", "status", "service", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    service: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(48))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Every claim counts one, and nothing resets it (unlike `attempts`): a row claimed before may
    # have reached the service, so its deliverer looks the record up before creating it.
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    # Why a parked row was parked, as a key that rows failing for the same reason share
    # (`slack:not_in_channel:C…`): the backbone team is told once per cause, and retries per cause.
    cause: Mapped[str | None] = mapped_column(String(200))


class ParkedNotice(Base):
    """When the backbone team was last told that outbox items of an initiative were parked for a cause.

    One row per (initiative, service, cause): a cause is told once, again only after a retry
    resolved it (the row is deleted) and it failed again, or after a day.
    """

    __tablename__ = "parked_notices"
    __table_args__ = (UniqueConstraint("initiative_id", "service", "cause"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"))
    service: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(200))
    told_at: Mapped[datetime | None] = mapped_column()


class JobRun(Base):
    """A claimed run of a scheduled job: the unique key makes each slot run once."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("initiative_id", "job", "slot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    job: Mapped[str] = mapped_column(String(32))
    slot: Mapped[str] = mapped_column(String(40))
    claimed_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(Text)


class ReminderSent(Base):
    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("initiative_id", "slack_user_id", "slot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    slack_user_id: Mapped[str] = mapped_column(String(32))
    slot: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class NudgeSent(Base):
    """One reminder of one period's window, sent once to one person (see services.reminders)."""

    __tablename__ = "nudges_sent"
    __table_args__ = (UniqueConstraint("initiative_id", "slack_user_id", "indicator_id", "period", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    slack_user_id: Mapped[str] = mapped_column(String(32))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    period: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class Snooze(Base):
    """A member asked not to be reminded about one period."""

    __tablename__ = "snoozes"
    __table_args__ = (UniqueConstraint("initiative_id", "slack_user_id", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    slack_user_id: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))


class AgendaCache(Base):
    __tablename__ = "agenda_cache"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), unique=True)
    page_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text)
    content: Mapped[list[Any]] = mapped_column(default=list)
    last_edited_time: Mapped[str | None] = mapped_column(String(40))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column()
    # The last refresh that failed (Notion down, page not shared): the copy above is kept and shown with its age.
    failed_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class MeetingPrep(Base):
    """A `/ci prep` page: what the next meeting should look at, as of `requested_at`."""

    __tablename__ = "meeting_preps"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Decisions recorded after this moment are "since the last meeting".
    since: Mapped[datetime | None] = mapped_column()
    notion_page_id: Mapped[str | None] = mapped_column(String(64))
    notion_url: Mapped[str | None] = mapped_column(Text)


class SlackEvent(Base):
    """Event ids already handled, so that Slack's retries have no second effect."""

    __tablename__ = "slack_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class SeenRequest(Base):
    """Signed requests already accepted, each kept while its signature is within Slack's 5-minute window.

    Slack never sends a slash command or an interaction twice, so the same signature again is
    someone replaying a captured request: it is ignored. In the database, so that every process
    sees what the others accepted. Rows older than the window are purged now and then.
    """

    __tablename__ = "seen_requests"
    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    # X-Slack-Request-Timestamp, in seconds since the epoch: what the purge goes by.
    timestamp: Mapped[int] = mapped_column(BigInteger, index=True)


class SheetsLease(Base):
    """Which process writes an initiative's spreadsheet now, so processes take turns.

    After a batch, `held_until` (with no holder) is when the next batch may
    start, which keeps every process together within Google's per-minute quota.
    """

    __tablename__ = "sheets_leases"
    id: Mapped[int] = mapped_column(primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), unique=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    held_until: Mapped[datetime | None] = mapped_column()


class ServicePace(Base):
    """The next free request slot of an outside service, shared by every process on this database.

    Notion's limit (3 requests a second) is per integration, not per process. Before each
    request a process takes a slot with one UPDATE … RETURNING on its service's row
    (`ci_slackbot.outbox.SharedPace`) and waits for it, so that all of them together keep
    to the rate. `next_slot` is seconds since the epoch on the database's clock.
    """

    __tablename__ = "service_paces"
    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(16), unique=True)
    next_slot: Mapped[float] = mapped_column(Float, default=0.0)


# -- Slack installations (many workspaces) ---------------------------------------------------
# The tables of slack_sdk's SQLAlchemyInstallationStore and SQLAlchemyOAuthStateStore, which read
# and write them itself (it builds its own Table objects with the same names and columns). They are
# declared here too so that the schema has one description and the migrations create them (0007),
# rather than the store's create_tables() racing between processes at start-up. tests/test_workspaces.py
# checks that they match the library's definitions.

slack_installations = Table(
    "slack_installations",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(32), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("enterprise_id", String(32)),
    Column("enterprise_name", String(200)),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    Column("bot_token", String(200)),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)),
    Column("bot_refresh_token", String(200)),
    Column("bot_token_expires_at", DateTime),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False, default=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_bots = Table(
    "slack_bots",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(32), nullable=False),
    Column("app_id", String(32), nullable=False),
    Column("enterprise_id", String(32)),
    Column("enterprise_name", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    Column("bot_token", String(200)),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)),
    Column("bot_refresh_token", String(200)),
    Column("bot_token_expires_at", DateTime),
    Column("is_enterprise_install", Boolean, nullable=False, default=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)
