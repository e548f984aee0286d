"""`ci-slackbot export`: every indicator value as CSV, in the long layout or Clear Impact Scorecard's;
with `--config FILE`, the initiative's set-up as an initiative file that `ci-slackbot init` loads back."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from ci_slackbot.cli._initiative import NoSuchInitiativeError, choose_initiative
from ci_slackbot.services.bulk import EXPORT_LAYOUTS, export_values
from ci_slackbot.services.initiative_export import export_initiative_file
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database

HEADER = (
    "# The initiative as the database holds it (ci-slackbot export --config).\n"
    "# Load it with `ci-slackbot init --config FILE`; loading it unchanged changes nothing.\n"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write indicator values as CSV, or the set-up as an initiative file (--config)",
        description=(
            "long: one row per value with every field (the first seven columns import again); "
            "clear-impact: id, actual_value_date, target_value, actual_value, comment — "
            "one row per indicator and period, for Clear Impact Scorecard. "
            "With --config FILE: the initiative's set-up, in the schema `ci-slackbot init` reads."
        ),
    )
    parser.add_argument("--layout", choices=EXPORT_LAYOUTS, default="long", help="the CSV layout (default: long)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, metavar="FILE", help="write the CSV to FILE instead of standard output")
    where.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="write the initiative's set-up as an initiative file (YAML) to FILE (`-`: standard output)",
    )
    parser.add_argument("--team", help="Slack team ID of the initiative (needed when several are loaded)")
    parser.set_defaults(handler=run)


class _FileDumper(yaml.SafeDumper):
    """Block style, and multi-line text as a `|` block, so that the file reads like one written by hand."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_FileDumper.add_representer(str, _text)


def initiative_yaml(data: dict[str, Any]) -> str:
    """The initiative file's text for `export_initiative_file`'s mapping."""
    body = yaml.dump(data, Dumper=_FileDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return HEADER + body


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
            if args.config is not None:
                text = initiative_yaml(export_initiative_file(session, initiative))
                name = initiative.name
                count = 0
            elif args.out is None:
                count = export_values(session, initiative, sys.stdout, args.layout)
                sys.stdout.flush()
            else:

                def write_csv(out: TextIO) -> int:
                    return export_values(session, initiative, out, args.layout)

                written = _write_atomically(args.out, write_csv)
                if written is None:
                    return 2
                count = written
    finally:
        db.dispose()
    if args.config is not None:
        if str(args.config) == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            print(f"Wrote the set-up of {name} to standard output.", file=sys.stderr)
            return 0
        if _write_atomically(args.config, lambda out: out.write(text)) is None:
            return 2
        print(f"Wrote the set-up of {name} to {args.config}.", file=sys.stderr)
        return 0
    where = args.out if args.out is not None else "standard output"
    print(f"Wrote {count} rows ({args.layout} layout) to {where}.", file=sys.stderr)
    return 0


def _write_atomically(path: Path, write: Callable[[TextIO], int]) -> int | None:
    """Written next to the target and moved into place, so a failed export never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            result = write(out)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"ci-slackbot export: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    return result
