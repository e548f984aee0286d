"""HTTP mode: Bolt behind gunicorn (threaded workers), with /healthz beside /slack/events."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt.adapter.wsgi import SlackRequestHandler

from ci_slackbot import command_queue, outbox
from ci_slackbot.app import create_app
from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.observability import configure_logging, request_scope
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import normalise_url

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class WebApp:
    """The WSGI application: Slack's one Request URL, health and metrics; with OAuth settings, also
    GET /slack/install and GET /slack/oauth_redirect (served by Bolt's handler)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.bolt = SlackRequestHandler(create_app(services), path="/slack/events")

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
            body = self.metrics_text().encode()
            start_response(
                "200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(body)))]
            )
            return [body]
        with request_scope(environ.get("HTTP_X_REQUEST_ID")), self.services.metrics.timed_ack():
            return self.bolt(environ, start_response)

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
        if self.services.command_journal is not None:
            try:
                waiting, oldest = command_queue.waiting(self.services.db)
            except Exception:
                log.exception("metrics: the command queue could not be read")
            else:
                gauges["ci_slackbot_command_queue_depth"] = [({}, waiting)]
                gauges["ci_slackbot_command_queue_oldest_seconds"] = [({}, oldest or 0.0)]
        return self.services.metrics.render(gauges)


def build_wsgi(settings: Settings, *, background: bool | None = None) -> WebApp:
    settings.require(*settings.slack_credentials())
    configure_logging(settings.log_level)
    services = bootstrap(settings)
    web = WebApp(services)
    from ci_slackbot.runtime import freeze_startup_heap, start_background

    if background is None:
        # With queued commands the command runners deliver the outbox and run the schedule, at
        # their lower priority: a worker only takes acks.
        background = settings.background_jobs and not settings.queue_commands
    if background:
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


def request_threads(database_url: str, *, queued: bool = False) -> int:
    """How many requests a worker runs at once, unless told.

    A request only reads and writes the database and acks: everything slow is after the
    ack, on `AfterAck`'s pool. More threads than that work keeps busy only contend for
    the GIL, and a thread that waits for it while it holds the database holds up the
    rest (bench/ack_latency.py, 2 workers, 32 clients: on SQLite, which writes one at a
    time, 570 requests a second with 4 threads, 410 with 8 and 450 with 32; on
    PostgreSQL 320 with 4, 390 with 8, 340 with 16). With queued commands a request
    never waits for the database, so PostgreSQL's extra threads only contend: 4 there too
    (PostgreSQL, closed loop, queued acks beside the bare app on as many threads: p99
    1.32–1.44× the bare app's with 4, 1.64–2.01× with 8).
    """
    return 4 if queued or normalise_url(database_url).startswith("sqlite") else 8


class CommandRunnerProcess:
    """`ci-slackbot command-runner` beside gunicorn's workers (CI_SLACKBOT_QUEUE_COMMANDS), started again if it dies.

    At a lower CPU priority than the workers: when both want the cores, the kernel runs the
    acks first and the commands' work in the time left, so an ack never waits behind work
    that can wait (bench/ack_latency.py). Its answers then come later, never its acks."""

    NICENESS = 19

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._keep, name="command-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _keep(self) -> None:
        command = [sys.executable, "-m", "ci_slackbot", "command-runner", "--parent", str(os.getpid())]
        while not self._stopping.is_set():
            self._process = subprocess.Popen([*command, "--nice", str(self.NICENESS)])
            code = self._process.wait()
            if self._stopping.wait(1.0):
                return
            log.error("the command runner stopped (exit %s); starting it again", code)

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def serve(
    settings: Settings, host: str = "0.0.0.0", port: int = 3000, workers: int = 1, threads: int | None = None
) -> None:
    settings.require(*settings.slack_credentials())
    threads = threads or request_threads(settings.database_url, queued=settings.queue_commands)
    # As many runners as workers: a runner is one process, so one core's worth of Python at most.
    runners = [CommandRunnerProcess() for _ in range(workers)] if settings.queue_commands else []
    for runner in runners:
        runner.start()
    try:
        _run_gunicorn(settings, host, port, workers, threads)
    finally:
        for runner in runners:
            runner.stop()


def _run_gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    _Gunicorn(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 10,
            # No max_requests: a worker replaced under load drops its keep-alive connections, and a
            # command sent on one fails in Slack. Nothing calls for it: bench/memory.py, one worker,
            # 10,000 mixed commands: ~97 MiB idle, ~185 MiB after the first 1,000 (pools, caches, the
            # first charts), then ~1.8 MiB more for every further 1,000, each adding 300 values that later
            # commands read; the Python heap stays flat under tracemalloc.
            "accesslog": None,
            "loglevel": settings.log_level.lower(),
        },
    ).run()
