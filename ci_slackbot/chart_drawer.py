"""One thread per process draws every chart; callers wait for the PNG bytes with a timeout.

matplotlib is not thread-safe, and charts are wanted after the ack on many listener
threads at once. Drawn there, a few dozen figures are alive together and the process
keeps the heap they spread over (bench/memory.py: a worker went from ~97 MiB idle to
~314 MiB after 1,000 mixed commands, ~190 MiB since). Measured apart, 160 charts asked
for by 32 threads grew a process by ~185 MiB drawn on those threads, by ~40 MiB drawn
on one (~7 MiB with the collection below); fewer malloc arenas (MALLOC_ARENA_MAX=2)
saved ~20 MiB of the first and nothing of the second, so it is not set.

So every chart is drawn here, on one thread of the process, one at a time:
`draw(drawing)` queues a function that returns PNG bytes and waits for them;
`ChartTimeout` if they are not there within the timeout (a drawing that has not
started by then is dropped; one already started runs to its end, its bytes unused).

The thread starts at the first drawing, in the process that asks for it. A process
forked after that (gunicorn's workers are forked from the master) has no thread, only
the parent's bookkeeping, so the child forgets it and starts a thread of its own.
"""

from __future__ import annotations

import gc
import os
import queue
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass

__all__ = ["DEFAULT_TIMEOUT", "ChartDrawer", "ChartTimeout", "Drawing", "draw", "drawer"]

# A chart takes a few hundred milliseconds (the first, with matplotlib's import, about a
# second); this leaves room for a queue of a few dozen in front of it.
DEFAULT_TIMEOUT = 60.0

Drawing = Callable[[], bytes]


class ChartTimeout(TimeoutError):
    """The chart was not drawn in time (the drawing thread is busy with others)."""


@dataclass(frozen=True)
class _Job:
    drawing: Drawing
    future: Future[bytes]


class ChartDrawer:
    """A queue of drawings and the one thread that draws them, started on first use."""

    def __init__(self, name: str = "chart-drawer") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Drawings finished (well or not) in this process, by the ident of the thread that drew them:
        # one thread, unless a drawing killed it with a BaseException and the next one started another.
        self.drawn_by: Counter[int] = Counter()
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_parent(me))

    @property
    def thread(self) -> threading.Thread | None:
        """The drawing thread, once started in this process (None before the first drawing)."""
        return self._thread

    @property
    def thread_ident(self) -> int | None:
        thread = self._thread
        return thread.ident if thread is not None else None

    @property
    def drawn(self) -> int:
        return sum(self.drawn_by.values())

    def submit(self, drawing: Drawing) -> Future[bytes]:
        """Queue a drawing; its future gets the PNG bytes, or the exception it raised."""
        future: Future[bytes] = Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._queue.put(_Job(drawing, future))
        return future

    def draw(self, drawing: Drawing, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The PNG bytes of `drawing`, drawn on the drawing thread; ChartTimeout after `timeout` seconds."""
        if threading.get_ident() == self.thread_ident:
            return drawing()  # a drawing asking for another would otherwise wait for itself
        future = self.submit(drawing)
        done, _ = wait([future], timeout=timeout)
        if not done:
            future.cancel()  # dropped if not started yet; a drawing under way cannot be stopped
            raise ChartTimeout(f"no chart after {timeout:g} s: the chart thread is busy")
        return future.result()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up waiting
            self._draw(job)
            del job
            # A figure is a web of reference cycles (figure ↔ axes ↔ artists): only the cycle
            # collector frees it, and left to itself that waits until several figures' worth
            # (~40 MiB) is garbage. The figure just drawn is still young: collecting the young
            # generations frees nearly all of it in ~2 ms, where a full collection takes ~80 ms
            # of everyone's GIL (measured: 160 charts grew a process by 40 MiB, by 7 MiB so).
            gc.collect(1)

    def _draw(self, job: _Job) -> None:
        try:
            png = job.drawing()
        except BaseException as exc:
            job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # SystemExit and the like end the thread; the next drawing starts another
        else:
            job.future.set_result(png)
        finally:
            self.drawn_by[threading.get_ident()] += 1

    def _forget_parent(self) -> None:
        # After fork, in the child: the parent's thread is not here and its lock may be held.
        self._lock = threading.Lock()
        self._queue = queue.SimpleQueue()
        self._thread = None
        self.drawn_by = Counter()


def _forget_parent(ref: weakref.ref[ChartDrawer]) -> None:
    chart_drawer = ref()
    if chart_drawer is not None:
        chart_drawer._forget_parent()


_DRAWER = ChartDrawer()


def drawer() -> ChartDrawer:
    """This process's chart drawer."""
    return _DRAWER


def draw(drawing: Drawing, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Draw on this process's chart thread: see `ChartDrawer.draw`."""
    return _DRAWER.draw(drawing, timeout=timeout)
