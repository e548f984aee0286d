"""The weekly digest at size: 100 indicators × 5 years of monthly values × 20 organizations.

The initiative and its 120,000 values are built by `bench/measurement.py`'s
`big_initiative` and `fill_values` (bulk-inserted, not timed). Then, each timed
`--repeat` times:

- build:   `build_digest()` — standings, reporting status, actions, decisions, agenda, links;
- render:  the Block Kit message (`digest_message`), checked against Slack's block rules;
- chart:   the headline chart's PNG, drawn as the outbox deliverer draws it (after the post);
- the whole scheduled run: `run_digest()` for a fresh slot each time (build, claim the slot,
  queue the message and the chart in the outbox), which is what a digest slot costs the app.

Run:

    python bench/digest_build.py [--indicators 100] [--years 5] [--orgs 20] [--repeat 5]
    python bench/digest_build.py --size 1000000   # 100 × 500 months × 20 = 1,000,000 values

SQLite always (a fresh file in a temporary folder); PostgreSQL too when
CI_SLACKBOT_TEST_POSTGRES_URL is set (a fresh database, dropped afterwards),
or only the database given with --database.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench.measurement import (
    NOW,
    describe,
    fresh_database,
    load_big_initiative,
    months_for,
    services_for,
    timed,
)
from ci_slackbot.jobs import run_digest
from ci_slackbot.sandbox.slack import validate_blocks
from ci_slackbot.services.digest import Digest, build_digest
from ci_slackbot.store.models import Initiative, OutboxItem
from integrations.slack import digest_blocks, digest_chart


def bench_digest(url: str, indicators: int, months: int, orgs: int, repeat: int) -> None:
    db, initiative_id, count, load = load_big_initiative(url, indicators, months, orgs)
    print(
        f"  {indicators} indicators × {months} months × {orgs} organizations = {count:,} values "
        f"(bulk-inserted in {load:,.1f} s, not counted below)"
    )

    def build() -> Digest:
        with db.unit_of_work() as session:
            found = session.get(Initiative, initiative_id)
            assert found is not None
            return build_digest(session, found, NOW)

    build()  # warm imports and caches once
    samples, digest = timed(build, repeat)
    print(f"    build_digest():          {describe(samples)}")

    samples, message = timed(lambda: digest_blocks.digest_message(digest), repeat)
    problems = validate_blocks(message["blocks"], surface="message")
    print(
        f"    render (Block Kit):      {describe(samples)} — {len(message['blocks'])} blocks, "
        f"{len(str(message)):,} chars, {'valid' if not problems else f'INVALID: {problems[:2]}'}"
    )

    payload = digest_chart.chart_payload(
        channel=digest.digest_channel or "C0DIGEST01",
        after_key="bench",
        title=digest_blocks.chart_title(digest),
        alt_text=digest_blocks.chart_alt_text(digest),
        panels=digest.chart,
        left_out=digest.chart_left_out,
    )
    digest_chart.render(payload)  # matplotlib's import and font cache, once
    samples, png = timed(lambda: digest_chart.render(payload), repeat)
    points = sum(len(p.points) for p in digest.chart)
    print(
        f"    chart PNG (after post):  {describe(samples)} — {len(digest.chart)} panels, {points} points, "
        f"{digest.chart_left_out} left out, {len(png):,} bytes"
    )

    services = services_for(db, url)
    slots = iter(range(1_000_000))
    samples, outcome = timed(lambda: run_digest(services, initiative_id, f"bench-{next(slots)}"), repeat)
    with db.unit_of_work() as session:
        queued = session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.idempotency_key.like("digest%bench-%"))
        )
    print(f"    run_digest() per slot:   {describe(samples)} — {outcome}; {queued} outbox rows queued in all")
    db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--indicators", type=int, default=100)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--size", type=int, help="values, by the months of history (overrides --years)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", help="use this (empty) database instead of fresh ones")
    args = parser.parse_args()
    kinds = ["given"] if args.database else ["sqlite"]
    if not args.database and os.environ.get("CI_SLACKBOT_TEST_POSTGRES_URL"):
        kinds.append("postgresql")
    for kind in kinds:
        print(f"== {kind if kind != 'given' else args.database}")
        with fresh_database(kind, args.database) as url:
            months = months_for(args.size, args.indicators, args.years, args.orgs)
            bench_digest(url, args.indicators, months, args.orgs, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
