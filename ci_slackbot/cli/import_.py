"""`ci-slackbot import FILE.csv`: backfill indicator history from a CSV file, all or nothing.

Exit codes: 0 when every row was imported; 2 when the file or any row was
rejected — then nothing is written, and every rejected row is listed on stderr
with its line number and what to fix.

SQLite has one writer at a time, and every transaction of the app takes the
write lock when it begins; an import holding one transaction for the whole file
(about 2–3 ms a row) would make Slack commands wait that long. So on SQLite the
rows are first checked in small transactions that are rolled back — a file with
mistakes never holds the lock for long — and only a file with no rejected row
is then recorded, in one transaction. On PostgreSQL one transaction does both.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ci_slackbot.cli._initiative import NoSuchInitiativeError, choose_initiative
from ci_slackbot.cli._progress import ProgressBar
from ci_slackbot.services.bulk import (
    IMPORT_COLUMNS,
    BulkFileError,
    ImportReport,
    ImportRow,
    import_values,
    read_import_file,
)
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database, is_sqlite

# Enough to fix a file in one go without flooding the terminal.
MAX_REPORTED = 200
# Rows checked per short transaction on SQLite: well under a second of holding the write lock.
CHECK_BATCH = 200


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="backfill indicator values from a CSV file (all rows or none)",
        description=(
            f"Columns: {', '.join(IMPORT_COLUMNS)}. Each row is checked like `/ci update`; "
            "if any row is rejected nothing is imported and every rejected row is listed."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file (UTF-8, header row first)")
    parser.add_argument("--team", help="Slack team ID of the initiative (needed when several are loaded)")
    parser.add_argument("--dry-run", action="store_true", help="check every row and report, but write nothing")
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class _Target:
    db: Database
    team: str | None
    now: datetime


def _run_in_transaction(
    target: _Target,
    rows: Sequence[ImportRow],
    progress: Callable[[int, int], None],
    *,
    keep: bool,
    seen: dict[tuple[int, str, str, int], int] | None = None,
) -> tuple[ImportReport, str]:
    """Check (and with `keep`, record) rows in one transaction; it is committed only if kept and clean."""
    session = target.db.sessions()
    try:
        initiative = choose_initiative(session, target.team)
        report = import_values(session, initiative, rows, now=target.now, progress=progress, seen=seen)
        name = initiative.name
        if keep and report.ok:
            session.commit()
        else:
            session.rollback()
        return report, name
    finally:
        session.close()


def _check_in_batches(target: _Target, rows: Sequence[ImportRow], progress: ProgressBar) -> ImportReport:
    report = ImportReport(rows=len(rows))
    seen: dict[tuple[int, str, str, int], int] = {}
    for start in range(0, len(rows), CHECK_BATCH):

        def step(done: int, _total: int, offset: int = start) -> None:
            progress(offset + done, len(rows))

        part, _ = _run_in_transaction(target, rows[start : start + CHECK_BATCH], step, keep=False, seen=seen)
        report.new += part.new
        report.corrected += part.corrected
        report.rejected.extend(part.rejected)
    progress.close()
    return report


def _print_rejected(path: Path, report: ImportReport) -> None:
    print(
        f"{path}: {len(report.rejected)} of {report.rows} rows rejected, so nothing was imported. "
        "Fix these rows and run the import again:",
        file=sys.stderr,
    )
    for rejected in report.rejected[:MAX_REPORTED]:
        print(f"  line {rejected.line}: {rejected.reason}", file=sys.stderr)
    if len(report.rejected) > MAX_REPORTED:
        print(f"  …and {len(report.rejected) - MAX_REPORTED} more rejected rows.", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            rows = read_import_file(stream)
    except OSError as exc:
        print(f"ci-slackbot import: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except BulkFileError as exc:
        print(f"ci-slackbot import: {path}: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"ci-slackbot import: {path} has a header but no rows: nothing to import.", file=sys.stderr)
        return 2

    db = Database(load_settings().database_url)
    db.upgrade()
    target = _Target(db, args.team, datetime.now(UTC))
    try:
        checked_first = is_sqlite(db.engine) and len(rows) > CHECK_BATCH
        if checked_first or args.dry_run:
            report = _check_in_batches(target, rows, ProgressBar(f"Checking {path.name}"))
            if not report.ok:
                _print_rejected(path, report)
                return 2
            if args.dry_run:
                print(f"{path}: all {report.rows} rows are fine (dry run: nothing was written).")
                return 0
        label = f"Recording {path.name}" if checked_first else f"Checking and recording {path.name}"
        progress = ProgressBar(label)
        report, name = _run_in_transaction(target, rows, progress, keep=True)
        progress.close()
        if not report.ok:
            _print_rejected(path, report)
            return 2
    except NoSuchInitiativeError as exc:
        print(f"ci-slackbot import: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(
        f"Imported {report.recorded} values from {path} into {name}: "
        f"{report.new} new, {report.corrected} corrections of earlier values (kept as revisions)."
    )
    return 0
