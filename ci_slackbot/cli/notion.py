"""`ci-slackbot notion setup --parent PAGE`: create a ready decisions database under the agenda hub."""

from __future__ import annotations

import argparse
import sys

from ci_slackbot.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("notion", help="Notion set-up")
    actions = parser.add_subparsers(dest="notion_command", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup", help="create a decisions database with every property the app writes, under a page"
    )
    setup.add_argument("--parent", required=True, metavar="PAGE", help="ID (or link) of the agenda hub page")
    setup.add_argument("--title", default="Decisions", help="the database's title (default: Decisions)")
    setup.set_defaults(handler=run_setup)


def page_id_of(text: str) -> str:
    """A page ID from an ID or a Notion link (its last 32 hex digits)."""
    tail = text.strip().rstrip("/").split("/")[-1].split("?")[0].split("#")[0]
    digits = "".join(ch for ch in tail if ch in "0123456789abcdefABCDEF")[-32:]
    return digits if len(digits) == 32 else text.strip()


def run_setup(args: argparse.Namespace) -> int:
    from ci_slackbot.outbox import DeliveryError
    from integrations.notion import create_decisions_database

    settings = load_settings()
    settings.require("NOTION_TOKEN")
    try:
        database = create_decisions_database(settings, page_id_of(args.parent), args.title)
    except DeliveryError as exc:
        print(f"ci-slackbot: the database could not be created: {exc}", file=sys.stderr)
        print("Check that the page is shared with the integration (••• → Connections).", file=sys.stderr)
        return 1
    print(f"Created the decisions database {database['id']} ({database.get('url', '')}).")
    print("Put it in the initiative file, then load it with `ci-slackbot init --config FILE`:")
    print("notion:")
    print(f"  decisions_database: {database['id']}")
    return 0
