"""Background work inside the app process: outbox delivery and the scheduler.

Each feature that needs a loop has a starter in `starters()`; `serve`,
`run`, `worker` and the demo call `start_background()` once per process.
"""

from __future__ import annotations

import ctypes
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


# glibc's mallopt(3) parameter for the most malloc arenas a process may have.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> bool:
    """At most `MALLOC_ARENAS` malloc arenas in this process and those it forks (glibc's `mallopt`,
    as the `MALLOC_ARENA_MAX` environment variable would, which `serve`'s users would have to know to
    set). False where the C library has no such setting (not glibc), which changes nothing.

    glibc gives threads arenas of their own, up to 8 per core, and memory freed in one is kept for
    that arena. A `serve` worker runs 35-47 threads (requests, after-ack work, outbox, scheduler), so
    the freed memory of every thread's peaks (a chart, a digest) stayed resident: bench/memory.py
    (`--series 60`: data that stops growing), 179 MiB after 1,000 commands, then up 2 MiB every
    1,000 more, 198 MiB after 10,000. With two arenas: 178 MiB after 1,000 and 183.5 MiB after
    10,000; the Python heap is as flat as before. Call it before threads start: in the
    gunicorn master before it forks its workers, which inherit the setting.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


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
