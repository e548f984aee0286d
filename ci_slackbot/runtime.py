"""Background work inside the app process: outbox delivery and the scheduler.

Each feature that needs a loop has a starter in `starters()`; `serve`,
`run`, `worker` and the demo call `start_background()` once per process.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

Stopper = Callable[[], None]
Starter = Callable[[Services, threading.Event], Stopper | None]


@dataclass
class Background:
    services: Services
    stop_event: threading.Event = field(default_factory=threading.Event)
    stoppers: list[Stopper] = field(default_factory=list)

    def stop(self) -> None:
        self.stop_event.set()
        for stopper in reversed(self.stoppers):
            try:
                stopper()
            except Exception:
                log.exception("stopping background work failed")


def starters() -> list[Starter]:
    """The loops to run, imported here rather than at the top so that the CLI starts fast."""
    from ci_slackbot.outbox import start_workers
    from ci_slackbot.scheduler import start_scheduler

    return [start_workers, start_scheduler]


def start_background(services: Services) -> Background:
    background = Background(services)
    for starter in starters():
        stopper = starter(services, background.stop_event)
        if stopper is not None:
            background.stoppers.append(stopper)
    services.background = background
    return background


def freeze_startup_heap() -> None:
    """Leave the objects made by imports and start-up out of every later garbage collection.

    A started `serve` worker tracks about 141,000 of them (Bolt, SQLAlchemy, pydantic, the
    SDKs, the app), nearly all alive for good. A full collection walks every one, 60–95 ms
    with the GIL held, so every request of the process waits for it: 3 or 4 a worker in
    3,200 `/ci update`s of bench/ack_latency.py. Frozen, they are skipped (no full
    collection took place during the same load, young ones stayed under 6 ms); whatever is
    made afterwards is collected as before. Call it once start-up is done, in the process
    that serves (for gunicorn, in each worker, after the fork).
    """
    gc.collect()
    gc.freeze()
