"""Bulk data: backfilling indicator values from a CSV file, and exporting them as CSV.

Import checks every row with the same rules as `/ci update` — each row goes
through `measurement.record_value`, as the backbone would report it — and is
all-or-nothing: the caller commits only when no row was rejected, and every
rejected row is reported with its line number and the reason.

Import columns (a header row is required, names in any order and case):

    indicator, period, value, organization, breakdown, note, reporter

`period` and `value` are required for each row; `organization` may be left
empty when one organization reports the indicator; `breakdown` is empty for the
whole population or `dimension=value` pairs separated by `;` (`zip=75216;age=5-9`);
`reporter` defaults to "import". Indicator keys must be written in full (any case):
a prefix that happens to match one key today is a typo in a file.

Export layouts:

- `long`: one row per current value with every field. Its first seven columns
  are the import columns, so an export can be imported again; the others are
  ignored on import.
- `clear-impact`: what Clear Impact Scorecard imports — `id, actual_value_date,
  target_value, actual_value, comment` — one row per indicator and period at
  population level (partners' values combined as `/ci indicators` does), the
  date being the period's last day and the target the value on the straight
  line from baseline to target for that period.

Spreadsheet safety: text cells that start with `=`, `+`, `-`, `@`, a tab or a
carriage return are written with a leading `'`, so a spreadsheet never runs
them as a formula (OWASP "CSV injection"); import removes that one `'` again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ci_slackbot.domain.errors import InputError
from ci_slackbot.domain.measurement import Point, expected_value, parse_value
from ci_slackbot.domain.periods import Period, PeriodError, parse_period_for
from ci_slackbot.services.measurement import (
    IndicatorView,
    breakdown_key,
    indicator_views,
    record_value,
    standings,
)
from ci_slackbot.services.people import NotAllowedError, OrgRef, Person
from ci_slackbot.store.models import IndicatorValue, Initiative, Organization

__all__ = [
    "CLEAR_IMPACT_COLUMNS",
    "EXPORT_LAYOUTS",
    "IMPORT_COLUMNS",
    "LONG_COLUMNS",
    "BulkFileError",
    "ImportReport",
    "RejectedRow",
    "export_values",
    "import_values",
    "read_import_file",
]

IMPORT_COLUMNS = ("indicator", "period", "value", "organization", "breakdown", "note", "reporter")
REQUIRED_COLUMNS = ("indicator", "period", "value")
LONG_COLUMNS = (
    *IMPORT_COLUMNS,
    "indicator_name",
    "unit",
    "period_start",
    "period_end",
    "organization_name",
    "entered_via",
    "recorded_at",
    "revision",
    "numerator",
    "denominator",
)
# Clear Impact's own five columns, then the counts a rate was weighted by (empty for other figures).
CLEAR_IMPACT_COLUMNS = (
    "id",
    "actual_value_date",
    "target_value",
    "actual_value",
    "comment",
    "numerator",
    "denominator",
)
EXPORT_LAYOUTS = ("long", "clear-impact")
DEFAULT_REPORTER = "import"
MAX_REPORTER = 32  # the reporter column of the store
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BulkFileError(InputError):
    """A file that cannot be read as an import file at all (no header, unknown columns, not UTF-8)."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    corrected: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def recorded(self) -> int:
        return self.new + self.corrected


# -- reading the file -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    line: int  # where the row starts in the file, counting the header as line 1
    cells: dict[str, str]
    problem: str | None = None  # a row that cannot be read at all


def read_import_file(stream: TextIO) -> list[ImportRow]:
    """The rows of an import file; raises BulkFileError for problems with the file as a whole."""
    try:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            raise BulkFileError(
                f"The file is empty: the first line must name the columns: {', '.join(IMPORT_COLUMNS)}."
            )
        names = [name.strip().lower().lstrip("\ufeff") for name in header]
        unknown = [n for n in names if n not in LONG_COLUMNS]
        if unknown:
            raise BulkFileError(
                f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)} in the header. "
                f"Import columns are: {', '.join(IMPORT_COLUMNS)}."
            )
        missing = [n for n in REQUIRED_COLUMNS if n not in names]
        if missing:
            raise BulkFileError(
                f"The header has no {', '.join(repr(n) for n in missing)} column. "
                f"Import columns are: {', '.join(IMPORT_COLUMNS)} "
                "(organization, breakdown, note and reporter may be left out)."
            )
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise BulkFileError(f"The header names {', '.join(repr(n) for n in repeated)} more than once.")
        rows: list[ImportRow] = []
        start = reader.line_num + 1
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank lines are common at the end of exported files
            if len(record) > len(names):
                problem = f"the row has {len(record)} cells but the header names {len(names)} columns."
                rows.append(ImportRow(line, {}, problem))
                continue
            cells = {name: (record[i] if i < len(record) else "") for i, name in enumerate(names)}
            rows.append(ImportRow(line, cells))
        return rows
    except UnicodeDecodeError:
        raise BulkFileError("The file is not UTF-8 text: save it as “CSV UTF-8” and try again.") from None
    except csv.Error as exc:
        raise BulkFileError(f"The file is not valid CSV (line {reader.line_num}: {exc}).") from None


def _unquote_formula(text: str) -> str:
    """Undo the `'` an export puts before text that a spreadsheet would take for a formula."""
    if text.startswith("'") and text[1:2] and text[1] in _FORMULA_START:
        return text[1:]
    return text


def _safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def parse_breakdown(text: str) -> dict[str, str]:
    """`zip=75216;age=5-9` → `{"zip": "75216", "age": "5-9"}`; empty text is the whole population."""
    breakdown: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        dimension, sep, value = part.partition("=")
        dimension, value = dimension.strip().lower(), value.strip()
        if not sep or not dimension or not value:
            raise InputError(f"breakdown `{part}` is not `dimension=value`: write it like `zip=75216;age=5-9`.")
        if dimension in breakdown:
            raise InputError(
                f"breakdown names `{dimension}` twice: give each dimension once, like `zip=75216;age=5-9`."
            )
        breakdown[dimension] = value
    return breakdown


def format_breakdown(breakdown: dict[str, str]) -> str:
    return ";".join(f"{k}={breakdown[k]}" for k in sorted(breakdown))


# -- import ------------------------------------------------------------------------------------


def _indicator_for(by_key: dict[str, IndicatorView], text: str) -> IndicatorView:
    key = text.strip().lower()
    if not key:
        raise InputError("indicator is empty: write an indicator key, like `er-visits`.")
    found = by_key.get(key)
    if found is None:
        near = [k for k in by_key if k.startswith(key)]
        hint = f" Did you mean `{near[0]}`?" if len(near) == 1 else ""
        keys = ", ".join(sorted(by_key))
        raise InputError(f"there is no indicator `{text.strip()}`.{hint} Indicators: {keys}.")
    return found


def _organization_for(indicator: IndicatorView, text: str) -> OrgRef:
    keys = ", ".join(r.key for r in indicator.reporters)
    if not indicator.reporters:
        raise InputError(
            f"no organization reports {indicator.key}; the backbone team adds reporters in the initiative file."
        )
    wanted = text.strip().lower()
    if not wanted:
        if len(indicator.reporters) == 1:
            return indicator.reporters[0]
        raise InputError(f"organization is empty, and {indicator.key} is reported by several: write one of {keys}.")
    for org in indicator.reporters:
        if org.key == wanted:
            return org
    raise InputError(f"organization `{text.strip()}` does not report {indicator.key}; it is reported by {keys}.")


def import_values(
    session: Session,
    initiative: Initiative,
    rows: Sequence[ImportRow],
    *,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    seen: dict[tuple[int, str, str, int], int] | None = None,
) -> ImportReport:
    """Record every row in the caller's transaction; commit only if the report is `ok`.

    Every row is checked even after one is rejected, so that one run reports
    every problem in the file. `seen` carries the rows already read across
    calls, when a file is checked in parts, so that repeated rows are found.
    """
    report = ImportReport(rows=len(rows))
    by_key = {view.key.lower(): view for view in indicator_views(session, initiative.id)}
    seen = {} if seen is None else seen
    importers: dict[str, Person] = {}
    for done, row in enumerate(rows, start=1):
        try:
            if row.problem:
                raise InputError(row.problem)
            cells = {name: _unquote_formula(value.strip()) for name, value in row.cells.items()}
            indicator = _indicator_for(by_key, cells.get("indicator", ""))
            period_text = cells.get("period", "")
            if not period_text:
                example = Period.current(indicator.frequency, initiative.timezone, now)
                raise InputError(f"period is empty: write the {indicator.frequency.noun} it is for, like `{example}`.")
            try:
                period = parse_period_for(indicator.frequency, period_text, indicator.key)
            except PeriodError as exc:
                raise InputError(f"period: {exc}") from None
            value = parse_value(cells.get("value", ""), indicator.unit)
            organization = _organization_for(indicator, cells.get("organization", ""))
            breakdown = parse_breakdown(cells.get("breakdown", ""))
            reporter = cells.get("reporter") or DEFAULT_REPORTER
            if len(reporter) > MAX_REPORTER:
                raise InputError(
                    f"reporter can be up to {MAX_REPORTER} characters: use a Slack user ID or a short name."
                )
            identity = (indicator.id, str(period), breakdown_key(breakdown), organization.id)
            if identity in seen:
                raise InputError(
                    f"repeats line {seen[identity]}: the same indicator, period, organization and breakdown. "
                    "Keep one of the two rows."
                )
            seen[identity] = row.line
            importer = importers.get(reporter)
            if importer is None:
                # The file is loaded by the backbone team, who may report for any organization.
                importer = importers[reporter] = Person(
                    user_id=reporter, organizations=(), is_backbone=True, backbone_contacts=()
                )
            recorded = record_value(
                session,
                initiative,
                importer,
                indicator=indicator,
                value=value,
                period=period,
                breakdown=breakdown,
                note=cells.get("note", ""),
                organization_key=organization.key,
                entered_via="import",
                now=now,
            )
        except (InputError, NotAllowedError) as exc:
            report.rejected.append(RejectedRow(row.line, str(exc)))
        else:
            if recorded.replaced is None:
                report.new += 1
            else:
                report.corrected += 1
        if progress is not None:
            progress(done, len(rows))
    return report


# -- export ------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """A value as plain CSV text: `17`, `17.2`, never `17.0` or an exponent."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(round(value, 6), "f").rstrip("0").rstrip(".")


def _long_rows(session: Session, initiative: Initiative) -> Iterator[list[str]]:
    views = {view.id: view for view in indicator_views(session, initiative.id, include_retired=True)}
    orgs = {
        org_id: (key, name)
        for org_id, key, name in session.execute(
            select(Organization.id, Organization.key, Organization.name).where(
                Organization.initiative_id == initiative.id
            )
        )
    }
    rows = session.scalars(
        select(IndicatorValue)
        .where(IndicatorValue.initiative_id == initiative.id, IndicatorValue.withdrawn == false())
        .order_by(
            IndicatorValue.indicator_id,
            IndicatorValue.period_start,
            IndicatorValue.organization_id,
            IndicatorValue.breakdown_key,
        )
        .execution_options(yield_per=2000)
    )
    for row in rows:
        view = views.get(row.indicator_id)
        if view is None:
            continue
        period = Period.parse(row.period)
        org_key, org_name = orgs.get(row.organization_id, ("", ""))
        yield [
            view.key,
            str(period),
            _number(row.value),
            org_key,
            _safe_cell(format_breakdown({str(k): str(v) for k, v in (row.breakdown or {}).items()})),
            _safe_cell(row.note),
            _safe_cell(row.reporter),
            _safe_cell(view.name),
            _safe_cell(view.unit),
            period.start.isoformat(),
            period.end.isoformat(),
            _safe_cell(org_name),
            row.entered_via,
            row.recorded_at.isoformat(),
            str(row.revision),
            "" if row.numerator is None else _number(row.numerator),
            "" if row.denominator is None else _number(row.denominator),
        ]


def _clear_impact_rows(session: Session, initiative: Initiative) -> Iterator[list[str]]:
    views = indicator_views(session, initiative.id, include_retired=True)
    notes: dict[tuple[int, str], list[str]] = {}
    for indicator_id, period, note, org_name in session.execute(
        select(IndicatorValue.indicator_id, IndicatorValue.period, IndicatorValue.note, Organization.name)
        .join(Organization, IndicatorValue.organization_id == Organization.id)
        .where(
            IndicatorValue.initiative_id == initiative.id,
            IndicatorValue.breakdown_key == "",
            IndicatorValue.note != "",
            IndicatorValue.withdrawn == false(),
        )
        .order_by(Organization.position)
    ):
        notes.setdefault((indicator_id, period), []).append(f"{org_name}: {' '.join(note.split())}")
    for standing in standings(session, initiative.id, views):
        view = standing.indicator
        for point in standing.series:
            target = _target_for(view, point)
            comment = " | ".join(notes.get((view.id, str(point.period)), []))
            figure = standing.figures.get(str(point.period))
            numerator = figure.numerator if figure is not None else None
            denominator = figure.denominator if figure is not None else None
            yield [
                view.key,
                point.period.end.isoformat(),
                "" if target is None else _number(target),
                _number(point.value),
                _safe_cell(comment),
                "" if numerator is None else _number(numerator),
                "" if denominator is None else _number(denominator),
            ]


def _target_for(view: IndicatorView, point: Point) -> float | None:
    if view.baseline is None or view.target is None:
        return None
    try:
        return expected_value(view.baseline, view.target, point.period)
    except ValueError:
        return None  # a target that does not come after its baseline gives no line


def export_values(session: Session, initiative: Initiative, out: TextIO, layout: str = "long") -> int:
    """Write the initiative's values as CSV in `layout`; returns the number of data rows."""
    if layout == "long":
        header: Sequence[str] = LONG_COLUMNS
        rows: Iterable[list[str]] = _long_rows(session, initiative)
    elif layout == "clear-impact":
        header, rows = CLEAR_IMPACT_COLUMNS, _clear_impact_rows(session, initiative)
    else:
        raise InputError(f"Unknown layout `{layout}`: use {' or '.join(EXPORT_LAYOUTS)}.")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV text (used by tests and the demo to build import files)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()
