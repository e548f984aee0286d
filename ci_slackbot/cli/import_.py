"""`ci-slackbot import FILE.csv`: backfill indicator history from a CSV file, all or nothing.

Exit codes: 0 when every row was imported; 2 when the file or any row was
rejected — then nothing is written, and every rejected row is listed on stderr
with its line number and what to fix.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from ci_slackbot.cli._initiative import NoSuchInitiativeError, choose_initiative
from ci_slackbot.cli._progress import ProgressBar
from ci_slackbot.services.bulk import IMPORT_COLUMNS, BulkFileError, import_values, read_import_file
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database

# Enough to fix a file in one go without flooding the terminal.
MAX_REPORTED = 200


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
    session = db.sessions()
    progress = ProgressBar(f"Checking and recording {path.name}")
    try:
        try:
            initiative = choose_initiative(session, args.team)
        except NoSuchInitiativeError as exc:
            print(f"ci-slackbot import: {exc}", file=sys.stderr)
            return 2
        report = import_values(session, initiative, rows, now=datetime.now(UTC), progress=progress)
        progress.close()
        if not report.ok:
            session.rollback()
            print(
                f"{path}: {len(report.rejected)} of {report.rows} rows rejected, so nothing was imported. "
                "Fix these rows and run the import again:",
                file=sys.stderr,
            )
            for rejected in report.rejected[:MAX_REPORTED]:
                print(f"  line {rejected.line}: {rejected.reason}", file=sys.stderr)
            if len(report.rejected) > MAX_REPORTED:
                print(f"  …and {len(report.rejected) - MAX_REPORTED} more rejected rows.", file=sys.stderr)
            return 2
        if args.dry_run:
            session.rollback()
            print(f"{path}: all {report.rows} rows are fine (dry run: nothing was written).")
            return 0
        name = initiative.name
        session.commit()
    finally:
        session.close()
        db.dispose()
    print(
        f"Imported {report.recorded} values from {path} into {name}: "
        f"{report.new} new, {report.corrected} corrections of earlier values (kept as revisions)."
    )
    return 0
