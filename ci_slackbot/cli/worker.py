"""`ci-slackbot worker`: only the outbox delivery and the scheduler, no HTTP (for deployments that want them apart)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from ci_slackbot.settings import load_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("worker", help="deliver the outbox and run scheduled jobs, without serving HTTP")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ci_slackbot.bootstrap import bootstrap
    from ci_slackbot.runtime import freeze_startup_heap, limit_malloc_arenas, start_background

    limit_malloc_arenas()
    services = bootstrap(load_settings())
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    background = start_background(services)
    freeze_startup_heap()
    log.info("worker %s started: outbox delivery and scheduled jobs", services.node)
    done.wait()
    log.info("worker stopping")
    background.stop()
    services.db.dispose()
    return 0
