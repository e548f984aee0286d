"""App Home of a 100-indicator coalition: how long a person waits for their Home tab.

Measured from the `app_home_opened` event's arrival (the signed request handed to `serve`'s WSGI
application, `WebApp`) to the Slack stand-in receiving the `views.publish` that shows it (the time the
stand-in records the call): the signature and replay check, the event's dedup row, the ack, then, on
`AfterAck`'s pool, the Home's data, its Block Kit, and the Web API call over HTTP. One person at a time,
for a partner (member of one of the 20 organizations, all of which report every indicator) and for
backbone staff (who also get the reporting status, the outbox, what is parked and the set-up's changes).

The initiative is `bench/measurement.py`'s: `--indicators` monthly indicators × `--years` of values ×
`--orgs` organizations (100 × 5 × 20 = 120,000 values), bulk-inserted. Also timed alone, as the
parts of the wait: `standings()` for every indicator (the series behind "Your goals").

Run:

    python bench/app_home.py [--indicators 100] [--years 5] [--orgs 20] [--opens 20] [--database sqlite|postgresql://…]

Prints p50/p95/max of the wait per person, the number of blocks, and whether Slack would take the view.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.measurement import load_big_initiative
from ci_slackbot.bootstrap import Services, slack_client
from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.sandbox.world import SIGNING_SECRET, Sandbox, event_envelope, sign
from ci_slackbot.services.measurement import STANDING_PERIODS, indicator_views, standings
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import Initiative
from ci_slackbot.web import WebApp
from commands import build_router

TEAM = "TBENCH"  # the team `load_big_initiative` loads the initiative for
PARTNER, BACKBONE = "U0ORG00000", "U0BACK0001"


def event_environ(user: str) -> dict[str, Any]:
    home_opened = {"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"}
    body = json.dumps(event_envelope(TEAM, home_opened)).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in sign(body, SIGNING_SECRET).items()},
    }


def answer(app: WebApp, environ: dict[str, Any]) -> str:
    """The WSGI app's status line for one request (its body, read to the end, is the empty ack)."""
    statuses: list[str] = []
    b"".join(app(environ, lambda status, _headers: statuses.append(status)))
    return statuses[0]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


# What `home_data` calls, timed one by one (`parts`).
PARTS = (
    "indicator_views",
    "reporting_status",
    "standings",
    "_goal_keys",
    "_my_actions",
    "goal_digests",
    "equity_by_indicator",
    "reporting_summary",
    "latest_stories",
    "list_changes",
    "wish_views",
    "visible_community_stories",
    "recent_changes",
)


def parts(services: Services, initiative_id: int, user: str) -> str:
    """Where the time of one person's Home goes: each call `home_data` makes, its Block Kit, on a warm process."""
    import ci_slackbot.services.home as home
    from ci_slackbot import outbox
    from integrations.slack.home_blocks import home_view

    spent: dict[str, float] = {}

    def timing(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return timed

    originals = {name: getattr(home, name) for name in PARTS if hasattr(home, name)}
    outbox_originals = {name: getattr(outbox, name) for name in ("health", "parked_causes")}
    try:
        for name, function in originals.items():
            setattr(home, name, timing(name, function))
        for name, function in outbox_originals.items():
            setattr(outbox, name, timing(f"outbox.{name}", function))
        with services.db.unit_of_work() as session:
            initiative = session.get_one(Initiative, initiative_id)
            person = services.config.person(session, initiative, user)
            started = time.perf_counter()
            views = services.config.indicators(session, initiative)  # as commands/home.py has them
            data = home.home_data(session, initiative, person, services.now(), views)
            total = time.perf_counter() - started
            started = time.perf_counter()
            home_view(data)
            spent["Block Kit"] = time.perf_counter() - started
    finally:
        for name, function in originals.items():
            setattr(home, name, function)
        for name, function in outbox_originals.items():
            setattr(outbox, name, function)
    shown = sorted(spent.items(), key=lambda item: -item[1])
    return f"home_data {ms(total)}: " + ", ".join(f"{name} {ms(seconds)}" for name, seconds in shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--opens", type=int, default=20, help="Home tabs opened per person (after one to warm up)")
    parser.add_argument("--database", default="sqlite", help="`sqlite` (a fresh file) or an empty PostgreSQL database")
    args = parser.parse_args()
    sandbox = Sandbox.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.database
            db, initiative_id, count, load = load_big_initiative(url, args.indicators, args.years * 12, args.orgs)
            print(
                f"{url.split(':')[0]}: {args.indicators} indicators × {args.years} years monthly × {args.orgs} "
                f"organizations = {count:,} values (bulk-inserted in {load:.1f} s)"
            )
            settings = Settings(DATABASE_URL=url, **sandbox.env())
            services = Services(settings=settings, db=db, slack=slack_client(settings), router=build_router())
            app = WebApp(services)
            for user in (PARTNER, BACKBONE):
                sandbox.slack.add_user(user, name=user.lower())
            try:
                for who, user in (("partner", PARTNER), ("backbone staff", BACKBONE)):
                    waits: list[float] = []
                    view: dict[str, Any] = {}
                    for n in range(args.opens + 1):
                        published = len(sandbox.slack.calls("views.publish"))
                        environ = event_environ(user)
                        started = time.time()
                        status = answer(app, environ)
                        assert status == "200 OK", status
                        call = sandbox.slack.wait_for(
                            lambda published=published: sandbox.slack.calls("views.publish")[published:], timeout=60
                        )[0]
                        assert call["ok"], call
                        if n:  # the first one warms up imports, pools and caches
                            waits.append(call["at"] - started)
                        view = sandbox.slack.home(user) or {}
                    ordered = sorted(waits)
                    problems = validate_view({"type": "home", "blocks": view.get("blocks", [])}, surface="home")
                    print(
                        f"  {who:<15} event → views.publish: p50 {ms(statistics.median(ordered))}, "
                        f"p95 {ms(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))])}, "
                        f"max {ms(ordered[-1])} — {len(view.get('blocks', []))} blocks, "
                        f"{'valid' if not problems else f'INVALID: {problems[:2]}'}"
                    )
                    print(f"    {parts(services, initiative_id, user)}")
            finally:
                app.close()
            with db.unit_of_work() as session:
                initiative = session.scalars(select(Initiative).where(Initiative.id == initiative_id)).one()
                views = indicator_views(session, initiative.id)
                samples = []
                for _ in range(5):
                    started = time.perf_counter()
                    standings(session, initiative.id, views, recent=STANDING_PERIODS)
                    samples.append(time.perf_counter() - started)
            print(f"  of which standings() for all {len(views)} indicators alone: p50 {ms(statistics.median(samples))}")
            db.dispose()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
