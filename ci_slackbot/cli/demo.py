"""`ci-slackbot demo`: the real app, end to end, against local stand-ins — no accounts needed."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="play a week of the example initiative offline and show what happens")
    parser.add_argument("--keep", type=Path, help="keep the demo's database and logs in this folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ci_slackbot.demo import run_demo

    logging.getLogger().setLevel(logging.WARNING)
    return run_demo(sys.stdout, keep=args.keep)
