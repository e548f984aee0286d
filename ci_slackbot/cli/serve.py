"""`ci-slackbot serve` (HTTP, behind gunicorn) and `ci-slackbot run` (Socket Mode)."""

from __future__ import annotations

import argparse
import logging
import threading

from ci_slackbot.settings import WHERE_TO_GET, MissingSettingError, load_settings

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="serve Slack over HTTP: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (each runs its own threads)")
    serve.add_argument("--threads", type=int, help="request threads per worker (default: 4 on SQLite, 8 on PostgreSQL)")
    serve.set_defaults(handler=run_serve)
    run = subparsers.add_parser("run", help="connect to Slack in Socket Mode (needs SLACK_APP_TOKEN)")
    run.set_defaults(handler=run_socket_mode)


def run_serve(args: argparse.Namespace) -> int:
    from ci_slackbot.web import serve

    serve(load_settings(), host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 0


def run_socket_mode(args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    from ci_slackbot.app import create_app
    from ci_slackbot.bootstrap import bootstrap
    from ci_slackbot.runtime import freeze_startup_heap, limit_malloc_arenas, start_background

    limit_malloc_arenas()
    settings = load_settings()
    settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    app_token = str(settings.slack_app_token)
    if not app_token.startswith("xapp-"):
        raise MissingSettingError(
            f"SLACK_APP_TOKEN must be an app-level token (xapp-…): get it at {WHERE_TO_GET['SLACK_APP_TOKEN']}"
        )
    services = bootstrap(settings)
    app = create_app(services, socket_mode=True)
    socket_log = logging.getLogger("ci_slackbot.socket_mode")
    # One envelope per thread: as many as the listener pool, so a burst of commands is acked in parallel.
    handler = SocketModeHandler(app, app_token, logger=socket_log, concurrency=settings.listener_threads)
    try:
        # Connect before the background jobs start, so that a refused token stops here with one line
        # (the client would log the same refusal at ERROR first).
        socket_log.setLevel(logging.CRITICAL)
        handler.connect()
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else exc.response.status_code
        raise MissingSettingError(
            f"Slack refused SLACK_APP_TOKEN ({error}): check that Socket Mode is on for the app and get the "
            f"token at {WHERE_TO_GET['SLACK_APP_TOKEN']}"
        ) from exc
    finally:
        socket_log.setLevel(logging.NOTSET)
    if settings.background_jobs:
        start_background(services)
    freeze_startup_heap()
    log.info("connected to Slack in Socket Mode")
    threading.Event().wait()  # the Socket Mode client works on its own threads until the process is stopped
    return 0
