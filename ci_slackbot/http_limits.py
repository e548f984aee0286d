"""Requests are read whole before a request thread sees them, within a deadline and a size cap.

gunicorn's `gthread` worker hands a connection to a request thread as soon as its first bytes
arrive, and the thread then blocks reading the rest of the headers and the body. Four clients
that announce a large body and send three bytes held all four threads of a SQLite worker, and
nothing else was answered, `/healthz` included, for as long as they held. `BufferingWorker`
reads each request on the worker's event loop instead, without blocking, as nginx does: a slow
client costs a buffer, not a thread, and the request threads only ever see complete requests.

- A request's head and body must arrive within `READ_DEADLINE` seconds of the connection being
  accepted (or of the next request's first byte on a kept-alive connection); after that it gets
  408 and the connection is closed. Connections that never send a byte are closed too.
- A body larger than `MAX_BODY_BYTES` gets 413 as soon as its `Content-Length` is read; nothing
  of it is kept.
- A body without a `Content-Length` (chunked) gets 411: Slack always sends one.
- A head larger than `MAX_HEAD_BYTES` gets 431.

Pipelined requests are not served: the connection closes after the first answer, which
RFC 9112 section 9.3.2 allows and clients retry. TLS is terminated in front of the app.

A new connection is taken by a worker holding the fewest connections (`connection_shares.py`), and a
kept-alive connection is closed after `KEEPALIVE_REQUESTS` answers, so that the workers share clients
that hold their connections (see the constant).

The worker overrides parts of gunicorn's `ThreadWorker` that are not a public interface (`run`, `poller`, `accept`,
`enqueue_req`, `murder_keepalived`, `handle`, `handle_request`, `TConn`, a request's
`must_close`), as they are in gunicorn 23:
tests/test_slow_clients.py drives them through a real `serve`, and must pass on any gunicorn allowed.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from ci_slackbot.connection_shares import WorkerShare

# Slack's largest payloads are view submissions: a modal holds at most 100 blocks and its whole view
# is at most 250 kB (views.open, docs in shared/reference/platform-limits.md), and each plain-text
# input adds at most 3,000 characters of state, form-encoded at up to 3 bytes a character for
# `payload=`: 250 kB + 100 x 3,000 x 3 = ~1.15 MB at the very worst, ~0.5 MB for any modal we build
# (ours have at most a few inputs). Slash commands carry at most 4,000 characters of text; events
# (message text up to 40,000 characters) stay well under 1 MiB. 1 MiB leaves room for all of them.
MAX_BODY_BYTES = 1024 * 1024
# gunicorn's own limits (a request line of 4,094 bytes, 100 header fields of 8,190) still apply
# once the head is handed over; this only bounds what is held before that.
MAX_HEAD_BYTES = 64 * 1024
# Slack sends each request at once, from its data centres, and wants the answer within 3 s; a
# request that has not arrived in 5 s cannot be answered in time anyway.
READ_DEADLINE = 5.0
# After a refusal, how long unread bytes still in flight are read and dropped, so that closing the
# socket does not reset the connection before the client has read the answer.
LINGER_SECONDS = 2.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A kept-alive connection is closed (`Connection: close`) after this many answers, as nginx's
# `keepalive_requests` does, so that clients that hold their connections spread over the workers
# again: a worker takes the connections it happens to accept, and keeps them. bench/ack_latency.py
# (2 workers, 32 clients holding one connection each, PostgreSQL): one run in two, one worker had
# most of them, at 80% of a core while the other idled, and served 230-260 requests a second
# instead of 320-370. After every 20 answers a connection is made again, and the worker with the
# time to accept it first takes it: all runs 350-365. It costs a client one connect in 20 requests.
KEEPALIVE_REQUESTS = 20
# How long a worker that holds more connections than another leaves a new one to the others before it
# takes the connection itself: long enough for a busy worker's event loop to get the GIL back (gunicorn's
# threads switch every 5 ms, and a busy loop waits for several), short enough that a client of a stalled
# worker is not kept waiting. With 20 ms, the answers' p99 got worse (bench/ack_latency.py, SQLite: 192, 275 ms).
ACCEPT_DEFER_SECONDS = 0.2
# How often a worker that left the listener aside looks again whether it now holds the fewest.
ACCEPT_RECHECK_SECONDS = 0.005


def _answer(status: str, text: str) -> bytes:
    body = (text + "\n").encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


TIMEOUT = _answer("408 Request Timeout", "The request did not arrive in time.")
TOO_LARGE = _answer("413 Content Too Large", f"The request body is larger than {MAX_BODY_BYTES} bytes.")
LENGTH_REQUIRED = _answer("411 Length Required", "A request body needs a Content-Length.")
HEAD_TOO_LARGE = _answer("431 Request Header Fields Too Large", "The request headers are too large.")


class PrefetchedSocket:
    """The connection's socket as a request thread sees it: `recv` returns the request read ahead
    on the event loop, then end of file, so that a thread never waits on the network for input.
    Everything else (sending the answer, closing) goes to the real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ready = bytearray()  # the current request, read ahead, not yet consumed
        self.pipelined = False  # bytes came after the current request: close after answering it
        self.answered = 0  # requests answered on this connection
        self.continued = False  # "100 Continue" was sent already, while the body was read ahead

    def recv(self, size: int, *flags: int) -> bytes:
        chunk = bytes(self.ready[:size])
        del self.ready[:size]
        return chunk

    def send(self, data: bytes, *flags: int) -> int:
        if self.continued and bytes(data) == CONTINUE:
            # gunicorn answers `Expect: 100-continue` when it builds the request; it was answered here.
            self.continued = False
            return len(data)
        return self.sock.send(data, *flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _WakingSelector:
    """The worker's selector, whose `select` returns within `ACCEPT_RECHECK_SECONDS` while a listener is
    left aside."""

    def __init__(self, selector: selectors.BaseSelector, deferred: dict[socket.socket, tuple[Any, float]]) -> None:
        self._selector, self._deferred = selector, deferred

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._deferred:
            # Back soon enough to see that this worker now holds the fewest, and to take over in time.
            timeout = ACCEPT_RECHECK_SECONDS if timeout is None else min(timeout, ACCEPT_RECHECK_SECONDS)
        return self._selector.select(timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


@dataclass
class _Reading:
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    head_end: int = -1  # index just past the blank line that ends the head, once seen
    total: int = -1  # length of head and body, once the head is read


class BufferingWorker(ThreadWorker):
    """gunicorn's threaded worker, reading each request whole on its event loop before a thread
    handles it (see the module's docstring)."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl:
            raise RuntimeError("BufferingWorker reads raw bytes: terminate TLS in front of it")

    # Set by the master before the fork (`web.py`): this worker's slot among the shared connection counts.
    share: WorkerShare | None = None

    def init_process(self) -> None:
        self.reading: dict[TConn, _Reading] = {}
        self.lingering: dict[TConn, float] = {}
        self.deferred: dict[socket.socket, tuple[Any, float]] = {}  # listener: its address, when to resume
        super().init_process()

    def run(self) -> None:
        # gunicorn's loop waits up to 1 s for an event: a listener left aside (`_defer`) must come back
        # on time even when nothing else happens, or a new connection could wait that long.
        selector: selectors.BaseSelector = getattr(self, "poller")  # noqa: B009 (set by gunicorn, untyped)
        self.poller: Any = _WakingSelector(selector, self.deferred)
        if self.share is not None:
            self.share.record(self.nr_conns)  # serving from now on: the others may leave it connections
        super().run()

    def accept(self, server: Any, listener: socket.socket) -> None:
        if self.share is not None:
            self.share.record(self.nr_conns)
            if not self.share.among_fewest():
                self._defer(server, listener)
                return
        self._take(server, listener)

    def _take(self, server: Any, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, PrefetchedSocket(sock), client, server)
        self.nr_conns += 1
        if self.share is not None:
            self.share.record(self.nr_conns)
        # The deadline runs from the accept: a connection that sends nothing is closed as well.
        self.reading[conn] = _Reading(time.monotonic() + READ_DEADLINE)
        self._watch(conn, self._on_readable)

    def enqueue_req(self, conn: TConn) -> None:
        # Called by gunicorn when a kept-alive connection sends its next request.
        self.reading[conn] = _Reading(time.monotonic() + READ_DEADLINE)
        self._read(conn)

    def _watch(self, conn: TConn, callback: Any) -> None:
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(callback, conn))

    def _unwatch(self, conn: TConn) -> None:
        with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _on_readable(self, conn: TConn, _fileobj: Any) -> None:
        self._unwatch(conn)
        self._read(conn)

    def _read(self, conn: TConn) -> None:
        state = self.reading[conn]
        sock: PrefetchedSocket = conn.sock
        closed = False
        while True:
            try:
                chunk = sock.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            state.data += chunk
            if state.total < 0 and not self._read_head(conn, state):
                return
            if state.total >= 0 and len(state.data) >= state.total:
                break
        if state.total >= 0 and len(state.data) >= state.total:
            del self.reading[conn]
            # Appended: what the app left unread of the previous request's body is still ahead of it.
            sock.ready += state.data[: state.total]
            sock.pipelined = len(state.data) > state.total
            super().enqueue_req(conn)
        elif closed:
            del self.reading[conn]
            self._close(conn)
        else:
            self._watch(conn, self._on_readable)

    def _read_head(self, conn: TConn, state: _Reading) -> bool:
        """Reads the head once it is all in; False when the request was refused."""
        end = state.data.find(b"\r\n\r\n")
        if end < 0:
            if len(state.data) > MAX_HEAD_BYTES:
                self._refuse(conn, HEAD_TOO_LARGE)
                return False
            return True
        if end > MAX_HEAD_BYTES:
            self._refuse(conn, HEAD_TOO_LARGE)
            return False
        state.head_end = end + 4
        lengths, chunked, expect = [], False, False
        for line in bytes(state.data[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"expect" and value.lower() == b"100-continue":
                expect = True
        if chunked:
            self._refuse(conn, LENGTH_REQUIRED)
            return False
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            # gunicorn answers a malformed length with 400 without reading any body: hand the head over.
            state.total = state.head_end
            return True
        length = int(lengths[0]) if lengths else 0
        if length > MAX_BODY_BYTES:
            self._refuse(conn, TOO_LARGE)
            return False
        state.total = state.head_end + length
        if expect and len(state.data) < state.total:
            self._send(conn, CONTINUE)
            conn.sock.continued = True
        return True

    def _send(self, conn: TConn, data: bytes) -> None:
        # The socket is non-blocking here; these answers are a few hundred bytes, which fit in any
        # socket buffer, so a short write means the client is gone and is given up.
        with contextlib.suppress(OSError):
            conn.sock.sock.send(data)

    def _refuse(self, conn: TConn, answer: bytes) -> None:
        del self.reading[conn]
        self._send(conn, answer)
        try:
            conn.sock.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS
        self._watch(conn, self._drain)

    def _drain(self, conn: TConn, _fileobj: Any) -> None:
        while True:
            try:
                chunk = conn.sock.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._unwatch(conn)
                self.lingering.pop(conn, None)
                self._close(conn)
                return

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def _defer(self, server: Any, listener: socket.socket) -> None:
        """Leave the listener to a worker with fewer connections for a moment (the listener is
        level-triggered: watched, it would wake this loop again at once)."""
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(listener)
        self.deferred[listener] = (server, time.monotonic() + ACCEPT_DEFER_SECONDS)

    def _resume(self, now: float) -> None:
        fewest = self.share is None or self.share.among_fewest()
        for listener, (server, until) in list(self.deferred.items()):
            if not fewest and until > now:
                continue
            del self.deferred[listener]
            if not fewest:
                # A connection still waiting was not taken by the others in time: this worker takes it.
                self._take(server, listener)
            with self._lock:
                self.poller.register(listener, selectors.EVENT_READ, partial(self.accept, server))

    def murder_keepalived(self) -> None:
        # Runs on every turn of the event loop (at least once a second): enforce the deadlines too.
        super().murder_keepalived()
        now = time.monotonic()
        if self.share is not None:
            self.share.record(self.nr_conns)
            self._resume(now)
        for conn in [c for c, state in self.reading.items() if state.deadline <= now]:
            self._unwatch(conn)
            del self.reading[conn]
            self._send(conn, TIMEOUT)
            self._close(conn)
        for conn in [c for c, deadline in self.lingering.items() if deadline <= now]:
            self._unwatch(conn)
            del self.lingering[conn]
            self._close(conn)

    def handle_request(self, req: Any, conn: TConn) -> Any:
        conn.sock.answered += 1
        if conn.sock.answered >= KEEPALIVE_REQUESTS:
            req.must_close = True  # gunicorn then answers with `Connection: close`, and closes
        return super().handle_request(req, conn)

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        keepalive, conn = super().handle(conn)
        return (keepalive and not conn.sock.pipelined), conn
