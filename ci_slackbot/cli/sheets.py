"""`ci-slackbot sheets rebuild` and `ci-slackbot sheets check`: the Google Sheets mirror by hand.

`rebuild` rewrites every tab of the initiative's spreadsheet from the database,
for a new spreadsheet or one people have damaged; it keeps to the same quota
as the app, and deliveries wait while it runs. `check` says whether the app
can write the spreadsheet, and what to do if not.
"""

from __future__ import annotations

import argparse
import sys

from ci_slackbot.cli._initiative import NoSuchInitiativeError, choose_initiative
from ci_slackbot.cli._progress import ProgressBar
from ci_slackbot.outbox import DeliveryError
from ci_slackbot.services.sheet_data import SheetTarget, sheet_target
from ci_slackbot.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sheets", help="the Google Sheets mirror: rebuild it, or check access")
    actions = parser.add_subparsers(dest="sheets_command", required=True)
    rebuild = actions.add_parser(
        "rebuild",
        help="rewrite every tab of the spreadsheet from the database (for a new or damaged sheet)",
        description=(
            "Rewrites the Values and Indicators tabs and one tab per indicator, within Google's quota. "
            "Columns you added to those tabs are cleared; other tabs are left alone."
        ),
    )
    rebuild.add_argument("--team", help="Slack team ID of the initiative (needed when several are loaded)")
    rebuild.set_defaults(handler=run_rebuild)
    check = actions.add_parser("check", help="say whether the app can write the spreadsheet")
    check.add_argument("--team", help="Slack team ID of the initiative (needed when several are loaded)")
    check.set_defaults(handler=run_check)


def _target(settings: Settings, team: str | None, command: str) -> SheetTarget | None:
    from ci_slackbot.store.db import Database

    db = Database(settings.database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            initiative = choose_initiative(session, team)
            target = sheet_target(session, initiative.id)
            name = initiative.name
    except NoSuchInitiativeError as exc:
        print(f"ci-slackbot sheets {command}: {exc}", file=sys.stderr)
        return None
    finally:
        db.dispose()
    if target is None:
        print(
            f"ci-slackbot sheets {command}: {name} names no spreadsheet: add `sheets: spreadsheet_id: …` "
            "to the initiative file and load it again with `ci-slackbot init --config FILE`.",
            file=sys.stderr,
        )
        return None
    if not settings.sheets_enabled:
        print(
            f"ci-slackbot sheets {command}: Sheets mirroring is off: set GOOGLE_SERVICE_ACCOUNT_FILE "
            "to the service account's JSON key file (see the README).",
            file=sys.stderr,
        )
        return None
    return target


def run_rebuild(args: argparse.Namespace) -> int:
    from ci_slackbot.bootstrap import bootstrap
    from integrations.sheets import rebuild

    settings = load_settings()
    target = _target(settings, args.team, "rebuild")
    if target is None:
        return 2
    services = bootstrap(settings, migrate=False)
    progress = ProgressBar(f"Rebuilding spreadsheet {target.spreadsheet_id}")
    try:
        report = rebuild(services, target, progress)
    except DeliveryError as exc:
        progress.close()
        print(f"ci-slackbot sheets rebuild: {exc}", file=sys.stderr)
        return 1
    finally:
        services.db.dispose()
    progress.close()
    print(
        f"Rebuilt spreadsheet {report.spreadsheet_id}: {report.values:,} values, "
        f"{report.writes} write and {report.reads} read requests."
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    from integrations.sheets import check_sheet

    settings = load_settings()
    target = _target(settings, args.team, "check")
    if target is None:
        return 2
    ok, message = check_sheet(settings, target.spreadsheet_id)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
