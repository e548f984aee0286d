"""The Sheets layout, without HTTP: cells, rows, tabs, and the batchUpdate a batch of values becomes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ci_slackbot.services.sheet_layout import (
    ALL_ORGANIZATIONS,
    APPEND_CHUNK,
    INDICATORS_COLUMNS,
    INDICATORS_TAB,
    VALUES_COLUMNS,
    VALUES_TAB,
    IndicatorRecord,
    IndicatorTable,
    SheetInfo,
    TableValue,
    ValueRecord,
    cell_data,
    column_a_range,
    indicator_grid,
    indicator_tab_title,
    local_time,
    neutralise,
    plan_delivery,
    plan_rebuild,
    plan_values,
    quote_title,
    sheet_infos,
    sheets_serial,
    split_requests,
    value_ids_by_row,
    value_row,
)

TZ = "America/Chicago"
ER = IndicatorRecord(
    key="er-visits",
    name="Asthma emergency visits per 1,000 children",
    goal="G1 Fewer asthma emergencies",
    unit="per 1,000 children",
    direction="decrease",
    frequency="monthly",
    baseline_period="2025-12",
    baseline_value=18.4,
    target_period="2027-12",
    target_value=12.0,
    reporters=("Children's Health",),
    breakdowns=("zip",),
    source="Emergency department records",
)


def value(
    value_id: int, *, value: float = 17.2, note: str = "", revision: int = 1, period: str = "2026-10"
) -> ValueRecord:
    return ValueRecord(
        value_id=value_id,
        indicator_key="er-visits",
        indicator_name=ER.name,
        period=period,
        breakdown="",
        organization="Children's Health",
        value=value,
        unit=ER.unit,
        note=note,
        reporter="U0CHLD0001",
        recorded_at=datetime(2026, 11, 2, 15, 30, tzinfo=UTC),
        revision=revision,
        entered_via="text",
    )


def subrequests(requests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r[kind] for r in requests if kind in r]


# -- cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 555 0100", "'+1 555 0100"),
        ("-5 kids", "'-5 kids"),
        ("@here look", "'@here look"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("fewer visits = good", "fewer visits = good"),
        ("'quoted already", "'quoted already"),
        ("", ""),
    ],
)
def test_text_that_starts_like_a_formula_is_neutralised(text: str, written: str) -> None:
    assert neutralise(text) == written


def test_numbers_stay_numbers_and_text_stays_text() -> None:
    assert cell_data(-5) == {"userEnteredValue": {"numberValue": -5}}
    assert cell_data(17.2) == {"userEnteredValue": {"numberValue": 17.2}}
    assert cell_data("-5 kids") == {"userEnteredValue": {"stringValue": "'-5 kids"}}
    assert cell_data('=HYPERLINK("http://x")') == {"userEnteredValue": {"stringValue": '\'=HYPERLINK("http://x")'}}
    assert cell_data("2026-10") == {"userEnteredValue": {"stringValue": "2026-10"}}
    # Empty cells carry no value, so a rewrite empties them.
    assert cell_data(None) == {} and cell_data("") == {}
    assert cell_data("Value ID", bold=True) == {
        "userEnteredValue": {"stringValue": "Value ID"},
        "userEnteredFormat": {"textFormat": {"bold": True}},
    }


def test_date_times_are_serial_numbers_shown_as_dates() -> None:
    assert sheets_serial(datetime(1899, 12, 31)) == 1.0
    assert sheets_serial(datetime(2026, 1, 1, 12, 0)) == 46023.5
    data = cell_data(datetime(2026, 1, 1, 12, 0))
    assert data["userEnteredValue"] == {"numberValue": 46023.5}
    assert data["userEnteredFormat"]["numberFormat"]["type"] == "DATE_TIME"
    # Sheets has no time zones: the initiative's wall-clock time is what people expect to see.
    assert local_time(datetime(2026, 11, 2, 15, 30, tzinfo=UTC), TZ) == datetime(2026, 11, 2, 9, 30)


def test_a_value_row_follows_the_header() -> None:
    row = value_row(value(7, value=18.0, note="=1+1", revision=2), TZ)
    assert len(row) == len(VALUES_COLUMNS)
    named = dict(zip(VALUES_COLUMNS, row, strict=True))
    assert named["Value ID"] == 7 and named["Indicator"] == "er-visits" and named["Period"] == "2026-10"
    assert named["Value"] == 18 and isinstance(named["Value"], int)
    assert named["Note"] == "=1+1"  # neutralised when it becomes a cell, not before
    assert named["Recorded at"] == datetime(2026, 11, 2, 9, 30)
    assert named["Revision"] == 2 and named["Entered via"] == "text"
    # Without a name from Slack, the ID stands in; it also has a column of its own.
    assert named["Reporter"] == named["Reporter ID"] == "U0CHLD0001"


def test_the_reporter_column_shows_the_persons_name_and_the_id_its_own_column() -> None:
    named = dict(zip(VALUES_COLUMNS, value_row(replace(value(7), reporter_name="Ana Ruiz"), TZ), strict=True))
    assert named["Reporter"] == "Ana Ruiz" and named["Reporter ID"] == "U0CHLD0001"
    # Added last: a sheet written before keeps every other column where it was.
    assert VALUES_COLUMNS[:13] == (
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
    )


def test_a_sheet_written_before_the_id_column_gets_it_and_keeps_its_rows() -> None:
    """Rows are found by value id in column A: the old sheet's row is rewritten in place, headed anew."""
    values_tab = SheetInfo(5, VALUES_TAB, column_count=13, frozen_rows=1)
    requests = plan_delivery(
        [values_tab],
        ["Value ID", 7],
        values=[replace(value(7), reporter_name="Ana Ruiz")],
        indicators=[ER],
        tables=[],
        timezone=TZ,
    )
    added = len(VALUES_COLUMNS) - 13  # the columns added since (Numerator, Denominator, Reporter ID)
    assert {"appendDimension": {"sheetId": 5, "dimension": "COLUMNS", "length": added}} in requests
    header = next(
        u
        for u in subrequests(requests, "updateCells")
        if u.get("start") == {"sheetId": 5, "rowIndex": 0, "columnIndex": 0}
    )
    assert header["rows"][0]["values"][-1]["userEnteredValue"]["stringValue"] == "Reporter ID"
    rewritten = next(
        u
        for u in subrequests(requests, "updateCells")
        if u.get("start") == {"sheetId": 5, "rowIndex": 1, "columnIndex": 0}
    )
    cells = [c.get("userEnteredValue", {}) for c in rewritten["rows"][0]["values"]]
    assert cells[VALUES_COLUMNS.index("Reporter")] == {"stringValue": "Ana Ruiz"}
    assert cells[-1] == {"stringValue": "U0CHLD0001"}
    assert not subrequests(requests, "appendCells")


# -- tabs and A1 --------------------------------------------------------------------------


def test_tab_titles_and_ranges() -> None:
    assert indicator_tab_title("er-visits") == "er-visits"
    assert indicator_tab_title("Values") == "Values (indicator)"
    assert indicator_tab_title("indicators") == "indicators (indicator)"
    assert quote_title("It's") == "'It''s'"
    assert column_a_range("Values") == "'Values'!A:A"


def test_value_ids_are_found_wherever_rows_were_sorted() -> None:
    column = ["Value ID", 12, 3.0, "7", "", None, "a note", 12, True, -4, 0]
    assert value_ids_by_row(column) == {12: [1, 7], 3: [2], 7: [3]}


def test_plan_values_updates_in_place_appends_new_and_drops_copies() -> None:
    plan = plan_values(["Value ID", 5, 9, 5, 2], {9: ["nine"], 5: ["five"], 11: ["eleven"]})
    assert plan.updates == [(1, ["five"]), (2, ["nine"])]
    assert plan.duplicates == [3]
    assert plan.appends == [["eleven"]]


def test_sheet_infos_read_the_metadata() -> None:
    metadata = {
        "sheets": [
            {"properties": {"sheetId": 0, "title": "Sheet1", "gridProperties": {"rowCount": 1000, "columnCount": 26}}},
            {
                "properties": {
                    "sheetId": 42,
                    "title": "Values",
                    "gridProperties": {"rowCount": 5, "columnCount": 13, "frozenRowCount": 1},
                }
            },
        ]
    }
    assert sheet_infos(metadata) == [SheetInfo(0, "Sheet1", 1000, 26, 0), SheetInfo(42, "Values", 5, 13, 1)]


# -- the indicator's own tab --------------------------------------------------------------


def test_indicator_grid_has_periods_down_and_organizations_and_breakdowns_across() -> None:
    def tv(period: str, month: int, org: str, position: int, breakdown: str, v: float) -> TableValue:
        return TableValue(period, date(2026, month, 1), org, position, breakdown, v)

    table = IndicatorTable(
        ER,
        (
            tv("2026-10", 10, "Neighbors United", 4, "", 3),
            tv("2026-09", 9, "Children's Health", 1, "zip=75216", 6.5),
            tv("2026-09", 9, "Children's Health", 1, "", 19),
            tv("2026-10", 10, "Children's Health", 1, "", 17.2),
        ),
        {"2026-09": 19, "2026-10": 20.2},
    )
    grid = indicator_grid(table)
    assert grid[0] == [
        "Period",
        ALL_ORGANIZATIONS,
        "Children's Health",
        "Children's Health · zip=75216",
        "Neighbors United",
    ]
    assert grid[1] == ["Baseline (2025-12)", 18.4, None, None, None]
    assert grid[2] == ["Target (2027-12)", 12, None, None, None]
    assert grid[3] == ["2026-09", 19, 19, 6.5, None]
    assert grid[4] == ["2026-10", 20.2, 17.2, None, 3]


def test_an_indicator_without_baseline_or_values_still_gets_its_rows() -> None:
    bare = IndicatorRecord("x", "X", "", "", "increase", "yearly", None, None, None, None, (), (), "")
    assert indicator_grid(IndicatorTable(bare, ())) == [
        ["Period", ALL_ORGANIZATIONS],
        ["Baseline", None],
        ["Target", None],
    ]


# -- whole batches ------------------------------------------------------------------------


def test_a_first_batch_creates_the_tabs_with_frozen_bold_headers() -> None:
    table = IndicatorTable(ER, (TableValue("2026-10", date(2026, 10, 1), "Children's Health", 1, "", 17.2),))
    requests = plan_delivery(
        [SheetInfo(0, "Sheet1")], [], values=[value(1)], indicators=[ER], tables=[table], timezone=TZ
    )
    added = [a["properties"] for a in subrequests(requests, "addSheet")]
    assert [a["title"] for a in added] == [VALUES_TAB, INDICATORS_TAB, "er-visits"]
    assert all(a["gridProperties"]["frozenRowCount"] == 1 for a in added)
    assert len({a["sheetId"] for a in added} | {0}) == 4
    headers = [u for u in subrequests(requests, "updateCells") if u.get("start", {}).get("rowIndex") == 0]
    assert {h["start"]["sheetId"] for h in headers} == {a["sheetId"] for a in added}
    for header in headers:
        assert header["fields"] == "userEnteredValue,userEnteredFormat.textFormat.bold"
        assert all(c["userEnteredFormat"]["textFormat"]["bold"] for c in header["rows"][0]["values"])
    values_header = next(h for h in headers if h["start"]["sheetId"] == added[0]["sheetId"])
    assert [c["userEnteredValue"]["stringValue"] for c in values_header["rows"][0]["values"]] == list(VALUES_COLUMNS)
    appended = subrequests(requests, "appendCells")
    assert len(appended) == 1 and appended[0]["sheetId"] == added[0]["sheetId"]
    assert appended[0]["rows"][0]["values"][0] == {"userEnteredValue": {"numberValue": 1}}
    # Every sub-request that names a tab comes after the addSheet that creates it.
    order = {a["sheetId"]: requests.index({"addSheet": {"properties": a}}) for a in added}
    for i, request in enumerate(requests):
        for sheet_id in _sheet_ids(request):
            assert order.get(sheet_id, -1) < i or "addSheet" in request


def _sheet_ids(node: Any) -> list[int]:
    if isinstance(node, dict):
        found = [node["sheetId"]] if "sheetId" in node else []
        return found + [i for v in node.values() for i in _sheet_ids(v)]
    if isinstance(node, list):
        return [i for v in node for i in _sheet_ids(v)]
    return []


def test_a_later_batch_rewrites_rows_in_place_and_appends_only_new_values() -> None:
    sheets = [
        SheetInfo(10, VALUES_TAB, 1000, 26, 1),
        SheetInfo(11, INDICATORS_TAB, 50, 13, 1),
        SheetInfo(12, "er-visits", 100, 26, 0),  # someone unfroze it
    ]
    column_a = ["Value ID", 1, 2, 3, 2]  # value 2 is there twice: a copy to drop
    requests = plan_delivery(
        sheets,
        column_a,
        values=[value(2, value=20, revision=3), value(4)],
        indicators=[ER],
        tables=[IndicatorTable(ER, ())],
        timezone=TZ,
    )
    assert subrequests(requests, "addSheet") == []
    in_place = [u for u in subrequests(requests, "updateCells") if u.get("start", {}).get("rowIndex") == 2]
    assert len(in_place) == 1 and in_place[0]["start"]["sheetId"] == 10
    cells = in_place[0]["rows"][0]["values"]
    assert cells[0]["userEnteredValue"] == {"numberValue": 2} and cells[6]["userEnteredValue"] == {"numberValue": 20}
    deleted = subrequests(requests, "deleteDimension")
    assert [d["range"]["startIndex"] for d in deleted] == [4]
    appended = subrequests(requests, "appendCells")
    assert [r["values"][0]["userEnteredValue"]["numberValue"] for r in appended[0]["rows"]] == [4]
    # Rows are rewritten before any deletion moves them, and appended last.
    kinds = [next(iter(r)) for r in requests]
    assert kinds.index("deleteDimension") < kinds.index("appendCells")
    assert requests.index({"updateCells": in_place[0]}) < kinds.index("deleteDimension")
    frozen = subrequests(requests, "updateSheetProperties")
    assert [f["properties"]["sheetId"] for f in frozen] == [12]


def test_a_table_bigger_than_its_tab_grows_the_grid_first() -> None:
    wide = IndicatorTable(
        ER,
        tuple(TableValue("2026-10", date(2026, 10, 1), "Children's Health", 1, f"zip={z}", z) for z in range(40)),
    )
    sheets = [SheetInfo(10, VALUES_TAB, 1000, 26, 1), SheetInfo(12, "er-visits", 3, 26, 1)]
    requests = plan_delivery(sheets, ["Value ID"], values=[], indicators=[ER], tables=[wide], timezone=TZ)
    grown = {(g["dimension"], g["length"]) for g in subrequests(requests, "appendDimension") if g["sheetId"] == 12}
    assert grown == {("ROWS", 2), ("COLUMNS", 42 - 26)}
    body = next(u for u in subrequests(requests, "updateCells") if u.get("range", {}).get("sheetId") == 12)
    assert body["range"]["endColumnIndex"] == 42 and body["range"]["endRowIndex"] == 4


def test_a_rebuild_empties_every_tab_it_owns() -> None:
    sheets = [SheetInfo(10, VALUES_TAB, 5000, 26, 1), SheetInfo(12, "er-visits", 300, 30, 1)]
    requests, values_tab = plan_rebuild(sheets, indicators=[ER], tables=[IndicatorTable(ER, ())])
    assert values_tab.sheet_id == 10
    # The Values grid is trimmed to its columns: the 13 empty ones after them count toward Google's 10M cells.
    width = len(VALUES_COLUMNS)
    assert values_tab.column_count == width
    trimmed = [d["range"] for d in subrequests(requests, "deleteDimension") if d["range"]["sheetId"] == 10]
    assert trimmed == [{"sheetId": 10, "dimension": "COLUMNS", "startIndex": width, "endIndex": 26}]
    cleared = {u["range"]["sheetId"]: u["range"] for u in subrequests(requests, "updateCells") if "range" in u}
    assert cleared[10]["endRowIndex"] == 5000 and cleared[10]["endColumnIndex"] == width
    assert cleared[12]["endRowIndex"] == 300 and cleared[12]["endColumnIndex"] == 30
    assert [a["properties"]["title"] for a in subrequests(requests, "addSheet")] == [INDICATORS_TAB]
    indicators_header = [u for u in subrequests(requests, "updateCells") if u.get("start", {}).get("rowIndex") == 0]
    assert any(
        [c["userEnteredValue"]["stringValue"] for c in h["rows"][0]["values"] if "userEnteredValue" in c]
        == list(INDICATORS_COLUMNS)
        for h in indicators_header
    )
    # Each header is written across its whole tab, so old labels past its end are emptied too.
    widths = {h["start"]["sheetId"]: len(h["rows"][0]["values"]) for h in indicators_header}
    assert widths[12] == 30


def test_a_new_values_tab_is_as_wide_as_its_columns() -> None:
    """26 default columns would reach Google's 10M cells at 385,000 values; its own 13 at twice that."""
    for requests in (
        plan_delivery([], [], values=[value(1)], indicators=[ER], tables=[], timezone="UTC"),
        plan_rebuild([], indicators=[ER], tables=[])[0],
    ):
        added = next(a for a in subrequests(requests, "addSheet") if a["properties"]["title"] == VALUES_TAB)
        assert added["properties"]["gridProperties"]["columnCount"] == len(VALUES_COLUMNS)


def test_many_rows_are_appended_in_chunks_that_pack_into_bounded_bodies() -> None:
    values = [value(i, note="x" * 500) for i in range(1, 1001)]
    requests = plan_delivery(
        [SheetInfo(10, VALUES_TAB, 1000, 26, 1)], ["Value ID"], values=values, indicators=[], tables=[], timezone=TZ
    )
    appended = subrequests(requests, "appendCells")
    assert [len(a["rows"]) for a in appended] == [APPEND_CHUNK] * (1000 // APPEND_CHUNK)
    bodies = split_requests(requests, max_bytes=200_000)
    assert len(bodies) > 1
    assert [r for body in bodies for r in body] == requests  # nothing lost, order kept
    assert all(len(json.dumps(body)) <= 200_000 for body in bodies)
    assert len(split_requests(requests)) == 1
