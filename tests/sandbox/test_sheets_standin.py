"""The Sheets stand-in, driven by the real gspread client over HTTP, and its pure A1 helpers."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gspread
import pytest
import requests
from google.auth.transport.requests import AuthorizedSession
from gspread.exceptions import APIError, SpreadsheetNotFound
from gspread.utils import Dimension, InsertDataOption, ValueInputOption, ValueRenderOption

from ci_slackbot.sandbox.sheets import (
    FORMULA_MARKER,
    A1Range,
    Box,
    SheetsStandIn,
    apply_fields,
    column_index,
    column_letters,
    filter_fields,
    format_cells,
    format_range,
    parse_cells,
    parse_field_mask,
    parse_input,
    quote_sheet_title,
    split_sheet_name,
)
from integrations.google_http import rewrite_url, sheets_client, sheets_session

# -- A1 notation and field masks (pure) --------------------------------------------


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (18277, "ZZZ")]
)
def test_column_letters_round_trip(index: int, letters: str) -> None:
    assert column_letters(index) == letters
    assert column_index(letters) == index
    assert column_index(letters.lower()) == index


@pytest.mark.parametrize(
    ("a1", "expected"),
    [
        ("'Sheet1'!A1:D4", ("Sheet1", "A1:D4")),
        ("'Sheet1'", ("Sheet1", None)),
        ("Sheet1!A1", ("Sheet1", "A1")),
        ("🌵 test_values_get 1!A1", ("🌵 test_values_get 1", "A1")),
        ("'It''s mine'!B2", ("It's mine", "B2")),
        ("'a!b'!C3", ("a!b", "C3")),
        ("A1:B2", (None, "A1:B2")),
        ("Indicators", (None, "Indicators")),
    ],
)
def test_split_sheet_name(a1: str, expected: tuple[str | None, str | None]) -> None:
    assert split_sheet_name(a1) == expected


@pytest.mark.parametrize("bad", ["'unterminated", "'Sheet1'A1"])
def test_split_sheet_name_rejects_broken_quotes(bad: str) -> None:
    with pytest.raises(ValueError):
        split_sheet_name(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A1", A1Range(0, 1, 0, 1)),
        ("$B$2", A1Range(1, 2, 1, 2)),
        ("A1:D4", A1Range(0, 4, 0, 4)),
        ("D4:A1", A1Range(0, 4, 0, 4)),
        ("A:A", A1Range(None, None, 0, 1)),
        ("2:3", A1Range(1, 3, None, None)),
        ("A1:1", A1Range(0, 1, 0, None)),
        ("A2:2", A1Range(1, 2, 0, None)),
        ("B3:C", A1Range(2, None, 1, 3)),
        ("a1:b2", A1Range(0, 2, 0, 2)),
    ],
)
def test_parse_cells(text: str, expected: A1Range) -> None:
    assert parse_cells(text) == expected


@pytest.mark.parametrize("bad", ["A", "5", "Sheet1", "A:1", "1:A", "AAAA1", "A0", "", "A1:B2:C3"])
def test_parse_cells_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cells(bad)


@pytest.mark.parametrize(
    ("title", "printed"),
    [
        ("Sheet1", "Sheet1"),
        ("Indicators", "Indicators"),
        ("🌵 test 1", "'🌵 test 1'"),
        ("My sheet", "'My sheet'"),
        ("It's", "'It''s'"),
        ("AB12", "'AB12'"),
        ("R1C1", "'R1C1'"),
        ("2024", "'2024'"),
    ],
)
def test_quote_sheet_title(title: str, printed: str) -> None:
    assert quote_sheet_title(title) == printed


def test_format_cells_and_range() -> None:
    assert format_cells(Box(0, 1, 0, 1)) == "A1"
    assert format_cells(Box(0, 1000, 0, 26)) == "A1:Z1000"
    assert format_range("Sheet1", Box(1, 2, 0, 3)) == "Sheet1!A2:C2"
    assert format_range("🌵 x", Box(0, 2, 0, 3)) == "'🌵 x'!A1:C2"


def test_field_masks() -> None:
    assert parse_field_mask("userEnteredFormat(backgroundColor,textFormat.bold)") == [
        ("userEnteredFormat", "backgroundColor"),
        ("userEnteredFormat", "textFormat", "bold"),
    ]
    assert parse_field_mask("gridProperties/frozenRowCount,title") == [("gridProperties", "frozenRowCount"), ("title",)]
    assert parse_field_mask("kind,files(id,name)") == [("kind",), ("files", "id"), ("files", "name")]
    with pytest.raises(ValueError):
        parse_field_mask("a(b")
    resource = {"kind": "k", "files": [{"id": 1, "name": "n", "mimeType": "m"}], "other": 2}
    assert filter_fields(resource, parse_field_mask("kind,files(id,name)")) == {
        "kind": "k",
        "files": [{"id": 1, "name": "n"}],
    }
    updated = apply_fields({"a": 1, "g": {"x": 1, "y": 2}}, {"g": {"x": 5}}, [("g", "x"), ("g", "y"), ("a",)])
    assert updated == {"g": {"x": 5}}


@pytest.mark.parametrize(
    ("raw", "user_entered", "expected"),
    [
        ("=1+2", False, ("=1+2", None)),
        ("=1+2", True, (None, "=1+2")),
        ("+cmd", True, (None, "=+cmd")),
        ("-2+3", True, (None, "=-2+3")),
        ("-", True, ("-", None)),
        ("-5", True, (-5, None)),
        ("42", True, (42, None)),
        ("42", False, ("42", None)),
        ("1.50", True, (1.5, None)),
        ("'=1+2", True, ("=1+2", None)),
        ("'007", True, ("007", None)),
        ("true", True, (True, None)),
        ("2024-05-01", True, ("2024-05-01", None)),
        ("", True, (None, None)),
        (7, False, (7, None)),
        (None, True, None),
    ],
)
def test_parse_input(raw: Any, user_entered: bool, expected: Any) -> None:
    assert parse_input(raw, user_entered) == expected


# -- against gspread ---------------------------------------------------------------


@pytest.fixture
def stand_in() -> Iterator[SheetsStandIn]:
    with SheetsStandIn(seed=7) as server:
        assert isinstance(server, SheetsStandIn)
        yield server


@pytest.fixture
def client(stand_in: SheetsStandIn) -> gspread.Client:
    return sheets_client(stand_in.url, None)


@pytest.fixture
def spreadsheet_id(stand_in: SheetsStandIn) -> str:
    return stand_in.create_spreadsheet("Measurements", sheets=("Sheet1",))


def raw_get(stand_in: SheetsStandIn, path: str, **params: Any) -> requests.Response:
    return requests.get(stand_in.url + path, params=params, timeout=5)


def test_open_by_key_and_add_worksheet(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    sh = client.open_by_key(spreadsheet_id)
    assert sh.title == "Measurements"
    assert [ws.title for ws in sh.worksheets()] == ["Sheet1"]
    ws = sh.add_worksheet("🌵 Indicators", rows=10, cols=5)
    assert (ws.row_count, ws.col_count) == (10, 5)
    assert stand_in.worksheet_titles(spreadsheet_id) == ["Sheet1", "🌵 Indicators"]
    assert stand_in.grid_size(spreadsheet_id, "🌵 Indicators") == (10, 5)
    with pytest.raises(APIError) as exc:
        sh.add_worksheet("🌵 indicators", rows=1, cols=1)
    assert exc.value.code == 400
    assert "already exists" in exc.value.error["message"]


def test_raw_keeps_formula_text_as_text(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    ws.append_rows([["=1+2", "42", 7, True]], value_input_option=ValueInputOption.raw)
    cell = stand_in.cell(spreadsheet_id, "Sheet1", "A1")
    assert (cell.value, cell.is_formula) == ("=1+2", False)
    assert stand_in.values(spreadsheet_id, "Sheet1") == [["=1+2", "42", 7, True]]
    assert ws.get("A1:D1") == [["=1+2", "42", "7", "TRUE"]]
    assert ws.get("A1:D1", value_render_option=ValueRenderOption.formula) == [["=1+2", "42", 7, True]]


def test_user_entered_parses_like_typing(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    ws.append_rows([["=1+2", "42", "'=3", "-cmd"]], value_input_option=ValueInputOption.user_entered)
    assert stand_in.cell(spreadsheet_id, "Sheet1", "A1").is_formula
    assert stand_in.cell(spreadsheet_id, "Sheet1", "D1").is_formula
    assert not stand_in.cell(spreadsheet_id, "Sheet1", "C1").is_formula
    assert stand_in.values(spreadsheet_id, "Sheet1") == [["=1+2", 42, "=3", "=-cmd"]]
    assert ws.get("A1:D1") == [[FORMULA_MARKER, "42", "=3", FORMULA_MARKER]]
    assert ws.get("A1:D1", value_render_option=ValueRenderOption.formula) == [["=1+2", 42, "=3", "=-cmd"]]
    unformatted = ws.get("A1:D1", value_render_option=ValueRenderOption.unformatted)
    assert unformatted == [[FORMULA_MARKER, 42, "=3", FORMULA_MARKER]]


def test_update_a_range_and_its_bounds(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    result = ws.update([["Indicator", "Value"], ["Jobs", 12.5]], "B2:C3")
    assert result["updatedRange"] == "Sheet1!B2:C3"
    assert result["updatedCells"] == 4
    assert ws.get("A1:C3") == [[], ["", "Indicator", "Value"], ["", "Jobs", "12.5"]]
    assert ws.get("A1:C3", major_dimension=Dimension.cols) == [[], ["", "Indicator", "Jobs"], ["", "Value", "12.5"]]
    ws.update([[1, 2, 3]], "E5")  # a single cell only anchors the write
    assert stand_in.values(spreadsheet_id, "Sheet1")[4] == ["", "", "", "", 1, 2, 3]
    with pytest.raises(APIError) as exc:
        ws.update([[1, 2, 3]], "A1:B1")
    assert exc.value.code == 400
    assert "tried writing to column [C]" in exc.value.error["message"]
    with pytest.raises(APIError) as exc:
        ws.update([["x"]], "A1001")
    assert "exceeds grid limits" in exc.value.error["message"]


def test_freeze_and_bold_header(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    ws.append_rows([["Indicator", "Value"], ["Jobs", 3]])
    ws.freeze(rows=1)
    ws.format("A1:Z1", {"textFormat": {"bold": True}})
    assert stand_in.frozen_rows(spreadsheet_id, "Sheet1") == 1
    assert stand_in.is_bold(spreadsheet_id, "Sheet1", "A1")
    assert stand_in.is_bold(spreadsheet_id, "Sheet1", "Z1")
    assert not stand_in.is_bold(spreadsheet_id, "Sheet1", "A2")
    assert client.open_by_key(spreadsheet_id).sheet1.frozen_row_count == 1
    with pytest.raises(APIError):
        ws.freeze(rows=1000)  # every row frozen is refused, as on Google
    ws.freeze(rows=0)
    assert stand_in.frozen_rows(spreadsheet_id, "Sheet1") == 0


def test_batch_update_values(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    result = ws.batch_update(
        [{"range": "A1:B1", "values": [["a", "b"]]}, {"range": "A3", "values": [["=SUM(1,2)"]]}],
        value_input_option=ValueInputOption.user_entered,
    )
    assert result["totalUpdatedCells"] == 3
    assert [r["updatedRange"] for r in result["responses"]] == ["Sheet1!A1:B1", "Sheet1!A3"]
    assert stand_in.values(spreadsheet_id, "Sheet1") == [["a", "b"], [], ["=SUM(1,2)"]]
    with pytest.raises(APIError):
        ws.batch_update([{"range": "A5", "values": [["kept?"]]}, {"range": "Nope!A1", "values": [["x"]]}])
    assert stand_in.values(spreadsheet_id, "Sheet1") == [["a", "b"], [], ["=SUM(1,2)"]]


def test_append_finds_the_table(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    first = ws.append_rows([["Indicator", "Value"]])
    assert "tableRange" not in first
    second = ws.append_rows([["Jobs", 1], ["Homes", 2]])
    assert second["tableRange"] == "Sheet1!A1:B1"
    assert second["updates"]["updatedRange"] == "Sheet1!A2:B3"
    ws.update([["far away"]], "A10")
    third = ws.append_rows([["Schools", 3]])
    assert third["tableRange"] == "Sheet1!A1:B3"  # the first table, not the stray cell
    ws.append_rows([["Parks", 4]], insert_data_option=InsertDataOption.insert_rows)
    assert stand_in.values(spreadsheet_id, "Sheet1")[3:6] == [["Schools", 3], ["Parks", 4], []]
    assert stand_in.grid_size(spreadsheet_id, "Sheet1") == (1001, 26)


def test_append_grows_a_full_sheet(stand_in: SheetsStandIn, client: gspread.Client) -> None:
    sid = stand_in.create_spreadsheet("Small", rows=2, cols=2)
    ws = client.open_by_key(sid).sheet1
    ws.append_rows([["a", "b"], ["c", "d"], ["e", "f", "g"]])
    assert stand_in.grid_size(sid, "Sheet1") == (3, 3)


def test_batch_update_is_atomic_and_one_write(
    stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str
) -> None:
    sh = client.open_by_key(spreadsheet_id)
    before = stand_in.write_requests
    sh.batch_update(
        {
            "requests": [
                {"addSheet": {"properties": {"title": "One"}}},
                {"addSheet": {"properties": {"title": "Two"}}},
                {"updateSheetProperties": {"properties": {"sheetId": 0, "title": "Main"}, "fields": "title"}},
            ]
        }
    )
    assert stand_in.write_requests == before + 1
    assert stand_in.worksheet_titles(spreadsheet_id) == ["Main", "One", "Two"]
    with pytest.raises(APIError) as exc:
        sh.batch_update(
            {"requests": [{"addSheet": {"properties": {"title": "Three"}}}, {"deleteSheet": {"sheetId": 12345}}]}
        )
    assert exc.value.code == 400
    assert exc.value.error["message"].startswith("Invalid requests[1].deleteSheet: No grid with id: 12345")
    assert stand_in.worksheet_titles(spreadsheet_id) == ["Main", "One", "Two"]


def test_rows_and_columns_move_with_dimension_requests(
    stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str
) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    ws.update([["a"], ["b"], ["c"]], "A1")
    ws.insert_rows([["new"]], row=2)
    assert [r[0] for r in stand_in.values(spreadsheet_id, "Sheet1")] == ["a", "new", "b", "c"]
    ws.delete_rows(1)
    assert [r[0] for r in stand_in.values(spreadsheet_id, "Sheet1")] == ["new", "b", "c"]
    ws.add_cols(4)
    assert stand_in.grid_size(spreadsheet_id, "Sheet1") == (1000, 30)


def test_write_quota_is_a_sliding_minute(stand_in: SheetsStandIn, client: gspread.Client) -> None:
    stand_in.write_quota_per_minute = 5
    sid = stand_in.create_spreadsheet("Quota")
    ws = client.open_by_key(sid).sheet1
    for n in range(5):
        ws.append_rows([[n]])
    with pytest.raises(APIError) as exc:
        ws.append_rows([["one too many"]])
    assert exc.value.code == 429
    assert exc.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert exc.value.error["message"].startswith(
        "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' "
        "of service 'sheets.googleapis.com'"
    )
    assert int(exc.value.response.headers["Retry-After"]) >= 1
    assert stand_in.throttled_count == 1
    assert stand_in.write_requests == 5
    assert len(ws.get_all_values()) == 5  # reads have their own quota


def test_quota_is_per_credentials(stand_in: SheetsStandIn, spreadsheet_id: str) -> None:
    stand_in.read_quota_per_minute = 2
    url = f"{stand_in.url}/v4/spreadsheets/{spreadsheet_id}/values/A1"
    for _ in range(2):
        assert requests.get(url, headers={"Authorization": "Bearer one"}, timeout=5).status_code == 200
    assert requests.get(url, headers={"Authorization": "Bearer one"}, timeout=5).status_code == 429
    assert requests.get(url, headers={"Authorization": "Bearer two"}, timeout=5).status_code == 200


def test_unshared_and_unknown_spreadsheets(stand_in: SheetsStandIn, client: gspread.Client) -> None:
    sid = stand_in.create_spreadsheet("Private", shared=False)
    with pytest.raises(PermissionError) as exc:
        client.open_by_key(sid)
    cause = exc.value.__cause__
    assert isinstance(cause, APIError)
    assert cause.code == 403
    assert cause.error == {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
    assert raw_get(stand_in, f"/drive/v3/files/{sid}").status_code == 404  # Drive hides it
    stand_in.share(sid, True)
    assert client.open_by_key(sid).title == "Private"
    with pytest.raises(SpreadsheetNotFound):
        client.open_by_key("1doesNotExist")
    missing = raw_get(stand_in, "/v4/spreadsheets/1doesNotExist").json()
    assert missing["error"]["message"] == "Requested entity was not found."
    assert missing["error"]["status"] == "NOT_FOUND"


def test_bad_ranges(stand_in: SheetsStandIn, spreadsheet_id: str) -> None:
    answer = raw_get(stand_in, f"/v4/spreadsheets/{spreadsheet_id}/values/Nope!A1")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Unable to parse range: Nope!A1"
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    missing_option = requests.put(
        f"{stand_in.url}/v4/spreadsheets/{spreadsheet_id}/values/A1", json={"values": [["x"]]}, timeout=5
    )
    assert missing_option.status_code == 400
    assert "valueInputOption" in missing_option.json()["error"]["message"]


def test_faults_answer_in_googles_shape(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    stand_in.faults.fail_next(1, status=503)
    with pytest.raises(APIError) as exc:
        ws.get_all_values()
    assert exc.value.code == 503
    assert exc.value.error["status"] == "UNAVAILABLE"
    assert ws.get_all_values() == [[]]
    stand_in.faults.throttle_next(1, retry_after=3)
    with pytest.raises(APIError) as exc:
        ws.append_rows([["x"]])
    assert exc.value.code == 429
    assert exc.value.response.headers["Retry-After"] == "3"
    assert stand_in.values(spreadsheet_id, "Sheet1") == []


def test_drive_create_list_delete(stand_in: SheetsStandIn, client: gspread.Client) -> None:
    created = client.create("Coalition mirror")
    assert stand_in.worksheet_titles(created.id) == ["Sheet1"]
    assert [f["name"] for f in client.list_spreadsheet_files()] == ["Coalition mirror"]
    assert client.open("Coalition mirror").id == created.id
    assert isinstance(dt.datetime.fromisoformat(created.get_lastUpdateTime()), dt.datetime)
    assert created.list_permissions()[0]["role"] == "owner"
    client.del_spreadsheet(created.id)
    assert created.id not in stand_in.spreadsheet_ids()
    # The request log is written just after the reply goes out.
    assert stand_in.wait_for(lambda: [e.status for e in stand_in.requests("DELETE", "/drive/v3/files")] == [204])


def test_concurrent_appends_lose_nothing(stand_in: SheetsStandIn, spreadsheet_id: str) -> None:
    stand_in.write_quota_per_minute = 1000
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            ws = sheets_client(stand_in.url, None).open_by_key(spreadsheet_id).sheet1
            for n in range(5):
                ws.append_rows([[name, n]])
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    rows = stand_in.values(spreadsheet_id, "Sheet1")
    assert sorted(map(tuple, rows)) == sorted((f"w{i}", n) for i in range(6) for n in range(5))


def test_wait_for(stand_in: SheetsStandIn, client: gspread.Client, spreadsheet_id: str) -> None:
    ws = client.open_by_key(spreadsheet_id).sheet1
    timer = threading.Timer(0.05, lambda: ws.append_rows([["late"]]))
    timer.start()
    try:
        assert stand_in.wait_for(lambda: stand_in.values(spreadsheet_id, "Sheet1") == [["late"]], timeout=5)
    finally:
        timer.join()
    assert not stand_in.wait_for(lambda: False, timeout=0.1)


# -- integrations.google_http ---------------------------------------------------------


def test_rewrite_url() -> None:
    stand_in = "http://127.0.0.1:9999"
    assert rewrite_url("https://sheets.googleapis.com/v4/spreadsheets/x", stand_in) == f"{stand_in}/v4/spreadsheets/x"
    drive = rewrite_url("https://www.googleapis.com/drive/v3/files?q=1", stand_in + "/")
    assert drive == f"{stand_in}/drive/v3/files?q=1"
    assert rewrite_url("https://oauth2.googleapis.com/token", stand_in) == "https://oauth2.googleapis.com/token"
    assert rewrite_url("https://www.googleapis.com.evil/x", stand_in) == "https://www.googleapis.com.evil/x"
    unchanged = "https://sheets.googleapis.com/v4/spreadsheets/x"
    assert rewrite_url(unchanged, None) == unchanged
    assert rewrite_url(unchanged, "https://sheets.googleapis.com/") == unchanged


def test_session_with_service_account_is_authorised(
    stand_in: SheetsStandIn, spreadsheet_id: str, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": "stand-in",
        "private_key_id": "0",
        "private_key": pem.decode(),
        "client_email": "bot@stand-in.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    session = sheets_session(stand_in.url, str(path))
    assert isinstance(session, AuthorizedSession)
    assert set(session.credentials.scopes) == {
        "https://www.googleapis.com/auth/spreadsheets",
        "https://www.googleapis.com/auth/drive.file",
    }
    # A token that is still valid means no trip to Google's token endpoint.
    session.credentials.token = "ya29.stand-in"
    session.credentials.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    answer = session.get(f"https://sheets.googleapis.com/v4/spreadsheets/{spreadsheet_id}", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["spreadsheetId"] == spreadsheet_id


def test_plain_session_without_credentials(stand_in: SheetsStandIn, spreadsheet_id: str) -> None:
    session = sheets_session(stand_in.url, None)
    assert not isinstance(session, AuthorizedSession)
    answer = session.get(f"https://sheets.googleapis.com/v4/spreadsheets/{spreadsheet_id}", timeout=5)
    assert answer.json()["properties"]["title"] == "Measurements"
