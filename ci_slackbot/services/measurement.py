"""Shared measurement: indicators, recording values, and where each indicator stands.

One current value per (indicator, period, breakdown, organization); reporting
again corrects it and keeps the earlier value as a revision. Every recorded
value is queued for the Sheets mirror in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    CTE,
    JSON,
    Alias,
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.matching import close_keys, did_you_mean
from ci_slackbot.domain.measurement import (
    Combined,
    Context,
    Direction,
    Point,
    Reported,
    Rollup,
    Trend,
    check_range,
    combine,
    default_rollup,
    expected_value,
    is_on_track,
    progress_to_target,
    rate_value,
    trend,
    unit_scale,
    value_context,
)
from ci_slackbot.domain.periods import Frequency, Period, PeriodError, check_reportable, local_today
from ci_slackbot.domain.stories import StoryError, TurnTheCurve, appended_note, checked_story
from ci_slackbot.domain.windows import ReportingWindow, lag_days, window_due
from ci_slackbot.outbox import enqueue, note_enqueued, queued_along, queued_times
from ci_slackbot.services.decisions import claim_submission
from ci_slackbot.services.people import NotAllowedError, OrgRef, Person
from ci_slackbot.store.models import (
    Goal,
    Indicator,
    IndicatorReporter,
    IndicatorValue,
    Initiative,
    Organization,
    ValueRevision,
    ValueStory,
)

ENTERED_VIA = ("text", "modal", "import")


class MeasurementError(InputError):
    """A value that cannot be recorded; the message says how to report it right."""


@dataclass(frozen=True)
class IndicatorView:
    """An indicator as the rest of the app sees it: plain values, no session needed."""

    id: int
    key: str
    name: str
    unit: str
    direction: Direction
    frequency: Frequency
    minimum: float | None
    maximum: float | None
    baseline: Point | None
    target: Point | None
    breakdowns: tuple[str, ...]
    goal_key: str | None
    goal_title: str | None
    source: str
    small_number_threshold: float | None
    headline: bool
    reporters: tuple[OrgRef, ...]
    rollup_declared: Rollup | None = None  # as the initiative file says; None: `default_rollup(unit)`
    owner_key: str | None = None  # with `rollup: owner`, whose value counts; None: the first reporter
    # Days after a period ends that its report is due: the indicator's own or the initiative's for its
    # frequency, as `indicator_views` resolves them; None is the default for the frequency.
    due_after_days: int | None = None
    equity_lens: str | None = None  # as the initiative file says; None: the first breakdown
    group_targets: tuple[tuple[str, float], ...] = ()  # (breakdown key, target) per group of the lens

    @property
    def lens(self) -> str | None:
        """The breakdown whose groups' gap is pointed out: the one named, or the first."""
        return self.equity_lens or (self.breakdowns[0] if self.breakdowns else None)

    @property
    def rollup(self) -> Rollup:
        return self.rollup_declared or default_rollup(self.unit)

    @property
    def lag(self) -> int:
        return lag_days(self.frequency, None, self.due_after_days)

    def window(self, timezone: str, now: datetime) -> ReportingWindow:
        """The reporting window partners are in now: the last completed period's, and its due date."""
        return window_due(self.frequency, local_today(timezone, now), self.lag)

    @property
    def sums(self) -> bool:
        """Whether partners' values add up (counts), so that breakdown values add up to a total too."""
        return self.rollup is Rollup.SUM

    @property
    def owner(self) -> OrgRef | None:
        """The organization whose value is the coalition's under `rollup: owner`."""
        if self.rollup is not Rollup.OWNER:
            return None
        if self.owner_key is not None:
            return next((r for r in self.reporters if r.key == self.owner_key), None)
        return self.reporters[0] if self.reporters else None

    @property
    def takes_fractions(self) -> bool:
        """Whether a value may be reported as `412 of 700`: not for counts that add up."""
        return self.rollup is not Rollup.SUM

    def combine(self, values: Sequence[Reported]) -> Combined:
        """The coalition's figure from partners' whole-population values of one period."""
        owner = self.owner
        return combine(
            self.rollup,
            values,
            partners=[r.id for r in self.reporters],
            owner=owner.id if owner is not None else None,
            scale=unit_scale(self.unit),
        )

    def reported_by(self, org_id: int) -> bool:
        return any(r.id == org_id for r in self.reporters)


def _point(period: str | None, value: float | None, frequency: Frequency) -> Point | None:
    if period is None or value is None:
        return None
    return Point(Period.parse(period), value)


def indicator_views(session: Session, initiative_id: int, *, include_retired: bool = False) -> list[IndicatorView]:
    query = (
        select(Indicator, Goal)
        .outerjoin(Goal, Indicator.goal_id == Goal.id)
        .where(Indicator.initiative_id == initiative_id)
        .order_by(Goal.position, Indicator.position)
    )
    if not include_retired:
        query = query.where(Indicator.retired.is_(False))
    reporters: dict[int, list[OrgRef]] = defaultdict(list)
    for indicator_id, org_id, key, name in session.execute(
        select(IndicatorReporter.indicator_id, Organization.id, Organization.key, Organization.name)
        .join(Organization, IndicatorReporter.organization_id == Organization.id)
        .where(IndicatorReporter.initiative_id == initiative_id)
        .order_by(Organization.position)
    ):
        reporters[indicator_id].append(OrgRef(org_id, key, name))
    initiative_lags = session.scalar(select(Initiative.report_due_after).where(Initiative.id == initiative_id))
    views = []
    for indicator, goal in session.execute(query):
        frequency = Frequency(indicator.frequency)
        views.append(
            IndicatorView(
                id=indicator.id,
                key=indicator.key,
                name=indicator.name,
                unit=indicator.unit,
                direction=Direction(indicator.direction),
                frequency=frequency,
                minimum=indicator.minimum,
                maximum=indicator.maximum,
                baseline=_point(indicator.baseline_period, indicator.baseline_value, frequency),
                target=_point(indicator.target_period, indicator.target_value, frequency),
                breakdowns=tuple(indicator.breakdowns or ()),
                goal_key=goal.key if goal else None,
                goal_title=goal.title if goal else None,
                source=indicator.source,
                small_number_threshold=indicator.small_number_threshold,
                headline=indicator.headline,
                reporters=tuple(reporters[indicator.id]),
                rollup_declared=Rollup(indicator.rollup) if indicator.rollup else None,
                owner_key=indicator.rollup_owner,
                due_after_days=lag_days(frequency, initiative_lags, indicator.due_after_days),
                equity_lens=indicator.equity_lens,
                group_targets=tuple(sorted((k, float(v)) for k, v in (indicator.group_targets or {}).items())),
            )
        )
    return views


def find_indicator(views: Sequence[IndicatorView], text: str) -> IndicatorView:
    """By key, case-insensitively, or by a prefix that matches exactly one key; refused with the close matches."""
    wanted = text.strip().lower()
    for view in views:
        if view.key.lower() == wanted:
            return view
    matches = [v for v in views if v.key.lower().startswith(wanted)] if wanted else []
    if len(matches) == 1:
        return matches[0]
    keys = ", ".join(f"`{v.key}`" for v in views)
    if len(matches) > 1:
        raise MeasurementError(
            f"`{text}` could be {', '.join(f'`{m.key}`' for m in matches)}: type more of the key. Indicators: {keys}."
        )
    guess = did_you_mean(close_keys(text, [(v.key, v.name) for v in views]))
    raise MeasurementError(
        f"There is no indicator `{text}`.{guess} Indicators: {keys}. See them all with `/ci indicators`."
    )


def breakdown_key(breakdown: dict[str, str]) -> str:
    """A canonical text form of a breakdown, e.g. `zip=75216`; `` for the whole population."""
    return ",".join(f"{k}={breakdown[k]}" for k in sorted(breakdown))


def describe_breakdown(breakdown: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(breakdown.items()))


def check_breakdown(indicator: IndicatorView, breakdown: dict[str, str]) -> dict[str, str]:
    cleaned = {}
    for dimension, value in breakdown.items():
        if dimension not in indicator.breakdowns:
            if indicator.breakdowns:
                allowed = ", ".join(f"`{d}=…`" for d in indicator.breakdowns)
                raise MeasurementError(f"{indicator.key} is not split by `{dimension}`: it can be split by {allowed}.")
            raise MeasurementError(f"{indicator.key} is reported as one number, not split by `{dimension}`.")
        value = value.strip()
        if not value or len(value) > 100:
            raise MeasurementError(f"`{dimension}=` needs a short value, like `{dimension}=75216`.")
        cleaned[dimension] = value
    return cleaned


def reporting_org(person: Person, indicator: IndicatorView, org_key: str | None) -> OrgRef:
    """Which organization this report is for, checking the person may report it."""
    if not indicator.reporters:
        raise MeasurementError(f"No organization reports {indicator.key}; the backbone team can add reporters.")
    reporter_names = ", ".join(r.name for r in indicator.reporters)
    if org_key is not None:
        org = next((r for r in indicator.reporters if r.key == org_key.lower()), None)
        if org is None:
            keys = ", ".join(f"`org={r.key}`" for r in indicator.reporters)
            raise MeasurementError(f"`{org_key}` does not report {indicator.key}. It is reported by: {keys}.")
        if person.is_backbone or any(o.id == org.id for o in person.organizations):
            return org
        raise NotAllowedError(f"You can only report for your own organization; {org.name} reports for itself.")
    mine = [r for r in indicator.reporters if any(o.id == r.id for o in person.organizations)]
    if len(mine) == 1:
        return mine[0]
    if len(mine) > 1 or person.is_backbone:
        options = mine or list(indicator.reporters)
        if len(options) == 1:
            return options[0]
        keys = " or ".join(f"`org={r.key}`" for r in options)
        raise MeasurementError(f"Say which organization this is for: add {keys}.")
    person.require_member()
    raise NotAllowedError(
        f"{indicator.key} is reported by {reporter_names}, and you are not a member of "
        f"{'it' if len(indicator.reporters) == 1 else 'any of them'}."
    )


@dataclass(frozen=True)
class RecordedValue:
    value_id: int
    indicator: IndicatorView
    period: Period
    organization: OrgRef
    breakdown: dict[str, str]
    value: float
    note: str
    revision: int
    replaced: float | None  # the value this one corrected, if any
    context: Context
    numerator: float | None = None
    denominator: float | None = None
    coalition: Combined | None = None  # the period's coalition figure, this value included


# Every recorded value runs these, so they are built once (building a statement costs more than
# running it here), and on the tables rather than the mapped classes: an ORM-enabled statement runs
# the ORM's machinery even for plain columns. No session object stands for these rows (record_value
# never loads one), so none needs to be kept in step.
_VALUES: Table = IndicatorValue.__table__  # type: ignore[assignment]
_SAME_SERIES = (
    _VALUES.c.indicator_id == bindparam("indicator_id"),
    _VALUES.c.organization_id == bindparam("organization_id"),
    _VALUES.c.breakdown_key == bindparam("breakdown_key"),
)
_STATE = (
    _VALUES.c.id,
    _VALUES.c.value,
    _VALUES.c.numerator,
    _VALUES.c.denominator,
    _VALUES.c.note,
    _VALUES.c.reporter,
    _VALUES.c.entered_via,
    _VALUES.c.recorded_at,
    _VALUES.c.revision,
    _VALUES.c.withdrawn,
)
_STATE_NAMES = [column.name for column in _STATE]
# The empty string, written into the SQL: the whole population's breakdown key, and no note.
_EMPTY = literal_column("''", String)
# Locked (PostgreSQL; SQLite's write turn already keeps others out): a correction is made from the
# value as it stands, and another member's correction not yet committed must be waited for and
# corrected in its turn, or both would write the same revision and the earlier would be lost from the
# history (tests/test_concurrent_reports.py).
_CURRENT = select(*_STATE).where(*_SAME_SERIES, _VALUES.c.period == bindparam("period")).with_for_update()
# A value's unique key: its series and period (the table's unique constraint).
_VALUE_KEY = ["indicator_id", "period", "breakdown_key", "organization_id"]


def _report_reads(
    prefix: str = "", values: Any = _VALUES, shown: Sequence[str] = _STATE_NAMES
) -> tuple[Select[Any], Select[Any]]:
    """What a report reads before its write, from `values` (the table, or an alias of it), its
    parameters named `prefix` + the column's name; every partner's value with the state columns
    named in `shown`.

    In one statement, one round trip: the series' value for the period reported, if any, and the
    value of the period before it that has one (periods of one indicator share a frequency, so their
    start dates order them, and the period reported starts last of the two). Read before the write,
    which changes neither; both rows locked as `_CURRENT` is, in the order the series runs.
    With them, every partner's whole-population value for the period (the answer's coalition figure,
    with this report put in place of what it replaces).
    """
    c = values.c
    indicator: BindParameter[int] = bindparam(prefix + "indicator_id")
    period: BindParameter[str] = bindparam(prefix + "period")
    start: BindParameter[date] = bindparam(prefix + "start")
    current_and_previous = (
        select(*[c[name] for name in _STATE_NAMES], c.period, c.organization_id, literal_column("1").label("own"))
        .where(
            c.indicator_id == indicator,
            c.organization_id == bindparam(prefix + "organization_id"),
            c.breakdown_key == bindparam(prefix + "breakdown_key"),
            c.period_start <= start,
            or_(c.period == period, and_(c.period_start < start, c.withdrawn == false())),
        )
        .order_by(c.period_start.desc())
        .limit(literal_column("2", Integer))
        .with_for_update()
    )
    whole = select(*[c[name] for name in shown], c.period, c.organization_id, literal_column("0").label("own")).where(
        c.indicator_id == indicator,
        c.period == period,
        c.breakdown_key == _EMPTY,
        c.withdrawn == false(),
    )
    return current_and_previous, whole


_CURRENT_AND_PREVIOUS, _WHOLE = _report_reads()
_BEFORE_REPORT = union_all(select(_CURRENT_AND_PREVIOUS.subquery()), _WHOLE)
_INSERT_VALUE = insert(_VALUES).returning(_VALUES.c.id)
# Two requests may report the same new value at once. On SQLite one waits for the other's whole
# transaction (BEGIN IMMEDIATE); on PostgreSQL the later INSERT waits for the earlier to commit,
# then inserts nothing, rather than failing on the unique key.
_INSERT_VALUE_POSTGRES = (
    postgresql.insert(_VALUES).on_conflict_do_nothing(index_elements=_VALUE_KEY).returning(_VALUES.c.id)
)
# A report on PostgreSQL, first or correction, in one statement and one round trip. `_BEFORE_REPORT`'s
# reads, with the current and previous values read (and locked) once, by a WITH (`cur`) that the
# writes read too:
# - `ins`, the new value's INSERT, which does nothing when the series has a value for the period;
# - `kept` and `upd`, when it has one: its state kept as a revision and the value changed, from the
#   row as `cur` locked it (the latest committed, should another correction have come first); without
#   a new note the old one stays (`_correction`).
# Every part of a statement shares one snapshot: the reads see the table as it was before the writes.
# The main query carries the new row's id, if inserted, as `own` 2. Should the series' value for the
# period come from another partner's request committed while this one ran, the INSERT waits for it and
# does nothing, and `cur` (read before) misses it: then nothing is written, and `record_value`
# corrects it with `_CURRENT` and `_correct_value`.
#
# Its names are short, its constants written in: psycopg parses a statement's text once and keeps it
# only up to 4,096 characters (psycopg/_queries.py, MAX_CACHED_STATEMENT_LENGTH), else on every run,
# at a sixth of a report's CPU (tests/test_update.py holds it to that). Its reads' parameters are not
# named as columns are: an UPDATE's SET would take them (SQLAlchemy sets every column named by the
# parameters a statement runs with).
_NEW = "new_"
_NEW_COLUMNS = [column.name for column in _VALUES.c if column.name not in ("id", "withdrawn", "revision")]
_NEW_PARAMS = {name: bindparam(_NEW + name, type_=_VALUES.c[name].type) for name in _NEW_COLUMNS}
_FIRST_REVISION = literal_column("1", Integer)
_NEW_VALUE = (
    postgresql.insert(_VALUES)
    .values({**_NEW_PARAMS, "revision": _FIRST_REVISION, "withdrawn": false()})
    .on_conflict_do_nothing(index_elements=_VALUE_KEY)
    .returning(_VALUES.c.id)
    .cte("ins")
)
_AT = "at_"
_V: Alias[Any] = _VALUES.alias("v")  # type: ignore[assignment]  # an Alias, typed as its base class
# What the answer reads of a value (`_correction`, `Reported`, `Point`); the revision keeps the rest.
_SHOWN = ("id", "value", "numerator", "denominator", "note", "revision", "withdrawn")
_LOCKED_READ, _WHOLE_AT = _report_reads(_AT, _V, shown=_SHOWN)
# Read once by all that follow, as PostgreSQL does for any WITH that locks rows or is read twice.
_LOCKED = _LOCKED_READ.cte("cur")
_LOCKED_CURRENT = _LOCKED.c.period == bindparam(_AT + "period")
_REVISIONS: Table = ValueRevision.__table__  # type: ignore[assignment]
_KEPT_COLUMNS = [column.name for column in _REVISIONS.c if column.name != "id"]
# The revision's columns from the value as it stood; who replaced it and when are the new report's.
_KEPT_FROM_LOCKED = {
    "initiative_id": _NEW_PARAMS["initiative_id"],
    "value_id": _LOCKED.c.id,
    "replaced_by": _NEW_PARAMS["reporter"],
    "replaced_at": _NEW_PARAMS["recorded_at"],
}
_KEPT_ALONG = (
    insert(_REVISIONS)
    .from_select(
        _KEPT_COLUMNS,
        select(
            *[_KEPT_FROM_LOCKED[name] if name in _KEPT_FROM_LOCKED else _LOCKED.c[name] for name in _KEPT_COLUMNS]
        ).where(_LOCKED_CURRENT),
    )
    .cte("kept")
)
_CORRECTED_COLUMNS = ("value", "numerator", "denominator", "reporter", "entered_via", "recorded_at")
_CORRECTED_ALONG = (
    update(_V)
    .where(_V.c.id == _LOCKED.c.id, _LOCKED_CURRENT)
    .values(
        {
            **{name: _NEW_PARAMS[name] for name in _CORRECTED_COLUMNS},
            "note": case((_NEW_PARAMS["note"] == _EMPTY, _LOCKED.c.note), else_=_NEW_PARAMS["note"]),
            "revision": _LOCKED.c.revision + _FIRST_REVISION,
            "withdrawn": false(),
        }
    )
    .returning(_V.c.id, _V.c.revision)
    .cte("upd")
)
_REPORT_POSTGRES: CompoundSelect[Any] = union_all(
    select(*[_LOCKED.c[name] for name in _SHOWN], _LOCKED.c.period, _LOCKED.c.organization_id, _LOCKED.c.own),
    _WHOLE_AT,
    select(
        _NEW_VALUE.c.id,
        *[null() for _ in _SHOWN[1:]],
        null(),
        null(),
        literal_column("2"),
    ),
).add_cte(_KEPT_ALONG, _CORRECTED_ALONG)
_SHEETS_KEY_PREFIX = "sheets:value:"


def _queued_sheets_row(key: ColumnElement[str], payload: ColumnElement[Any]) -> CTE:
    """The value's Sheets row (`_mirror`'s), queued by the statement it is added to (`_queued_params`)."""
    return queued_along("queued", bindparam("queued_initiative_id", type_=Integer), "sheets", "value", key, payload)


# `_REPORT_POSTGRES`, also queueing the value's Sheets row (`_mirror`) when the initiative has a Sheet:
# the value's id and revision are known only once written, so the row's key and payload are made from
# them in SQL (`done`: the value inserted or corrected), as `_sheets_key` makes them in Python.
_WRITTEN = union_all(
    select(_NEW_VALUE.c.id, _FIRST_REVISION.label("revision")),
    select(_CORRECTED_ALONG.c.id, _CORRECTED_ALONG.c.revision),
).cte("done")
_REPORT_AND_QUEUE_POSTGRES = _REPORT_POSTGRES.add_cte(
    _queued_sheets_row(
        literal_column(f"'{_SHEETS_KEY_PREFIX}'", String)
        + cast(_WRITTEN.c.id, String)
        + literal_column("':r'", String)
        + cast(_WRITTEN.c.revision, String),
        func.json_build_object(
            literal_column("'value_id'"), _WRITTEN.c.id, literal_column("'revision'"), _WRITTEN.c.revision
        ),
    )
)
_INSERT_REVISION = insert(_REVISIONS)
_KEPT = "kept_"  # the revision's parameters in `_KEEP_AND_CORRECT_POSTGRES`, apart from the update's
_UPDATE_VALUE = (
    update(_VALUES)
    .where(_VALUES.c.id == bindparam("id_"))
    .values(
        value=bindparam("value"),
        numerator=bindparam("numerator"),
        denominator=bindparam("denominator"),
        note=bindparam("note"),
        reporter=bindparam("reporter"),
        entered_via=bindparam("entered_via"),
        recorded_at=bindparam("recorded_at"),
        revision=bindparam("revision"),
        withdrawn=False,
    )
)


# A correction on PostgreSQL of a value `_REPORT_POSTGRES` did not see (another partner's, committed
# while the report ran), in one statement: the value's state kept as a revision (a data-modifying
# WITH) and the value changed. Both see the same snapshot and neither reads what the other writes,
# so the order is that of the two statements they replace.
_KEEP_AND_CORRECT_POSTGRES = _UPDATE_VALUE.add_cte(
    insert(_REVISIONS).values({name: bindparam(_KEPT + name) for name in _KEPT_COLUMNS}).cte("kept")
)

# ... and the value's Sheets row with them, when the initiative has a Sheet.
_KEEP_CORRECT_AND_QUEUE_POSTGRES = _KEEP_AND_CORRECT_POSTGRES.add_cte(
    _queued_sheets_row(bindparam("queued_key", type_=String), bindparam("queued_payload", type_=JSON))
)


class _ValueState(Protocol):
    """A value as it stands: its row as `_CURRENT` reads it, or the loaded `IndicatorValue`."""

    @property
    def id(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def numerator(self) -> float | None: ...
    @property
    def denominator(self) -> float | None: ...
    @property
    def note(self) -> str: ...
    @property
    def reporter(self) -> str: ...
    @property
    def entered_via(self) -> str: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def withdrawn(self) -> bool: ...


def _revision_row(initiative_id: int, state: _ValueState, person: Person, now: datetime) -> dict[str, object]:
    """A value's state as `value_revisions` keeps it, before `person` changes it."""
    return {
        "initiative_id": initiative_id,
        "value_id": state.id,
        "revision": state.revision,
        "value": state.value,
        "numerator": state.numerator,
        "denominator": state.denominator,
        "note": state.note,
        "reporter": state.reporter,
        "entered_via": state.entered_via,
        "recorded_at": state.recorded_at,
        "replaced_by": person.user_id,
        "replaced_at": now,
        "withdrawn": state.withdrawn,
    }


def _keep_revision(session: Session, initiative_id: int, state: _ValueState, person: Person, now: datetime) -> None:
    """Keep a value's state in `value_revisions` before `person` changes it."""
    session.execute(_INSERT_REVISION, _revision_row(initiative_id, state, person, now))


class _BeforeReport(NamedTuple):
    current: _ValueState | None  # the series' value for the period as it stood (None: none yet)
    previous: Point | None  # the series' point of the period before it
    whole: list[Reported]  # every partner's whole-population value for the period
    inserted: int | None = None  # the id of the value inserted with the reads (PostgreSQL), if it was


def _before_report(
    session: Session,
    series: dict[str, object],
    period: Period,
    new_row: dict[str, object] | None = None,
    queued: dict[str, object] | None = None,
) -> _BeforeReport:
    """What a report needs read before its write, in one statement (`_BEFORE_REPORT`). With `new_row`,
    on PostgreSQL, the same statement also writes it (`_REPORT_POSTGRES`): inserted unless the series
    has a value for the period, which it then corrects; with `queued` (`_queued_params`), it queues its
    Sheets row too."""
    current: _ValueState | None = None
    previous = None
    whole = []
    inserted = None
    params: dict[str, object] = {**series, "period": str(period), "start": period.start}
    statement: CompoundSelect[Any] = _BEFORE_REPORT
    if new_row is not None:
        statement = _REPORT_POSTGRES if queued is None else _REPORT_AND_QUEUE_POSTGRES
        params = {_AT + name: value for name, value in params.items()}
        params.update({_NEW + name: new_row[name] for name in _NEW_COLUMNS}, **(queued or {}))
    for row in session.execute(statement, params).all():
        own = int(row.own)
        if own == 2:
            inserted = row.id
        elif not own:
            whole.append(Reported(row.organization_id, row.value, row.numerator, row.denominator))
        elif row.period == str(period):
            current = row
        elif previous is None:
            previous = Point(Period.parse(row.period), row.value)
    return _BeforeReport(current, previous, whole, inserted)


def _queued_params(initiative: Initiative) -> dict[str, object] | None:
    """The parameters of a Sheets row queued along a value's own statement (PostgreSQL); None when the
    initiative has no Sheet."""
    if not initiative.sheets_spreadsheet_id:
        return None
    return {"queued_initiative_id": initiative.id, **queued_times("queued")}


def _reported_period(
    initiative: Initiative, indicator: IndicatorView, period: Period | None, now: datetime, *, withdrawing: bool = False
) -> Period:
    """The period a report is for: by default the one partners report now, the last completed
    (`IndicatorView.window`); never one of another frequency or to come.

    A new value must also fall within the indicator's life (`check_reportable`): up to the period
    still running, which a partner may report early by naming it. A withdrawal need not, so that a
    value stored under an odd period before that rule can still be taken back.
    """
    current = Period.current(indicator.frequency, initiative.timezone, now)
    period = period or indicator.window(initiative.timezone, now).period
    if period.frequency != indicator.frequency:
        raise MeasurementError(
            f"{indicator.key} is reported {indicator.frequency.value}, not by {period.frequency.noun}."
        )
    if withdrawing and period <= current:
        return period
    baseline = indicator.baseline.period if indicator.baseline is not None else None
    try:
        check_reportable(period, current=current, baseline=baseline, indicator_key=indicator.key)
    except PeriodError as exc:
        raise MeasurementError(str(exc)) from None
    return period


def record_value(
    session: Session,
    initiative: Initiative,
    person: Person,
    *,
    indicator: IndicatorView,
    value: float,
    period: Period | None = None,
    breakdown: dict[str, str] | None = None,
    note: str = "",
    organization_key: str | None = None,
    entered_via: str = "text",
    now: datetime | None = None,
    numerator: float | None = None,
    denominator: float | None = None,
) -> RecordedValue:
    """Record (or correct) one value, with its revision history and its mirror rows.

    A rate reported as `numerator of denominator` is recorded as the value they make in the
    indicator's unit (`value` is then ignored), and keeps both to weigh it against other partners'.
    """
    now = now or datetime.now(UTC)
    org = reporting_org(person, indicator, organization_key)
    period = _reported_period(initiative, indicator, period, now)
    value = _reported_number(indicator, value, numerator, denominator)
    breakdown = _checked_report(indicator, value, breakdown or {}, note)
    series: dict[str, object] = {
        "indicator_id": indicator.id,
        "organization_id": org.id,
        "breakdown_key": breakdown_key(breakdown),
    }
    changes: dict[str, object] = {
        "value": value,
        "numerator": numerator,
        "denominator": denominator,
        "reporter": person.user_id,
        "entered_via": entered_via,
        "recorded_at": now,
    }
    new_row = _new_row(initiative, series, period, breakdown, changes, note)
    # On PostgreSQL the value's row, its revision and its Sheets row are written by the statement that
    # reads before them, first report or correction: one statement, one round trip (`_REPORT_POSTGRES`).
    postgres = session.get_bind().dialect.name == "postgresql"
    queued = _queued_params(initiative) if postgres else None
    current, previous, whole, inserted = _before_report(session, series, period, new_row if postgres else None, queued)
    if inserted is not None:
        stored = _StoredValue(inserted, revision=1, note=note, replaced=None, queued=queued is not None)
    elif postgres and current is not None:  # corrected by that same statement
        stored = _correction(current, note, queued=queued is not None)
    else:
        stored = _store_value(
            session, initiative, person, new_row, changes, note, now, current, queued, inserting_done=postgres
        )
    context = _report_context(indicator, period, breakdown, value, previous)
    if not breakdown:
        # The coalition's figure as this transaction leaves it: this value in place of the one it corrects.
        whole = [r for r in whole if r.organization != org.id] + [Reported(org.id, value, numerator, denominator)]
    if stored.queued:
        note_enqueued(session, "sheets")
    else:
        _mirror(session, initiative, stored.value_id, stored.revision)
    return RecordedValue(
        value_id=stored.value_id,
        indicator=indicator,
        period=period,
        organization=org,
        breakdown=breakdown,
        value=value,
        note=stored.note,
        revision=stored.revision,
        replaced=stored.replaced,
        context=context,
        numerator=numerator,
        denominator=denominator,
        coalition=indicator.combine(whole),
    )


def _reported_number(
    indicator: IndicatorView, value: float, numerator: float | None, denominator: float | None
) -> float:
    """The value as recorded: a fraction's in the unit, checked against the indicator's rule."""
    if (numerator is None) != (denominator is None):
        raise MeasurementError(f"Give both numbers of a rate, like `/ci update {indicator.key} 412 of 700`.")
    if numerator is not None and denominator is not None:
        if not indicator.takes_fractions:
            counted = f" ({indicator.unit})" if indicator.unit else ""
            raise MeasurementError(
                f"{indicator.key} counts{counted} and partners' counts add up: send just the number, "
                f"like `/ci update {indicator.key} {numerator:g}`."
            )
        return rate_value(numerator, denominator, indicator.unit)
    if indicator.rollup_declared is Rollup.RATE:
        raise MeasurementError(
            f"{indicator.key} is a rate weighted by its denominator: send the numerator and the denominator, "
            f"like `/ci update {indicator.key} 412 of 700` (or `412/700`)."
        )
    return value


def _checked_report(indicator: IndicatorView, value: float, breakdown: dict[str, str], note: str) -> dict[str, str]:
    """Refuse a value out of the indicator's range, a breakdown it does not have, or a note too long.

    Returns the breakdown with its values trimmed, as it is stored.
    """
    check_range(value, indicator.minimum, indicator.maximum, indicator.unit)
    breakdown = check_breakdown(indicator, breakdown)
    if len(note) > 2000:
        raise MeasurementError("Notes can be up to 2,000 characters; shorten it and send again.")
    return breakdown


class _StoredValue(NamedTuple):
    value_id: int
    revision: int
    note: str  # the note now stored: a correction without one keeps the earlier note
    replaced: float | None  # the value this one corrected, if any
    queued: bool = False  # its Sheets row queued by the same statement (PostgreSQL)


def _new_row(
    initiative: Initiative,
    series: dict[str, object],
    period: Period,
    breakdown: dict[str, str],
    changes: dict[str, object],
    note: str,
) -> dict[str, object]:
    """The value's row, as a first report inserts it."""
    return {
        **series,
        **changes,
        "period": str(period),
        "initiative_id": initiative.id,
        "period_start": period.start,
        "breakdown": breakdown,
        "note": note,
        "revision": 1,
    }


def _store_value(
    session: Session,
    initiative: Initiative,
    person: Person,
    new_row: dict[str, object],
    changes: dict[str, object],
    note: str,
    now: datetime,
    current: _ValueState | None,
    queued: dict[str, object] | None = None,
    inserting_done: bool = False,
) -> _StoredValue:
    """The value's row: inserted for a period the series has no value for yet (`current` None),
    corrected otherwise; a correction on PostgreSQL queues its Sheets row too with `queued`.
    `inserting_done`: the report's reads already tried the INSERT (PostgreSQL), and it did nothing."""
    # Plain statements (above), not ORM objects: every `/ci update` comes here, before its ack,
    # and the ORM's flush cost as much as everything else the command does.
    if current is None:
        value_id = None if inserting_done else _insert_value(session, new_row)
        if value_id is not None:
            return _StoredValue(value_id, revision=1, note=note, replaced=None)
        # The same value from another partner's request, committed while this one ran (PostgreSQL
        # waits for it at the INSERT, then inserts nothing): this report corrects that one.
        current = session.execute(_CURRENT, {name: new_row[name] for name in _VALUE_KEY}).one()
    return _correct_value(session, initiative.id, person, current, changes, note, now, queued)


def _insert_value(session: Session, new_row: dict[str, object]) -> int | None:
    """The new row's id; None when another request inserted the same value first (PostgreSQL only)."""
    insert_value = _INSERT_VALUE_POSTGRES if session.get_bind().dialect.name == "postgresql" else _INSERT_VALUE
    value_id: int | None = session.execute(insert_value, new_row).scalar_one_or_none()
    return value_id


def _correct_value(
    session: Session,
    initiative_id: int,
    person: Person,
    current: _ValueState,
    changes: dict[str, object],
    note: str,
    now: datetime,
    queued: dict[str, object] | None = None,
) -> _StoredValue:
    """Replace the value as it stands, keeping it as a revision (`_correction`). On PostgreSQL, one
    statement, which also queues the value's Sheets row with `queued`."""
    stored = _correction(current, note, queued=queued is not None)
    update = {**changes, "id_": current.id, "note": stored.note, "revision": stored.revision}
    if session.get_bind().dialect.name != "postgresql":
        _keep_revision(session, initiative_id, current, person, now)
        session.execute(_UPDATE_VALUE, update)
        return stored
    kept = _revision_row(initiative_id, current, person, now)
    params = {**update, **{_KEPT + name: kept[name] for name in _KEPT_COLUMNS}}
    if queued is None:
        session.execute(_KEEP_AND_CORRECT_POSTGRES, params)
    else:
        key, payload = _sheets_key(current.id, stored.revision), {"value_id": current.id, "revision": stored.revision}
        session.execute(
            _KEEP_CORRECT_AND_QUEUE_POSTGRES, {**params, **queued, "queued_key": key, "queued_payload": payload}
        )
    return stored


def _correction(current: _ValueState, note: str, *, queued: bool) -> _StoredValue:
    """The value a correction of `current` stores: its next revision, and the old note unless it gives
    a new one (`_REPORT_POSTGRES` writes the same in SQL). A withdrawn value is not corrected but
    reported anew (its history keeps it): it replaces nothing."""
    replaced = None if current.withdrawn else current.value
    return _StoredValue(current.id, current.revision + 1, note or current.note, replaced, queued=queued)


def _report_context(
    indicator: IndicatorView, period: Period, breakdown: dict[str, str], value: float, previous: Point | None
) -> Context:
    """How the value compares with the one before it; the baseline and target are the total's, not a breakdown's."""
    return value_context(
        direction=indicator.direction,
        baseline=indicator.baseline if not breakdown else None,
        target=indicator.target if not breakdown else None,
        previous=previous,
        current=Point(period, value),
    )


def _sheets_key(value_id: int, revision: int, suffix: str = "") -> str:
    return f"{_SHEETS_KEY_PREFIX}{value_id}:r{revision}{suffix}"


def _mirror(session: Session, initiative: Initiative, value_id: int, revision: int, suffix: str = "") -> None:
    """The value's row in the Sheet, rewritten as it is once this transaction commits."""
    if initiative.sheets_spreadsheet_id:
        enqueue(
            session,
            initiative_id=initiative.id,
            service="sheets",
            kind="value",
            key=_sheets_key(value_id, revision, suffix),
            payload={"value_id": value_id, "revision": revision},
        )


def _reported_value(
    session: Session, initiative: Initiative, person: Person, value_id: int, doing: str, *, lock: bool = False
) -> IndicatorValue:
    """A value that this person's organization reported (or backbone staff), still counting.

    `lock` holds the row until the commit (PostgreSQL; SQLite writers already take turns), so that
    two clicks at once cannot both act on the same revision.
    """
    row = session.get(IndicatorValue, value_id, with_for_update=lock)
    if row is None or row.initiative_id != initiative.id:
        raise MeasurementError("That value no longer exists.")
    # Checked against the organizations of now, not those of the report: whoever has since left the
    # organization (the initiative file reloaded) no longer acts for it, even on their own report.
    if not person.is_backbone and row.organization_id not in {o.id for o in person.organizations}:
        raise NotAllowedError(f"Only the organization that reported this value can {doing}.")
    if row.withdrawn:
        raise MeasurementError(
            "This value was withdrawn, so nothing changed. Report it again with `/ci update` to bring it back."
        )
    return row


def story_target(session: Session, initiative: Initiative, person: Person, value_id: int) -> IndicatorValue:
    """The value whose story `person` may tell: checked before its form opens, as on submit."""
    return _reported_value(session, initiative, person, value_id, "tell its story")


def add_story(
    session: Session,
    initiative: Initiative,
    person: Person,
    value_id: int,
    story: str,
    curve: TurnTheCurve | None = None,
    *,
    now: datetime | None = None,
    submission_id: str | None = None,
) -> IndicatorValue:
    """The story behind the number, with any Turn-the-Curve notes: kept with who told it, and
    appended to the value's note (the Sheet shows it there). `submission_id`: the form's, so that
    one sent twice (a double click) is told once.

    The value is locked until the commit: its note is rewritten whole, and a correction or another
    story committed meanwhile (PostgreSQL) would otherwise lose its note to this one."""
    row = _reported_value(session, initiative, person, value_id, "tell its story", lock=True)
    story, curve = checked_story(story, curve or TurnTheCurve())
    if submission_id and not claim_submission(session, submission_id):
        raise StoryError("This form was already sent: the story is kept.")
    session.add(
        ValueStory(
            initiative_id=initiative.id,
            value_id=row.id,
            story=story,
            curve_story=curve.curve_story,
            partners=curve.partners,
            what_works=curve.what_works,
            next_action=curve.next_action,
            told_by=person.user_id,
            told_at=now or datetime.now(UTC),
        )
    )
    row.note = appended_note(row.note, story)
    _mirror(session, initiative, row.id, row.revision, f":story:{len(row.note)}")
    return row


@dataclass(frozen=True)
class UndoneReport:
    """A report taken back: the value before it is current again, or the value is withdrawn."""

    indicator: IndicatorView
    period: Period
    organization: OrgRef
    breakdown: dict[str, str]
    taken_back: float
    restored: float | None  # the earlier value, current again; None when the value is withdrawn
    revision: int


def undo_report(
    session: Session,
    initiative: Initiative,
    person: Person,
    value_id: int,
    revision: int,
    *,
    now: datetime | None = None,
) -> UndoneReport:
    """Take back the report that made `revision` of a value: a correction gives way to the
    value it replaced; a first report is withdrawn. Either way it is one more revision, so
    the history keeps what was undone and the Sheet's row is rewritten."""
    row = _reported_value(session, initiative, person, value_id, "undo it", lock=True)
    view = next(v for v in indicator_views(session, initiative.id, include_retired=True) if v.id == row.indicator_id)
    if row.revision != revision:
        raise MeasurementError(
            f"This value has changed since (it is at revision {row.revision} now), so nothing was undone. "
            f"To change it, report the right number again, like `/ci update {view.key} 12 {row.period}`."
        )
    return _take_back(session, initiative, person, row, view, now or datetime.now(UTC), restore=True)


def withdraw_value(
    session: Session,
    initiative: Initiative,
    person: Person,
    *,
    indicator: IndicatorView,
    period: Period | None = None,
    breakdown: dict[str, str] | None = None,
    organization_key: str | None = None,
    now: datetime | None = None,
) -> UndoneReport:
    """`/ci update <indicator> withdraw …`: take a value back by what it is, long after its message."""
    now = now or datetime.now(UTC)
    org = reporting_org(person, indicator, organization_key)
    period = _reported_period(initiative, indicator, period, now, withdrawing=True)
    breakdown = check_breakdown(indicator, breakdown or {})
    row = session.scalar(
        select(IndicatorValue)
        .where(
            IndicatorValue.indicator_id == indicator.id,
            IndicatorValue.organization_id == org.id,
            IndicatorValue.breakdown_key == breakdown_key(breakdown),
            IndicatorValue.period == str(period),
        )
        .with_for_update()
    )
    if row is None or row.withdrawn:
        what = ", ".join([period.label(), org.name, *([describe_breakdown(breakdown)] if breakdown else [])])
        raise MeasurementError(f"There is no value of {indicator.key} for {what} to withdraw; nothing changed.")
    return _take_back(session, initiative, person, row, indicator, now, restore=False)


def _take_back(
    session: Session,
    initiative: Initiative,
    person: Person,
    row: IndicatorValue,
    view: IndicatorView,
    now: datetime,
    *,
    restore: bool,
) -> UndoneReport:
    """One more revision of `row`: the one before it again (`restore`, when there is one), or withdrawn."""
    earlier = (
        session.scalar(
            select(ValueRevision).where(ValueRevision.value_id == row.id, ValueRevision.revision == row.revision - 1)
        )
        if restore and row.revision > 1
        else None
    )
    _keep_revision(session, initiative.id, row, person, now)
    taken_back = row.value
    restored: float | None = None
    if earlier is not None and not earlier.withdrawn:
        row.value, row.note, row.reporter = earlier.value, earlier.note, earlier.reporter
        row.numerator, row.denominator = earlier.numerator, earlier.denominator
        row.entered_via, row.recorded_at = earlier.entered_via, earlier.recorded_at
        restored = earlier.value
    else:
        # Who took it back and when, as the Sheet's row shows it.
        row.withdrawn, row.reporter, row.recorded_at = True, person.user_id, now
    row.revision += 1
    session.flush()
    _mirror(session, initiative, row.id, row.revision)
    organization = next((o for o in view.reporters if o.id == row.organization_id), None)
    if organization is None:  # no longer a reporter of this indicator
        org = session.get(Organization, row.organization_id)
        assert org is not None
        organization = OrgRef(org.id, org.key, org.name)
    return UndoneReport(
        indicator=view,
        period=Period.parse(row.period),
        organization=organization,
        breakdown={str(k): str(v) for k, v in (row.breakdown or {}).items()},
        taken_back=taken_back,
        restored=restored,
        revision=row.revision,
    )


# -- where indicators stand -------------------------------------------------------------


@dataclass(frozen=True)
class PartnerValue:
    """One partner's whole-population value, shown on its own where the rule does not combine it."""

    organization: str  # the organization's name
    point: Point


@dataclass(frozen=True)
class Standing:
    """Where one indicator stands: the coalition's series and what follows from it.

    `series` holds the periods that have a coalition figure (whole-population values combined by
    the indicator's rule); `figures` says, for each of them, how complete it is. Where no figure
    can be made (`rollup: none`, rates without denominators), `per_partner` gives each partner's
    latest value instead.
    """

    indicator: IndicatorView
    series: tuple[Point, ...]
    last_reported: datetime | None
    breakdown_latest: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Combined] = field(default_factory=dict)
    per_partner: tuple[PartnerValue, ...] = ()

    @property
    def latest(self) -> Point | None:
        return self.series[-1] if self.series else None

    @property
    def latest_figure(self) -> Combined | None:
        return self.figures.get(str(self.latest.period)) if self.latest is not None else None

    def partners_phrase(self) -> str:
        """`4 of 5 partners reported` when the latest figure misses some, else ``""``."""
        figure = self.latest_figure
        return figure.partners_phrase() if figure is not None else ""

    @property
    def previous(self) -> Point | None:
        return self.series[-2] if len(self.series) > 1 else None

    @property
    def trend(self) -> Trend:
        return trend(self.series, self.indicator.direction)

    @property
    def progress(self) -> float | None:
        ind = self.indicator
        if self.latest is None or ind.baseline is None or ind.target is None:
            return None
        return progress_to_target(ind.baseline.value, ind.target.value, self.latest.value)

    @property
    def on_track(self) -> bool | None:
        ind = self.indicator
        if self.latest is None or ind.baseline is None or ind.target is None:
            return None
        try:
            expected = expected_value(ind.baseline, ind.target, self.latest.period)
        except ValueError:
            return None
        return is_on_track(ind.direction, expected, self.latest.value)


class _Group(NamedTuple):
    """Partners' values for one (indicator, period, breakdown), summed in the database."""

    total: float
    reported: int
    numerator: float
    denominator: float
    weighted: int  # how many of them came with numerator and denominator


def breakdown_figure(indicator: IndicatorView, values: Sequence[Reported]) -> float | None:
    """One breakdown's value across the partners that reported it; None when the rule cannot combine them."""
    if len(values) == 1:
        return values[0].value
    combined = indicator.combine(values)
    if indicator.rollup is Rollup.OWNER or combined.value is None:
        return None
    return combined.value


def _group_figure(indicator: IndicatorView, group: _Group) -> float | None:
    if indicator.rollup is Rollup.SUM or group.reported == 1:
        return group.total
    if indicator.rollup is Rollup.RATE and group.weighted == group.reported and group.denominator > 0:
        return group.numerator / group.denominator * unit_scale(indicator.unit)
    return None


# What a scoreboard line shows of a series: the latest figure, and its move from the one before.
STANDING_PERIODS = 2
# Statements over many indicators: either one statement over the `indicators` rows with a small
# correlated read per indicator (its newest entry in an index), or, where the read differs by
# indicator (the rule deciding which periods make a figure), one UNION ALL of per-indicator reads.
# Those are built once per shape and kept (building them costs more than running them), and SQLite
# allows 500 members in a compound SELECT by default, so longer lists are read in chunks.
UNION_CHUNK = 200
_INDICATORS: Table = Indicator.__table__  # type: ignore[assignment]
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)


def _newest(column: Any, *where: Any) -> Any:
    """The newest `column` of the indicator of the `indicators` row being read, under `where`."""
    v = _VALUES.c
    return (
        select(column)
        .where(v.indicator_id == _INDICATORS.c.id, v.withdrawn == false(), *where)
        .order_by(column.desc())
        .limit(1)
        .scalar_subquery()
    )


def _indicator_periods(period: Any) -> Any:
    """(indicator, period) for each indicator in `ids`, `period` being a read correlated to it."""
    return select(_INDICATORS.c.id.label("indicator_id"), period.label("period")).where(_INDICATORS.c.id.in_(_IDS))


_WHOLE_COLUMNS = (
    _VALUES.c.indicator_id,
    _VALUES.c.period,
    _VALUES.c.organization_id,
    _VALUES.c.value,
    _VALUES.c.numerator,
    _VALUES.c.denominator,
)


def _values_of(pairs: Any) -> Select[int, str, int, float, float | None, float | None]:
    """The whole-population values of the (indicator, period) pairs a CTE holds."""
    v = _VALUES.c
    return (
        select(*_WHOLE_COLUMNS)
        .join(pairs, and_(v.indicator_id == pairs.c.indicator_id, v.period == pairs.c.period))
        .where(v.breakdown_key == "", v.withdrawn == false())
    )


_LAST_RECORDED: Select[int, datetime | None] = select(_INDICATORS.c.id, _newest(_VALUES.c.recorded_at)).where(
    _INDICATORS.c.id.in_(_IDS)
)
# Whether an indicator has breakdown values at all: one probe on (indicator, breakdown, period), so
# that an indicator never reported by breakdown costs no walk through its history.
HAS_BREAKDOWNS: Select[int] = select(_INDICATORS.c.id).where(
    _INDICATORS.c.id.in_(_IDS),
    select(_VALUES.c.id)
    .where(
        _VALUES.c.indicator_id == _INDICATORS.c.id,
        _VALUES.c.breakdown_key > "",
        _VALUES.c.withdrawn == false(),
    )
    .exists(),
)
# Within one frequency a period's text orders as its time does (`2026-09` < `2026-10`, `2026-W09` <
# `2026-W10`), so "the newest period" is a walk back along an index led by (indicator, …, period).
_BREAKDOWN_PERIOD = _indicator_periods(_newest(_VALUES.c.period, _VALUES.c.breakdown_key != "")).cte("latest")
_BREAKDOWN_GROUPS: Select[int, str, float, int, float | None, float | None, int] = (
    select(
        _VALUES.c.indicator_id,
        _VALUES.c.breakdown_key,
        func.sum(_VALUES.c.value),
        func.count(),
        func.sum(_VALUES.c.numerator),
        func.sum(_VALUES.c.denominator),
        func.count(_VALUES.c.denominator),
    )
    .join(
        _BREAKDOWN_PERIOD,
        and_(
            _VALUES.c.indicator_id == _BREAKDOWN_PERIOD.c.indicator_id,
            _VALUES.c.period == _BREAKDOWN_PERIOD.c.period,
        ),
    )
    .where(_VALUES.c.breakdown_key != "", _VALUES.c.withdrawn == false())
    .group_by(_VALUES.c.indicator_id, _VALUES.c.breakdown_key)
)
# Each indicator's newest period with whole-population values, and those values.
_LATEST_WHOLE = _values_of(_indicator_periods(_newest(_VALUES.c.period, _VALUES.c.breakdown_key == "")).cte("latest"))


def _figure_periods(n: int, rollup: Rollup, limit: int) -> Select[Any]:
    """The latest `limit` periods of indicator `:i<n>` whose whole-population values make a figure.

    The conditions are `combine`'s: under `sum` any value makes a figure; under `owner` the
    value of organization `:o<n>` does; a rate needs every partner's denominator, or a single
    partner. Grouped by period alone (the indicator is fixed), the groups come in the order of
    the index on (indicator, breakdown, period), so the database stops after `limit` of them.
    """
    v = _VALUES.c
    read = (
        select(func.max(v.indicator_id).label("indicator_id"), v.period)
        .where(v.indicator_id == bindparam(f"i{n}"), v.breakdown_key == "", v.withdrawn == false())
        .group_by(v.period)
        .order_by(v.period.desc())
        .limit(limit)
    )
    if rollup is Rollup.OWNER:
        read = read.where(v.organization_id == bindparam(f"o{n}"))
    elif rollup is Rollup.RATE:
        weighted = func.count(case((and_(v.numerator.is_not(None), v.denominator > 0), 1)))
        read = read.having(or_(func.count() == 1, weighted == func.count()))
    return read


@lru_cache(maxsize=32)
def _figure_values(rollups: tuple[Rollup, ...], limit: int) -> Select[int, str, int, float, float | None, float | None]:
    """The whole-population values of each indicator's latest `limit` periods with a figure."""
    members = [select(*read.subquery().c) for read in (_figure_periods(n, r, limit) for n, r in enumerate(rollups))]
    chosen = members[0] if len(members) == 1 else union_all(*members)
    return _values_of(chosen.cte("chosen"))


# On PostgreSQL the same read is one statement for any number of indicators: planning a UNION of a
# hundred grouped reads took longer than running them. Each indicator's rule travels in arrays, and a
# LATERAL read per indicator walks its periods back as `_figure_periods` does. MATERIALIZED: inlined,
# the planner ran the LATERAL read once per value joined rather than once per indicator; and the
# values of the periods chosen are read by LATERAL too (OFFSET 0 keeps it from being flattened into a
# hash join over the whole table), so that they come from the index whatever the planner expects.
_FIGURE_VALUES_POSTGRES = text(
    """
    WITH w AS (
        SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:rollups AS text[]), CAST(:owners AS integer[]))
            AS w(indicator_id, rollup, owner)
    ),
    chosen AS MATERIALIZED (
        SELECT w.indicator_id, p.period FROM w CROSS JOIN LATERAL (
            SELECT x.period FROM indicator_values x
            WHERE x.indicator_id = w.indicator_id AND x.breakdown_key = '' AND NOT x.withdrawn
                AND (w.rollup <> 'owner' OR x.organization_id = w.owner)
            GROUP BY x.period
            HAVING w.rollup <> 'rate' OR count(*) = 1
                OR count(CASE WHEN x.numerator IS NOT NULL AND x.denominator > 0 THEN 1 END) = count(*)
            ORDER BY x.period DESC
            LIMIT :limit
        ) p
    )
    SELECT v.indicator_id, v.period, v.organization_id, v.value, v.numerator, v.denominator
    FROM chosen c CROSS JOIN LATERAL (
        SELECT * FROM indicator_values v
        WHERE v.indicator_id = c.indicator_id AND v.period = c.period AND v.breakdown_key = '' AND NOT v.withdrawn
        OFFSET 0
    ) v
    """
)


def _group_values(
    rows: Iterable[Row[int, str, int, float, float | None, float | None]], into: dict[int, dict[str, list[Reported]]]
) -> None:
    for indicator_id, period, org_id, value, numerator, denominator in rows:
        into[indicator_id][period].append(Reported(org_id, value, numerator, denominator))


def _recent_values(
    session: Session, views: Sequence[IndicatorView], recent: int
) -> dict[int, dict[str, list[Reported]]]:
    """Whole-population values of each indicator's latest `recent` periods with a figure, or, for one
    without any, of its latest period (shown per partner)."""
    whole: dict[int, dict[str, list[Reported]]] = defaultdict(lambda: defaultdict(list))
    combined = []
    for view in views:
        owner = view.owner
        if view.rollup is not Rollup.NONE and not (view.rollup is Rollup.OWNER and owner is None):
            combined.append((view.id, view.rollup, owner.id if owner is not None else None))
    if combined and session.get_bind().dialect.name == "postgresql":
        ids, rollups, owners = zip(*combined, strict=True)
        arrays = {"ids": list(ids), "rollups": [r.value for r in rollups], "owners": list(owners), "limit": recent}
        _group_values(session.execute(_FIGURE_VALUES_POSTGRES, arrays), whole)
        combined = []
    for start in range(0, len(combined), UNION_CHUNK):
        chunk = combined[start : start + UNION_CHUNK]
        params: dict[str, Any] = {}
        for n, (indicator_id, _, owner_id) in enumerate(chunk):
            params[f"i{n}"], params[f"o{n}"] = indicator_id, owner_id
        statement = _figure_values(tuple(rollup for _, rollup, _ in chunk), recent)
        _group_values(session.execute(statement, params), whole)
    unfigured = [view.id for view in views if not whole.get(view.id)]
    if unfigured:
        _group_values(session.execute(_LATEST_WHOLE, {"ids": unfigured}), whole)
    return whole


def _breakdown_latest(session: Session, views: Sequence[IndicatorView]) -> dict[int, dict[str, float]]:
    """Each indicator's breakdown values in its latest period reported by breakdown, combined per breakdown."""
    split = list(session.scalars(HAS_BREAKDOWNS, {"ids": [view.id for view in views]}))
    if not split:
        return {}
    by_id = {view.id: view for view in views}
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for indicator_id, key, total, count, numerator, denominator, weighted in session.execute(
        _BREAKDOWN_GROUPS, {"ids": split}
    ):
        group = _Group(float(total), int(count), float(numerator or 0), float(denominator or 0), int(weighted))
        figure = _group_figure(by_id[indicator_id], group)
        if figure is not None:
            out[indicator_id][key] = figure
    return out


def standings(
    session: Session,
    initiative_id: int,
    views: Sequence[IndicatorView] | None = None,
    *,
    recent: int | None = None,
) -> list[Standing]:
    """Every indicator's coalition series: whole-population values combined by the indicator's rule.

    A period reported only by breakdown has no coalition figure: a breakdown's value never
    stands in for the whole, and the groups reported are not assumed to cover it.

    With `recent`, `series` (and `figures`) hold only the latest `recent` periods that have a
    figure, which is all a scoreboard or a digest line shows (latest, previous, the trend's last
    move); the database finds them, so the cost does not grow with the years of history.
    `trend.run` then counts moves within those periods only. Without it, the whole history.
    """
    views = list(views) if views is not None else indicator_views(session, initiative_id)
    if not views:
        return []
    if recent is not None and recent < 1:
        raise ValueError("recent must be at least 1")
    ids = [view.id for view in views]
    last: dict[int, datetime] = {}
    for indicator_id, recorded in session.execute(_LAST_RECORDED, {"ids": ids}):
        if recorded is not None:
            last[indicator_id] = recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)
    by_breakdown = _breakdown_latest(session, views)
    if recent is None:
        whole: dict[int, dict[str, list[Reported]]] = defaultdict(lambda: defaultdict(list))
        c = _VALUES.c
        _group_values(
            session.execute(
                select(*_WHOLE_COLUMNS).where(c.indicator_id.in_(ids), c.breakdown_key == "", c.withdrawn == false())
            ),
            whole,
        )
    else:
        whole = _recent_values(session, views, recent)
    out = []
    for view in views:
        names: dict[Hashable, str] = {r.id: r.name for r in view.reporters}
        figures = {period: view.combine(values) for period, values in whole.get(view.id, {}).items()}
        shown = {period: figure for period, figure in figures.items() if figure.value is not None}
        series = tuple(
            Point(p, v) for p, v in sorted((Period.parse(p), f.value) for p, f in shown.items() if f.value is not None)
        )
        per_partner: tuple[PartnerValue, ...] = ()
        if whole.get(view.id) and not series:
            latest_period = max(whole[view.id], key=Period.parse)
            per_partner = tuple(
                PartnerValue(
                    names.get(v.organization, "an organization no longer listed"),
                    Point(Period.parse(latest_period), v.value),
                )
                for v in sorted(whole[view.id][latest_period], key=lambda v: names.get(v.organization, "~"))
            )
        out.append(Standing(view, series, last.get(view.id), by_breakdown.get(view.id, {}), shown, per_partner))
    return out


def history(session: Session, indicator: IndicatorView) -> Sequence[Row[Any]]:
    """Every current value of one indicator, oldest period first: the columns a history shows, as plain
    rows. Not ORM objects: `/ci indicator` reads every value of the indicator before its ack, and
    loading them as objects took most of its time (bench/measurement.py, 3,000 values)."""
    return session.execute(_HISTORY, {"indicator_id": indicator.id}).all()


_HISTORY = (
    select(
        _VALUES.c.period,
        _VALUES.c.organization_id,
        _VALUES.c.breakdown_key,
        _VALUES.c.value,
        _VALUES.c.numerator,
        _VALUES.c.denominator,
        _VALUES.c.note,
        _VALUES.c.reporter,
        _VALUES.c.recorded_at,
        _VALUES.c.entered_via,
        _VALUES.c.revision,
    )
    .where(_VALUES.c.indicator_id == bindparam("indicator_id"), _VALUES.c.withdrawn == false())
    .order_by(_VALUES.c.period_start, _VALUES.c.breakdown_key, _VALUES.c.organization_id)
)


# -- reporting status --------------------------------------------------------------------


@dataclass(frozen=True)
class DueReport:
    indicator: IndicatorView
    organization: OrgRef
    period: Period  # the period partners report now: the last completed
    reported: bool
    missed_in_a_row: int  # consecutive earlier periods without a value, not counting this one
    due: date | None = None  # the last day its report is on time
    late: bool = False  # not reported and past its due date: only then is it missing
    asked_from: Period | None = None  # the first period the organization was asked for, when known

    @property
    def missing(self) -> bool:
        return not self.reported and self.late


# For each reporter of the indicators in `ids`: its latest period before `current` with a value (of
# any breakdown), and whether it has one for `current`. Each is one probe on (indicator,
# organization, period), however long the history; periods order as their text does within a frequency.
_REPORTERS: Table = IndicatorReporter.__table__  # type: ignore[assignment]


def _reporter_value(*where: Any) -> Any:
    v = _VALUES.c
    return select(v.period).where(
        v.indicator_id == _REPORTERS.c.indicator_id,
        v.organization_id == _REPORTERS.c.organization_id,
        v.withdrawn == false(),
        *where,
    )


_REPORTED: Select[int, int, datetime | None, str | None, bool] = select(
    _REPORTERS.c.indicator_id,
    _REPORTERS.c.organization_id,
    _REPORTERS.c.since,
    _reporter_value(_VALUES.c.period < bindparam("current"))
    .order_by(_VALUES.c.period.desc())
    .limit(1)
    .scalar_subquery(),
    _reporter_value(_VALUES.c.period == bindparam("current")).exists(),
).where(_REPORTERS.c.indicator_id.in_(_IDS))


def reporting_status(
    session: Session, initiative: Initiative, now: datetime, views: Sequence[IndicatorView] | None = None
) -> list[DueReport]:
    """For each reporting organization and indicator: reported for the period due or not.

    The period due is the last completed one (`IndicatorView.window`); a report for it counts
    as "in", and one still missing is `late` only once its due date has passed. The streak
    counts earlier periods with no value at all, back to the baseline or to the period in
    which the organization was first asked, whichever is later.
    """
    views = list(views) if views is not None else indicator_views(session, initiative.id)
    today = local_today(initiative.timezone, now)
    windows = {view.id: view.window(initiative.timezone, now) for view in views}
    # Indicators due for the same period are read together: one statement per period due.
    due: dict[str, list[int]] = defaultdict(list)
    for view in views:
        due[str(windows[view.id].period)].append(view.id)
    before: dict[tuple[int, int], str | None] = {}
    reported: set[tuple[int, int]] = set()
    asked_since: dict[tuple[int, int], datetime] = {}
    for due_period, ids in due.items():
        for indicator_id, org_id, since, latest, has_current in session.execute(
            _REPORTED, {"ids": ids, "current": due_period}
        ):
            before[(indicator_id, org_id)] = latest
            if has_current:
                reported.add((indicator_id, org_id))
            if since is not None:
                asked_since[(indicator_id, org_id)] = since
    first_asked: dict[tuple[Frequency, datetime], Period] = {}
    out = []
    for view in views:
        window = windows[view.id]
        current, late = window.period, window.is_late(today)
        for org in view.reporters:
            # The streak runs back to the latest earlier period reported: the one `before` names.
            latest = before.get((view.id, org.id))
            streak = 0
            cursor = current.previous()
            floor = view.baseline.period if view.baseline else current.shift(-24)
            since = asked_since.get((view.id, org.id))
            first = None
            if since is not None:
                # The first period asked for is the one due when the organization was asked (most
                # reporters were asked at the same moment, so each moment is worked out once).
                first = first_asked.get((view.frequency, since))
                if first is None:
                    first = Period.last_completed(view.frequency, initiative.timezone, since)
                    first_asked[(view.frequency, since)] = first
                floor = max(floor, first.previous())
            while cursor > floor and str(cursor) != latest and streak < 120:
                streak += 1
                cursor = cursor.previous()
            out.append(DueReport(view, org, current, (view.id, org.id) in reported, streak, window.due, late, first))
    return out
