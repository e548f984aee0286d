"""`ci-slackbot outbox` (what is waiting or parked, by service) and `ci-slackbot outbox retry [ID…]`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from ci_slackbot import outbox
from ci_slackbot.settings import load_settings
from ci_slackbot.store.db import Database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "outbox", help="writes to Slack, Notion and Sheets not delivered yet, and parked ones"
    )
    parser.add_argument("--limit", type=int, default=50, help="list at most this many items (default 50)")
    parser.set_defaults(handler=run_list)
    actions = parser.add_subparsers(dest="outbox_command", metavar="ACTION")
    retry = actions.add_parser("retry", help="put parked (failed) items back in the queue: all, or those listed")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="outbox item ids (default: every parked item)")
    retry.set_defaults(handler=run_retry)


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def run_list(args: argparse.Namespace) -> int:
    db = Database(load_settings().database_url)
    with db.unit_of_work() as session:
        health = outbox.health(session)
        rows = outbox.items(session, limit=args.limit)
        listed = [
            (r.id, r.service, r.kind, r.status, r.attempts, r.created_at, r.next_attempt_at, r.last_error) for r in rows
        ]
    if not health.by_service:
        print("The outbox is empty.")
        return 0
    print(f"{'service':<10} {'pending':>8} {'delivering':>11} {'failed':>7} {'done':>7}  oldest waiting")
    for service, counts in sorted(health.by_service.items()):
        print(
            f"{service:<10} {counts.get(outbox.PENDING, 0):>8} {counts.get(outbox.DELIVERING, 0):>11} "
            f"{counts.get(outbox.FAILED, 0):>7} {counts.get(outbox.DONE, 0):>7}  "
            f"{human_age(health.oldest_by_service.get(service))}"
        )
    if listed:
        now = datetime.now(UTC)
        print(f"\n{'id':>7}  {'service/kind':<24} {'status':<10} {'tries':>5}  {'age':>6}  next try / last error")
        for item_id, service, kind, status, attempts, created, next_at, error in listed:
            age = human_age((now - created).total_seconds())
            if status == outbox.FAILED:
                detail = (error or "").splitlines()[0][:100] if error else ""
            else:
                wait = (next_at - now).total_seconds()
                detail = f"in {human_age(wait)}" if wait > 0 else "due now"
                if error:
                    detail += f" (last: {error.splitlines()[0][:80]})"
            print(f"{item_id:>7}  {service + '/' + kind:<24} {status:<10} {attempts:>5}  {age:>6}  {detail}")
    if health.failed:
        print(f"\n{health.failed} parked: fix the cause, then `ci-slackbot outbox retry` (or give their ids).")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    db = Database(load_settings().database_url)
    with db.unit_of_work() as session:
        count = outbox.retry_failed(session, args.ids)
    if args.ids and count < len(args.ids):
        print(f"Queued {count} of {len(args.ids)} items again; the others are not parked (or do not exist).")
    else:
        print(f"Queued {count} parked item{'s' if count != 1 else ''} again; running workers pick them up.")
    return 0
