"""SQL statements and database round trips per `/ci update`, in process, through the whole WSGI app.

The figure that does not depend on how busy the machine is: what one partner's `/ci update` asks of
the database before its answer can go back in the ack. The app is `serve`'s WSGI application
(`WebApp`: the signature and replay check, then Bolt), each request is signed with the body
`bench/ack_latency.py` sends, and SQLAlchemy's engine events count:

- statements: every `before_cursor_execute` (SQLite's `BEGIN IMMEDIATE` included: SQLAlchemy runs it);
- transactions: `begin`, `commit`, `rollback` on the connection (on PostgreSQL psycopg sends BEGIN
  itself before the first statement, and COMMIT is one more round trip);
- checkouts from the pool, each of which costs a `SELECT 1` round trip on PostgreSQL (pre-ping).

On PostgreSQL the round trips are counted on the wire: libpq's trace of every connection (psycopg's
`pgconn.trace`), one `ReadyForQuery` from the server for each time the client waited for it (a
statement, BEGIN, COMMIT, a ping, a statement being prepared). On SQLite nothing leaves the process,
but each statement still costs its compile-cache look-up and execution, and BEGIN IMMEDIATE a write turn.

Run:

    python bench/statements.py [--requests 200] [--database sqlite|postgresql://…] [--show]

`--show` prints the statements of one warm request. Also times the requests in process, one at a
time (no HTTP, no concurrency): the CPU a request costs, apart from queueing. On a new database every
request is a first report; run it again on the same PostgreSQL database and every one is a correction.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk import WebClient
from sqlalchemy import event

from bench.ack_latency import RESPONSE_URL, command_body
from ci_slackbot.bootstrap import Services
from ci_slackbot.sandbox.world import SIGNING_SECRET, load_example, sign
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.web import WebApp
from commands import build_router

TEAM = "T0SANDBOX"


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    trace: Path | None = None  # libpq's trace of every PostgreSQL connection
    _read: int = 0

    def reset(self) -> None:
        self.statements.clear()
        self.events.clear()
        self.round_trips()

    def round_trips(self) -> int:
        """The server's `ReadyForQuery` messages since the last call: one per wait for an answer."""
        if self.trace is None:
            return 0
        with self.trace.open("rb") as trace:
            trace.seek(self._read)
            text = trace.read()
        self._read += len(text)
        return text.count(b"\tReadyForQuery")


def watch(db: Database, tally: Tally, folder: Path) -> None:
    engine = db.engine
    if engine.dialect.name == "postgresql":
        from psycopg import pq

        tally.trace = folder / "libpq.trace"
        sink = tally.trace.open("w")

        @event.listens_for(engine.pool, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.pgconn.trace(sink.fileno())
            dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        tally.statements.append(" ".join(statement.split()))

    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, lambda _conn, name=name: tally.events.update([name]))
    event.listen(engine.pool, "checkout", lambda *_a: tally.events.update(["checkout"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", default="sqlite", help="`sqlite` (a fresh file) or a PostgreSQL URL")
    parser.add_argument("--show", action="store_true", help="print the statements of one warm request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.database
        load_example(url, team=TEAM)
        db = Database(url)
        services = Services(
            settings=Settings(
                DATABASE_URL=url,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_BOT_TOKEN="xoxb-bench",
                CI_SLACKBOT_TRUSTED_URL_PREFIXES=RESPONSE_URL,
            ),
            db=db,
            slack=WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/"),
            router=build_router(),
        )
        app = WebApp(services)
        tally = Tally()
        watch(db, tally, Path(tmp))

        def send(client: int, k: int) -> str:
            body = command_body(client, k)  # as bench/ack_latency.py sends it
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/slack/events",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
                **{
                    "HTTP_" + name.upper().replace("-", "_"): value
                    for name, value in sign(body, SIGNING_SECRET).items()
                },
            }
            statuses: list[str] = []
            answer = b"".join(app(environ, lambda status, _headers: statuses.append(status)))
            assert statuses == ["200 OK"] and answer, (statuses, answer)
            return answer.decode()

        for k in range(10):  # warm up: imports, caches, the first statements
            send(k, k)
        per_request: list[int] = []
        events: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        seconds: list[float] = []
        trips: list[int] = []
        for n in range(args.requests):
            tally.reset()
            started = time.perf_counter()
            send(n % 32, 10 + n // 32)
            seconds.append(time.perf_counter() - started)
            per_request.append(len(tally.statements))
            trips.append(tally.round_trips())
            events.update(tally.events)
            kinds.update(s.split()[0].upper() for s in tally.statements)
        tally.reset()
        response = send(3, 999)
        shown = list(tally.statements)
        shown_events = dict(tally.events)
        app.close()
        db.dispose()
    n = args.requests
    backend = url.split(":")[0].split("+")[0]
    print(f"{backend}: {n} `/ci update`s through the WSGI app, one at a time")
    print(
        f"  statements a request: mean {statistics.fmean(per_request):.2f} (min {min(per_request)}, "
        f"max {max(per_request)}) — by kind: "
        + ", ".join(f"{kind} {count / n:.2f}" for kind, count in kinds.most_common())
    )
    print(
        "  a request's transactions: " + ", ".join(f"{name} {count / n:.2f}" for name, count in sorted(events.items()))
    )
    if backend == "postgresql":
        print(
            f"  round trips to PostgreSQL a request (on the wire): mean {statistics.fmean(trips):.2f} "
            f"(min {min(trips)}, max {max(trips)})"
        )
    ordered = sorted(seconds)
    print(
        f"  in process, one at a time: p50 {statistics.median(ordered) * 1000:.2f} ms, "
        f"p99 {ordered[min(n - 1, int(n * 0.99))] * 1000:.2f} ms"
    )
    if args.show:
        print(f"  one request ({shown_events}):")
        for statement in shown:
            print("   ", statement[:300])
        print("  its answer:", str(response)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
