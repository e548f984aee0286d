"""A local stand-in of the Google Sheets API v4 (plus the Drive v3 file calls gspread makes).

The real gspread client talks to it over real HTTP: point `SHEETS_API_URL` at
`stand_in.url` and every request meant for `https://sheets.googleapis.com` or
`https://www.googleapis.com` lands here with its path unchanged.

What is modelled, and how faithfully, was checked against cassettes gspread's own
suite recorded against the live API (see tests/sandbox/test_sheets_replay.py):

* spreadsheets with typed cells (numbers stay numbers, booleans booleans), formulas
  flagged apart from text, per-cell `userEnteredFormat` and notes;
* values get/update/append/clear and their batch forms, with Google's A1 ranges,
  table detection for append, `RAW` versus `USER_ENTERED` input, the three value
  render options, and response shapes as recorded;
* `batchUpdate` sub-requests gspread sends, applied atomically;
* Drive create/get/list/delete/copy and permissions, a per-spreadsheet "shared with
  the service account" switch, Google's error shapes and per-user minute quotas.

Formulas are stored, never evaluated: FORMATTED_VALUE and UNFORMATTED_VALUE render
them as `FORMULA_MARKER`, so a test can tell a formula from text that merely starts
with "=". USER_ENTERED recognises formulas, plain numbers and TRUE/FALSE; dates,
percentages, currency and digit grouping stay text.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple
from urllib.parse import unquote

from ci_slackbot.sandbox.base import Logged, Request, Response, SlidingWindow, StandIn, retry_after_header

# ---------------------------------------------------------------------------------
# A1 notation: small pure functions, unit-tested on their own.
# ---------------------------------------------------------------------------------

MAX_COLUMNS = 18_278  # "ZZZ"
MAX_ROWS = 10_000_000


class A1Range(NamedTuple):
    """The cell part of an A1 range, 0-based with exclusive ends; None means open."""

    start_row: int | None
    end_row: int | None
    start_col: int | None
    end_col: int | None


class Box(NamedTuple):
    """A concrete rectangle of cells, 0-based with exclusive ends."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def rows(self) -> int:
        return self.r1 - self.r0

    @property
    def cols(self) -> int:
        return self.c1 - self.c0


def column_letters(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    if index < 0:
        raise ValueError(f"negative column index {index}")
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """Column letters to a 0-based index: "A" -> 0, "AA" -> 26 (case-insensitive)."""
    if not letters or not letters.isascii() or not letters.isalpha():
        raise ValueError(f"not a column: {letters!r}")
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - ord("A") + 1)
    return n - 1


def split_sheet_name(a1: str) -> tuple[str | None, str | None]:
    """Split "'My sheet'!A1:B2" into ("My sheet", "A1:B2").

    A quoted title may hold anything, with "'" doubled. An unquoted one runs to
    the last "!" (gspread sends emoji titles unquoted). With no "!" at all the
    text is either a sheet title or a range on the first sheet, so it comes back
    as (None, text) for the caller to decide.
    """
    if a1.startswith("'"):
        i, chars = 1, []
        while i < len(a1):
            ch = a1[i]
            if ch == "'":
                if a1[i + 1 : i + 2] == "'":
                    chars.append("'")
                    i += 2
                    continue
                rest = a1[i + 1 :]
                if rest == "":
                    return "".join(chars), None
                if rest.startswith("!"):
                    return "".join(chars), rest[1:]
                raise ValueError(f"text after the quoted sheet name: {a1!r}")
            chars.append(ch)
            i += 1
        raise ValueError(f"unterminated quoted sheet name: {a1!r}")
    if "!" in a1:
        title, _, cells = a1.rpartition("!")
        return title, cells
    return None, a1


_ENDPOINT = re.compile(r"^\$?([A-Za-z]{1,3})?\$?([0-9]+)?$")


def _endpoint(text: str) -> tuple[int | None, int | None]:
    match = _ENDPOINT.match(text)
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"not a cell reference: {text!r}")
    col = column_index(match.group(1)) if match.group(1) else None
    row = int(match.group(2)) - 1 if match.group(2) else None
    if row is not None and not 0 <= row < MAX_ROWS:
        raise ValueError(f"row out of range: {text!r}")
    if col is not None and col >= MAX_COLUMNS:
        raise ValueError(f"column out of range: {text!r}")
    return row, col


def parse_cells(text: str) -> A1Range:
    """Parse "A1", "A1:B2", "A:B", "1:2", "A1:1", "A2:B" (Google's open-ended forms).

    A lone "A" or "5" is not a range (it reads as a sheet title), so it raises.
    """
    text = text.strip()
    if ":" not in text:
        row, col = _endpoint(text)
        if row is None or col is None:
            raise ValueError(f"a single cell needs a column and a row: {text!r}")
        return A1Range(row, row + 1, col, col + 1)
    left, _, right = text.partition(":")
    (r0, c0), (r1, c1) = _endpoint(left), _endpoint(right)
    if (r0 is None and c1 is None) or (c0 is None and r1 is None):
        # "A:1" mixes a whole column with a whole row: no rectangle.
        raise ValueError(f"not a rectangle: {text!r}")
    if r0 is not None and r1 is not None and r0 > r1:
        r0, r1 = r1, r0
    if c0 is not None and c1 is not None and c0 > c1:
        c0, c1 = c1, c0
    return A1Range(
        start_row=r0,
        end_row=None if r1 is None else r1 + 1,
        start_col=c0,
        end_col=None if c1 is None else c1 + 1,
    )


_PLAIN_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_LIKE = re.compile(r"[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*")


def quote_sheet_title(title: str) -> str:
    """Quote a title the way the API prints it: Sheet1 stays bare, "🌵 x 1" gets quotes."""
    if _PLAIN_TITLE.fullmatch(title) and not _CELL_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def format_cells(box: Box) -> str:
    start = f"{column_letters(box.c0)}{box.r0 + 1}"
    if box.rows == 1 and box.cols == 1:
        return start
    return f"{start}:{column_letters(box.c1 - 1)}{box.r1}"


def format_range(title: str, box: Box) -> str:
    return f"{quote_sheet_title(title)}!{format_cells(box)}"


# ---------------------------------------------------------------------------------
# Field masks ("sheets.data.rowData.values.userEnteredFormat", "files(id,name)",
# "gridProperties/frozenRowCount"): pure too.
# ---------------------------------------------------------------------------------

FieldPath = tuple[str, ...]


def parse_field_mask(mask: str) -> list[FieldPath]:
    """Expand a field mask into paths; "/" separates like "." (gspread writes both)."""
    pos = 0
    text = mask.replace("/", ".")

    def parse_list() -> list[FieldPath]:
        nonlocal pos
        paths = parse_term()
        while pos < len(text) and text[pos] == ",":
            pos += 1
            paths += parse_term()
        return paths

    def parse_term() -> list[FieldPath]:
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1
        match = re.compile(r"[A-Za-z0-9_@*]+").match(text, pos)
        if not match:
            raise ValueError(f"bad field mask near {text[pos:]!r}")
        pos = match.end()
        name = match.group(0)
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            return [(name, *rest) for rest in parse_term()]
        if pos < len(text) and text[pos] == "(":
            pos += 1
            inner = parse_list()
            if pos >= len(text) or text[pos] != ")":
                raise ValueError(f"unbalanced parentheses in field mask {mask!r}")
            pos += 1
            return [(name, *rest) for rest in inner]
        return [(name,)]

    if not mask.strip():
        return []
    paths = parse_list()
    if pos != len(text):
        raise ValueError(f"bad field mask near {text[pos:]!r}")
    return paths


def filter_fields(value: Any, paths: Sequence[FieldPath]) -> Any:
    """Keep only what the mask names; lists are filtered element by element."""
    if not paths or any(len(p) == 0 for p in paths):
        return value
    if isinstance(value, list):
        return [filter_fields(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for key, item in value.items():
        rest = [p[1:] for p in paths if p[0] in (key, "*")]
        if rest:
            kept[key] = filter_fields(item, rest)
    return kept


_MISSING = object()


def _get_path(source: Mapping[str, Any], path: FieldPath) -> Any:
    node: Any = source
    for name in path:
        if not isinstance(node, Mapping) or name not in node:
            return _MISSING
        node = node[name]
    return node


def apply_fields(target: Mapping[str, Any], source: Mapping[str, Any], paths: Sequence[FieldPath]) -> dict[str, Any]:
    """Update semantics of a mask: each named path is copied from source, or removed if source lacks it."""
    result = copy.deepcopy(dict(target))
    for path in paths:
        if path == ("*",):
            result = copy.deepcopy(dict(source))
            continue
        value = _get_path(source, path)
        node = result
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        if value is _MISSING:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(value)
    return result


# ---------------------------------------------------------------------------------
# Cell values: what typing into a cell does, and how each render option prints it.
# ---------------------------------------------------------------------------------

FORMULA_MARKER = "#FORMULA"
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


class InvalidValue(ValueError):
    pass


def _number(text: str) -> int | float | None:
    stripped = text.strip()
    if not _NUMBER.fullmatch(stripped):
        return None
    number = float(stripped)
    if number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def parse_input(raw: Any, user_entered: bool) -> tuple[Any, str | None] | None:
    """Turn one incoming value into (value, formula); None for a JSON null, which leaves the cell alone.

    RAW keeps strings as they are. USER_ENTERED behaves like typing: "=..." is
    a formula, and so is a leading "+"/"-" that is not a number (Sheets prefixes
    "=" itself; that is the CSV-injection trap), a leading apostrophe forces text,
    plain numbers and TRUE/FALSE are converted.
    """
    if raw is None:
        return None
    if isinstance(raw, bool | int | float):
        return raw, None
    if not isinstance(raw, str):
        kind = "list_value" if isinstance(raw, list) else "struct_value"
        raise InvalidValue(f"{kind} {json.dumps(raw)}")
    if len(raw) > 50_000:
        raise InvalidValue("Your input contains more than the maximum of 50000 characters in a single cell.")
    if raw == "":
        return None, None
    if not user_entered:
        return raw, None
    if raw.startswith("'"):
        return (raw[1:] or None), None
    if raw.startswith("="):
        return None, raw
    number = _number(raw)
    if number is not None:
        return number, None
    if raw.strip().upper() in ("TRUE", "FALSE"):
        return raw.strip().upper() == "TRUE", None
    if raw[0] in "+-" and len(raw.strip()) > 1:
        return None, "=" + raw
    return raw, None


def format_number(value: int | float) -> str:
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    return f"{value:.15g}".replace("e+", "E+").replace("e-", "E-")


def _unformatted(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # the API's JSON has no 1.0, only 1
    return value


# ---------------------------------------------------------------------------------
# The model.
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """What inspection returns: the typed value (formula text for formulas)."""

    value: Any
    is_formula: bool
    bold: bool


@dataclass(frozen=True)
class _Cell:
    # Immutable so that a spreadsheet copy (for atomic batchUpdate) only copies the dict.
    value: Any = None
    formula: str | None = None
    fmt: Mapping[str, Any] | None = None
    note: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not None or self.formula is not None

    @property
    def is_blank(self) -> bool:
        return not self.has_value and not self.fmt and not self.note

    def render(self, option: str) -> Any:
        if self.formula is not None:
            return self.formula if option == "FORMULA" else FORMULA_MARKER
        value = self.value
        if value is None:
            return ""
        if option == "FORMATTED_VALUE":
            if isinstance(value, bool):
                return "TRUE" if value else "FALSE"
            if isinstance(value, int | float):
                return format_number(value)
            return value
        return _unformatted(value)

    def typed(self) -> Any:
        if self.formula is not None:
            return self.formula
        return "" if self.value is None else self.value

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.formula is not None:
            data["userEnteredValue"] = {"formulaValue": self.formula}
        elif isinstance(self.value, bool):
            data["userEnteredValue"] = {"boolValue": self.value}
        elif isinstance(self.value, int | float):
            data["userEnteredValue"] = {"numberValue": self.value}
        elif self.value is not None:
            data["userEnteredValue"] = {"stringValue": self.value}
        if self.fmt:
            data["userEnteredFormat"] = copy.deepcopy(dict(self.fmt))
        if self.note:
            data["note"] = self.note
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> _Cell:
        entered = data.get("userEnteredValue") or {}
        value: Any = None
        formula = None
        if "formulaValue" in entered:
            formula = str(entered["formulaValue"])
        elif "numberValue" in entered:
            value = entered["numberValue"]
        elif "boolValue" in entered:
            value = bool(entered["boolValue"])
        elif "stringValue" in entered:
            value = str(entered["stringValue"]) or None
        fmt = data.get("userEnteredFormat") or None
        return _Cell(value, formula, _with_styles(fmt) if fmt else None, data.get("note") or None)


def _with_styles(fmt: Mapping[str, Any]) -> dict[str, Any]:
    # The API echoes every colour a second time as a "...Style" (seen in the recordings).
    out = copy.deepcopy(dict(fmt))
    if "backgroundColor" in out and "backgroundColorStyle" not in out:
        out["backgroundColorStyle"] = {"rgbColor": copy.deepcopy(out["backgroundColor"])}
    text = out.get("textFormat")
    if isinstance(text, dict) and "foregroundColor" in text and "foregroundColorStyle" not in text:
        text["foregroundColorStyle"] = {"rgbColor": copy.deepcopy(text["foregroundColor"])}
    return out


class _Invalid(ValueError):
    """A sub-request that cannot be applied: 400, and the whole batch is dropped."""


@dataclass
class _Sheet:
    props: dict[str, Any]
    cells: dict[tuple[int, int], _Cell] = field(default_factory=dict)

    @property
    def sheet_id(self) -> int:
        return int(self.props["sheetId"])

    @property
    def title(self) -> str:
        return str(self.props["title"])

    @property
    def grid(self) -> dict[str, Any]:
        grid: dict[str, Any] = self.props.setdefault("gridProperties", {})
        return grid

    @property
    def rows(self) -> int:
        return int(self.grid.get("rowCount", 1000))

    @property
    def cols(self) -> int:
        return int(self.grid.get("columnCount", 26))

    def copy(self) -> _Sheet:
        return _Sheet(copy.deepcopy(self.props), dict(self.cells))

    def get(self, row: int, col: int) -> _Cell:
        return self.cells.get((row, col)) or _Cell()

    def put(self, row: int, col: int, cell: _Cell) -> None:
        if cell.is_blank:
            self.cells.pop((row, col), None)
        else:
            self.cells[(row, col)] = cell

    def set_value(self, row: int, col: int, value: Any, formula: str | None) -> None:
        self.put(row, col, replace(self.get(row, col), value=value, formula=formula))

    def clear_values(self, box: Box) -> None:
        for (row, col), cell in list(self.cells.items()):
            if box.r0 <= row < box.r1 and box.c0 <= col < box.c1 and cell.has_value:
                self.put(row, col, replace(cell, value=None, formula=None))

    def filled(self) -> set[tuple[int, int]]:
        return {key for key, cell in self.cells.items() if cell.has_value}

    def insert(self, dimension: str, start: int, count: int) -> None:
        axis = 0 if dimension == "ROWS" else 1
        moved: dict[tuple[int, int], _Cell] = {}
        for key, cell in self.cells.items():
            if key[axis] >= start:
                key = (key[0] + count, key[1]) if axis == 0 else (key[0], key[1] + count)
            moved[key] = cell
        self.cells = moved
        self.grid["rowCount" if axis == 0 else "columnCount"] = (self.rows if axis == 0 else self.cols) + count

    def delete(self, dimension: str, start: int, end: int) -> None:
        axis = 0 if dimension == "ROWS" else 1
        count = end - start
        kept: dict[tuple[int, int], _Cell] = {}
        for key, cell in self.cells.items():
            if start <= key[axis] < end:
                continue
            if key[axis] >= end:
                key = (key[0] - count, key[1]) if axis == 0 else (key[0], key[1] - count)
            kept[key] = cell
        self.cells = kept
        self.grid["rowCount" if axis == 0 else "columnCount"] = (self.rows if axis == 0 else self.cols) - count

    def truncate(self) -> None:
        rows, cols = self.rows, self.cols
        self.cells = {k: c for k, c in self.cells.items() if k[0] < rows and k[1] < cols}

    def resource_props(self) -> dict[str, Any]:
        props = copy.deepcopy(self.props)
        grid = props.get("gridProperties", {})
        # Unfrozen counts are absent from real responses, not zero.
        for key in ("frozenRowCount", "frozenColumnCount"):
            if not grid.get(key):
                grid.pop(key, None)
        return props


@dataclass
class _Spreadsheet:
    id: str
    props: dict[str, Any]
    sheets: list[_Sheet]
    shared: bool = True
    created: str = ""
    modified: str = ""
    parents: list[str] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)

    def copy(self) -> _Spreadsheet:
        return _Spreadsheet(
            self.id,
            copy.deepcopy(self.props),
            [s.copy() for s in self.sheets],
            self.shared,
            self.created,
            self.modified,
            list(self.parents),
            copy.deepcopy(self.permissions),
        )

    def by_id(self, sheet_id: Any) -> _Sheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise _Invalid(f"No grid with id: {sheet_id}")

    def by_title(self, title: str) -> _Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        lowered = title.lower()  # the API forgives case in range names
        for sheet in self.sheets:
            if sheet.title.lower() == lowered:
                return sheet
        return None

    def reindex(self) -> None:
        for index, sheet in enumerate(self.sheets):
            sheet.props["index"] = index

    def cell_count(self) -> int:
        return sum(s.rows * s.cols for s in self.sheets)


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CANONICAL_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The service is currently unavailable.",
}
_VALUE_INPUT = ("RAW", "USER_ENTERED")
_VALUE_RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DIMENSIONS = ("ROWS", "COLUMNS")
_SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
SERVICE_ACCOUNT_EMAIL = "ci-slackbot@stand-in.iam.gserviceaccount.com"

# Google's defaults for a new spreadsheet, as the recordings show them.
_DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}
_THEME_COLORS: list[tuple[str, dict[str, float]]] = [
    ("TEXT", {}),
    ("BACKGROUND", {"red": 1, "green": 1, "blue": 1}),
    ("ACCENT1", {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}),
    ("ACCENT2", {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}),
    ("ACCENT3", {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}),
    ("ACCENT4", {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}),
    ("ACCENT5", {"red": 1, "green": 0.42745098, "blue": 0.003921569}),
    ("ACCENT6", {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}),
    ("LINK", {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}),
]
_DEFAULT_THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [{"colorType": kind, "color": {"rgbColor": rgb}} for kind, rgb in _THEME_COLORS],
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _enum(name: str, value: Any, allowed: Sequence[str], default: str | None = None) -> str:
    if value is None or value == "":
        if default is None:
            raise ApiError(400, f"'{name}' is required but not specified")
        return default
    if value not in allowed:
        raise ApiError(400, f"Invalid value at '{name}', \"{value}\"")
    return str(value)


def _current_region(filled: set[tuple[int, int]], seed: tuple[int, int]) -> Box:
    """The table around `seed`: grow over neighbouring non-empty cells (diagonals too)
    until the rectangle is bordered by empty cells, as "the table" of values.append."""
    r0 = r1 = seed[0]
    c0 = c1 = seed[1]
    seen = {seed}
    frontier = [seed]
    while True:
        while frontier:
            row, col = frontier.pop()
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    near = (row + dr, col + dc)
                    if near in filled and near not in seen:
                        seen.add(near)
                        frontier.append(near)
                        r0, r1, c0, c1 = min(r0, near[0]), max(r1, near[0]), min(c0, near[1]), max(c1, near[1])
        # Cells inside or touching the bounding box belong to it even when not connected.
        extra = [p for p in filled if p not in seen and r0 - 1 <= p[0] <= r1 + 1 and c0 - 1 <= p[1] <= c1 + 1]
        if not extra:
            return Box(r0, r1 + 1, c0, c1 + 1)
        for p in extra:
            seen.add(p)
            frontier.append(p)
            r0, r1, c0, c1 = min(r0, p[0]), max(r1, p[0]), min(c0, p[1]), max(c1, p[1])


class SheetsStandIn(StandIn):
    """Google Sheets v4 + Drive v3 (files, permissions) in memory, over real HTTP."""

    name = "sheets"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        write_quota_per_minute: int = 60,
        read_quota_per_minute: int = 60,
        quota_window_seconds: float = 60.0,
        require_auth: bool = False,
        seed: int | None = None,
    ) -> None:
        self.write_quota_per_minute = write_quota_per_minute
        self.read_quota_per_minute = read_quota_per_minute
        self.quota_window_seconds = quota_window_seconds
        self.require_auth = require_auth
        self.write_requests = 0
        self.read_requests = 0
        self.throttled_count = 0
        # The Cloud project number of a service account whose project has the Sheets API disabled (`disable_api`).
        self.api_disabled_in: str | None = None
        # Requests as they come in, before any fault delay or answer (`log` has them once answered):
        # a test can act while a write is in flight.
        self.arrivals: list[Logged] = []
        self._books: dict[str, _Spreadsheet] = {}
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        self._random = random.Random(seed)
        super().__init__(host, port)
        self._changed = threading.Condition(self.lock)

    # -- routes -------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        sid = r"/v4/spreadsheets/(?P<sid>[^/:]+)"
        fid = r"/drive/v3/files/(?P<fid>[^/:]+)"
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("POST", r"/v4/spreadsheets", self._create),
            ("GET", sid, self._get),
            ("POST", sid + r":batchUpdate", self._batch_update),
            ("GET", sid + r"/values:batchGet", self._values_batch_get),
            ("POST", sid + r"/values:batchUpdate", self._values_batch_update),
            ("POST", sid + r"/values:batchClear", self._values_batch_clear),
            ("POST", sid + r"/values:batchGetByDataFilter", self._values_batch_get_by_filter),
            ("POST", sid + r"/values/(?P<rng>.+):append", self._values_append),
            ("POST", sid + r"/values/(?P<rng>.+):clear", self._values_clear),
            ("GET", sid + r"/values/(?P<rng>.+)", self._values_get),
            ("PUT", sid + r"/values/(?P<rng>.+)", self._values_update),
            ("POST", r"/drive/v3/files", self._drive_create),
            ("GET", r"/drive/v3/files", self._drive_list),
            ("GET", fid, self._drive_get),
            ("PATCH", fid, self._drive_patch),
            ("DELETE", fid, self._drive_delete),
            ("POST", fid + r"/copy", self._drive_copy),
            ("GET", fid + r"/permissions", self._permissions_list),
            ("POST", fid + r"/permissions", self._permissions_create),
            ("DELETE", fid + r"/permissions/(?P<pid>[^/]+)", self._permissions_delete),
        ]
        return [(method, pattern, self._guarded(handler)) for method, pattern, handler in table]

    def _guarded(self, handler: Callable[..., Any]) -> Callable[..., Response]:
        def run(request: Request, **params: str) -> Response:
            try:
                result = handler(request, **params)
            except ApiError as exc:
                return self._google_error(exc.status, exc.message, exc.details, drive="/drive/" in request.path)
            except json.JSONDecodeError as exc:
                return self._google_error(400, f"Invalid JSON payload received. {exc}", drive="/drive/" in request.path)
            return result if isinstance(result, Response) else Response(200, result)

        return run

    # -- error shapes, quotas -----------------------------------------------------
    def _google_error(
        self, status: int, message: str, details: list[Any] | None = None, drive: bool = False
    ) -> Response:
        if drive:
            # Drive v3 speaks the older shape: an `errors` list instead of `status`.
            reason = {403: "forbidden", 404: "notFound", 429: "rateLimitExceeded"}.get(status, "badRequest")
            if status >= 500:
                reason = "backendError"
            error = {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
            }
            return Response(status, {"error": error})
        error = {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}
        if details:
            error["details"] = details
        return Response(status, {"error": error})

    def error_response(self, status: int, message: str) -> Response:
        if message == "injected fault":
            message = _CANONICAL_MESSAGES.get(status, message)
        return self._google_error(status, message)

    def throttled_response(self, retry_after: float, metric: str = "Write") -> Response:
        with self.lock:
            self.throttled_count += 1
        limit = self.write_quota_per_minute if metric == "Write" else self.read_quota_per_minute
        snake = metric.lower()
        message = (
            f"Quota exceeded for quota metric '{metric} requests' and limit '{metric} requests per minute per user' "
            "of service 'sheets.googleapis.com' for consumer 'project_number:424242424242'."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "quota_location": "global",
                    "quota_metric": f"sheets.googleapis.com/{snake}_requests",
                    "quota_limit": f"{metric}RequestsPerMinutePerUser",
                    "quota_limit_value": str(limit),
                    "consumer": "projects/424242424242",
                    "service": "sheets.googleapis.com",
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Request a higher quota limit.",
                        "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                    }
                ],
            },
        ]
        response = self._google_error(429, message, details)
        response.headers.update(retry_after_header(retry_after))
        return response

    def _api_disabled_response(self, project: str) -> Response:
        """403 PERMISSION_DENIED as Google answers when the API is not enabled in the caller's project.

        The same status as a sheet not shared with the caller, told apart only by the body: the
        message, and an ErrorInfo with reason SERVICE_DISABLED (cloud.google.com/apis/design/errors,
        "ErrorInfo"; the shape of the answers Google gives to gspread and google-api-python-client).
        """
        activation = f"https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?project={project}"
        message = (
            f"Google Sheets API has not been used in project {project} before or it is disabled. Enable it by "
            f"visiting {activation} then retry. If you enabled this API recently, wait a few minutes for the "
            "action to propagate to our systems and retry."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "consumer": f"projects/{project}",
                    "service": "sheets.googleapis.com",
                    "serviceTitle": "Google Sheets API",
                    "containerInfo": project,
                    "activationUrl": activation,
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": activation}],
            },
        ]
        return self._google_error(403, message, details)

    def disable_api(self, project: str = "424242424242") -> None:
        """The service account's Cloud project has the Sheets API off: every v4 request answers 403."""
        with self.lock:
            self.api_disabled_in = project

    def enable_api(self) -> None:
        with self.lock:
            self.api_disabled_in = None

    def before(self, request: Request) -> Response | None:
        credentials = request.headers.get("authorization", "")
        if self.require_auth and not credentials:
            return self._google_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
            )
        if not request.path.startswith("/v4/"):
            return None  # Drive has quotas of its own, not modelled
        if self.api_disabled_in is not None:
            # Checked before the quota, as Google does: a disabled API counts no request.
            return self._api_disabled_response(self.api_disabled_in)
        # "Read/Write requests per minute per user per project": one window per caller (a service
        # account is one user) over every spreadsheet it touches, not one per spreadsheet
        # (developers.google.com/sheets/api/limits).
        kind = "Read" if request.method == "GET" else "Write"
        limit = self.read_quota_per_minute if kind == "Read" else self.write_quota_per_minute
        with self.lock:
            window = self._windows.get((credentials, kind))
            if window is None or window.limit != limit:
                window = SlidingWindow(limit, self.quota_window_seconds)
                self._windows[(credentials, kind)] = window
        wait = window.take()
        if wait > 0:
            return self.throttled_response(wait, metric=kind)
        with self.lock:
            if kind == "Read":
                self.read_requests += 1
            else:
                self.write_requests += 1
        return None

    def start(self) -> SheetsStandIn:
        super().start()
        # The handler writes headers and body as two segments; with Nagle on, the
        # body waits for the client's delayed ACK, ~40 ms on every request.
        if self._server is not None:
            setattr(self._server.RequestHandlerClass, "disable_nagle_algorithm", True)  # noqa: B010
        return self

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.arrivals.append(Logged(request.method, request.path, 0, time.time()))
        response = super().handle(request)
        with self._changed:
            self._changed.notify_all()
        return response

    # -- helpers shared by the endpoints ------------------------------------------
    def _new_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        while True:
            candidate = "1" + "".join(self._random.choice(alphabet) for _ in range(43))
            if candidate not in self._books:
                return candidate

    def _new_sheet_id(self, book: _Spreadsheet) -> int:
        taken = {s.sheet_id for s in book.sheets}
        while True:
            candidate = self._random.randint(1, 2**31 - 1)
            if candidate not in taken:
                return candidate

    def _open(self, sid: str) -> _Spreadsheet:
        book = self._books.get(sid)
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        if not book.shared:
            raise ApiError(403, "The caller does not have permission")
        return book

    def _resolve(self, book: _Spreadsheet, a1: str) -> tuple[_Sheet, A1Range]:
        try:
            title, cells = split_sheet_name(a1)
        except ValueError:
            raise ApiError(400, f"Unable to parse range: {a1}") from None
        if title is None:
            try:
                return book.sheets[0], parse_cells(cells or "")
            except ValueError:
                title, cells = cells, None
        sheet = book.by_title(title or "")
        if sheet is None:
            raise ApiError(400, f"Unable to parse range: {a1}")
        if cells is None or cells == "":
            return sheet, A1Range(None, None, None, None)
        try:
            return sheet, parse_cells(cells)
        except ValueError:
            raise ApiError(400, f"Unable to parse range: {a1}") from None

    @staticmethod
    def _box(sheet: _Sheet, rng: A1Range) -> Box:
        """Clamp open or oversized ends to the grid; a start outside the grid is an error."""
        r0 = rng.start_row or 0
        c0 = rng.start_col or 0
        r1 = sheet.rows if rng.end_row is None else min(rng.end_row, sheet.rows)
        c1 = sheet.cols if rng.end_col is None else min(rng.end_col, sheet.cols)
        if r0 >= sheet.rows or c0 >= sheet.cols:
            asked = format_cells(Box(r0, max(r0 + 1, rng.end_row or 0), c0, max(c0 + 1, rng.end_col or 0)))
            raise ApiError(
                400,
                f"Range ({quote_sheet_title(sheet.title)}!{asked}) exceeds grid limits. "
                f"Max rows: {sheet.rows}, max columns: {sheet.cols}",
            )
        return Box(r0, r1, c0, c1)

    @staticmethod
    def _render_box(sheet: _Sheet, box: Box, option: str, major: str) -> list[list[Any]]:
        hits = [
            (r, c)
            for (r, c), cell in sheet.cells.items()
            if cell.has_value and box.r0 <= r < box.r1 and box.c0 <= c < box.c1
        ]
        if not hits:
            return []
        if major == "COLUMNS":
            last_col = max(c for _, c in hits)
            columns: list[list[Any]] = []
            for col in range(box.c0, last_col + 1):
                rows_here = [r for r, c in hits if c == col]
                end = max(rows_here) + 1 if rows_here else box.r0
                columns.append([sheet.get(r, col).render(option) for r in range(box.r0, end)])
            return columns
        last_row = max(r for r, _ in hits)
        by_row: dict[int, int] = {}
        for r, c in hits:
            by_row[r] = max(by_row.get(r, -1), c)
        rows: list[list[Any]] = []
        for row in range(box.r0, last_row + 1):
            end = by_row[row] + 1 if row in by_row else box.c0
            rows.append([sheet.get(row, col).render(option) for col in range(box.c0, end)])
        return rows

    def _value_range(self, sheet: _Sheet, box: Box, option: str, major: str) -> dict[str, Any]:
        out: dict[str, Any] = {"range": format_range(sheet.title, box), "majorDimension": major}
        values = self._render_box(sheet, box, option, major)
        if values:
            out["values"] = values
        return out

    @staticmethod
    def _check_cells_limit(book: _Spreadsheet) -> None:
        # "Up to 10 million cells or 18,278 columns (column ZZZ) for spreadsheets that are created
        # in or converted to Google Sheets" (support.google.com/drive/answer/37603), counted over
        # every tab's grid, empty cells included; a request that would pass it fails with 400.
        if book.cell_count() > 10_000_000:
            raise _Invalid(
                "This action would increase the number of cells in the workbook above the limit of 10000000 cells."
            )

    def _write(
        self,
        book: _Spreadsheet,
        a1: str,
        body: Mapping[str, Any],
        input_option: str,
        *,
        at: tuple[_Sheet, int, int] | None = None,
        grow: bool = False,
        include_values: bool = False,
        render: str = "FORMATTED_VALUE",
    ) -> dict[str, Any]:
        """Write a ValueRange; `at` overrides where (append), `grow` lets the grid expand."""
        sheet, rng = self._resolve(book, a1)
        major = _enum("majorDimension", body.get("majorDimension"), _DIMENSIONS, "ROWS")
        values = body.get("values") or []
        if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
            raise ApiError(400, "Invalid JSON payload received. 'values' must be a list of lists.")
        grid = [list(row) for row in values]
        if major == "COLUMNS":
            width = max((len(col) for col in grid), default=0)
            grid = [[col[i] if i < len(col) else None for col in grid] for i in range(width)]
        if at is not None:
            sheet, r0, c0 = at
        else:
            r0, c0 = rng.start_row or 0, rng.start_col or 0
        nrows = len(grid)
        ncols = max((len(row) for row in grid), default=0)
        # A single cell ("'Sheet1'!A1") only anchors the write; a real range bounds it.
        anchored = ":" not in (split_sheet_name(a1)[1] or ":")
        if at is None and nrows and ncols and not anchored:
            if rng.end_row is not None and r0 + nrows > rng.end_row:
                raise ApiError(400, f"Requested writing within range [{a1}], but tried writing to row [{r0 + nrows}]")
            if rng.end_col is not None and c0 + ncols > rng.end_col:
                last = column_letters(c0 + ncols - 1)
                raise ApiError(400, f"Requested writing within range [{a1}], but tried writing to column [{last}]")
        if nrows and ncols and (r0 + nrows > sheet.rows or c0 + ncols > sheet.cols):
            if not grow:
                box = Box(r0, r0 + nrows, c0, c0 + ncols)
                raise ApiError(
                    400,
                    f"Range ({format_range(sheet.title, box)}) exceeds grid limits. "
                    f"Max rows: {sheet.rows}, max columns: {sheet.cols}",
                )
            sheet.grid["rowCount"] = max(sheet.rows, r0 + nrows)
            sheet.grid["columnCount"] = max(sheet.cols, c0 + ncols)
            try:
                self._check_cells_limit(book)
            except _Invalid as exc:
                raise ApiError(400, str(exc)) from None
        user_entered = input_option == "USER_ENTERED"
        used_rows: set[int] = set()
        used_cols: set[int] = set()
        count = 0
        for i, row in enumerate(grid):
            for j, raw in enumerate(row):
                try:
                    parsed = parse_input(raw, user_entered)
                except InvalidValue as exc:
                    raise ApiError(400, f"Invalid values[{i}][{j}]: {exc}") from None
                if parsed is None:
                    continue
                value, formula = parsed
                sheet.set_value(r0 + i, c0 + j, value, formula)
                used_rows.add(i)
                used_cols.add(j)
                count += 1
        box = Box(r0, r0 + max(nrows, 1), c0, c0 + max(ncols, 1))
        result: dict[str, Any] = {"spreadsheetId": book.id, "updatedRange": format_range(sheet.title, box)}
        if count:
            result.update(updatedRows=len(used_rows), updatedColumns=len(used_cols), updatedCells=count)
        if include_values:
            result["updatedData"] = self._value_range(sheet, box, render, "ROWS")
        result["_sheet"] = sheet.title  # stripped before answering; totals per sheet need it
        result["_cells"] = {(sheet.title, r0 + i) for i in used_rows}, {(sheet.title, c0 + j) for j in used_cols}
        return result

    @staticmethod
    def _public(result: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in result.items() if not k.startswith("_")}

    def _touch(self, book: _Spreadsheet) -> None:
        book.modified = _now()

    # -- spreadsheets ---------------------------------------------------------------
    def _resource(
        self,
        book: _Spreadsheet,
        ranges: Sequence[str] = (),
        grid_data: bool = False,
    ) -> dict[str, Any]:
        wanted: dict[int, list[Box]] = {}
        for a1 in ranges:
            sheet, rng = self._resolve(book, a1)
            wanted.setdefault(sheet.sheet_id, []).append(self._box(sheet, rng))
        sheets = []
        for sheet in book.sheets:
            if ranges and sheet.sheet_id not in wanted:
                continue
            entry: dict[str, Any] = {"properties": sheet.resource_props()}
            if grid_data:
                boxes = wanted.get(sheet.sheet_id) or [Box(0, sheet.rows, 0, sheet.cols)]
                entry["data"] = [self._grid_data(sheet, box) for box in boxes]
            sheets.append(entry)
        props = {
            "title": book.props.get("title", ""),
            "locale": book.props.get("locale", "en_US"),
            "autoRecalc": book.props.get("autoRecalc", "ON_CHANGE"),
            "timeZone": book.props.get("timeZone", "Etc/GMT"),
            "defaultFormat": copy.deepcopy(_DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(_DEFAULT_THEME),
        }
        for key, value in book.props.items():
            props.setdefault(key, copy.deepcopy(value))
        return {
            "spreadsheetId": book.id,
            "properties": props,
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }

    @staticmethod
    def _grid_data(sheet: _Sheet, box: Box) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if box.r0:
            data["startRow"] = box.r0
        if box.c0:
            data["startColumn"] = box.c0
        present = [(r, c) for (r, c) in sheet.cells if box.r0 <= r < box.r1 and box.c0 <= c < box.c1]
        rows: list[dict[str, Any]] = []
        if present:
            last_row = max(r for r, _ in present)
            for row in range(box.r0, last_row + 1):
                cols = [c for r, c in present if r == row]
                if not cols:
                    rows.append({})
                    continue
                values = []
                for col in range(box.c0, max(cols) + 1):
                    cell = sheet.get(row, col)
                    cell_json = cell.to_json()
                    if cell.has_value:
                        cell_json["formattedValue"] = cell.render("FORMATTED_VALUE")
                        if cell.formula is None:
                            kind = next(iter(cell_json["userEnteredValue"]))
                            cell_json["effectiveValue"] = {kind: cell_json["userEnteredValue"][kind]}
                    values.append(cell_json)
                rows.append({"values": values})
        data["rowData"] = rows
        data["rowMetadata"] = [{"pixelSize": 21} for _ in range(box.rows)]
        data["columnMetadata"] = [{"pixelSize": 100} for _ in range(box.cols)]
        return data

    def _create(self, request: Request) -> Any:
        body = request.json()
        props = dict(body.get("properties") or {})
        titles = [str((s.get("properties") or {}).get("title") or "") for s in body.get("sheets") or []]
        with self.lock:
            sid = self._build(
                props.pop("title", None) or "Untitled spreadsheet", None, titles or ["Sheet1"], True, props
            )
            for spec, sheet in zip(body.get("sheets") or [], self._books[sid].sheets, strict=False):
                grid = (spec.get("properties") or {}).get("gridProperties") or {}
                sheet.grid.update({k: v for k, v in grid.items() if isinstance(v, int)})
            return self._resource(self._books[sid])

    def _get(self, request: Request, sid: str) -> Any:
        ranges = request.query.get("ranges", [])
        fields = request.arg("fields")
        try:
            paths = parse_field_mask(fields) if fields else []
        except ValueError as exc:
            raise ApiError(400, f"Invalid field selection: {exc}") from None
        grid_data = _flag(request.arg("includeGridData")) or any(p[:2] in (("sheets", "data"), ("*",)) for p in paths)
        with self.lock:
            book = self._open(sid)
            resource = self._resource(book, ranges, grid_data)
        return filter_fields(resource, paths) if paths else resource

    # -- batchUpdate ------------------------------------------------------------------
    def _batch_update(self, request: Request, sid: str) -> Any:
        body = request.json()
        subrequests = body.get("requests")
        if not isinstance(subrequests, list) or not subrequests:
            raise ApiError(400, "Must specify at least one request.")
        with self.lock:
            book = self._open(sid)
            work = book.copy()
            replies = []
            for i, sub in enumerate(subrequests):
                if not isinstance(sub, dict) or len(sub) != 1:
                    raise ApiError(400, f"Invalid requests[{i}]: each request must set exactly one kind")
                ((kind, payload),) = sub.items()
                apply = self._SUBREQUESTS.get(kind)
                if apply is None:
                    raise ApiError(400, f"Invalid requests[{i}]: '{kind}' is not modelled by the Sheets stand-in")
                try:
                    replies.append(apply(self, work, payload or {}))
                except _Invalid as exc:
                    raise ApiError(400, f"Invalid requests[{i}].{kind}: {exc}") from None
                except (TypeError, ValueError, KeyError) as exc:
                    raise ApiError(400, f"Invalid requests[{i}].{kind}: {exc!r}") from None
            # Atomic: the copy replaces the original only when every sub-request applied.
            book.props, book.sheets = work.props, work.sheets
            self._touch(book)
            response: dict[str, Any] = {"spreadsheetId": sid, "replies": replies}
            if body.get("includeSpreadsheetInResponse"):
                ranges = body.get("responseRanges") or []
                response["updatedSpreadsheet"] = self._resource(book, ranges, bool(body.get("responseIncludeGridData")))
        return response

    def _grid_range(self, book: _Spreadsheet, grid: Mapping[str, Any], clamp: bool) -> tuple[_Sheet, Box]:
        sheet = book.by_id(grid.get("sheetId", 0))
        r0 = int(grid.get("startRowIndex", 0))
        c0 = int(grid.get("startColumnIndex", 0))
        r1 = int(grid.get("endRowIndex", sheet.rows))
        c1 = int(grid.get("endColumnIndex", sheet.cols))
        if min(r0, c0, r1, c1) < 0 or r0 > r1 or c0 > c1:
            raise _Invalid(f"Invalid range: {dict(grid)}")
        if clamp:
            return sheet, Box(min(r0, sheet.rows), min(r1, sheet.rows), min(c0, sheet.cols), min(c1, sheet.cols))
        if r1 > sheet.rows:
            raise _Invalid(f"GridCoordinate.rowIndex[{r1 - 1}] is after last row in grid[{sheet.rows - 1}]")
        if c1 > sheet.cols:
            raise _Invalid(f"GridCoordinate.columnIndex[{c1 - 1}] is after last column in grid[{sheet.cols - 1}]")
        return sheet, Box(r0, r1, c0, c1)

    @staticmethod
    def _mask(payload: Mapping[str, Any]) -> list[FieldPath]:
        fields = payload.get("fields")
        if not fields:
            raise _Invalid("At least one field must be specified in 'fields'.")
        return parse_field_mask(str(fields))

    @staticmethod
    def _apply_cell(sheet: _Sheet, row: int, col: int, source: Mapping[str, Any], paths: Sequence[FieldPath]) -> None:
        current = sheet.get(row, col)
        merged = apply_fields(current.to_json(), source, paths)
        sheet.put(row, col, _Cell.from_json(merged))

    def _add_sheet(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        given = copy.deepcopy(dict(payload.get("properties") or {}))
        sheet_id = given.pop("sheetId", None)
        if sheet_id is None:
            sheet_id = self._new_sheet_id(book)
        elif any(s.sheet_id == sheet_id for s in book.sheets):
            raise _Invalid(f"A sheet with the ID {sheet_id} already exists.")
        title = given.pop("title", None)
        if title is None:
            n = len(book.sheets) + 1
            while book.by_title(f"Sheet{n}") is not None:
                n += 1
            title = f"Sheet{n}"
        if not str(title).strip():
            raise _Invalid("The sheet name cannot be empty.")
        if book.by_title(str(title)) is not None:  # names are unique regardless of case
            raise _Invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
        index = given.pop("index", None)
        grid = given.pop("gridProperties", {}) or {}
        props: dict[str, Any] = {
            "sheetId": sheet_id,
            "title": title,
            "index": 0,
            "sheetType": given.pop("sheetType", "GRID"),
            "gridProperties": {"rowCount": grid.get("rowCount", 1000), "columnCount": grid.get("columnCount", 26)},
        }
        for key in ("frozenRowCount", "frozenColumnCount"):
            if grid.get(key):
                props["gridProperties"][key] = grid[key]
        props.update(given)
        sheet = _Sheet(props)
        self._validate_grid(sheet)
        position = len(book.sheets) if index is None else max(0, min(int(index), len(book.sheets)))
        book.sheets.insert(position, sheet)
        book.reindex()
        self._check_cells_limit(book)
        return {"addSheet": {"properties": sheet.resource_props()}}

    def _delete_sheet(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet = book.by_id(payload.get("sheetId"))
        if len(book.sheets) == 1:
            raise _Invalid("You can't remove all the sheets in a document.")
        book.sheets.remove(sheet)
        book.reindex()
        return {}

    def _duplicate_sheet(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        source = book.by_id(payload.get("sourceSheetId"))
        clone = source.copy()
        new_id = payload.get("newSheetId")
        clone.props["sheetId"] = self._new_sheet_id(book) if new_id is None else new_id
        if any(s.sheet_id == clone.sheet_id for s in book.sheets):
            raise _Invalid(f"A sheet with the ID {clone.sheet_id} already exists.")
        title = payload.get("newSheetName") or f"Copy of {source.title}"
        if book.by_title(title) is not None:
            raise _Invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
        clone.props["title"] = title
        index = payload.get("insertSheetIndex")
        book.sheets.insert(len(book.sheets) if index is None else int(index), clone)
        book.reindex()
        self._check_cells_limit(book)
        return {"duplicateSheet": {"properties": clone.resource_props()}}

    @staticmethod
    def _validate_grid(sheet: _Sheet) -> None:
        grid = sheet.grid
        for key in ("rowCount", "columnCount"):
            if not isinstance(grid.get(key), int) or grid[key] < 1:
                raise _Invalid(f"gridProperties.{key} must be a positive number, not {grid.get(key)!r}.")
        if sheet.cols > MAX_COLUMNS:
            raise _Invalid(
                f"This action would increase the number of columns in the sheet above the limit of {MAX_COLUMNS}."
            )
        frozen_rows = grid.get("frozenRowCount", 0) or 0
        frozen_cols = grid.get("frozenColumnCount", 0) or 0
        if frozen_rows < 0 or frozen_cols < 0:
            raise _Invalid("Frozen counts cannot be negative.")
        if frozen_rows >= sheet.rows:
            raise _Invalid("You can't freeze all visible rows on the sheet.")
        if frozen_cols >= sheet.cols:
            raise _Invalid("You can't freeze all visible columns on the sheet.")

    def _update_sheet_properties(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        source = payload.get("properties") or {}
        sheet = book.by_id(source.get("sheetId"))
        paths = self._mask(payload)
        before_title = sheet.title
        updated = apply_fields(sheet.props, source, [p for p in paths if p[0] != "sheetId"])
        updated["sheetId"] = sheet.sheet_id
        index = updated.get("index", sheet.props.get("index"))
        sheet.props = updated
        title = updated.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _Invalid("The sheet name cannot be empty.")
        clash = book.by_title(title)
        if title != before_title and clash is not None and clash is not sheet and clash.title.lower() == title.lower():
            raise _Invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
        self._validate_grid(sheet)
        sheet.truncate()
        if index is not None and index != book.sheets.index(sheet):
            book.sheets.remove(sheet)
            book.sheets.insert(max(0, min(int(index), len(book.sheets))), sheet)
        book.reindex()
        self._check_cells_limit(book)
        return {}

    def _update_spreadsheet_properties(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        book.props = apply_fields(book.props, payload.get("properties") or {}, self._mask(payload))
        if not str(book.props.get("title") or "").strip():
            raise _Invalid("The spreadsheet title cannot be empty.")
        return {}

    def _repeat_cell(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet, box = self._grid_range(book, payload.get("range") or {}, clamp=True)
        source = payload.get("cell") or {}
        paths = self._mask(payload)
        for row in range(box.r0, box.r1):
            for col in range(box.c0, box.c1):
                self._apply_cell(sheet, row, col, source, paths)
        return {}

    def _update_cells(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        paths = self._mask(payload)
        rows = [list((r or {}).get("values") or []) for r in payload.get("rows") or []]
        if "range" in payload:
            sheet, box = self._grid_range(book, payload["range"], clamp=False)
            if len(rows) > box.rows or any(len(r) > box.cols for r in rows):
                raise _Invalid("The rows do not fit in the given range.")
            # Cells of the range that `rows` does not reach are cleared per `fields`.
            for i in range(box.rows):
                for j in range(box.cols):
                    source = rows[i][j] if i < len(rows) and j < len(rows[i]) else {}
                    self._apply_cell(sheet, box.r0 + i, box.c0 + j, source or {}, paths)
            return {}
        start = payload.get("start") or {}
        sheet = book.by_id(start.get("sheetId", 0))
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        height = len(rows)
        width = max((len(r) for r in rows), default=0)
        if r0 + height > sheet.rows:
            raise _Invalid(f"GridCoordinate.rowIndex[{r0 + height - 1}] is after last row in grid[{sheet.rows - 1}]")
        if c0 + width > sheet.cols:
            raise _Invalid(
                f"GridCoordinate.columnIndex[{c0 + width - 1}] is after last column in grid[{sheet.cols - 1}]"
            )
        for i, row in enumerate(rows):
            for j, source in enumerate(row):
                self._apply_cell(sheet, r0 + i, c0 + j, source or {}, paths)
        return {}

    def _append_cells(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet = book.by_id(payload.get("sheetId"))
        paths = self._mask(payload)
        rows = [list((r or {}).get("values") or []) for r in payload.get("rows") or []]
        start = max((r for r, _ in sheet.filled()), default=-1) + 1
        width = max((len(r) for r in rows), default=0)
        sheet.grid["rowCount"] = max(sheet.rows, start + len(rows))
        sheet.grid["columnCount"] = max(sheet.cols, width)
        self._check_cells_limit(book)
        for i, row in enumerate(rows):
            for j, source in enumerate(row):
                self._apply_cell(sheet, start + i, j, source or {}, paths)
        return {}

    @staticmethod
    def _dimension_range(book: _Spreadsheet, payload: Mapping[str, Any]) -> tuple[_Sheet, str, int, int]:
        rng = payload.get("range") or {}
        sheet = book.by_id(rng.get("sheetId"))
        dimension = rng.get("dimension")
        if dimension not in _DIMENSIONS:
            raise _Invalid(f"Invalid dimension: {dimension!r}")
        size = sheet.rows if dimension == "ROWS" else sheet.cols
        start = int(rng.get("startIndex", 0))
        end = int(rng.get("endIndex", size))
        if start < 0 or end <= start:
            raise _Invalid(f"Invalid dimension range: startIndex {start}, endIndex {end}")
        return sheet, dimension, start, end

    def _insert_dimension(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(book, payload)
        size = sheet.rows if dimension == "ROWS" else sheet.cols
        if start > size:
            raise _Invalid(f"Cannot insert at index {start}: the sheet only has {size} {dimension.lower()}.")
        if payload.get("inheritFromBefore") and start == 0:
            raise _Invalid("Cannot inherit from before the first row or column.")
        sheet.insert(dimension, start, end - start)
        self._check_cells_limit(book)
        return {}

    def _append_dimension(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet = book.by_id(payload.get("sheetId"))
        dimension = payload.get("dimension")
        length = int(payload.get("length", 0))
        if dimension not in _DIMENSIONS or length < 1:
            raise _Invalid(f"Invalid appendDimension: dimension {dimension!r}, length {length}")
        key = "rowCount" if dimension == "ROWS" else "columnCount"
        sheet.grid[key] = (sheet.rows if dimension == "ROWS" else sheet.cols) + length
        self._validate_grid(sheet)
        self._check_cells_limit(book)
        return {}

    def _delete_dimension(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(book, payload)
        size = sheet.rows if dimension == "ROWS" else sheet.cols
        if end > size:
            raise _Invalid(f"Invalid dimension range: endIndex {end} is past the last of {size} {dimension.lower()}.")
        if start == 0 and end == size:
            raise _Invalid(f"You can't delete all the {dimension.lower()} on the sheet.")
        sheet.delete(dimension, start, end)
        key = "frozenRowCount" if dimension == "ROWS" else "frozenColumnCount"
        frozen = sheet.grid.get(key, 0) or 0
        if frozen:
            sheet.grid[key] = min(frozen, (sheet.rows if dimension == "ROWS" else sheet.cols) - 1)
        return {}

    def _accepted(self, book: _Spreadsheet, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Requests that change only presentation we do not model; sheet ids are still checked."""

        def sheet_ids(node: Any) -> Iterable[Any]:
            if isinstance(node, Mapping):
                for key, value in node.items():
                    if key == "sheetId":
                        yield value
                    else:
                        yield from sheet_ids(value)
            elif isinstance(node, list):
                for item in node:
                    yield from sheet_ids(item)

        for sheet_id in sheet_ids(payload):
            book.by_id(sheet_id)
        return {}

    _SUBREQUESTS: ClassVar[dict[str, Callable[[SheetsStandIn, _Spreadsheet, Mapping[str, Any]], dict[str, Any]]]] = {
        "addSheet": _add_sheet,
        "deleteSheet": _delete_sheet,
        "duplicateSheet": _duplicate_sheet,
        "updateSheetProperties": _update_sheet_properties,
        "updateSpreadsheetProperties": _update_spreadsheet_properties,
        "repeatCell": _repeat_cell,
        "updateCells": _update_cells,
        "appendCells": _append_cells,
        "insertDimension": _insert_dimension,
        "appendDimension": _append_dimension,
        "deleteDimension": _delete_dimension,
        "updateDimensionProperties": _accepted,
        "autoResizeDimensions": _accepted,
        "updateBorders": _accepted,
        "setDataValidation": _accepted,
        "mergeCells": _accepted,
        "unmergeCells": _accepted,
        "setBasicFilter": _accepted,
        "clearBasicFilter": _accepted,
    }

    # -- values ---------------------------------------------------------------------
    @staticmethod
    def _range_param(rng: str) -> str:
        return unquote(rng)

    def _values_get(self, request: Request, sid: str, rng: str) -> Any:
        a1 = self._range_param(rng)
        major = _enum("majorDimension", request.arg("majorDimension"), _DIMENSIONS, "ROWS")
        option = _enum("valueRenderOption", request.arg("valueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE")
        with self.lock:
            book = self._open(sid)
            sheet, parsed = self._resolve(book, a1)
            return self._value_range(sheet, self._box(sheet, parsed), option, major)

    def _values_batch_get(self, request: Request, sid: str) -> Any:
        major = _enum("majorDimension", request.arg("majorDimension"), _DIMENSIONS, "ROWS")
        option = _enum("valueRenderOption", request.arg("valueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE")
        with self.lock:
            book = self._open(sid)
            ranges = []
            for a1 in request.query.get("ranges", []):
                sheet, parsed = self._resolve(book, a1)
                ranges.append(self._value_range(sheet, self._box(sheet, parsed), option, major))
        response: dict[str, Any] = {"spreadsheetId": sid}
        if ranges:
            response["valueRanges"] = ranges
        return response

    def _values_batch_get_by_filter(self, request: Request, sid: str) -> Any:
        body = request.json()
        major = _enum("majorDimension", body.get("majorDimension"), _DIMENSIONS, "ROWS")
        option = _enum("valueRenderOption", body.get("valueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE")
        with self.lock:
            book = self._open(sid)
            matched = []
            for data_filter in body.get("dataFilters") or []:
                if "a1Range" in data_filter:
                    sheet, parsed = self._resolve(book, str(data_filter["a1Range"]))
                    box = self._box(sheet, parsed)
                elif "gridRange" in data_filter:
                    try:
                        sheet, box = self._grid_range(book, data_filter["gridRange"], clamp=True)
                    except _Invalid as exc:
                        raise ApiError(400, str(exc)) from None
                else:
                    raise ApiError(400, "Only a1Range and gridRange data filters are modelled by the stand-in.")
                matched.append(
                    {"valueRange": self._value_range(sheet, box, option, major), "dataFilters": [data_filter]}
                )
        response: dict[str, Any] = {"spreadsheetId": sid}
        if matched:
            response["valueRanges"] = matched
        return response

    def _values_update(self, request: Request, sid: str, rng: str) -> Any:
        a1 = self._range_param(rng)
        option = _enum("valueInputOption", request.arg("valueInputOption"), _VALUE_INPUT)
        render = _enum(
            "responseValueRenderOption", request.arg("responseValueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE"
        )
        body = request.json()
        with self.lock:
            book = self._open(sid)
            body_range = body.get("range")
            if body_range:
                url_sheet, url_rng = self._resolve(book, a1)
                body_sheet, body_rng = self._resolve(book, str(body_range))
                if (url_sheet.sheet_id, url_rng) != (body_sheet.sheet_id, body_rng):
                    raise ApiError(
                        400,
                        f"Invalid ValueRange range: {body_range}. The range in the body must match the URL ({a1}).",
                    )
            work = book.copy()
            result = self._write(
                work, a1, body, option, include_values=_flag(request.arg("includeValuesInResponse")), render=render
            )
            book.sheets = work.sheets
            self._touch(book)
        return self._public(result)

    def _values_append(self, request: Request, sid: str, rng: str) -> Any:
        a1 = self._range_param(rng)
        option = _enum("valueInputOption", request.arg("valueInputOption"), _VALUE_INPUT)
        insert = _enum("insertDataOption", request.arg("insertDataOption"), ("OVERWRITE", "INSERT_ROWS"), "OVERWRITE")
        render = _enum(
            "responseValueRenderOption", request.arg("responseValueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE"
        )
        body = request.json()
        with self.lock:
            book = self._open(sid)
            work = book.copy()
            sheet, parsed = self._resolve(work, a1)
            search = self._box(sheet, parsed)
            filled = sheet.filled()
            inside = sorted(p for p in filled if search.r0 <= p[0] < search.r1 and search.c0 <= p[1] < search.c1)
            table: Box | None = _current_region(filled, inside[0]) if inside else None
            if table is not None:
                row, col = table.r1, table.c0
            else:
                row, col = search.r0, search.c0
            values = body.get("values") or []
            if body.get("majorDimension") == "COLUMNS":
                height = max((len(c) for c in values if isinstance(c, list)), default=0)
            else:
                height = len(values) if isinstance(values, list) else 0
            if insert == "INSERT_ROWS" and height:
                sheet.insert("ROWS", min(row, sheet.rows), height)
            result = self._write(
                work,
                a1,
                body,
                option,
                at=(sheet, row, col),
                grow=True,
                include_values=_flag(request.arg("includeValuesInResponse")),
                render=render,
            )
            book.sheets = work.sheets
            self._touch(book)
        response: dict[str, Any] = {"spreadsheetId": sid}
        if table is not None:
            response["tableRange"] = format_range(sheet.title, table)
        response["updates"] = self._public(result)
        return response

    def _values_clear(self, request: Request, sid: str, rng: str) -> Any:
        a1 = self._range_param(rng)
        with self.lock:
            book = self._open(sid)
            sheet, parsed = self._resolve(book, a1)
            box = self._box(sheet, parsed)
            sheet.clear_values(box)
            self._touch(book)
        return {"spreadsheetId": sid, "clearedRange": format_range(sheet.title, box)}

    def _values_batch_clear(self, request: Request, sid: str) -> Any:
        ranges = request.json().get("ranges") or []
        with self.lock:
            book = self._open(sid)
            targets = []
            for a1 in ranges:
                sheet, parsed = self._resolve(book, str(a1))
                targets.append((sheet, self._box(sheet, parsed)))
            for sheet, box in targets:
                sheet.clear_values(box)
            self._touch(book)
        response: dict[str, Any] = {"spreadsheetId": sid}
        if targets:
            response["clearedRanges"] = [format_range(sheet.title, box) for sheet, box in targets]
        return response

    def _values_batch_update(self, request: Request, sid: str) -> Any:
        body = request.json()
        option = _enum("valueInputOption", body.get("valueInputOption"), _VALUE_INPUT)
        render = _enum(
            "responseValueRenderOption", body.get("responseValueRenderOption"), _VALUE_RENDER, "FORMATTED_VALUE"
        )
        include = bool(body.get("includeValuesInResponse"))
        with self.lock:
            book = self._open(sid)
            work = book.copy()
            results = [
                self._write(work, str(item.get("range") or ""), item, option, include_values=include, render=render)
                for item in body.get("data") or []
            ]
            book.sheets = work.sheets
            self._touch(book)
        response: dict[str, Any] = {"spreadsheetId": sid}
        touched = [r for r in results if "updatedCells" in r]
        if touched:
            rows = set().union(*(r["_cells"][0] for r in touched))
            cols = set().union(*(r["_cells"][1] for r in touched))
            response.update(
                totalUpdatedRows=len(rows),
                totalUpdatedColumns=len(cols),
                totalUpdatedCells=sum(r["updatedCells"] for r in touched),
                totalUpdatedSheets=len({r["_sheet"] for r in touched}),
            )
        if results:
            response["responses"] = [self._public(r) for r in results]
        return response

    # -- Drive ------------------------------------------------------------------------
    def _drive_open(self, fid: str) -> _Spreadsheet:
        book = self._books.get(fid)
        if book is None or not book.shared:
            # Drive hides files the caller cannot see rather than refusing them.
            raise ApiError(404, f"File not found: {fid}.")
        return book

    @staticmethod
    def _file(book: _Spreadsheet) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "kind": "drive#file",
            "id": book.id,
            "name": book.props.get("title", ""),
            "mimeType": _SHEETS_MIME,
            "createdTime": book.created,
            "modifiedTime": book.modified,
            "trashed": False,
            "webViewLink": f"https://docs.google.com/spreadsheets/d/{book.id}/edit?usp=drivesdk",
        }
        if book.parents:
            resource["parents"] = list(book.parents)
        return resource

    @staticmethod
    def _drive_fields(request: Request, resource: Mapping[str, Any], default: Sequence[str]) -> Any:
        fields = request.arg("fields")
        try:
            paths = parse_field_mask(fields) if fields else [(name,) for name in default]
        except ValueError as exc:
            raise ApiError(400, f"Invalid field selection {fields}: {exc}") from None
        return filter_fields(dict(resource), paths)

    def _drive_create(self, request: Request) -> Any:
        body = request.json()
        if body.get("mimeType") != _SHEETS_MIME:
            raise ApiError(400, f"The Sheets stand-in only creates {_SHEETS_MIME} files, not {body.get('mimeType')!r}.")
        with self.lock:
            sid = self._build(str(body.get("name") or "Untitled spreadsheet"), None, ["Sheet1"], True, {})
            self._books[sid].parents = [str(p) for p in body.get("parents") or []]
            resource = self._file(self._books[sid])
        return self._drive_fields(request, resource, ("kind", "id", "name", "mimeType"))

    def _drive_get(self, request: Request, fid: str) -> Any:
        with self.lock:
            resource = self._file(self._drive_open(fid))
        return self._drive_fields(request, resource, ("kind", "id", "name", "mimeType"))

    def _drive_patch(self, request: Request, fid: str) -> Any:
        body = request.json()
        with self.lock:
            book = self._drive_open(fid)
            if "name" in body:
                book.props["title"] = str(body["name"])
            self._touch(book)
            resource = self._file(book)
        return self._drive_fields(request, resource, ("kind", "id", "name", "mimeType"))

    def _drive_delete(self, request: Request, fid: str) -> Any:
        with self.lock:
            self._drive_open(fid)
            del self._books[fid]
        return Response(204, None)

    def _drive_copy(self, request: Request, fid: str) -> Any:
        body = request.json()
        with self.lock:
            source = self._drive_open(fid)
            clone = source.copy()
            clone.id = self._new_id()
            clone.props["title"] = str(body.get("name") or f"Copy of {source.props.get('title', '')}")
            clone.created = clone.modified = _now()
            clone.parents = [str(p) for p in body.get("parents") or source.parents]
            self._books[clone.id] = clone
            resource = self._file(clone)
        return self._drive_fields(request, resource, ("kind", "id", "name", "mimeType"))

    def _drive_list(self, request: Request) -> Any:
        query = request.arg("q") or ""
        name = re.search(r"name\s*=\s*(['\"])(.*?)(?<!\\)\1", query)
        mime = re.search(r"mimeType\s*=\s*(['\"])(.*?)\1", query)
        parent = re.search(r"(['\"])(.*?)\1\s+in\s+parents", query) or re.search(
            r"parents\s+in\s+(['\"])(.*?)\1", query
        )
        with self.lock:
            files = [
                self._file(book)
                for book in self._books.values()
                if book.shared
                and (name is None or book.props.get("title") == name.group(2).replace("\\", ""))
                and (mime is None or mime.group(2) == _SHEETS_MIME)
                and (parent is None or parent.group(2) in book.parents)
            ]
        resource = {"kind": "drive#fileList", "incompleteSearch": False, "files": files}
        fields = request.arg("fields")
        if not fields:
            return filter_fields(
                resource,
                [
                    ("kind",),
                    ("incompleteSearch",),
                    ("files", "kind"),
                    ("files", "id"),
                    ("files", "name"),
                    ("files", "mimeType"),
                ],
            )
        return self._drive_fields(request, resource, ())

    def _permissions_list(self, request: Request, fid: str) -> Any:
        with self.lock:
            permissions = copy.deepcopy(self._drive_open(fid).permissions)
        return {"kind": "drive#permissionList", "permissions": permissions}

    def _permissions_create(self, request: Request, fid: str) -> Any:
        body = request.json()
        if body.get("type") not in ("user", "group", "domain", "anyone"):
            raise ApiError(400, f"Invalid permission type: {body.get('type')!r}")
        if body.get("role") not in ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
            raise ApiError(400, f"Invalid permission role: {body.get('role')!r}")
        with self.lock:
            book = self._drive_open(fid)
            permission = {"kind": "drive#permission", "id": str(self._random.randint(10**19, 10**20 - 1))}
            permission.update({k: v for k, v in body.items() if k in ("type", "role", "emailAddress", "domain")})
            book.permissions.append(permission)
        return copy.deepcopy(permission)

    def _permissions_delete(self, request: Request, fid: str, pid: str) -> Any:
        with self.lock:
            book = self._drive_open(fid)
            kept = [p for p in book.permissions if p.get("id") != pid]
            if len(kept) == len(book.permissions):
                raise ApiError(404, f"Permission not found: {pid}.")
            book.permissions = kept
        return Response(204, None)

    # -- seeding and inspection (thread-safe; everything returned is a copy) -----------
    def _build(
        self,
        title: str,
        spreadsheet_id: str | None,
        sheets: Sequence[str],
        shared: bool,
        props: Mapping[str, Any],
        rows: int = 1000,
        cols: int = 26,
    ) -> str:
        sid = spreadsheet_id or self._new_id()
        if sid in self._books:
            raise ValueError(f"spreadsheet {sid} already exists")
        if not sheets:
            raise ValueError("a spreadsheet needs at least one sheet")
        stamp = _now()
        book = _Spreadsheet(sid, {"title": title, **props}, [], shared, stamp, stamp)
        for index, sheet_title in enumerate(sheets):
            sheet_id = 0 if index == 0 else self._new_sheet_id(book)
            book.sheets.append(
                _Sheet(
                    {
                        "sheetId": sheet_id,
                        "title": sheet_title or f"Sheet{index + 1}",
                        "index": index,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": rows, "columnCount": cols},
                    }
                )
            )
        book.permissions.append(
            {
                "kind": "drive#permission",
                "id": "0" * 20,
                "type": "user",
                "role": "owner",
                "emailAddress": SERVICE_ACCOUNT_EMAIL,
            }
        )
        self._books[sid] = book
        return sid

    def create_spreadsheet(
        self,
        title: str = "Collective impact measurements",
        spreadsheet_id: str | None = None,
        sheets: Sequence[str] = ("Sheet1",),
        *,
        shared: bool = True,
        rows: int = 1000,
        cols: int = 26,
    ) -> str:
        with self._changed:
            sid = self._build(title, spreadsheet_id, list(sheets), shared, {}, rows, cols)
            self._changed.notify_all()
            return sid

    def share(self, spreadsheet_id: str, shared: bool = True) -> None:
        """Shared or not with the service account; unshared answers 403 like the real API."""
        with self._changed:
            self._book(spreadsheet_id).shared = shared
            self._changed.notify_all()

    def reset(self) -> None:
        with self._changed:
            self._books.clear()
            self._windows.clear()
            self.write_requests = self.read_requests = self.throttled_count = 0
            self.log.clear()
            self.arrivals.clear()
            self._changed.notify_all()

    def _book(self, spreadsheet_id: str) -> _Spreadsheet:
        book = self._books.get(spreadsheet_id)
        if book is None:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} in the stand-in")
        return book

    def _sheet(self, spreadsheet_id: str, sheet_title: str) -> _Sheet:
        for sheet in self._book(spreadsheet_id).sheets:
            if sheet.title == sheet_title:
                return sheet
        raise KeyError(f"no sheet {sheet_title!r} in spreadsheet {spreadsheet_id!r}")

    def spreadsheet_ids(self) -> list[str]:
        with self.lock:
            return list(self._books)

    def title(self, spreadsheet_id: str) -> str:
        with self.lock:
            return str(self._book(spreadsheet_id).props.get("title", ""))

    def worksheet_titles(self, spreadsheet_id: str) -> list[str]:
        with self.lock:
            return [sheet.title for sheet in self._book(spreadsheet_id).sheets]

    def grid_size(self, spreadsheet_id: str, sheet_title: str) -> tuple[int, int]:
        with self.lock:
            sheet = self._sheet(spreadsheet_id, sheet_title)
            return sheet.rows, sheet.cols

    def values(self, spreadsheet_id: str, sheet_title: str) -> list[list[Any]]:
        """Typed values from A1 (formula text for formulas), trailing empties trimmed."""
        with self.lock:
            sheet = self._sheet(spreadsheet_id, sheet_title)
            # The last filled column of each row, in one pass (a scan per row is quadratic on big tabs).
            last_col: dict[int, int] = {}
            for r, c in sheet.filled():
                last_col[r] = max(last_col.get(r, -1), c)
            if not last_col:
                return []
            return [
                [sheet.get(row, col).typed() for col in range(last_col[row] + 1)] if row in last_col else []
                for row in range(max(last_col) + 1)
            ]

    def frozen_rows(self, spreadsheet_id: str, sheet_title: str) -> int:
        with self.lock:
            return int(self._sheet(spreadsheet_id, sheet_title).grid.get("frozenRowCount", 0) or 0)

    def frozen_columns(self, spreadsheet_id: str, sheet_title: str) -> int:
        with self.lock:
            return int(self._sheet(spreadsheet_id, sheet_title).grid.get("frozenColumnCount", 0) or 0)

    def cell(self, spreadsheet_id: str, sheet_title: str, a1: str) -> Cell:
        rng = parse_cells(a1)
        row, col = rng.start_row or 0, rng.start_col or 0
        with self.lock:
            stored = self._sheet(spreadsheet_id, sheet_title).get(row, col)
        bold = bool(((stored.fmt or {}).get("textFormat") or {}).get("bold"))
        value = stored.formula if stored.formula is not None else stored.value
        return Cell(value=value, is_formula=stored.formula is not None, bold=bold)

    def is_bold(self, spreadsheet_id: str, sheet_title: str, a1: str) -> bool:
        return self.cell(spreadsheet_id, sheet_title, a1).bold

    def note(self, spreadsheet_id: str, sheet_title: str, a1: str) -> str | None:
        rng = parse_cells(a1)
        with self.lock:
            return self._sheet(spreadsheet_id, sheet_title).get(rng.start_row or 0, rng.start_col or 0).note

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> bool:
        """Wait until `predicate()` is truthy or `timeout` passes; woken by every change."""
        deadline = time.monotonic() + timeout
        while True:
            # Outside the lock: a predicate may well call the stand-in over HTTP.
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                # The request log is appended after a reply is sent, without a
                # notification, so wake up now and then to look again.
                self._changed.wait(min(remaining, 0.05))
