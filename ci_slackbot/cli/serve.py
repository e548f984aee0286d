"""`ci-slackbot serve` (HTTP, behind gunicorn) and `ci-slackbot run` (Socket Mode)."""

from __future__ import annotations

import argparse

from ci_slackbot.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="serve Slack over HTTP: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (each runs its own threads)")
    serve.add_argument("--threads", type=int, default=32, help="request threads per worker")
    serve.set_defaults(handler=run_serve)
    run = subparsers.add_parser("run", help="connect to Slack in Socket Mode (needs SLACK_APP_TOKEN)")
    run.set_defaults(handler=run_socket_mode)


def run_serve(args: argparse.Namespace) -> int:
    from ci_slackbot.web import serve

    serve(load_settings(), host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 0


def run_socket_mode(args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from ci_slackbot.app import create_app
    from ci_slackbot.bootstrap import bootstrap
    from ci_slackbot.runtime import start_background

    settings = load_settings()
    settings.require("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    services = bootstrap(settings)
    app = create_app(services, socket_mode=True)
    if settings.background_jobs:
        start_background(services)
    SocketModeHandler(app, settings.slack_app_token).start()
    return 0
