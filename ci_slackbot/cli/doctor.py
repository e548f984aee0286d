"""`ci-slackbot doctor`: check every configured connection and say what to fix.

Prints one table (component | status | detail) and exits 0 when everything
that is configured works, 1 otherwise. Services that are not configured are
listed as "off (not configured)" and do not fail the run.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import textwrap
from collections.abc import Sequence

from ci_slackbot.services.doctor import Check, Status, check_database
from ci_slackbot.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check the database, Slack, Notion and Sheets connections and say what to fix"
    )
    parser.add_argument(
        "--manifest",
        help="the Slack app manifest whose bot scopes the granted ones are compared with "
        "(default: manifest.yml of the checkout, or of the working directory)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # The clients log each request, and each failure; the table already says what happened.
    for noisy in ("httpx", "notion_client", "slack_sdk", "gspread", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    checks = diagnose(load_settings(), args.manifest)
    print(render(checks))
    failed = [check for check in checks if check.status is Status.FAIL]
    print()
    print(f"{len(failed)} problem(s) to fix." if failed else "Everything that is configured works.")
    return 1 if failed else 0


def diagnose(settings: Settings, manifest: str | None = None) -> list[Check]:
    # Imported here so that other subcommands do not pay for Slack, Notion and Google imports.
    from integrations.doctor import check_notion, check_sheets, check_slack
    from integrations.slack.manifest import ManifestError, bot_scopes, find_manifest, load_manifest

    rows, targets = check_database(settings)
    scopes: list[str] | None = None
    path = find_manifest(manifest)
    note = "no manifest.yml found here; pass --manifest FILE"
    if path is not None:
        try:
            scopes = bot_scopes(load_manifest(path))
        except ManifestError as exc:
            note = str(exc)
    rows += check_slack(settings, scopes, note)
    rows += check_notion(settings, targets)
    rows += check_sheets(settings, targets)
    return rows


def render(checks: Sequence[Check], width: int | None = None) -> str:
    """A plain-text table; long details wrap under their column so each row stays readable."""
    total = width or shutil.get_terminal_size((120, 24)).columns
    headers = ("component", "status", "detail / what to fix")
    first = max(len(headers[0]), *(len(c.component) for c in checks))
    second = max(len(headers[1]), *(len(c.status.value) for c in checks))
    detail_width = max(40, total - first - second - 6)
    lines = [
        f"{headers[0]:<{first}} | {headers[1]:<{second}} | {headers[2]}",
        f"{'-' * first}-+-{'-' * second}-+-{'-' * 20}",
    ]
    for check in checks:
        wrapped = textwrap.wrap(check.detail, detail_width, break_on_hyphens=False) or [""]
        lines.append(f"{check.component:<{first}} | {check.status.value:<{second}} | {wrapped[0]}")
        lines.extend(f"{'':<{first}} | {'':<{second}} | {more}" for more in wrapped[1:])
    return "\n".join(lines)
