"""How many connections each gunicorn worker holds, in memory shared by the master and the workers,
so that a new connection goes to the worker holding the fewest.

Every worker polls the one listening socket, and the first to call accept(2) takes the connection,
however many it already serves; a worker then keeps its connections (keep-alive). With 2 workers
and 32 clients holding a connection each (bench/ack_latency.py, PostgreSQL), the split drifted
between 16/16 and 20/12. Each worker has one core's worth of the GIL, so the clients of the
worker holding 20 waited in its queue for 45-80 ms at the median while those of the other waited
3-14 ms. A worker that is not among the least loaded now leaves a new connection to one that is
(`BufferingWorker.accept`), and takes it only if none has after `ACCEPT_DEFER_SECONDS` (a stalled
worker must not leave clients unanswered). bench/ack_latency.py, closed loop, old and new run in
turn: on SQLite (4 threads a worker) p99 211 and 144 ms became 147 and 115 ms, at 285 and 382
answers a second then 362 and 498; on PostgreSQL (8 threads a worker) no change beyond the
machine's drift (p99 170/154 ms before, 170/201 after, the bare app slower during the latter):
there, requests waiting for the GIL inside a worker weigh more (ARCHITECTURE.md).

The counts are one array of signed integers in shared memory (`multiprocessing.RawArray`, mapped
before gunicorn forks, so every worker sees the same pages): a slot per worker, -1 when free.
The master gives a worker its slot before forking it and frees it when the worker exits; the
worker writes its own count from when its event loop starts, and as it changes. Reads and writes
of one aligned integer are atomic on the platforms gunicorn runs on, and a count read a moment
late only makes a worker take one connection too many or defer once: no lock is needed.
"""

from __future__ import annotations

from multiprocessing.sharedctypes import RawArray
from typing import Any

FREE = -1


class ConnectionShares:
    def __init__(self, slots: int) -> None:
        self._counts: Any = RawArray("q", [FREE] * slots)
        self._taken: set[int] = set()  # in the master only

    def assign(self) -> WorkerShare | None:
        """In the master: a free slot for a worker about to be forked; None when all are taken (more
        workers than slots, after `TTIN`): that worker then accepts whenever it can, as gunicorn's own do."""
        for slot in range(len(self._counts)):
            if slot not in self._taken:
                self._taken.add(slot)
                self._counts[slot] = FREE  # counted once the worker serves (`WorkerShare.record`)
                return WorkerShare(self._counts, slot)
        return None

    def release(self, share: WorkerShare | None) -> None:
        """In the master: the worker holding `share` exited; its connections are gone, it is not waited for."""
        if share is None:
            return
        self._counts[share.slot] = FREE
        self._taken.discard(share.slot)


class WorkerShare:
    """One worker's slot, as the worker sees it after the fork."""

    def __init__(self, counts: Any, slot: int) -> None:
        self._counts, self.slot = counts, slot

    def record(self, connections: int) -> None:
        """This worker's connections; its first call says it serves: until then (a worker still
        starting up), the others do not leave it new connections."""
        self._counts[self.slot] = connections

    def among_fewest(self) -> bool:
        """Whether this worker holds no more connections than any other live worker."""
        own = self._counts[self.slot]
        return all(count == FREE or own <= count for count in self._counts)
