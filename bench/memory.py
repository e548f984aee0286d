"""Resident memory of a `ci-slackbot serve` process: idle, and after 1,000 commands.

A real `serve` (gunicorn's master and one gthread worker, the app and its background
threads in the worker) runs the example initiative against the stand-ins. Read from
/proc for the master and the worker: VmRSS (resident now), VmHWM (the peak), Pss
(resident with shared pages split between the processes sharing them) and threads,

- idle: once /healthz answers and the background threads have started;
- after `--commands` signed `/ci` commands from `--clients` concurrent clients, a
  mix of what people send (updates, indicators, charts, actions, the agenda, status,
  digest previews, decisions); and again after each of `--batches` more such rounds,
  to tell a one-time growth (imports, pools, caches) from a leak;
- once the outbox has delivered everything those commands queued (Sheets rows, Notion
  pages, announcements, charts).

Run:

    python bench/memory.py [--commands 1000] [--batches 2] [--clients 8] [--series N] [--postgres] [--database URL]
                           [--in-process [--tracemalloc FRAMES]]

Linux only (/proc). SQLite by default (a fresh file in a temporary folder).

`--in-process` serves the worker's WSGI application (`build_wsgi`: the app, its outbox workers and
scheduler on threads, as in a gunicorn worker) from this process on a threaded loopback server, so
that `--tracemalloc` can say where the memory goes: after the first batch (warm) and after the last,
with the outbox delivered each time, the Python heap's growth between them, grouped by traceback.
"""

from __future__ import annotations

import argparse
import gc
import linecache
import os
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import select

from bench.measurement import fresh_database
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.outbox import DONE, FAILED
from ci_slackbot.sandbox.world import Sandbox, ServeProcess, SlackSender, children_of, load_example, wait_for
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import OutboxItem

BACKBONE, HOSPITAL, NURSE, NEIGHBOR, CITY = "U0BACK0001", "U0CHLD0001", "U0DISD0001", "U0NBRS0001", "U0CITY0001"
QUIET = {"CI_SLACKBOT_SCHEDULE_OVERRIDE_DIGEST": "off", "CI_SLACKBOT_SCHEDULE_OVERRIDE_REMINDERS": "off"}
SETTLE_SECONDS = 3.0

# One round of 50 commands, in proportions a coalition might send them: mostly reports and
# looks at the indicators, a few charts, fewer decisions (each is a Notion page and two posts).
ROUND = (
    [("update", HOSPITAL)] * 15
    + [("indicators", NURSE)] * 6
    + [("help", CITY)] * 4
    + [("actions", NEIGHBOR)] * 5
    + [("agenda", CITY)] * 4
    + [("status", BACKBONE)] * 3
    + [("digest", BACKBONE)] * 3
    + [("action add", NEIGHBOR)] * 4
    + [("indicator er-visits", HOSPITAL)] * 4
    + [("decide", BACKBONE)] * 2
)


@dataclass(frozen=True)
class Memory:
    rss_kib: int
    peak_kib: int
    pss_kib: int | None
    threads: int

    def show(self) -> str:
        pss = f"Pss {self.pss_kib / 1024:6.1f} MiB · " if self.pss_kib is not None else ""
        return (
            f"VmRSS {self.rss_kib / 1024:6.1f} MiB · {pss}VmHWM {self.peak_kib / 1024:6.1f} MiB · "
            f"{self.threads} threads"
        )


def memory_of(pid: int) -> Memory:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    pss = None
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    if rollup.exists():
        for line in rollup.read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return Memory(
        rss_kib=int(fields["VmRSS"].split()[0]),
        peak_kib=int(fields["VmHWM"].split()[0]),
        pss_kib=pss,
        threads=int(fields["Threads"]),
    )


# How many ZIP codes the updates report for (`--series`); 0: a new one each time.
SERIES = {"count": 0}


def sqlite_heap_kib() -> int | None:
    """What SQLite itself holds in this process (`sqlite3_memory_used`: page caches, statements,
    schemas of every connection), outside Python's heap; None where the library is not at hand."""
    try:
        import _sqlite3
        import ctypes

        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (ImportError, OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return int(used()) // 1024


def command_text(kind: str, i: int, marker: str) -> str:
    if kind == "update":
        period = Period.current(Frequency.MONTHLY, "America/Chicago").shift(-(1 + i % 12))
        zip_code = i % SERIES["count"] if SERIES["count"] else i
        return f"update er-visits {10 + i % 30}.5 {period} zip=M{zip_code:04d} memory bench"
    if kind == "action add":
        return f"action add Call the clinic about the inhaler refills ({marker} {i})"
    if kind == "decide":
        return f"decide Memory bench decision {i} ({marker}): we keep the pilot running"
    return kind


def outbox_settled(db: Database) -> bool:
    with db.unit_of_work() as session:
        statuses = list(session.scalars(select(OutboxItem.status)))
    if FAILED in statuses:
        raise AssertionError(f"{statuses.count(FAILED)} outbox rows parked")
    return all(status == DONE for status in statuses)


def run(url: str, commands: int, batches: int, clients: int, log_dir: Path) -> None:
    sandbox = Sandbox.start()
    load_example(url)
    db = Database(url)
    server = ServeProcess(url, {**sandbox.env(), **QUIET}).start(log_dir)
    try:
        assert server.process is not None
        master = server.process.pid
        workers = children_of(master)
        assert len(workers) == 1, f"expected one gunicorn worker, found {workers}"
        worker = workers[0]
        time.sleep(SETTLE_SECONDS)  # a bench, not a test: let the background threads start
        print(f"  idle:                      worker {memory_of(worker).show()}")
        print(f"                             master {memory_of(master).show()}")

        send = SlackSender(server.events_url, sandbox.slack)
        marker = uuid.uuid4().hex[:8]
        plan = [ROUND[i % len(ROUND)] for i in range(commands * batches)]

        def one(i: int) -> int:
            kind, user = plan[i]
            response, _ = send.command(command_text(kind, i, marker), user=user)
            return response.status_code

        started = time.monotonic()
        for batch in range(batches):
            batch_started = time.monotonic()
            with ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(one, range(batch * commands, (batch + 1) * commands)))
            elapsed = time.monotonic() - batch_started
            failed = len([s for s in statuses if s != 200])
            label = f"after {(batch + 1) * commands:,} commands:"
            print(
                f"  {label:<27}worker {memory_of(worker).show()}"
                f"   ({elapsed:.1f} s, {commands / elapsed:.0f}/s, {failed} not 200)"
            )
        wait_for(lambda: outbox_settled(db), timeout=900, interval=0.5)
        settled = time.monotonic() - started
        print(f"  outbox delivered ({settled:.0f} s): worker {memory_of(worker).show()}")
        print(f"                             master {memory_of(master).show()}")
    finally:
        server.stop()
        db.dispose()
        sandbox.stop()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int) -> None:
    """The Python heap's growth between two snapshots, by the traceback that allocated it."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, linecache.__file__)]
    # What the stand-ins keep (every call, message and row they were sent) and this bench's clients are
    # not the worker's: set apart.
    bench = [
        tracemalloc.Filter(False, "*/ci_slackbot/sandbox/*", all_frames=True),
        tracemalloc.Filter(False, __file__, all_frames=True),
    ]
    everything = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "filename")
    stats = after.filter_traces(ignore + bench).compare_to(before.filter_traces(ignore + bench), "traceback")
    grown = sum(stat.size_diff for stat in stats)
    print(
        f"  Python heap: {sum(stat.size_diff for stat in everything) / 1024:+,.0f} KiB between the snapshots, "
        f"{grown / 1024:+,.0f} KiB of it the app's (not the stand-ins' or the clients'); its largest growths:"
    )
    for stat in sorted(stats, key=lambda st: st.size_diff, reverse=True)[:top]:
        if stat.size_diff <= 0:
            break
        print(f"   {stat.size_diff / 1024:+9,.1f} KiB {stat.count_diff:+7d} blocks")
        frames = [f for f in stat.traceback if "tracemalloc" not in f.filename]
        ours = [f for f in frames if "/site-packages/" not in f.filename and "/lib/python" not in f.filename]
        for frame in (ours[-4:] + frames[:3]) if ours else frames[:6]:
            where = frame.filename.split("site-packages/")[-1].split("wt-perf-answers/")[-1]
            print(f"        {where}:{frame.lineno}")


def run_in_process(url: str, commands: int, batches: int, clients: int, frames: int) -> None:
    """The worker's WSGI app in this process, with tracemalloc when `frames` > 0."""
    from ci_slackbot.settings import Settings
    from ci_slackbot.web import build_wsgi

    sandbox = Sandbox.start()
    load_example(url)
    db = Database(url)
    os.environ.update({**sandbox.env(), **QUIET, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    if frames:
        tracemalloc.start(frames)
    web = build_wsgi(Settings())
    httpd = make_server("127.0.0.1", 0, web, server_class=_ThreadingServer, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    me = os.getpid()
    try:
        print(f"  idle:                      this process {memory_of(me).show()}")
        send = SlackSender(f"http://127.0.0.1:{httpd.server_port}/slack/events", sandbox.slack)
        marker = uuid.uuid4().hex[:8]
        plan = [ROUND[i % len(ROUND)] for i in range(commands * batches)]

        def one(i: int) -> int:
            kind, user = plan[i]
            try:
                response, _ = send.command(command_text(kind, i, marker), user=user)
            except requests.RequestException:
                return 0  # timed out: tracing every allocation slows the whole process down
            return response.status_code

        snapshots: list[tracemalloc.Snapshot] = []
        for batch in range(batches):
            started = time.monotonic()
            with ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(one, range(batch * commands, (batch + 1) * commands)))
            wait_for(lambda: outbox_settled(db), timeout=900, interval=0.5)
            gc.collect()
            failed = len([s for s in statuses if s != 200])
            label = f"after {(batch + 1) * commands:,} commands:"
            # SQLAlchemy's cache of compiled statements (an LRU of `query_cache_size`, 500): statements
            # of new shapes fill it, each entry kept for good.
            compiled = len(web.services.db.engine._compiled_cache or {})
            heap = sqlite_heap_kib()
            sqlite_part = f"; SQLite's own heap {heap / 1024:.1f} MiB" if heap is not None else ""
            print(
                f"  {label:<27}this process {memory_of(me).show()}"
                f"   ({time.monotonic() - started:.1f} s with the outbox, {failed} not 200; "
                f"{compiled} statements in SQLAlchemy's cache{sqlite_part})"
            )
            if frames and batch in (0, batches - 1):
                snapshots.append(tracemalloc.take_snapshot())
        if len(snapshots) == 2:
            _growth(snapshots[0], snapshots[1], top=25)
    finally:
        httpd.shutdown()
        web.close()
        if web.services.background is not None:
            web.services.background.stop()
        web.services.db.dispose()
        db.dispose()
        sandbox.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument(
        "--batches", type=int, default=2, help="send the commands this many times, measuring after each"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--series",
        type=int,
        default=0,
        help="updates report for this many ZIP codes in turn, so that the data stops growing once each "
        "has its 12 months (0, the default: a new ZIP code every update, and data that grows all along)",
    )
    parser.add_argument("--postgres", action="store_true", help="a fresh database on CI_SLACKBOT_TEST_POSTGRES_URL")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database")
    parser.add_argument("--in-process", action="store_true", help="serve the worker's app from this process")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES", help="with --in-process: trace the heap's growth"
    )
    args = parser.parse_args()
    SERIES["count"] = args.series
    kind = "postgresql" if args.postgres else "sqlite"
    print(f"== {args.database or kind}")
    with tempfile.TemporaryDirectory() as logs, fresh_database(kind, args.database) as url:
        if args.in_process:
            run_in_process(url, args.commands, args.batches, args.clients, args.tracemalloc)
        else:
            run(url, args.commands, args.batches, args.clients, Path(logs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
