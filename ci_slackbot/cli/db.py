"""`ci-slackbot db upgrade`: apply the schema migrations."""

from __future__ import annotations

import argparse

from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="database maintenance")
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply schema migrations (also done at start)")
    upgrade.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    db = Database(load_settings().database_url)
    db.upgrade()
    print("database schema is up to date")
    return 0
