"""`ci-slackbot schedule`: the upcoming runs of every scheduled job, in local time.

It reads the database and computes fire times exactly as the running scheduler
does (`ci_slackbot.scheduler.plan`), so what it lists is what will happen,
including schedule overrides set in this environment.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from ci_slackbot.services.reminders import upcoming_nudges
from ci_slackbot.services.usergroups import followed_usergroups
from ci_slackbot.settings import Settings, load_settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Initiative, JobRun


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schedule", help="list the upcoming digest, reminder and agenda-refresh runs")
    parser.add_argument("--count", type=int, default=3, help="upcoming runs to list for each job (default 3)")
    parser.set_defaults(handler=run_schedule)


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}  ({moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def _usergroup_lines(session: Session, settings: Settings, initiative: Initiative) -> list[str]:
    """The user groups the organizations follow, read every CI_SLACKBOT_USERGROUP_SYNC_MINUTES."""
    followed = followed_usergroups(session, initiative.id)
    if not followed:
        return []
    groups = ", ".join(f"{f.organization_key} ← {f.usergroup}" for f in followed)
    lines = [f"  usergroups: every {settings.usergroup_sync_minutes:g} min: {groups}"]
    last = session.scalar(
        select(JobRun)
        .where(JobRun.initiative_id == initiative.id, JobRun.job == "usergroups")
        .order_by(JobRun.claimed_at.desc())
        .limit(1)
    )
    if last is not None:
        outcome = last.outcome or "claimed, not finished"
        lines.append(f"      last run: slot {last.slot} at {_when(last.claimed_at, initiative.timezone)}: {outcome}")
    return lines


def describe(settings: Settings, database: Database, *, count: int, now: datetime) -> list[str]:
    """The listing as lines (also used by tests)."""
    from ci_slackbot.scheduler import next_fire_times, plan  # APScheduler loads only for this command

    lines: list[str] = []
    with database.unit_of_work() as session:
        initiatives = list(session.scalars(select(Initiative).order_by(Initiative.id)))
        if not initiatives:
            return ["No initiative is loaded yet: load one with `ci-slackbot init --config initiative.yml`."]
        for initiative in initiatives:
            lines.append(f"{initiative.name}  (time zone {initiative.timezone})")
            planned, unplanned = plan(initiative, settings)
            for item in planned:
                target = f" → {item.target}" if item.target else ""
                lines.append(f"  {item.job}: {item.schedule!r}{target}")
                for fire in next_fire_times(item.trigger, now, max(1, count)):
                    lines.append(f"      {_when(fire, item.timezone)}")
                last = session.scalar(
                    select(JobRun)
                    .where(JobRun.initiative_id == initiative.id, JobRun.job == item.job)
                    .order_by(JobRun.claimed_at.desc())
                    .limit(1)
                )
                if last is not None:
                    outcome = last.outcome or "claimed, not finished"
                    lines.append(
                        f"      last run: slot {last.slot} by {last.claimed_by} at "
                        f"{_when(last.claimed_at, item.timezone)}: {outcome}"
                    )
            for skipped in unplanned:
                lines.append(f"  {skipped.job}: not scheduled: {skipped.reason}")
            lines.extend(_usergroup_lines(session, settings, initiative))
            nudges = upcoming_nudges(session, initiative, now, max(1, count) * 4)
            if nudges:
                lines.append(
                    "  upcoming reminders (sent at the reminders run of the day, to whoever has not reported):"
                )
            for nudge in nudges:
                lines.append(
                    f"      {nudge.day:%a %Y-%m-%d}  {nudge.kind.value:<8} {nudge.indicator_key} "
                    f"{nudge.period} (due {nudge.due:%a %Y-%m-%d})"
                )
    grace = settings.digest_grace_minutes
    lines.append(
        f"Missed slots are caught up at start-up when less than {grace} min late (CI_SLACKBOT_DIGEST_GRACE_MINUTES)."
    )
    return lines


def run_schedule(args: argparse.Namespace) -> int:
    settings = load_settings()
    database = Database(settings.database_url)
    try:
        lines = describe(settings, database, count=args.count, now=datetime.now(UTC))
    except (OperationalError, ProgrammingError):
        print("The database has no tables yet: run `ci-slackbot db upgrade`, then `ci-slackbot init`.")
        return 2
    finally:
        database.dispose()
    print("\n".join(lines))
    return 0
