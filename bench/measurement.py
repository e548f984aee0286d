"""Shared measurement at size: recording values one by one, and answering `/ci indicators` for a big initiative.

(a) 10,000 values recorded through `measurement.record_value`, each in its own
    transaction as a `/ci update` would be (who_is + indicator_views + record_value
    + commit), on the example initiative: time per value.
(b) `/ci indicators` for 100 indicators × 5 years of monthly values × 20
    organizations (120,000 values, bulk-inserted): `standings()` alone, and the
    whole `/ci indicators` handler as the router runs it (standings + Block Kit),
    plus `/ci indicator <key>` (history + blocks) and drawing its chart.

Run:

    python bench/measurement.py [--values 10000] [--indicators 100] [--years 5] [--orgs 20] [--repeat 5]
    python bench/measurement.py --only indicators --size 1000000   # 100 × 500 months × 20 = 1,000,000 values

`--size N` sets the number of values of (b) by the length of the history (N / indicators / orgs
months), so that figures at 10,000, 120,000 and 1,000,000 values show what grows with history.

SQLite always (a fresh file in a temporary folder); PostgreSQL too when
CI_SLACKBOT_TEST_POSTGRES_URL is set (a fresh database, dropped afterwards),
or only the database given with --database (an empty one, e.g. made with
`createdb -h 127.0.0.1 -U postgres bench_standings`; drop it afterwards).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_sdk import WebClient
from sqlalchemy import create_engine, func, insert, select, text

from ci_slackbot.bootstrap import Services
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.outbox import OutboxSignal
from ci_slackbot.sandbox.slack import validate_blocks
from ci_slackbot.sandbox.world import load_example
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value, standings
from ci_slackbot.services.people import who_is
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Indicator, IndicatorValue, Organization
from commands import build_router
from commands.grammar import Words
from commands.router import Invocation, Reply

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


# -- databases -----------------------------------------------------------------------------------


@contextmanager
def fresh_database(kind: str, given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    base = os.environ["CI_SLACKBOT_TEST_POSTGRES_URL"]
    admin_url = base.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"ci_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def services_for(db: Database, url: str) -> Services:
    return Services(
        settings=Settings(DATABASE_URL=url),
        db=db,
        slack=WebClient(token="xoxb-bench"),
        router=build_router(),
        clock=lambda: NOW,
        outbox_signal=OutboxSignal(),
    )


# -- figures --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return (
        f"mean {ms(statistics.fmean(ordered))} · p50 {ms(pct(0.50))} · p95 {ms(pct(0.95))} · "
        f"p99 {ms(pct(0.99))} · max {ms(ordered[-1])}"
    )


def timed(work: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        samples.append(time.perf_counter() - started)
    return samples, result


# -- (a) recording values ----------------------------------------------------------------------


ZIPS = [f"752{n:02d}" for n in range(10, 30)]


def value_plan(count: int) -> list[tuple[str, str, str, dict[str, str]]]:
    """(user, indicator, period, breakdown) in the order partners would report them, newest month last."""
    per_month = [
        ("U0CHLD0001", "er-visits"),
        ("U0CHLD0001", "home-visits"),
        ("U0NBRS0001", "home-visits"),
        ("U0NBRS0001", "home-assessments"),
        ("U0CITY0001", "home-assessments"),
    ]
    per_period = len(per_month) * (1 + len(ZIPS))
    months = -(-count // per_period)
    first = Period.containing(Frequency.MONTHLY, NOW.date()).shift(-months + 1)
    plan: list[tuple[str, str, str, dict[str, str]]] = []
    for m in range(months):
        period = str(first.shift(m))
        for user, key in per_month:
            for zip_code in [None, *ZIPS]:
                plan.append((user, key, period, {"zip": zip_code} if zip_code else {}))
    return plan[:count]


def bench_recording(url: str, count: int) -> None:
    load_example(url)
    db = Database(url)
    plan = value_plan(count)
    per_request: list[float] = []
    in_record_value: list[float] = []
    started_all = time.perf_counter()
    for n, (user, key, period, breakdown) in enumerate(plan):
        started = time.perf_counter()
        with db.unit_of_work() as session:
            initiative = all_initiatives(session)[0]
            person = who_is(session, initiative, user)
            indicator = find_indicator(indicator_views(session, initiative.id), key)
            inner = time.perf_counter()
            record_value(
                session,
                initiative,
                person,
                indicator=indicator,
                value=10 + (n % 97) / 3,
                period=Period.parse(period),
                breakdown=breakdown,
                note="bench",
                now=NOW,
            )
            in_record_value.append(time.perf_counter() - inner)
        per_request.append(time.perf_counter() - started)
    total = time.perf_counter() - started_all
    with db.unit_of_work() as session:
        stored = session.scalar(select(func.count()).select_from(IndicatorValue))
    print(
        f"  (a) recorded {len(plan):,} values ({stored:,} rows) in {total:,.1f} s — {len(plan) / total:,.0f} values/s"
    )
    print(f"      per value, whole transaction: {describe(per_request)}")
    print(f"      per value, record_value alone: {describe(in_record_value)}")
    db.dispose()


# -- (b) /ci indicators for a big initiative ---------------------------------------------------


def big_initiative(indicators: int, orgs: int) -> dict[str, Any]:
    goals = [{"key": f"G{g}", "title": f"Goal {g}", "strategies": [f"Strategy {g}"]} for g in range(1, 6)]
    organizations = [{"key": "backbone", "name": "Backbone", "sector": "backbone", "members": ["U0BACK0001"]}]
    organizations += [
        {"key": f"org-{o:02d}", "name": f"Organization {o:02d}", "members": [f"U0ORG{o:05d}"]} for o in range(orgs)
    ]
    return {
        "initiative": {"name": "Benchmark Coalition", "timezone": "America/Chicago", "backbone": "backbone"},
        "goals": goals,
        "organizations": organizations,
        "indicators": [
            {
                "key": f"ind-{i:03d}",
                "name": f"Indicator number {i:03d}",
                "goal": f"G{1 + i % 5}",
                "unit": "people" if i % 2 else "percent",
                "direction": "increase" if i % 3 else "decrease",
                "frequency": "monthly",
                "min": 0,
                "baseline": {"period": "2021-11", "value": 40},
                "target": {"period": "2027-12", "value": 80 if i % 3 else 10},
                "reporters": [f"org-{o:02d}" for o in range(orgs)],
                "breakdowns": ["zip"],
            }
            for i in range(indicators)
        ],
        "channels": {"digest": "C0DIGEST01"},
    }


def fill_values(db: Database, initiative_id: int, months_back: int) -> None:
    """Bulk-insert `months_back` monthly values up to 2026-10 for every indicator × organization of the initiative."""
    months = [Period.parse("2026-10").shift(-m) for m in range(months_back)]
    with db.unit_of_work() as session:
        indicator_ids = list(session.scalars(select(Indicator.id).where(Indicator.initiative_id == initiative_id)))
        org_ids = list(
            session.scalars(
                select(Organization.id).where(
                    Organization.initiative_id == initiative_id, Organization.key != "backbone"
                )
            )
        )
        batch: list[dict[str, Any]] = []
        for i, indicator_id in enumerate(indicator_ids):
            for m, period in enumerate(months):
                for o, org_id in enumerate(org_ids):
                    batch.append(
                        {
                            "initiative_id": initiative_id,
                            "indicator_id": indicator_id,
                            "organization_id": org_id,
                            "period": str(period),
                            "period_start": period.start,
                            "breakdown_key": "",
                            "breakdown": {},
                            "value": 40 + (i + m + o) % 40,
                            "note": "",
                            "reporter": f"U0ORG{o:05d}",
                            "entered_via": "import",
                            "recorded_at": NOW,
                            "revision": 1,
                        }
                    )
                if len(batch) >= 20_000:
                    session.execute(insert(IndicatorValue), batch)
                    batch = []
        if batch:
            session.execute(insert(IndicatorValue), batch)


def months_for(size: int | None, indicators: int, years: int, orgs: int) -> int:
    """How many months of history make `size` values (at least one), or `years` of them without a size."""
    return max(1, round(size / (indicators * orgs))) if size else years * 12


def load_big_initiative(url: str, indicators: int, months: int, orgs: int) -> tuple[Database, int, int, float]:
    """A big initiative with its values bulk-inserted: (db, initiative id, value count, seconds to load)."""
    db = Database(url)
    db.upgrade()
    with db.unit_of_work() as session:
        initiative, _ = apply_initiative(session, parse_initiative(big_initiative(indicators, orgs)), "TBENCH")
        initiative_id = initiative.id
    started = time.perf_counter()
    fill_values(db, initiative_id, months)
    load = time.perf_counter() - started
    if db.engine.dialect.name == "postgresql":
        # As autovacuum leaves a table in use (statistics, and the visibility map index-only scans need),
        # rather than as a bulk insert leaves it for the first minute.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE indicator_values"))
    with db.unit_of_work() as session:
        count = session.scalar(
            select(func.count()).select_from(IndicatorValue).where(IndicatorValue.initiative_id == initiative_id)
        )
    return db, initiative_id, int(count or 0), load


def bench_indicators(url: str, indicators: int, months: int, orgs: int, repeat: int) -> None:
    db, initiative_id, count, load = load_big_initiative(url, indicators, months, orgs)
    print(
        f"  (b) {indicators} indicators × {months} months × {orgs} organizations = {count:,} values "
        f"(bulk-inserted in {load:,.1f} s)"
    )
    services = services_for(db, url)
    router = services.router

    def answer(command: str, user: str) -> Reply:
        with db.unit_of_work() as session:
            initiative = all_initiatives(session)[-1]
            person = who_is(session, initiative, user)

            def build(words: Words) -> Invocation:
                return Invocation(
                    session=session,
                    initiative=initiative,
                    person=person,
                    user_id=user,
                    team_id="TBENCH",
                    channel_id="C0BENCH",
                    words=words,
                    services=services,
                )

            reply = router.dispatch(command, build)
            reply.payload()  # the Block Kit message as it is sent, trimmed to Slack's limits
            return reply

    try:  # as `/ci indicators` asks: the latest figures only (code from before that option reads everything)
        from ci_slackbot.services.measurement import STANDING_PERIODS

        shown: dict[str, Any] = {"recent": STANDING_PERIODS}
    except ImportError:
        shown = {}

    def only_standings() -> Any:
        with db.unit_of_work() as session:
            return standings(session, initiative_id, **shown)

    answer("indicators", "U0ORG00000")  # warm caches and imports once
    samples, board = timed(only_standings, repeat)
    print(f"      standings() for {len(board)} indicators: {describe(samples)}")
    samples, reply = timed(lambda: answer("indicators", "U0ORG00000"), repeat)
    payload = reply.payload()
    problems = validate_blocks(payload["blocks"], surface="message")
    print(
        f"      /ci indicators handler (standings + Block Kit): {describe(samples)} — "
        f"{len(payload['blocks'])} blocks, {len(str(payload)):,} chars, "
        f"{'valid' if not problems else f'INVALID: {problems[:2]}'}"
    )
    samples, reply = timed(lambda: answer("indicator ind-007", "U0ORG00000"), repeat)
    payload = reply.payload()
    problems = validate_blocks(payload["blocks"], surface="message")
    print(
        f"      /ci indicator ind-007 (history of {months * orgs:,} values + Block Kit): {describe(samples)} — "
        f"{len(payload['blocks'])} blocks, {'valid' if not problems else f'INVALID: {problems[:2]}'}"
    )
    from ci_slackbot.charts import indicator_chart

    with db.unit_of_work() as session:
        view = find_indicator(indicator_views(session, initiative_id), "ind-007")
        series = standings(session, initiative_id, [view])[0].series
    samples, png = timed(
        lambda: indicator_chart(
            title=view.name,
            unit=view.unit,
            direction=view.direction,
            actuals=series,
            baseline=view.baseline,
            target=view.target,
        ),
        repeat,
    )
    print(
        f"      drawing its chart ({len(series)} points, after the ack): {describe(samples)} — {len(png):,} bytes PNG"
    )
    db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=10_000)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--size", type=int, help="values in (b), by the months of history (overrides --years)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", help="use this (empty) database instead of fresh ones")
    parser.add_argument("--only", choices=("recording", "indicators"), help="run one of the two parts")
    args = parser.parse_args()
    kinds = ["given"] if args.database else ["sqlite"]
    if not args.database and os.environ.get("CI_SLACKBOT_TEST_POSTGRES_URL"):
        kinds.append("postgresql")
    for kind in kinds:
        print(f"== {kind if kind != 'given' else args.database}")
        if args.only in (None, "recording"):
            with fresh_database(kind, args.database) as url:
                bench_recording(url, args.values)
        if args.only in (None, "indicators"):
            with fresh_database(kind, args.database) as url:
                months = months_for(args.size, args.indicators, args.years, args.orgs)
                bench_indicators(url, args.indicators, months, args.orgs, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
