"""What the Sheets mirror shows, read from the store as the layout's plain records.

Deliveries read the current state of each value here (not the outbox
payload), so a batch holding several revisions of one value writes the latest
once, and a retry after a crash writes what is true now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from ci_slackbot.services.measurement import IndicatorView, indicator_views, standings
from ci_slackbot.services.sheet_layout import IndicatorRecord, IndicatorTable, TableValue, ValueRecord
from ci_slackbot.store.models import Indicator, IndicatorValue, Initiative, Organization


@dataclass(frozen=True)
class SheetTarget:
    initiative_id: int
    spreadsheet_id: str
    timezone: str


def sheet_target(session: Session, initiative_id: int) -> SheetTarget | None:
    """Where an initiative mirrors its values; None when its file names no spreadsheet."""
    initiative = session.get(Initiative, initiative_id)
    if initiative is None or not initiative.sheets_spreadsheet_id:
        return None
    return SheetTarget(initiative.id, initiative.sheets_spreadsheet_id, initiative.timezone)


def sheet_targets(session: Session) -> list[SheetTarget]:
    ids = session.scalars(
        select(Initiative.id).where(Initiative.sheets_spreadsheet_id.is_not(None)).order_by(Initiative.id)
    )
    return [t for t in (sheet_target(session, i) for i in ids) if t is not None]


def _indicator_record(view: IndicatorView) -> IndicatorRecord:
    return IndicatorRecord(
        key=view.key,
        name=view.name,
        goal=" ".join(p for p in (view.goal_key, view.goal_title) if p),
        unit=view.unit,
        direction=view.direction.value,
        frequency=view.frequency.value,
        baseline_period=str(view.baseline.period) if view.baseline else None,
        baseline_value=view.baseline.value if view.baseline else None,
        target_period=str(view.target.period) if view.target else None,
        target_value=view.target.value if view.target else None,
        reporters=tuple(r.name for r in view.reporters),
        breakdowns=view.breakdowns,
        source=view.source,
    )


def indicator_records(session: Session, initiative_id: int) -> list[IndicatorRecord]:
    return [_indicator_record(v) for v in indicator_views(session, initiative_id)]


def _value_records(
    session: Session, initiative_id: int, *criteria: ColumnElement[bool], limit: int | None = None
) -> list[ValueRecord]:
    query = (
        select(IndicatorValue, Indicator, Organization)
        .join(Indicator, IndicatorValue.indicator_id == Indicator.id)
        .join(Organization, IndicatorValue.organization_id == Organization.id)
        .where(IndicatorValue.initiative_id == initiative_id, *criteria)
        .order_by(IndicatorValue.id)
        .limit(limit)
    )
    return [_value_record(value, indicator, org) for value, indicator, org in session.execute(query)]


def _value_record(value: IndicatorValue, indicator: Indicator, organization: Organization) -> ValueRecord:
    return ValueRecord(
        value_id=value.id,
        indicator_key=indicator.key,
        indicator_name=indicator.name,
        period=value.period,
        breakdown=value.breakdown_key,
        organization=organization.name,
        value=value.value,
        unit=indicator.unit,
        note=value.note,
        reporter=value.reporter,
        recorded_at=value.recorded_at,
        revision=value.revision,
        entered_via=value.entered_via,
        withdrawn=value.withdrawn,
        numerator=value.numerator,
        denominator=value.denominator,
    )


def value_records(session: Session, initiative_id: int, value_ids: Iterable[int]) -> list[ValueRecord]:
    """The current state of these values, by id; ids that no longer exist are left out."""
    ids = sorted(set(value_ids))
    records: list[ValueRecord] = []
    for start in range(0, len(ids), 500):
        records.extend(_value_records(session, initiative_id, IndicatorValue.id.in_(ids[start : start + 500])))
    return records


def value_records_after(session: Session, initiative_id: int, after_id: int, limit: int) -> list[ValueRecord]:
    """A page of values in id order, for a rebuild that never holds them all at once."""
    return _value_records(session, initiative_id, IndicatorValue.id > after_id, limit=limit)


def count_values(session: Session, initiative_id: int) -> int:
    query = select(func.count()).select_from(IndicatorValue).where(IndicatorValue.initiative_id == initiative_id)
    return int(session.scalar(query) or 0)


def indicator_tables(
    session: Session, initiative_id: int, indicator_keys: Iterable[str] | None = None
) -> list[IndicatorTable]:
    """Each indicator's tab contents: every current value and the combined series; all indicators by default."""
    views: Sequence[IndicatorView] = indicator_views(session, initiative_id)
    if indicator_keys is not None:
        wanted = set(indicator_keys)
        views = [v for v in views if v.key in wanted]
    if not views:
        return []
    rows = session.execute(
        select(
            IndicatorValue.indicator_id,
            IndicatorValue.period,
            IndicatorValue.period_start,
            Organization.name,
            Organization.position,
            IndicatorValue.breakdown_key,
            IndicatorValue.value,
        )
        .join(Organization, IndicatorValue.organization_id == Organization.id)
        .where(IndicatorValue.indicator_id.in_([v.id for v in views]), IndicatorValue.withdrawn == false())
    )
    by_indicator: dict[int, list[TableValue]] = {v.id: [] for v in views}
    for indicator_id, period, start, org_name, org_position, breakdown, value in rows:
        by_indicator[indicator_id].append(TableValue(period, start, org_name, org_position, breakdown, value))
    combined = {
        s.indicator.id: {str(p.period): p.value for p in s.series} for s in standings(session, initiative_id, views)
    }
    return [IndicatorTable(_indicator_record(v), tuple(by_indicator[v.id]), combined.get(v.id, {})) for v in views]
