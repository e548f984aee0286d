"""HTTP mode: Bolt behind gunicorn (threaded workers), with /healthz beside /slack/events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client.multiprocess import mark_process_dead
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse

from ci_slackbot import outbox
from ci_slackbot.app import after_ack_pool, create_app
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.connection_shares import ConnectionShares
from ci_slackbot.http_limits import BufferingWorker
from ci_slackbot.inbound import Accepted, Answer, SignedRequests
from ci_slackbot.observability import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ci_slackbot.observability import configure_logging, metrics_allowed, multiprocess_directory, request_scope
from ci_slackbot.settings import Settings

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class WebApp:
    """The WSGI application: Slack's one Request URL, health and metrics; with OAuth settings, also
    GET /slack/install and GET /slack/oauth_redirect (served by Bolt's handler)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.after_ack = after_ack_pool(services.settings.listener_threads)
        self.bolt = SlackRequestHandler(create_app(services, executor=self.after_ack), path="/slack/events")
        # Every POST /slack/events is verified, parsed and checked for replays here, before Bolt sees it.
        self.signed = SignedRequests(
            str(services.settings.slack_signing_secret), services.db, purge_in=self.after_ack.submit
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = self.services.db.ping()
            body = json.dumps({"status": "ok" if healthy else "database unreachable"}).encode()
            start_response(
                "200 OK" if healthy else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/metrics" and method == "GET":
            if not metrics_allowed(self.services.settings.metrics_token, environ.get("HTTP_AUTHORIZATION")):
                body = b"A bearer token is required: CI_SLACKBOT_METRICS_TOKEN.\n"
                start_response(
                    "401 Unauthorized",
                    [
                        ("WWW-Authenticate", "Bearer"),
                        ("Content-Type", "text/plain"),
                        ("Content-Length", str(len(body))),
                    ],
                )
                return [body]
            body = self.metrics_text().encode()
            start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        with request_scope(environ.get("HTTP_X_REQUEST_ID")), self.services.metrics.timed_ack():
            if path == "/slack/events" and method == "POST":
                return self.slack_event(environ, start_response)
            return self.bolt(environ, start_response)

    def slack_event(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A command, interaction or event: verified and parsed before Bolt gets it."""
        body = _request_body(environ)
        if body is None:
            checked: Accepted | Answer = Answer(400, "bad request: bad Content-Length")
        else:
            headers = {name: str(value) for name, value in WsgiHttpRequest(environ).get_headers().items()}
            checked = self.signed.check(body, headers, environ.get("QUERY_STRING", ""))
        if isinstance(checked, Answer):
            response = WsgiHttpResponse(checked.status, {"content-type": ["text/plain;charset=utf-8"]}, checked.reason)
        else:
            answer = self.bolt.app.dispatch(checked.request)
            if checked.replay_check is not None:
                checked.replay_check.settle()
            response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
        start_response(response.status, response.get_headers())
        return response.get_body()

    def close(self) -> None:
        """Let the work already handed over after its ack finish (an app stopped in a process that
        goes on, as in the tests: its answers would otherwise go out after it had gone)."""
        self.after_ack.shutdown(wait=True)

    def metrics_text(self) -> str:
        gauges: dict[str, list[tuple[dict[str, str], float]]] = {
            "ci_slackbot_outbox_depth": [],
            "ci_slackbot_outbox_failed": [],
            "ci_slackbot_outbox_oldest_seconds": [],
        }
        try:
            with self.services.db.unit_of_work() as session:
                health = outbox.health(session)
        except Exception:
            log.exception("metrics: the outbox could not be read")
        else:
            for service, counts in sorted(health.by_service.items()):
                depth = counts.get("pending", 0) + counts.get("delivering", 0)
                gauges["ci_slackbot_outbox_depth"].append(({"service": service}, depth))
                gauges["ci_slackbot_outbox_failed"].append(({"service": service}, counts.get("failed", 0)))
            gauges["ci_slackbot_outbox_oldest_seconds"].append(({}, health.oldest_pending_seconds or 0.0))
        return self.services.metrics.render(gauges)


def _request_body(environ: dict[str, Any]) -> bytes | None:
    """The request's body, or None when its Content-Length is not a length."""
    length = environ.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit()):
        return None
    return bytes(environ["wsgi.input"].read(int(length)))


def build_wsgi(settings: Settings, *, background: bool | None = None) -> WebApp:
    settings.require(*settings.slack_credentials())
    configure_logging(settings.log_level)
    services = bootstrap(settings)
    web = WebApp(services)
    from ci_slackbot.runtime import freeze_startup_heap, start_background

    if settings.background_jobs if background is None else background:
        start_background(services)
    freeze_startup_heap()
    return web


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings_for_app = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        # Called in each worker after the fork: every worker has its own pools and threads.
        return build_wsgi(self.settings_for_app)


# How many requests a worker runs at once, unless told (`serve --threads`).
#
# A request only reads and writes the database and acks: everything slow is after the ack, on
# `AfterAck`'s pool. More threads than that work keeps busy only contend for the GIL, and a thread
# that waits for it while it holds the database holds up the rest. bench/ack_latency.py, 2 workers,
# 32 clients: on SQLite, which writes one at a time, 570 requests a second with 4 threads, 410 with
# 8 and 450 with 32. On PostgreSQL, since a `/ci update` takes 4 round trips (it took 7 when 8 was
# chosen), p99 93-96 ms with 4 threads against 112-116 with 8, at the same throughput (590-615
# answers a second, runs in turn); 3 and 6 were no better than 4.
REQUEST_THREADS = 4


def serve(
    settings: Settings, host: str = "0.0.0.0", port: int = 3000, workers: int = 1, threads: int | None = None
) -> None:
    from ci_slackbot.runtime import limit_malloc_arenas

    settings.require(*settings.slack_credentials())
    limit_malloc_arenas()  # before gunicorn forks the workers, which inherit it
    with multiprocess_directory():
        _Gunicorn(settings, _gunicorn_options(settings, host, port, workers, threads)).run()


def _gunicorn_options(settings: Settings, host: str, port: int, workers: int, threads: int | None) -> dict[str, Any]:
    # Slots for twice the workers: while gunicorn replaces one, the old and the new both hold one.
    shares = ConnectionShares(slots=2 * workers)

    def pre_fork(_server: Any, worker: Any) -> None:
        worker.share = shares.assign()

    def child_exit(_server: Any, worker: Any) -> None:
        shares.release(getattr(worker, "share", None))
        # Drops the dead worker's live gauges from the metrics files; its counters stay, so that their
        # sums never go backwards.
        mark_process_dead(worker.pid)

    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread's threads, but each request is read whole before a thread takes it: slow clients
        # cost a buffer, not a thread (ci_slackbot/http_limits.py, ARCHITECTURE.md).
        "worker_class": BufferingWorker,
        "threads": threads or REQUEST_THREADS,
        "timeout": 60,
        "graceful_timeout": 10,
        # No max_requests: a worker replaced under load drops its keep-alive connections, and a
        # command sent on one fails in Slack. Nothing calls for it: bench/memory.py, one worker,
        # mixed commands, with `limit_malloc_arenas()`: ~97 MiB idle, 177 MiB after the first 1,000
        # (pools, caches, the first charts), 175-179 MiB from 2,000 to 4,000 (runtime.py).
        "accesslog": None,
        "loglevel": settings.log_level.lower(),
        "pre_fork": pre_fork,
        "child_exit": child_exit,
    }
