"""Replay gspread's recordings of the live Sheets API against the stand-in.

Each cassette was recorded by gspread's own test suite talking to Google. Every
request is sent, in order, to a fresh stand-in; ids the live API minted
(spreadsheet ids from Drive, sheet ids from addSheet) are mapped onto the ones
the stand-in mints. The status must match, the JSON keys must match (top level
and each element of reply lists), and after mapping ids the whole body must be
equal except for timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ci_slackbot.sandbox.sheets import SheetsStandIn
from tests.paths import ROOT

RECORDINGS = ROOT.parent / "shared" / "reference" / "recordings" / "sheets"
CASSETTES = sorted(RECORDINGS.glob("*.json")) if RECORDINGS.is_dir() else []
ORIGINS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
ID_KEYS = ("id", "spreadsheetId")
SHEET_ID_KEYS = ("sheetId", "sourceSheetId", "newSheetId")
VOLATILE = ("createdTime", "modifiedTime")  # wall-clock times of the recording
LIST_KEYS = ("replies", "responses", "valueRanges", "sheets", "files")

# Interactions that cannot be reproduced, by (cassette, index): reason. Kept empty on purpose.
SKIPPED: dict[tuple[str, int], str] = {}


class IdMap:
    """Ids the live API minted -> ids the stand-in minted for the same thing."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.sheet_ids: dict[int, int] = {}

    def learn(self, recorded: Any, actual: Any) -> None:
        if isinstance(recorded, dict) and isinstance(actual, dict):
            for key in recorded.keys() & actual.keys():
                old, new = recorded[key], actual[key]
                if key in ID_KEYS and isinstance(old, str) and isinstance(new, str) and old != new:
                    self.strings.setdefault(old, new)
                elif key in SHEET_ID_KEYS and isinstance(old, int) and isinstance(new, int) and old != new:
                    self.sheet_ids.setdefault(old, new)
                else:
                    self.learn(old, new)
        elif isinstance(recorded, list) and isinstance(actual, list):
            for old, new in zip(recorded, actual, strict=False):
                self.learn(old, new)

    def text(self, value: str) -> str:
        for old, new in self.strings.items():
            value = value.replace(old, new)
        return value

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: self.sheet_ids.get(item, item)
                if key in SHEET_ID_KEYS and isinstance(item, int)
                else self.json(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<time>" if k in VOLATILE else without_volatile(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


def rehost(uri: str, base: str) -> str:
    for origin in ORIGINS:
        if uri.startswith(origin):
            return base + uri[len(origin) :]
    raise AssertionError(f"unexpected host in {uri}")


def interactions(cassette: Path) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    data = json.loads(cassette.read_text(encoding="utf-8"))
    for index, interaction in enumerate(data["interactions"]):
        yield index, interaction["request"], interaction["response"]


def replay_one(stand_in: SheetsStandIn, ids: IdMap, request: dict[str, Any], recorded: dict[str, Any]) -> str:
    """Send one recorded request; return a description of any mismatch ("" when faithful)."""
    body = request.get("body")
    headers = {"Authorization": "Bearer replay"}
    if body:
        text = ids.text(body if isinstance(body, str) else body.decode("utf-8"))
        try:
            body = json.dumps(ids.json(json.loads(text)))
        except ValueError:
            body = text
        headers["Content-Type"] = "application/json"
    url = ids.text(rehost(request["uri"], stand_in.url))
    response = requests.request(request["method"], url, data=body or None, headers=headers, timeout=10)
    where = f"{request['method']} {request['uri']}"
    want_status = recorded["status"]["code"]
    if response.status_code != want_status:
        return f"{where}: status {response.status_code} != recorded {want_status}: {response.text[:300]}"
    recorded_text = recorded["body"]["string"] or ""
    if not recorded_text.strip():
        return "" if not response.content else f"{where}: expected no body, got {response.text[:200]}"
    expected_raw = json.loads(recorded_text)
    actual = response.json()
    if response.ok:
        ids.learn(expected_raw, actual)
    expected = ids.json(expected_raw)
    if set(actual) != set(expected):
        return f"{where}: keys {sorted(actual)} != recorded {sorted(expected)}"
    for key in LIST_KEYS:
        if isinstance(expected.get(key), list):
            got_keys = [sorted(item) for item in actual[key]]
            want_keys = [sorted(item) for item in expected[key]]
            if got_keys != want_keys:
                return f"{where}: keys of {key}[] {got_keys} != recorded {want_keys}"
    if without_volatile(actual) != without_volatile(expected):
        got, want = json.dumps(actual)[:600], json.dumps(expected)[:600]
        return f"{where}: body differs\n  got:      {got}\n  recorded: {want}"
    return ""


@pytest.mark.skipif(not CASSETTES, reason=f"no recordings under {RECORDINGS}")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: p.stem)
def test_replay_matches_recording(cassette: Path) -> None:
    ids = IdMap()
    problems = []
    replayed = 0
    with SheetsStandIn() as stand_in:
        assert isinstance(stand_in, SheetsStandIn)
        for index, request, recorded in interactions(cassette):
            if (cassette.stem, index) in SKIPPED:
                continue
            problem = replay_one(stand_in, ids, request, recorded)
            replayed += 1
            if problem:
                problems.append(f"[{index}] {problem}")
    assert replayed > 0
    assert not problems, "\n".join(problems)


def test_every_cassette_is_replayed() -> None:
    # The faithfulness claim rests on these; losing them silently would void it.
    if not CASSETTES:
        pytest.skip(f"no recordings under {RECORDINGS}")
    assert len(CASSETTES) >= 12
    assert len(SKIPPED) == 0
