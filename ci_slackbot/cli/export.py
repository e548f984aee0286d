"""`ci-slackbot export`: every indicator value as CSV, in the long layout or Clear Impact Scorecard's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ci_slackbot.cli._initiative import NoSuchInitiativeError, choose_initiative
from ci_slackbot.services.bulk import EXPORT_LAYOUTS, export_values
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write indicator values as CSV",
        description=(
            "long: one row per value with every field (the first seven columns import again); "
            "clear-impact: id, actual_value_date, target_value, actual_value, comment — "
            "one row per indicator and period, for Clear Impact Scorecard."
        ),
    )
    parser.add_argument("--layout", choices=EXPORT_LAYOUTS, default="long", help="the CSV layout (default: long)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--team", help="Slack team ID of the initiative (needed when several are loaded)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    db = Database(load_settings().database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            try:
                initiative = choose_initiative(session, args.team)
            except NoSuchInitiativeError as exc:
                print(f"ci-slackbot export: {exc}", file=sys.stderr)
                return 2
            if args.out is None:
                count = export_values(session, initiative, sys.stdout, args.layout)
                sys.stdout.flush()
            else:
                # Written next to the target and moved into place, so a failed export never leaves half a file.
                partial = args.out.with_name(args.out.name + ".partial")
                try:
                    with partial.open("w", encoding="utf-8", newline="") as out:
                        count = export_values(session, initiative, out, args.layout)
                    partial.replace(args.out)
                except OSError as exc:
                    partial.unlink(missing_ok=True)
                    print(f"ci-slackbot export: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
                    return 2
    finally:
        db.dispose()
    where = args.out if args.out is not None else "standard output"
    print(f"Wrote {count} rows ({args.layout} layout) to {where}.", file=sys.stderr)
    return 0
