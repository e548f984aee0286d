"""Bulk data: `ci-slackbot import` (all or nothing, every bad row reported) and `ci-slackbot export`.

The CLI runs as a real process against SQLite and PostgreSQL; the service is
also driven directly where that says more (corrections, formula safety).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ci_slackbot.domain.measurement import Point, expected_value
from ci_slackbot.domain.periods import Period
from ci_slackbot.services.bulk import export_values, import_values, read_import_file
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import IndicatorValue, ValueRevision
from tests.harness import load_example

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

GOOD = """indicator,period,value,organization,breakdown,note,reporter
er-visits,2026-01,18.1,,,"first month, from ED records",U0CHLD0001
er-visits,2026-02,17.5,childrens-health,,,
er-visits,2026-02,21,childrens-health,zip=75216,,
ER-VISITS,2026-02,12,childrens-health,zip=75215,"a note
on two lines",
home-visits,2026-02,45%,neighbors,zip=75216,,U0NBRS0001
home-assessments,2026-02,10,neighbors,,,
home-assessments,2026-02,5,city-code,,,
action-plans,2026-Q1,60%,dallas-isd,,,
home-assessments,2026-01,"1,204",neighbors,,,
"""

BAD = """indicator,period,value,organization,breakdown,note,reporter
er-visits,2026-01,18.1,,,,
er,2026-02,17.9,,,,
home-visits,2026-02,45%,,,,
action-plans,2026-Q1,"1,0",dallas-isd,,,
er-visits,2026-01,18.3,,,,
er-visits,2099-01,18.3,,,,
er-visits,2026-03,18.3,,age=4,,
er-visits,2026-03,18.3,,zip,,
er-visits,2026-Q3,18,,,,
er-visits,,18,,,,
er-visits,2026-04,-2,,,,
er-visits,2026-04,12,hwac,,,
home-visits,2026-03,12,neighbors,,,reporter-name-that-is-far-too-long-to-store
er-visits,2026-05,12,,,,,extra
"""

# (line, what the reason says) for every bad row above; line 2 is the only good one.
BAD_LINES = [
    (3, "there is no indicator `er`. Did you mean `er-visits`?"),
    (4, "organization is empty, and home-visits is reported by several: write one of childrens-health, neighbors"),
    (5, "`1,0` is not a number"),
    (6, "repeats line 2"),
    (7, "2099-01 has not started yet"),
    (8, "not split by `age`"),
    (9, "breakdown `zip` is not `dimension=value`"),
    (10, "`2026-Q3` is a quarter, but er-visits is reported monthly"),
    (11, "period is empty"),
    (12, "below the minimum"),
    (13, "organization `hwac` does not report er-visits; it is reported by childrens-health"),
    (14, "reporter can be up to 32 characters"),
    (15, "has 8 cells but the header names 7 columns"),
]


def _cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "ci_slackbot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _values(database_url: str) -> list[IndicatorValue]:
    db = Database(database_url)
    with db.unit_of_work() as session:
        rows = list(session.scalars(select(IndicatorValue).order_by(IndicatorValue.id)))
        session.expunge_all()
    db.dispose()
    return rows


@pytest.fixture
def loaded(database_url: str) -> str:
    load_example(database_url)
    return database_url


def test_a_good_file_backfills_history(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = _cli(loaded, "import", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Imported 9 values" in result.stdout and "9 new" in result.stdout
    assert "100% (9/9)" in result.stderr  # the progress bar
    rows = _values(loaded)
    assert len(rows) == 9
    assert {r.entered_via for r in rows} == {"import"}
    first = next(r for r in rows if r.period == "2026-01")
    assert first.value == 18.1 and first.reporter == "U0CHLD0001" and first.note == "first month, from ED records"
    split = next(r for r in rows if r.breakdown_key == "zip=75215")
    assert split.breakdown == {"zip": "75215"} and split.note == "a note\non two lines" and split.reporter == "import"
    assert next(r for r in rows if r.period == "2026-Q1").value == 60
    assert next(r for r in rows if r.period == "2026-01" and r.value > 1000).value == 1204
    assert next(r for r in rows if r.breakdown_key == "zip=75216" and r.value == 45).reporter == "U0NBRS0001"


def test_a_file_with_bad_rows_writes_nothing_and_reports_every_bad_row(loaded: str, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("indicator,period,value\ner-visits,2025-11,19\n", encoding="utf-8")
    assert _cli(loaded, "import", str(good), cwd=tmp_path).returncode == 0
    before = [(r.id, r.value, r.revision) for r in _values(loaded)]

    path = tmp_path / "bad.csv"
    path.write_text(BAD + "er-visits,2025-11,25,,,,\n", encoding="utf-8")  # would correct the value above
    result = _cli(loaded, "import", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "13 of 15 rows rejected, so nothing was imported" in result.stderr
    reported = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("line ")]
    assert len(reported) == len(BAD_LINES)
    for (line, reason), text in zip(BAD_LINES, reported, strict=True):
        assert text.startswith(f"line {line}: "), text
        assert reason in text, (reason, text)
    assert [(r.id, r.value, r.revision) for r in _values(loaded)] == before  # nothing half-imported


def test_problems_with_the_file_itself(loaded: str, tmp_path: Path) -> None:
    cases = {
        "missing.csv": (None, "cannot read"),
        "empty.csv": ("", "The file is empty"),
        "header-only.csv": ("indicator,period,value\n", "no rows"),
        "typo.csv": ("indicator,period,value,orgnization\n", "Unknown column 'orgnization'"),
        "no-value.csv": ("indicator,period\ner-visits,2026-01\n", "no 'value' column"),
        "twice.csv": ("indicator,period,value,value\n", "more than once"),
    }
    for name, (content, expected) in cases.items():
        if content is not None:
            (tmp_path / name).write_text(content, encoding="utf-8")
        result = _cli(loaded, "import", str(tmp_path / name), cwd=tmp_path)
        assert result.returncode == 2, name
        assert expected in result.stderr, (name, result.stderr)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("indicator,period,value,note\ner-visits,2026-01,18,Gar\xe7on\n".encode("latin-1"))
    result = _cli(loaded, "import", str(latin), cwd=tmp_path)
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    assert _values(loaded) == []


def test_dry_run_checks_and_writes_nothing(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = _cli(loaded, "import", str(path), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0 and "all 9 rows are fine" in result.stdout
    assert _values(loaded) == []


def test_importing_again_corrects_and_keeps_revisions(loaded: str) -> None:
    db = Database(loaded)
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        rows = read_import_file(io.StringIO("indicator,period,value\ner-visits,2026-03,18\n"))
        assert import_values(session, initiative, rows, now=NOW).new == 1
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        rows = read_import_file(io.StringIO("indicator,period,value,note\ner-visits,2026-03,16.5,recounted\n"))
        report = import_values(session, initiative, rows, now=NOW)
        assert report.ok and report.corrected == 1 and report.new == 0
    with db.unit_of_work() as session:
        value = session.scalar(select(IndicatorValue).where(IndicatorValue.period == "2026-03"))
        assert value is not None and value.value == 16.5 and value.revision == 2 and value.note == "recounted"
        assert session.scalar(select(func.count()).select_from(ValueRevision)) == 1
    db.dispose()


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_long_has_every_field_and_imports_again(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(GOOD + 'er-visits,2026-03,16,,,"=HYPERLINK(""http://x"")",\n', encoding="utf-8")
    assert _cli(loaded, "import", str(path), cwd=tmp_path).returncode == 0

    result = _cli(loaded, "export", cwd=tmp_path)
    assert result.returncode == 0 and "Wrote 10 rows (long layout)" in result.stderr
    rows = _read_csv(result.stdout)
    assert list(rows[0]) == [
        "indicator",
        "period",
        "value",
        "organization",
        "breakdown",
        "note",
        "reporter",
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
    ]
    split = next(r for r in rows if r["breakdown"] == "zip=75215")
    assert split["value"] == "12" and split["organization"] == "childrens-health"
    assert split["period_start"] == "2026-02-01" and split["period_end"] == "2026-02-28"
    assert split["organization_name"] == "Children's Health" and split["entered_via"] == "import"
    assert split["note"] == "a note\non two lines" and split["revision"] == "1"
    formula = next(r for r in rows if r["period"] == "2026-03")
    assert formula["note"] == '\'=HYPERLINK("http://x")'  # never run as a formula by a spreadsheet

    # The export is an import file: into a second initiative database it gives the same values.
    exported = tmp_path / "export.csv"
    exported.write_text(result.stdout, encoding="utf-8")
    second = f"sqlite:///{tmp_path / 'second.db'}"
    load_example(second)
    again = _cli(second, "import", str(exported), cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    def key(r: IndicatorValue) -> tuple[str, str, float, str, str]:
        return r.period, r.breakdown_key, r.value, r.note, r.reporter

    assert sorted(map(key, _values(second))) == sorted(map(key, _values(loaded)))


def test_export_for_clear_impact_scorecard(loaded: str, tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert _cli(loaded, "import", str(path), cwd=tmp_path).returncode == 0
    out = tmp_path / "scorecard.csv"
    result = _cli(loaded, "export", "--layout", "clear-impact", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "scorecard.csv.partial").exists()
    rows = _read_csv(out.read_text(encoding="utf-8"))
    assert list(rows[0]) == [
        "id",
        "actual_value_date",
        "target_value",
        "actual_value",
        "comment",
        "numerator",
        "denominator",
    ]
    by_id_date = {(r["id"], r["actual_value_date"]): r for r in rows}
    # One row per indicator and period, at population level (breakdowns are not rows of their own).
    assert len(rows) == len(by_id_date) == 5
    january = by_id_date[("er-visits", "2026-01-31")]
    assert january["actual_value"] == "18.1"
    assert january["comment"] == "Children's Health: first month, from ED records"
    line = expected_value(
        Point(Period.parse("2025-12"), 18.4), Point(Period.parse("2027-12"), 12.0), Period.parse("2026-01")
    )
    assert float(january["target_value"]) == pytest.approx(line, abs=1e-6)
    assert by_id_date[("er-visits", "2026-02-28")]["actual_value"] == "17.5"  # the whole-population value
    # Homes add up across partners: Neighbors United 10 + City Code Compliance 5.
    assert by_id_date[("home-assessments", "2026-02-28")]["actual_value"] == "15"
    assert by_id_date[("home-assessments", "2026-01-31")]["actual_value"] == "1204"
    assert by_id_date[("action-plans", "2026-03-31")]["actual_value"] == "60"
    # home-visits was reported only for one ZIP code: one ZIP's value is not the coalition's.
    assert ("home-visits", "2026-02-28") not in by_id_date


def test_export_service_refuses_an_unknown_layout(loaded: str) -> None:
    from ci_slackbot.domain.errors import InputError

    db = Database(loaded)
    with db.unit_of_work() as session, pytest.raises(InputError, match="Unknown layout"):
        export_values(session, all_initiatives(session)[0], io.StringIO(), "wide")
    db.dispose()


def _many_rows(count: int) -> list[str]:
    """`count` distinct er-visits rows: one a month and ZIP code, going back from October 2026."""
    zips = [f"752{n:02d}" for n in range(10, 30)]
    rows = []
    for n in range(count):
        period = Period.parse("2026-10").shift(-(n // len(zips)))
        rows.append(f"er-visits,{period},{10 + n % 50},childrens-health,zip={zips[n % len(zips)]},,")
    return rows


def test_a_large_file_is_checked_in_parts_and_recorded_whole(loaded: str, tmp_path: Path) -> None:
    header = "indicator,period,value,organization,breakdown,note,reporter"
    rows = _many_rows(450)
    bad = list(rows)
    cells = bad[297].split(",")
    cells[2] = "lots"
    bad[297] = ",".join(cells)  # line 299: not a number, in the second part
    bad[398] = bad[0]  # line 400 repeats line 2, which was checked in the first part
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *bad]) + "\n", encoding="utf-8")
    result = _cli(loaded, "import", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "2 of 450 rows rejected" in result.stderr
    assert "line 299: `lots` is not a number" in result.stderr
    assert "line 400: repeats line 2" in result.stderr
    assert _values(loaded) == []

    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = _cli(loaded, "import", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Imported 450 values" in result.stdout
    assert len(_values(loaded)) == 450
