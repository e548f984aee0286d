"""`ci-slackbot init --config FILE`: load or update an initiative."""

from __future__ import annotations

import argparse
import sys

from ci_slackbot.initiative_file import InitiativeFileError, load_initiative_file
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("init", help="load an initiative file into the database (again to apply changes)")
    parser.add_argument("--config", required=True, help="the initiative file (YAML)")
    parser.add_argument(
        "--team", help="Slack team ID this initiative belongs to (default: the workspace of SLACK_BOT_TOKEN)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        data = load_initiative_file(args.config)
    except InitiativeFileError as exc:
        print(f"{args.config} cannot be loaded:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    db = Database(load_settings().database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            initiative, report = apply_initiative(session, data, args.team)
            name = initiative.name
    except InitiativeFileError as exc:  # what only the database shows: a workspace another initiative has
        print(f"{args.config} cannot be loaded:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"Loaded {name}:")
    for line in report.lines():
        print(f"  {line}")
    return 0
