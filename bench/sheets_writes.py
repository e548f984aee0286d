"""Google Sheets write requests per 1,000 recorded values, through a real `ci-slackbot serve`.

The example initiative is served against the Sheets stand-in (Google's 60 reads
and 60 writes a minute per user). Values are recorded in this process against
the same database, the two ways the app records them:

(a) one by one, each in its own transaction, as `/ci update`s arriving in a burst;
(b) all in one transaction, as `ci-slackbot import` does.

The serve process's outbox delivers them. Printed for each: write and read
requests, requests per 1,000 values, 429s, and seconds until the last value
was in the sheet. Run:

    python bench/sheets_writes.py [--values 1000] [--database URL]

SQLite by default (a fresh file in a temporary folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.outbox import DONE
from ci_slackbot.sandbox.world import HOSPITAL, SPREADSHEET, Sandbox, ServeProcess, load_example, wait_for
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem


def record(db: Database, count: int, tag: str, *, one_transaction: bool) -> None:
    """`count` distinct values of er-visits (20 months × a breakdown per 20), as a partner would report them."""

    def one(session: Session, i: int) -> None:
        initiative = all_initiatives(session)[0]
        indicator = find_indicator(indicator_views(session, initiative.id), "er-visits")
        person = who_is(session, initiative, HOSPITAL)
        record_value(
            session,
            initiative,
            person,
            indicator=indicator,
            value=10 + i % 37,
            period=Period.current(Frequency.MONTHLY, initiative.timezone).shift(-(1 + i % 20)),
            breakdown={"zip": f"{tag}{i // 20:04d}"},
        )

    if one_transaction:
        with db.unit_of_work() as session:
            for i in range(count):
                one(session, i)
        return
    for i in range(count):
        with db.unit_of_work() as session:
            one(session, i)


def delivered(db: Database) -> bool:
    with db.unit_of_work() as session:
        statuses = session.scalars(select(OutboxItem.status).where(OutboxItem.service == "sheets")).all()
    return all(status == DONE for status in statuses)


def measure(sandbox: Sandbox, db: Database, label: str, values: int, recorder: Callable[[], None]) -> None:
    sheets = sandbox.sheets
    writes, reads, throttled = sheets.write_requests, sheets.read_requests, sheets.throttled_count
    started = time.monotonic()
    recorder()
    recorded = time.monotonic() - started
    wait_for(lambda: delivered(db), timeout=600, interval=0.2)
    done = time.monotonic() - started
    w, r = sheets.write_requests - writes, sheets.read_requests - reads
    print(
        f"{label:<40} {w:>6} {r:>6} {1000 * w / values:>12.1f} {sheets.throttled_count - throttled:>5} "
        f"{recorded:>9.1f} {done:>9.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    sandbox = Sandbox.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        load_example(url)
        db = Database(url)
        server = ServeProcess(url, sandbox.env()).start(Path(tmp))
        try:
            print(f"{args.values:,} values; Sheets stand-in quota: 60 writes and 60 reads a minute")
            widths = {"writes": 6, "reads": 6, "writes/1000": 12, "429s": 5, "record s": 9, "synced s": 9}
            print(" " * 40, *(f"{name:>{width}}" for name, width in widths.items()))
            measure(
                sandbox, db, "one by one (a burst of /ci update)", args.values,
                lambda: record(db, args.values, "A", one_transaction=False),
            )  # fmt: skip
            measure(
                sandbox, db, "in one transaction (an import)", args.values,
                lambda: record(db, args.values, "B", one_transaction=True),
            )  # fmt: skip
            rows = len(sandbox.sheets.values(SPREADSHEET, "Values")) - 1
            print(f"rows in Values: {rows:,} (expected {2 * args.values:,})")
        finally:
            server.stop()
            db.dispose()
            sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
