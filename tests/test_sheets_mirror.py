"""The Google Sheets mirror through a real `ci-slackbot serve` and the Sheets stand-in with Google's quotas.

Values are recorded through `/ci update` over signed HTTP, and in bulk through
`record_value` called in this process against the same database (each value in
its own transaction, like a burst of `/ci update`s). The serve process's outbox
delivers them.

Retries are made fast with the outbox settings (backoff, lease), so an outage
"of minutes" and a crash are compressed into seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.outbox import DONE, FAILED, retry_failed
from ci_slackbot.sandbox.sheets import SheetsStandIn
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.services.sheet_layout import INDICATORS_TAB, VALUES_COLUMNS, VALUES_TAB, WITHDRAWN_NOTE
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import IndicatorValue, OutboxItem
from integrations.google_http import sheets_client
from integrations.sheets import BATCH_INTERVAL, check_sheet
from tests.harness import (
    HOSPITAL,
    SPREADSHEET,
    AppServer,
    Sandbox,
    ServeProcess,
    SlackSender,
    World,
    load_example,
    wait_for,
)

TZ = "America/Chicago"
FAST_RETRIES = {
    "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.2",
    "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "1",
    "CI_SLACKBOT_OUTBOX_LEASE": "5",
    "CI_SLACKBOT_OUTBOX_POLL": "0.2",
}
ID, VALUE, NOTE, REVISION = (VALUES_COLUMNS.index(c) for c in ("Value ID", "Value", "Note", "Revision"))


@dataclass
class Mirror:
    world: World
    log_dir: Path
    db: Database

    @property
    def sheets(self) -> SheetsStandIn:
        return self.world.sheets

    def restart(self, *, in_process: bool = True) -> None:
        """A new server on the same database (after a kill -9, say); a real `serve` process when the
        test is about to kill it."""
        self.world.server.stop()
        env = self.world.server.env_extra
        server = AppServer(self.world.database_url, env) if in_process else ServeProcess(self.world.database_url, env)
        self.world.server = server.start(self.log_dir)
        self.world.send = SlackSender(server.events_url, self.world.slack)


@pytest.fixture(scope="module")
def mirror(module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    log_dir = tmp_path_factory.mktemp("logs")
    load_example(module_database_url)
    server = AppServer(module_database_url, {**sandbox.env(), **FAST_RETRIES}).start(log_dir)
    world = World(sandbox, module_database_url, server, SlackSender(server.events_url, sandbox.slack))
    db = Database(module_database_url)
    try:
        yield Mirror(world, log_dir, db)
    finally:
        world.server.stop()
        db.dispose()


# -- reading both sides -------------------------------------------------------------------


def values_tab(mirror: Mirror) -> list[list[Any]]:
    if VALUES_TAB not in mirror.sheets.worksheet_titles(SPREADSHEET):
        return []
    return [row for row in mirror.sheets.values(SPREADSHEET, VALUES_TAB)[1:] if row]


def ids_in_sheet(mirror: Mirror) -> Counter[int]:
    return Counter(int(row[ID]) for row in values_tab(mirror))


def recorded(mirror: Mirror) -> dict[int, tuple[float | None, int]]:
    """Value id → (value, revision); a withdrawn value has no value in the sheet."""
    with mirror.db.unit_of_work() as session:
        return {v.id: (None if v.withdrawn else v.value, v.revision) for v in session.scalars(select(IndicatorValue))}


def sheets_items(mirror: Mirror) -> list[OutboxItem]:
    with mirror.db.unit_of_work() as session:
        return list(session.scalars(select(OutboxItem).where(OutboxItem.service == "sheets")))


def all_delivered(mirror: Mirror) -> bool:
    items = sheets_items(mirror)
    parked = [i for i in items if i.status == FAILED]
    assert not parked, f"parked: {parked[0].last_error}"
    return all(i.status == DONE for i in items)


def mirrored_exactly(mirror: Mirror) -> bool:
    """Every recorded value is in `Values` once, with its current value and revision."""
    if not all_delivered(mirror):
        return False
    rows = values_tab(mirror)
    in_sheet = {
        int(row[ID]): (None if row[VALUE] in ("", None) else float(row[VALUE]), int(row[REVISION])) for row in rows
    }
    return len(rows) == len(in_sheet) and in_sheet == recorded(mirror)


def record_in_bulk(mirror: Mirror, count: int, tag: str) -> list[int]:
    """`count` new values, each in its own transaction like separate `/ci update`s; distinct by breakdown."""
    ids = []
    for i in range(count):
        with mirror.db.unit_of_work() as session:
            initiative = all_initiatives(session)[0]
            indicator = find_indicator(indicator_views(session, initiative.id), "er-visits")
            person = who_is(session, initiative, HOSPITAL)
            period = Period.current(Frequency.MONTHLY, TZ).shift(-(1 + i % 20))
            value = record_value(
                session,
                initiative,
                person,
                indicator=indicator,
                value=10 + i % 37 + 0.5,
                period=period,
                breakdown={"zip": f"{tag}{i // 20:03d}"},
                note=f"-{i} kids" if i % 100 == 0 else "",
            )
            ids.append(value.value_id)
    return ids


def row_number(mirror: Mirror, value_id: int) -> int:
    """The 1-based sheet row holding this value."""
    rows = mirror.sheets.values(SPREADSHEET, VALUES_TAB)
    return next(i + 1 for i, row in enumerate(rows) if row and row[ID] == value_id)


# -- the tests ----------------------------------------------------------------------------


def test_a_thousand_values_arrive_exactly_once_within_the_quota(mirror: Mirror) -> None:
    sheets = mirror.sheets
    before = len(recorded(mirror))
    period = str(Period.current(Frequency.MONTHLY, TZ).shift(-1))
    for zip_code in ("75216", "75215", "75211"):
        answer = mirror.world.send.ci(f"update er-visits 17.5 {period} zip={zip_code}", user=HOSPITAL)
        assert "Recorded" in json.dumps(answer), answer
    writes, reads, throttled = sheets.write_requests, sheets.read_requests, sheets.throttled_count

    started = time.monotonic()
    record_in_bulk(mirror, 1000, "B")
    recording = time.monotonic() - started

    wait_for(lambda: mirrored_exactly(mirror), timeout=90, interval=0.5)
    assert len(recorded(mirror)) == before + 1003
    burst_writes = sheets.write_requests - writes
    print(f"\n1,000 values in a burst: {burst_writes} write and {sheets.read_requests - reads} read requests")
    assert sheets.throttled_count == throttled  # never bounced off Google's quota
    # At most one batch every BATCH_INTERVAL while the values arrive (the first may still carry
    # the three commands above), and the rest in batches of 500 after: a handful of writes for
    # the burst, however long recording it took on this machine.
    assert burst_writes <= 5 + recording / BATCH_INTERVAL, (burst_writes, recording)
    assert sheets.read_requests - reads <= 2 * burst_writes

    # The layout around the rows: frozen bold headers, the definitions, a tab per indicator.
    titles = sheets.worksheet_titles(SPREADSHEET)
    assert {VALUES_TAB, INDICATORS_TAB, "er-visits"} <= set(titles)
    for title in (VALUES_TAB, INDICATORS_TAB, "er-visits"):
        assert sheets.frozen_rows(SPREADSHEET, title) == 1
        assert sheets.is_bold(SPREADSHEET, title, "A1") and not sheets.is_bold(SPREADSHEET, title, "A2")
    assert sheets.values(SPREADSHEET, VALUES_TAB)[0] == list(VALUES_COLUMNS)
    indicators = sheets.values(SPREADSHEET, INDICATORS_TAB)
    assert [row[0] for row in indicators[1:]] == ["er-visits", "home-visits", "action-plans", "home-assessments"]
    er_tab = sheets.values(SPREADSHEET, "er-visits")
    assert er_tab[1][:2] == ["Baseline (2025-12)", 18.4] and er_tab[2][:2] == ["Target (2027-12)", 12]
    assert "Children's Health · zip=B000" in er_tab[0]
    assert [row[0] for row in er_tab[3:]] == [
        str(Period.current(Frequency.MONTHLY, TZ).shift(-k)) for k in range(20, 0, -1)
    ]
    # A note that reads like a negative number is text; the value beside it a number.
    row = next(r for r in values_tab(mirror) if r[NOTE] == "'-0 kids")
    assert isinstance(row[VALUE], int | float)


def test_the_reporter_is_shown_by_name_with_the_id_beside_it(mirror: Mirror) -> None:
    """users.info gives the name, asked by the deliverer (never on the request path) and kept per process."""
    colleague = "U0CHLD0002"  # of Children's Health, not yet seen by this module's app (names are kept)
    mirror.world.slack.add_user(colleague, real_name="Dr. Ana Ruiz", display_name="ana")
    asked_before = len([c for c in mirror.world.slack.calls("users.info") if c["params"].get("user") == colleague])
    periods = [str(Period.current(Frequency.MONTHLY, TZ).shift(-n)) for n in (7, 8, 9)]
    for period in periods:
        answer = mirror.world.send.ci(f"update er-visits 16 {period} zip=N001", user=colleague)
        assert "Recorded" in json.dumps(answer)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    reporter, reporter_id, breakdown = (VALUES_COLUMNS.index(c) for c in ("Reporter", "Reporter ID", "Breakdown"))
    rows = [row for row in values_tab(mirror) if row[breakdown] == "zip=N001"]
    assert len(rows) == 3
    assert {(row[reporter], row[reporter_id]) for row in rows} == {("Dr. Ana Ruiz", colleague)}
    asked = [c for c in mirror.world.slack.calls("users.info") if c["params"].get("user") == colleague]
    assert len(asked) - asked_before <= 1


def test_a_correction_updates_its_row_in_place(mirror: Mirror) -> None:
    period = str(Period.current(Frequency.MONTHLY, TZ).shift(-2))
    mirror.world.send.ci(f"update er-visits 19 {period} zip=C001", user=HOSPITAL)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    with mirror.db.unit_of_work() as session:
        value_id = session.scalars(select(IndicatorValue.id).where(IndicatorValue.breakdown_key == "zip=C001")).one()
    first_row = row_number(mirror, value_id)
    rows_before = len(values_tab(mirror))

    answer = mirror.world.send.ci(f"update er-visits 21.5 {period} zip=C001 recounted", user=HOSPITAL)
    assert "revision 2" in json.dumps(answer)

    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    assert ids_in_sheet(mirror)[value_id] == 1
    assert len(values_tab(mirror)) == rows_before
    row = mirror.sheets.values(SPREADSHEET, VALUES_TAB)[first_row - 1]
    assert row_number(mirror, value_id) == first_row
    assert (row[VALUE], row[REVISION], row[NOTE]) == (21.5, 2, "recounted")


def test_an_undone_report_empties_its_row_and_leaves_its_indicator_tab(mirror: Mirror) -> None:
    period = str(Period.current(Frequency.MONTHLY, TZ).shift(-3))
    answer = mirror.world.send.ci(f"update er-visits 23 {period} zip=U001", user=HOSPITAL)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    assert any("U001" in str(cell) for row in mirror.sheets.values(SPREADSHEET, "er-visits") for cell in row)
    undo = next(e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert mirror.world.send.click(HOSPITAL, undo["action_id"], undo["value"]).status_code == 200
    value_id = int(undo["value"].split(":")[0])
    wait_for(lambda: recorded(mirror)[value_id] == (None, 2) and mirrored_exactly(mirror), timeout=30)
    row = mirror.sheets.values(SPREADSHEET, VALUES_TAB)[row_number(mirror, value_id) - 1]
    assert row[VALUE] in ("", None) and row[NOTE] == WITHDRAWN_NOTE and row[REVISION] == 2
    # The indicator's own tab no longer has the breakdown that only this value had.
    assert not any("U001" in str(cell) for row in mirror.sheets.values(SPREADSHEET, "er-visits") for cell in row)


def test_rows_sorted_by_hand_are_still_found(mirror: Mirror) -> None:
    """People sort the sheet; the mirror finds each value by its id, not by where it wrote it."""
    record_in_bulk(mirror, 40, "H")
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    rows = mirror.sheets.values(SPREADSHEET, VALUES_TAB)
    header, body = rows[0], sorted(rows[1:], key=lambda r: (-float(r[VALUE] or 0), -int(r[ID])))
    client_rows = [header, *body]
    client = sheets_client(mirror.sheets.url, None)
    client.open_by_key(SPREADSHEET).worksheet(VALUES_TAB).update(client_rows, "A1")
    target = body[len(body) // 2]
    period = target[VALUES_COLUMNS.index("Period")]
    breakdown = target[VALUES_COLUMNS.index("Breakdown")]
    mirror.world.send.ci(f"update er-visits 3.25 {period} {breakdown}", user=HOSPITAL)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    assert mirror.sheets.values(SPREADSHEET, VALUES_TAB)[len(body) // 2 + 1][VALUE] == 3.25


def test_a_formula_typed_in_a_note_is_stored_as_text(mirror: Mirror) -> None:
    period = str(Period.current(Frequency.MONTHLY, TZ).shift(-3))
    mirror.world.send.ci(f'update er-visits 16 {period} zip=F001 =HYPERLINK("http://x")', user=HOSPITAL)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    with mirror.db.unit_of_work() as session:
        value_id = session.scalars(select(IndicatorValue.id).where(IndicatorValue.breakdown_key == "zip=F001")).one()
    row = row_number(mirror, value_id)
    note = mirror.sheets.cell(SPREADSHEET, VALUES_TAB, f"I{row}")
    assert note.is_formula is False
    assert note.value == '\'=HYPERLINK("http://x")'
    number = mirror.sheets.cell(SPREADSHEET, VALUES_TAB, f"G{row}")
    assert number.value == 16 and number.is_formula is False


def test_an_outage_and_a_quota_storm_lose_nothing_and_double_nothing(mirror: Mirror) -> None:
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    mirror.sheets.faults.outage(503)
    ids = record_in_bulk(mirror, 60, "O")
    # Google is down: deliveries fail and are retried, and nothing reaches the sheet.
    wait_for(lambda: any(i.attempts >= 2 for i in sheets_items(mirror)), timeout=30)
    assert not set(ids) & set(ids_in_sheet(mirror))
    mirror.sheets.faults.restore()
    mirror.sheets.faults.throttle_next(2, retry_after=1)
    wait_for(lambda: mirrored_exactly(mirror), timeout=60)
    assert all(ids_in_sheet(mirror)[i] == 1 for i in ids)


def test_a_kill_during_a_write_loses_nothing_and_doubles_nothing(mirror: Mirror) -> None:
    sheets = mirror.sheets
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    mirror.restart(in_process=False)
    path = f"/v4/spreadsheets/{SPREADSHEET}:batchUpdate"
    writes_sent = len([a for a in sheets.arrivals if a.method == "POST" and a.path == path])
    sheets.faults.slow(3.0)
    ids = record_in_bulk(mirror, 150, "K")
    # The batch's write has reached Google, which will apply it; serve dies before it hears back.
    wait_for(lambda: len([a for a in sheets.arrivals if a.method == "POST" and a.path == path]) > writes_sent, 30)
    mirror.world.server.kill()
    sheets.faults.restore()
    wait_for(lambda: set(ids) & set(ids_in_sheet(mirror)), timeout=15)
    assert any(i.status != DONE for i in sheets_items(mirror))  # written, but never marked delivered

    mirror.restart()

    wait_for(lambda: mirrored_exactly(mirror), timeout=60)
    counts = ids_in_sheet(mirror)
    assert all(counts[i] == 1 for i in ids)


def test_two_processes_take_turns_within_one_quota(mirror: Mirror) -> None:
    """Two app processes on one database (a deployment with replicas) share the work and one quota."""
    sheets = mirror.sheets
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    second = ServeProcess(mirror.world.database_url, mirror.world.server.env_extra).start(mirror.log_dir)
    try:
        throttled, logged = sheets.throttled_count, len(sheets.log)
        ids = record_in_bulk(mirror, 300, "T")
        wait_for(lambda: mirrored_exactly(mirror), timeout=60)
    finally:
        second.stop()
    assert all(ids_in_sheet(mirror)[i] == 1 for i in ids)
    assert sheets.throttled_count == throttled
    # One batch at a time across both, each followed by the same quiet: writes stay seconds apart.
    writes = [e.at for e in sheets.log[logged:] if e.method == "POST" and e.path.endswith(":batchUpdate")]
    assert len(writes) >= 2
    assert min(b - a for a, b in itertools.pairwise(writes)) > 3.5


def test_a_sheet_not_shared_is_parked_with_what_to_do_and_delivered_once_shared(mirror: Mirror) -> None:
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    settings = Settings(SHEETS_API_URL=mirror.sheets.url)
    assert check_sheet(settings, SPREADSHEET)[0] is True
    mirror.sheets.share(SPREADSHEET, False)
    try:
        ok, message = check_sheet(settings, SPREADSHEET)
        assert not ok and message.startswith("The spreadsheet is not shared with ")
        assert "Share → add that address as Editor" in message
        period = str(Period.current(Frequency.MONTHLY, TZ).shift(-4))
        mirror.world.send.ci(f"update er-visits 15 {period} zip=S001", user=HOSPITAL)
        parked = wait_for(lambda: [i for i in sheets_items(mirror) if i.status == FAILED], timeout=30)
        assert "not shared with" in (parked[0].last_error or "")
    finally:
        mirror.sheets.share(SPREADSHEET, True)
    with mirror.db.unit_of_work() as session:
        assert retry_failed(session) == 1
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)


def cli(mirror: Mirror, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
    env.update(DATABASE_URL=mirror.world.database_url, SHEETS_API_URL=mirror.sheets.url)
    return subprocess.run(
        [sys.executable, "-m", "ci_slackbot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_rebuild_restores_a_damaged_spreadsheet(mirror: Mirror) -> None:
    record_in_bulk(mirror, 40, "D")
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
    book = sheets_client(mirror.sheets.url, None).open_by_key(SPREADSHEET)
    book.del_worksheet(book.worksheet("er-visits"))
    values = book.worksheet(VALUES_TAB)
    values.update([["junk", '=HYPERLINK("http://x")'], ["12"]], "A3")
    values.add_cols(13)  # the app's Values grid is as wide as its columns: a person widened it
    values.update([["a column of our own"]], "Q2")
    assert mirror.sheets.values(SPREADSHEET, VALUES_TAB)[2][:2] == ["junk", '=HYPERLINK("http://x")']

    checked = cli(mirror, "sheets", "check")
    assert checked.returncode == 0, checked.stderr
    assert "is shared with" in checked.stdout

    rebuilt = cli(mirror, "sheets", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"Rebuilt spreadsheet {SPREADSHEET}: {len(recorded(mirror)):,} values" in rebuilt.stdout
    assert "Rebuilding spreadsheet" in rebuilt.stderr and "100%" in rebuilt.stderr  # the progress bar

    assert mirrored_exactly(mirror)
    assert [int(row[ID]) for row in values_tab(mirror)] == sorted(recorded(mirror))
    assert "er-visits" in mirror.sheets.worksheet_titles(SPREADSHEET)
    assert mirror.sheets.frozen_rows(SPREADSHEET, "er-visits") == 1
    # The extra column is gone: the grid is back to the app's columns, which Google's 10M cells count.
    assert mirror.sheets.grid_size(SPREADSHEET, VALUES_TAB)[1] == len(VALUES_COLUMNS)
    # Deliveries carry on after a rebuild, in place.
    period = str(Period.current(Frequency.MONTHLY, TZ).shift(-5))
    mirror.world.send.ci(f"update er-visits 14 {period} zip=R001", user=HOSPITAL)
    wait_for(lambda: mirrored_exactly(mirror), timeout=30)
