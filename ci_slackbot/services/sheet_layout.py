"""Where the Sheets mirror puts things: tabs, columns, rows, cells and A1 ranges.

Pure functions over plain records, so the layout is tested without HTTP or a
database; `integrations/sheets.py` reads the spreadsheet, asks this module what
to write, and sends it.

The spreadsheet holds:

* `Values` — one row per recorded value (long format, for pivot tables), found
  by its value id in column A, so a correction rewrites its row in place and a
  sort by hand does not confuse the mirror;
* `Indicators` — the definitions, rewritten with every batch;
* one tab per indicator (titled with its key) — periods down, organizations and
  breakdowns across, latest values, with baseline and target rows, for charts.

Everything is written as typed cells (`userEnteredValue.stringValue` /
`numberValue`) through `spreadsheets.batchUpdate`: like RAW input, a string is
never parsed as a formula, and a number stays a number. Text that a
spreadsheet would take for a formula once exported or retyped (leading `=`,
`+`, `-`, `@`, tab or CR) is also neutralised with a leading apostrophe.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

VALUES_TAB = "Values"
INDICATORS_TAB = "Indicators"

VALUES_COLUMNS = (
    "Value ID",
    "Indicator",
    "Indicator name",
    "Period",
    "Breakdown",
    "Organization",
    "Value",
    "Unit",
    "Note",
    "Reporter",
    "Recorded at",
    "Revision",
    "Entered via",
    # Appended, not inserted, so that sheets made before them keep their columns where they were
    # (rows are found by column A).
    "Numerator",
    "Denominator",
    # `Reporter` shows the person's name; their Slack ID stays here.
    "Reporter ID",
)
INDICATORS_COLUMNS = (
    "Indicator",
    "Name",
    "Goal",
    "Unit",
    "Direction",
    "Frequency",
    "Baseline period",
    "Baseline value",
    "Target period",
    "Target value",
    "Reporters",
    "Breakdowns",
    "Source",
)
ALL_ORGANIZATIONS = "All organizations"
WITHDRAWN_NOTE = "Withdrawn: counts nowhere (Reporter and Recorded at say who took it back, and when)"

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DATE_TIME_FORMAT = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}
# The day Sheets counts serial dates from.
SHEETS_EPOCH = datetime(1899, 12, 30)
# Values rows and table cells set the value and the number format (dates), nothing else of the user's styling.
DATA_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"
HEADER_FIELDS = "userEnteredValue,userEnteredFormat.textFormat.bold"
# New tabs start at Google's default size; tables grow them when they need more.
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
# Keep each request body well under the ~2 MB Google recommends.
MAX_REQUEST_BYTES = 1_500_000
APPEND_CHUNK = 100

# A cell as the layout builds it: text, a number, a local date-time (shown as one), or empty.
Cell = str | int | float | datetime | None
Row = list[Cell]


# -- records: what the database knows, in plain values ---------------------------------


@dataclass(frozen=True)
class ValueRecord:
    """One recorded value, as its row in `Values` shows it."""

    value_id: int
    indicator_key: str
    indicator_name: str
    period: str
    breakdown: str
    organization: str
    value: float
    unit: str
    note: str
    reporter: str  # the Slack user ID
    recorded_at: datetime  # aware
    revision: int
    entered_via: str
    withdrawn: bool = False
    numerator: float | None = None  # a rate reported as `412 of 700`
    denominator: float | None = None
    # The reporter's name, looked up in Slack by the Sheets deliverer; the ID shows when Slack won't say.
    reporter_name: str | None = None


@dataclass(frozen=True)
class IndicatorRecord:
    key: str
    name: str
    goal: str
    unit: str
    direction: str
    frequency: str
    baseline_period: str | None
    baseline_value: float | None
    target_period: str | None
    target_value: float | None
    reporters: tuple[str, ...]
    breakdowns: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class TableValue:
    """One current value as an indicator's own tab places it."""

    period: str
    period_start: date
    organization: str
    organization_position: int
    breakdown: str
    value: float


@dataclass(frozen=True)
class IndicatorTable:
    indicator: IndicatorRecord
    values: tuple[TableValue, ...]
    # The population-level value per period, combined the way the app combines partners' values.
    combined: Mapping[str, float] = field(default_factory=dict)


# -- cells ------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Text that starts like a formula gets a leading apostrophe, so no spreadsheet runs it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def sheets_serial(moment: datetime) -> float:
    """A naive local date-time as Sheets' serial number (days since 1899-12-30), to the second."""
    return round((moment - SHEETS_EPOCH).total_seconds()) / 86400


def local_time(moment: datetime, timezone: str) -> datetime:
    """An aware moment as naive wall-clock time in the initiative's zone (Sheets has no zones)."""
    return moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def cell_data(cell: Cell, *, bold: bool = False) -> dict[str, Any]:
    """One cell as CellData: typed, never a formula; empty clears the cell's value."""
    data: dict[str, Any] = {}
    if isinstance(cell, datetime):
        data["userEnteredValue"] = {"numberValue": sheets_serial(cell)}
        data["userEnteredFormat"] = {"numberFormat": dict(DATE_TIME_FORMAT)}
    elif isinstance(cell, bool):
        data["userEnteredValue"] = {"boolValue": cell}
    elif isinstance(cell, int | float):
        data["userEnteredValue"] = {"numberValue": cell}
    elif isinstance(cell, str) and cell:
        data["userEnteredValue"] = {"stringValue": neutralise(cell)}
    if bold:
        data.setdefault("userEnteredFormat", {})["textFormat"] = {"bold": True}
    return data


def row_data(row: Sequence[Cell], *, bold: bool = False) -> dict[str, Any]:
    return {"values": [cell_data(cell, bold=bold) for cell in row]}


def number(value: float) -> int | float:
    """Whole numbers as ints, so 12.0 reads 12."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


# -- rows and tables --------------------------------------------------------------------


def value_row(record: ValueRecord, timezone: str) -> Row:
    """A withdrawn value keeps its row (its id is the key) with no value, so no sum or chart counts it."""
    return [
        record.value_id,
        record.indicator_key,
        record.indicator_name,
        record.period,
        record.breakdown,
        record.organization,
        None if record.withdrawn else number(record.value),
        record.unit,
        WITHDRAWN_NOTE if record.withdrawn else record.note,
        record.reporter_name or record.reporter,
        local_time(record.recorded_at, timezone),
        record.revision,
        record.entered_via,
        None if record.withdrawn or record.numerator is None else number(record.numerator),
        None if record.withdrawn or record.denominator is None else number(record.denominator),
        record.reporter,
    ]


def indicator_row(indicator: IndicatorRecord) -> Row:
    return [
        indicator.key,
        indicator.name,
        indicator.goal,
        indicator.unit,
        indicator.direction,
        indicator.frequency,
        indicator.baseline_period,
        None if indicator.baseline_value is None else number(indicator.baseline_value),
        indicator.target_period,
        None if indicator.target_value is None else number(indicator.target_value),
        ", ".join(indicator.reporters),
        ", ".join(indicator.breakdowns),
        indicator.source,
    ]


def indicators_grid(indicators: Iterable[IndicatorRecord]) -> list[Row]:
    return [list(INDICATORS_COLUMNS), *(indicator_row(i) for i in indicators)]


def column_label(organization: str, breakdown: str) -> str:
    return f"{organization} · {breakdown}" if breakdown else organization


def indicator_grid(table: IndicatorTable) -> list[Row]:
    """Periods down, organizations (then their breakdowns) across; baseline and target rows on top.

    Column B is the whole population, combined the way the app combines it, so a
    chart of column B is the indicator's headline series.
    """
    indicator = table.indicator
    columns = sorted(
        {(v.organization_position, v.organization, v.breakdown) for v in table.values},
        key=lambda c: (c[0], c[1], c[2] != "", c[2]),
    )
    index = {(org, breakdown): 2 + i for i, (_, org, breakdown) in enumerate(columns)}
    width = 2 + len(columns)
    starts: dict[str, date] = {v.period: v.period_start for v in table.values}
    periods = sorted(set(starts) | set(table.combined), key=lambda p: (starts.get(p, date.min), p))
    by_period: dict[str, Row] = {}
    for period in periods:
        row: Row = [period, *([None] * (len(columns) + 1))]
        if period in table.combined:
            row[1] = number(table.combined[period])
        by_period[period] = row
    for value in table.values:
        by_period[value.period][index[(value.organization, value.breakdown)]] = number(value.value)
    header: Row = ["Period", ALL_ORGANIZATIONS, *(column_label(org, b) for _, org, b in columns)]

    def marker(label: str, period: str | None, value: float | None) -> Row:
        row: Row = [f"{label} ({period})" if period else label, None if value is None else number(value)]
        return row + [None] * (width - 2)

    return [
        header,
        marker("Baseline", indicator.baseline_period, indicator.baseline_value),
        marker("Target", indicator.target_period, indicator.target_value),
        *(by_period[p] for p in periods),
    ]


# -- tabs and A1 ------------------------------------------------------------------------

RESERVED_TITLES = (VALUES_TAB.lower(), INDICATORS_TAB.lower())


def indicator_tab_title(key: str) -> str:
    """An indicator's tab is titled with its key, unless the key is one of our own tab names."""
    title = key.strip()[:90] or "indicator"
    return f"{title} (indicator)" if title.lower() in RESERVED_TITLES else title


def quote_title(title: str) -> str:
    """A sheet title for A1 notation, always quoted ("'It''s'!A1" is valid for any title)."""
    return "'" + title.replace("'", "''") + "'"


def column_a_range(title: str) -> str:
    return f"{quote_title(title)}!A:A"


def value_ids_by_row(column: Sequence[Any]) -> dict[int, list[int]]:
    """Column A of `Values` (0-based row → cell) as value id → the rows holding it, top first.

    Anything that is not a whole number (the header, a note someone typed) is no id.
    """
    found: dict[int, list[int]] = {}
    for row, cell in enumerate(column):
        value_id = _as_id(cell)
        if value_id is not None:
            found.setdefault(value_id, []).append(row)
    return found


def _as_id(cell: Any) -> int | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell if cell > 0 else None
    if isinstance(cell, float):
        return int(cell) if cell.is_integer() and cell > 0 else None
    if isinstance(cell, str) and cell.strip().isdigit():
        return int(cell.strip()) or None
    return None


# -- what the spreadsheet has -----------------------------------------------------------


@dataclass(frozen=True)
class SheetInfo:
    sheet_id: int
    title: str
    row_count: int = DEFAULT_ROWS
    column_count: int = DEFAULT_COLUMNS
    frozen_rows: int = 0


def sheet_infos(metadata: Mapping[str, Any]) -> list[SheetInfo]:
    """The tabs in a `spreadsheets.get` answer."""
    infos = []
    for sheet in metadata.get("sheets") or []:
        props = sheet.get("properties") or {}
        grid = props.get("gridProperties") or {}
        infos.append(
            SheetInfo(
                sheet_id=int(props.get("sheetId", 0)),
                title=str(props.get("title", "")),
                row_count=int(grid.get("rowCount", DEFAULT_ROWS)),
                column_count=int(grid.get("columnCount", DEFAULT_COLUMNS)),
                frozen_rows=int(grid.get("frozenRowCount", 0) or 0),
            )
        )
    return infos


# -- planning a batchUpdate -------------------------------------------------------------


@dataclass
class Plan:
    """The sub-requests of one `spreadsheets.batchUpdate`, built against the tabs that exist.

    Google applies a batchUpdate atomically and in order, so tabs are added
    (with ids we choose) before the sub-requests that write into them.
    """

    sheets: list[SheetInfo]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def tab(self, title: str) -> SheetInfo | None:
        wanted = title.lower()  # Sheets titles are unique regardless of case
        return next((s for s in self.sheets if s.title.lower() == wanted), None)

    def ensure_tab(self, title: str, rows: int = DEFAULT_ROWS, columns: int = DEFAULT_COLUMNS) -> SheetInfo:
        """The tab, added (header row frozen) when it is missing."""
        existing = self.tab(title)
        if existing is not None:
            if existing.frozen_rows < 1 and existing.row_count > 1:
                self.requests.append(
                    {
                        "updateSheetProperties": {
                            "properties": {"sheetId": existing.sheet_id, "gridProperties": {"frozenRowCount": 1}},
                            "fields": "gridProperties.frozenRowCount",
                        }
                    }
                )
                existing = self._store(replace(existing, frozen_rows=1))
            return existing
        info = SheetInfo(self._new_sheet_id(title), title, max(rows, 2), max(columns, 1), 1)
        self.requests.append(
            {
                "addSheet": {
                    "properties": {
                        "sheetId": info.sheet_id,
                        "title": title,
                        "gridProperties": {
                            "rowCount": info.row_count,
                            "columnCount": info.column_count,
                            "frozenRowCount": 1,
                        },
                    }
                }
            }
        )
        self.sheets.append(info)
        return info

    def fit(self, info: SheetInfo, rows: int, columns: int) -> SheetInfo:
        """Grow the tab's grid to hold `rows` x `columns` (never shrink: people may have charts on it)."""
        info = self._current(info)
        for dimension, have, need in (("ROWS", info.row_count, rows), ("COLUMNS", info.column_count, columns)):
            if need > have:
                self.requests.append(
                    {"appendDimension": {"sheetId": info.sheet_id, "dimension": dimension, "length": need - have}}
                )
        return self._store(
            replace(info, row_count=max(info.row_count, rows), column_count=max(info.column_count, columns))
        )

    def trim_columns(self, info: SheetInfo, columns: int) -> SheetInfo:
        """Delete the columns past `columns` (for a tab rewritten whole: nothing of ours is there)."""
        info = self._current(info)
        if info.column_count <= columns:
            return info
        self.requests.append(
            {
                "deleteDimension": {
                    "range": {
                        "sheetId": info.sheet_id,
                        "dimension": "COLUMNS",
                        "startIndex": columns,
                        "endIndex": info.column_count,
                    }
                }
            }
        )
        return self._store(replace(info, column_count=columns))

    def write_header(self, info: SheetInfo, header: Sequence[str]) -> None:
        info = self.fit(info, 2, len(header))
        self.requests.append(
            {
                "updateCells": {
                    "rows": [row_data(header, bold=True)],
                    "start": {"sheetId": info.sheet_id, "rowIndex": 0, "columnIndex": 0},
                    "fields": HEADER_FIELDS,
                }
            }
        )

    def write_table(self, info: SheetInfo, grid: Sequence[Sequence[Cell]], *, clear_all: bool = False) -> None:
        """Rewrite a whole table from A1; cells of the area the new table does not fill are emptied.

        Normally a table only grows, so its own area is enough; `clear_all`
        empties the whole grid first (a rebuild of a damaged tab).
        """
        rows = len(grid)
        columns = max((len(r) for r in grid), default=1)
        info = self.fit(info, rows + 1, columns)
        end_row = info.row_count if clear_all else rows
        end_column = info.column_count if clear_all else columns
        if end_row > 1:
            self.requests.append(
                {
                    "updateCells": {
                        "rows": [row_data(list(r) + [None] * (columns - len(r))) for r in grid[1:]],
                        "range": {
                            "sheetId": info.sheet_id,
                            "startRowIndex": 1,
                            "endRowIndex": end_row,
                            "startColumnIndex": 0,
                            "endColumnIndex": end_column,
                        },
                        "fields": DATA_FIELDS,
                    }
                }
            )
        if grid:
            header = [str(c or "") for c in grid[0]]
            # A narrower header than before must empty the old labels past its end, too.
            self.write_header(info, header + [""] * (end_column - len(header)))

    def update_rows(self, info: SheetInfo, start_row: int, rows: Sequence[Row]) -> None:
        self.requests.append(
            {
                "updateCells": {
                    "rows": [row_data(r) for r in rows],
                    "start": {"sheetId": info.sheet_id, "rowIndex": start_row, "columnIndex": 0},
                    "fields": DATA_FIELDS,
                }
            }
        )

    def delete_rows(self, info: SheetInfo, rows: Iterable[int]) -> None:
        """Delete rows bottom-up, so each index still means the row it meant."""
        for row in sorted(set(rows), reverse=True):
            self.requests.append(
                {
                    "deleteDimension": {
                        "range": {"sheetId": info.sheet_id, "dimension": "ROWS", "startIndex": row, "endIndex": row + 1}
                    }
                }
            )

    def append_rows(self, info: SheetInfo, rows: Sequence[Row]) -> None:
        """Add rows after the last row with data (the grid grows as needed).

        In sub-requests of `APPEND_CHUNK` rows, so `split_requests` can spread a
        long list over several bodies.
        """
        for start in range(0, len(rows), APPEND_CHUNK):
            self.requests.append(
                {
                    "appendCells": {
                        "sheetId": info.sheet_id,
                        "rows": [row_data(r) for r in rows[start : start + APPEND_CHUNK]],
                        "fields": DATA_FIELDS,
                    }
                }
            )

    def _current(self, info: SheetInfo) -> SheetInfo:
        # Callers may hold an older copy of a tab this plan has since grown.
        return next(s for s in self.sheets if s.sheet_id == info.sheet_id)

    def _store(self, updated: SheetInfo) -> SheetInfo:
        self.sheets[self.sheets.index(self._current(updated))] = updated
        return updated

    def _new_sheet_id(self, title: str) -> int:
        # Stable per title (easy to follow in logs and tests), moved on if taken.
        taken = {s.sheet_id for s in self.sheets}
        candidate = zlib.crc32(title.encode("utf-8")) & 0x7FFFFFFF or 1
        while candidate in taken:
            candidate = candidate % 0x7FFFFFFF + 1
        return candidate


@dataclass(frozen=True)
class ValuesPlan:
    """How a batch of values reaches `Values`: rows rewritten in place, copies removed, new rows appended."""

    updates: list[tuple[int, Row]]
    duplicates: list[int]
    appends: list[Row]


def plan_values(column_a: Sequence[Any], rows_by_id: Mapping[int, Row]) -> ValuesPlan:
    """Match the batch's values to the rows that already hold them, by value id in column A.

    A value already in the sheet is rewritten where it is (wherever sorting put
    it); if it is there more than once (two processes raced, someone pasted a
    copy) the extra rows are removed; a value not there yet is appended.
    """
    where = value_ids_by_row(column_a)
    updates: list[tuple[int, Row]] = []
    duplicates: list[int] = []
    appends: list[Row] = []
    for value_id, row in rows_by_id.items():
        rows = where.get(value_id)
        if rows:
            updates.append((rows[0], row))
            duplicates.extend(rows[1:])
        else:
            appends.append(row)
    updates.sort(key=lambda u: u[0])
    return ValuesPlan(updates, sorted(duplicates), appends)


def plan_delivery(
    sheets: Sequence[SheetInfo],
    column_a: Sequence[Any],
    *,
    values: Sequence[ValueRecord],
    indicators: Sequence[IndicatorRecord],
    tables: Sequence[IndicatorTable],
    timezone: str,
) -> list[dict[str, Any]]:
    """Every sub-request for one batch of values: tabs, `Values` rows, `Indicators`, touched indicator tabs."""
    plan = Plan(list(sheets))
    # As wide as its columns: every row of the grid counts toward Google's 10 million cells a
    # spreadsheet, empty cells too, and the default 26 columns would reach it at 385,000 values.
    values_tab = plan.ensure_tab(VALUES_TAB, columns=len(VALUES_COLUMNS))
    plan.write_header(values_tab, VALUES_COLUMNS)
    values_plan = plan_values(column_a, {v.value_id: value_row(v, timezone) for v in values})
    for row, cells in values_plan.updates:
        plan.update_rows(values_tab, row, [cells])
    # Updates first (their row numbers were read before any deletion), then bottom-up deletions, then appends.
    plan.delete_rows(values_tab, values_plan.duplicates)
    plan.append_rows(values_tab, values_plan.appends)
    # A withdrawn value can take a period or a column out of its indicator's table: only then can it shrink.
    _plan_indicators(plan, indicators, tables, clear_all=any(v.withdrawn for v in values))
    return plan.requests


def plan_rebuild(
    sheets: Sequence[SheetInfo],
    *,
    indicators: Sequence[IndicatorRecord],
    tables: Sequence[IndicatorTable],
) -> tuple[list[dict[str, Any]], SheetInfo]:
    """The first request of a rebuild: every tab there, emptied, headed, and its tables written.

    `Values` rows follow with `append_values` in as many requests as they need.
    """
    plan = Plan(list(sheets))
    values_tab = plan.ensure_tab(VALUES_TAB, columns=len(VALUES_COLUMNS))
    # Rewritten whole, so a grid made wider than its columns (by hand, or by an older version) is trimmed.
    values_tab = plan.trim_columns(values_tab, len(VALUES_COLUMNS))
    plan.write_table(values_tab, [list(VALUES_COLUMNS)], clear_all=True)
    _plan_indicators(plan, indicators, tables, clear_all=True)
    return plan.requests, plan.tab(VALUES_TAB) or values_tab


def append_values(values_tab: SheetInfo, values: Sequence[ValueRecord], timezone: str) -> list[dict[str, Any]]:
    plan = Plan([values_tab])
    plan.append_rows(values_tab, [value_row(v, timezone) for v in values])
    return plan.requests


def _plan_indicators(
    plan: Plan, indicators: Sequence[IndicatorRecord], tables: Sequence[IndicatorTable], *, clear_all: bool
) -> None:
    grid = indicators_grid(indicators)
    tab = plan.ensure_tab(INDICATORS_TAB, rows=max(50, len(grid) + 1), columns=len(INDICATORS_COLUMNS))
    # The definitions can shrink (an indicator retired), so the whole tab is rewritten.
    plan.write_table(tab, grid, clear_all=True)
    for table in tables:
        grid = indicator_grid(table)
        tab = plan.ensure_tab(indicator_tab_title(table.indicator.key), rows=max(100, len(grid) + 1))
        plan.write_table(tab, grid, clear_all=clear_all)


def split_requests(
    requests: Sequence[dict[str, Any]], max_bytes: int = MAX_REQUEST_BYTES
) -> list[list[dict[str, Any]]]:
    """Pack sub-requests, in order, into as few request bodies as fit under `max_bytes` each."""
    bodies: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for request in requests:
        cost = len(json.dumps(request, separators=(",", ":"))) + 1
        if current and size + cost > max_bytes:
            bodies.append(current)
            current, size = [], 0
        current.append(request)
        size += cost
    if current:
        bodies.append(current)
    return bodies
