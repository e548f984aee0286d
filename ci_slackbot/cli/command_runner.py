"""`ci-slackbot command-runner`: carries out the /ci commands that `serve` wrote to its journal.

`serve` starts it itself when CI_SLACKBOT_QUEUE_COMMANDS is on (and starts it again if it
dies); run by hand, it does the same work for a journal directory, e.g. one left behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

from ci_slackbot.settings import load_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "command-runner", help="carry out the /ci commands queued by `serve` (CI_SLACKBOT_QUEUE_COMMANDS)"
    )
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # stop when this process (serve) is gone
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.nice:
        os.nice(args.nice)  # before anything starts, so every thread of the process has it
    from ci_slackbot.app import command_runner
    from ci_slackbot.bootstrap import bootstrap
    from ci_slackbot.observability import configure_logging
    from ci_slackbot.runtime import freeze_startup_heap, start_background

    settings = load_settings()
    configure_logging(settings.log_level)
    services = bootstrap(settings)
    runner = command_runner(services)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The outbox and the schedule too (`serve`'s workers leave them to the runners, so that they never
    # compete with acks); its outbox workers are woken by the commands it commits.
    background = start_background(services) if settings.background_jobs else None
    freeze_startup_heap()
    log.info("command runner %s started on %s", services.node, runner.reader.directory)
    runner.run(done, parent=args.parent)
    if background is not None:
        background.stop()
    runner.queue.executor.shutdown(wait=True, cancel_futures=False)
    services.db.dispose()
    return 0
