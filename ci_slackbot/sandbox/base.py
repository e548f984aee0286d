"""Plumbing shared by the local stand-ins of Slack, Notion and Google Sheets.

Each stand-in is a real HTTP server on a random loopback port, so the real
client libraries talk to it unchanged. Its state lives in memory behind one
lock; tests read it directly from Python. Faults (outages, 5xx, 429 storms)
are switched on from Python too, so a test can say "Notion is down for the
next 30 seconds" without any HTTP control channel.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes | bytearray):
            return bytes(self.body)
        if self.body is None:
            return b""
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[..., Response]


@dataclass
class Logged:
    method: str
    path: str
    status: int
    at: float


class TokenBucket:
    """A leaky bucket: `rate` tokens a second, at most `capacity` saved up."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token; return 0, or the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class SlidingWindow:
    """At most `limit` events in any `seconds`-long window (Google's per-minute quotas)."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: list[float] = []
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._events = [t for t in self._events if now - t < self.seconds]
            if len(self._events) < self.limit:
                self._events.append(now)
                return 0.0
            return self.seconds - (now - self._events[0])


class Faults:
    """Failures a test switches on: an outage, the next N requests failing, a 429 storm."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outage_status: int | None = None
        self.outage_until: float | None = None
        self._fail: list[int] = []
        self._throttle: list[float] = []
        self._overload: list[float] = []
        self._delay = 0.0

    def outage(self, status: int = 503, seconds: float | None = None) -> None:
        """Every request fails with `status`, for `seconds` or until `restore()`."""
        with self._lock:
            self.outage_status = status
            self.outage_until = None if seconds is None else time.monotonic() + seconds

    def restore(self) -> None:
        with self._lock:
            self.outage_status = None
            self.outage_until = None
            self._fail.clear()
            self._throttle.clear()
            self._overload.clear()
            self._delay = 0.0

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    def throttle_next(self, count: int, retry_after: float = 1.0) -> None:
        """The next `count` requests get 429 with this Retry-After."""
        with self._lock:
            self._throttle.extend([retry_after] * count)

    def overload_next(self, count: int, retry_after: float = 1.0) -> None:
        """The next `count` requests get the service's "overloaded" answer (Notion's 529) with this Retry-After."""
        with self._lock:
            self._overload.extend([retry_after] * count)

    def slow(self, seconds: float) -> None:
        """Every request takes this long before it is answered."""
        with self._lock:
            self._delay = seconds

    def pick(self) -> tuple[str, float] | None:
        """What to do with the next request: ("status", code), ("throttle", s), ("overload", s) or None."""
        with self._lock:
            if self.outage_status is not None:
                if self.outage_until is None or time.monotonic() < self.outage_until:
                    return ("status", float(self.outage_status))
                self.outage_status = None
                self.outage_until = None
            if self._throttle:
                return ("throttle", self._throttle.pop(0))
            if self._overload:
                return ("overload", self._overload.pop(0))
            if self._fail:
                return ("status", float(self._fail.pop(0)))
            return None

    @property
    def delay(self) -> float:
        return self._delay


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when a test fires a burst of
    # parallel requests, and each dropped SYN costs the client a 1 s retry.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before its answer was written (a `serve` stopped in the middle of a
        # delivery) is no fault of the stand-in's: socketserver would print a traceback for it.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def retry_after_header(seconds: float) -> dict[str, str]:
    # Retry-After is a whole number of seconds on all three services.
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class StandIn:
    """A threaded HTTP server with a route table, a request log and faults.

    Subclasses register routes in `routes()` and shape errors in
    `error_response()` and `throttled_response()` the way their service does.
    """

    name = "stand-in"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.faults = Faults()
        self.log: list[Logged] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for method, pattern, handler in self.routes():
            self._routes.append((method, re.compile(pattern + r"$"), handler))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to be shaped by subclasses -------------------------------------------------
    def routes(self) -> list[tuple[str, str, Handler]]:
        return []

    def base_path(self) -> str:
        """The path the *_API_URL setting ends with (Slack: `/api/`)."""
        return ""

    def error_response(self, status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def throttled_response(self, retry_after: float) -> Response:
        return Response(429, {"error": "rate limited"}, retry_after_header(retry_after))

    def overloaded_response(self, retry_after: float) -> Response:
        """The service's own "overloaded" answer. Only Notion documents one that says how long to wait
        (529 with Retry-After): a stand-in of a service that does not must not invent it, or the app
        would be tested against a kinder service than the real one."""
        raise NotImplementedError(f"{type(self).__name__} has no documented overloaded answer: use outage()")

    def before(self, request: Request) -> Response | None:
        """Checks made on every request before routing (auth, headers, quotas)."""
        return None

    # -- life cycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}{self.base_path()}"

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} stand-in is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> StandIn:
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; Nagle would hold the body back ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                stand_in._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        server = _Server((self.host, self.port), _Handler)
        server.daemon_threads = True
        self._server = server
        # A short poll keeps stop() fast (the default 0.5 s poll makes every shutdown wait that long).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -----------------------------------------------------------
    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Logged]:
        with self.lock:
            return [
                entry
                for entry in self.log
                if (method is None or entry.method == method) and entry.path.startswith(path_prefix)
            ]

    def _dispatch(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        request = Request(
            method=http.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
        )
        response = self.handle(request)
        payload = response.encode()
        http.send_response(response.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        http.wfile.write(payload)
        with self.lock:
            self.log.append(Logged(request.method, request.path, response.status, time.time()))

    def handle(self, request: Request) -> Response:
        if self.faults.delay:
            time.sleep(self.faults.delay)
        fault = self.faults.pick()
        if fault is not None:
            kind, value = fault
            if kind == "throttle":
                return self.throttled_response(value)
            if kind == "overload":
                return self.overloaded_response(value)
            return self.error_response(int(value), "injected fault")
        early = self.before(request)
        if early is not None:
            return early
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                try:
                    return handler(request, **match.groupdict())
                except Exception as exc:  # a bug in the stand-in must still answer
                    return self.error_response(500, f"stand-in error: {exc!r}")
        return self.error_response(404, f"no route for {request.method} {request.path}")
