"""The scheduler inside each app process: the digest, the reminders, the agenda refresh and the
user groups organizations follow.

APScheduler 3's `BackgroundScheduler` with an in-memory job store: its jobs are
rebuilt from the database at start and whenever an initiative changes (a cheap
poll of `Initiative.revision` and the schedule fields). Nothing about the jobs
is stored by APScheduler, because its job stores must never be shared between
processes; instead every run claims its slot in `JobRun` (see
`ci_slackbot.jobs`), so with several app processes each slot still runs once.

Triggers are `CronTrigger`s in the initiative's time zone, so "mon 09:00" stays
09:00 local across daylight-saving changes.

Job defaults, chosen rather than inherited (APScheduler's own are a 1-second
misfire grace, coalesce, one instance):

- `misfire_grace_time` = the grace period (`CI_SLACKBOT_DIGEST_GRACE_MINUTES`,
  180 min by default): a run delayed by a busy or suspended process still
  happens if it is less late than that;
- `coalesce=True`: several missed runs of one job collapse into one, since a
  digest for each missed week posted at once would help nobody;
- `max_instances=1`: a slow run is never overlapped by the next one.

User groups are synced by one job of the process for every initiative, every
`CI_SLACKBOT_USERGROUP_SYNC_MINUTES` (each window a slot), and at once for an
initiative whose followed groups changed (a slot per set-up revision), which the
poll notices as it notices schedule changes, start-up included.

A slot missed while the app was down is handled at start-up: the latest slot
of each job is run once if it is within the grace period, and skipped with a
warning if it is older; earlier missed slots are logged too. Never silently.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from ci_slackbot import jobs
from ci_slackbot.domain.schedule import ScheduleError, parse_schedule
from ci_slackbot.services.usergroups import all_followed_usergroups
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import Initiative, JobRun, Workspace

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

AGENDA_GRACE = timedelta(minutes=15)
# How far back start-up looks for missed slots to report; older ones were reported by earlier starts.
MISSED_LOOKBACK = timedelta(days=35)
MAX_LISTED_MISSED = 5
# How often a parked items' notice that could not be posted is tried again (Slack back after an outage).
RETELL_PARKED_MINUTES = 5
# How long after a failed run its slot is tried again (within the job's grace period, as any run).
RETRY_FAILED_SLOT = timedelta(minutes=5)
OFF = "off"


def cron_trigger(schedule_text: str, timezone: str) -> CronTrigger:
    """`"mon 09:00"` or a 5-field cron expression, in the initiative's time zone."""
    schedule = parse_schedule(schedule_text)
    return CronTrigger(
        minute=schedule.minute,
        hour=schedule.hour,
        day=schedule.day,
        month=schedule.month,
        day_of_week=schedule.day_of_week,
        timezone=ZoneInfo(timezone),
    )


def _fires(trigger: CronTrigger, start: datetime) -> Iterator[datetime]:
    """Fire times from `start` on, in UTC.

    Each step starts from the previous fire time *as a UTC instant*: stepping in
    local time would lose the `fold` of the hour that repeats when daylight
    saving time ends, and find the same fire time again and again.
    """
    now = start.astimezone(UTC)
    while True:
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            return
        fire = fire.astimezone(UTC)
        yield fire
        now = fire + timedelta(microseconds=1)


def next_fire_times(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times at or after `after`, in UTC (pure date arithmetic, nothing runs)."""
    return list(itertools.islice(_fires(trigger, after), count))


def fire_times_between(trigger: CronTrigger, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
    """Fire times in [start, end], in UTC, at most `limit` of them."""
    return list(itertools.islice(itertools.takewhile(lambda fire: fire <= end, _fires(trigger, start)), limit))


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last fire time at or before `now`: the slot a run that starts now belongs to.

    Widening windows keep this cheap for every-minute and yearly schedules alike.
    """
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367)):
        fires = fire_times_between(trigger, now - window, now, limit=2_000)
        if fires:
            return fires[-1]
    return None


@dataclass(frozen=True)
class PlannedJob:
    initiative_id: int
    initiative_name: str
    job: str
    schedule: str
    timezone: str
    trigger: CronTrigger
    grace: timedelta
    target: str = ""  # e.g. the digest channel, for listings

    @property
    def job_id(self) -> str:
        return f"{self.initiative_id}:{self.job}"


@dataclass(frozen=True)
class Unplanned:
    initiative_id: int
    initiative_name: str
    job: str
    reason: str


def agenda_schedule(minutes: float) -> str:
    """CI_SLACKBOT_AGENDA_REFRESH_MINUTES as a cron: every N minutes within the hour under an hour
    (the last gap of an hour is shorter when N does not divide 60), else every N // 60 hours."""
    every = max(1, round(minutes))
    if every < 60:
        return f"*/{every} * * * *"
    return f"0 */{min(23, every // 60)} * * *"


def daily_schedule(reminders: str) -> str:
    """The reminders check runs every day at the time `schedule.reminders` gives (`thu 10:00` → 10:00):
    each indicator's due dates, not the weekday, say when someone is nudged."""
    try:
        schedule = parse_schedule(reminders)
    except ScheduleError:
        return reminders  # planned as given, so the bad schedule is reported where it always was
    return f"{schedule.minute} {schedule.hour} * * *"


def _schedule_text(configured: str, override: str | None) -> str:
    return override.strip() if override and override.strip() else configured


def plan(initiative: Initiative, settings: Settings) -> tuple[list[PlannedJob], list[Unplanned]]:
    """Which jobs an initiative gets in this process, and why any it does not."""
    grace = timedelta(minutes=settings.digest_grace_minutes)
    planned: list[PlannedJob] = []
    unplanned: list[Unplanned] = []

    def add(job: str, text: str, job_grace: timedelta, target: str = "") -> None:
        if text.strip().lower() == OFF:
            unplanned.append(Unplanned(initiative.id, initiative.name, job, "turned off by a schedule override"))
            return
        try:
            trigger = cron_trigger(text, initiative.timezone)
        except (ScheduleError, ValueError) as exc:
            unplanned.append(Unplanned(initiative.id, initiative.name, job, f"bad schedule: {exc}"))
            return
        planned.append(
            PlannedJob(initiative.id, initiative.name, job, text, initiative.timezone, trigger, job_grace, target)
        )

    if initiative.digest_channel:
        add(
            jobs.DIGEST,
            _schedule_text(initiative.digest_schedule, settings.schedule_override_digest),
            grace,
            f"#{initiative.digest_channel}",
        )
    else:
        unplanned.append(Unplanned(initiative.id, initiative.name, jobs.DIGEST, "no digest channel configured"))
    add(
        jobs.REMINDERS,
        _schedule_text(daily_schedule(initiative.reminders_schedule), settings.schedule_override_reminders),
        grace,
    )
    if not initiative.notion_agenda_page:
        unplanned.append(Unplanned(initiative.id, initiative.name, jobs.AGENDA, "no Notion agenda page configured"))
    elif not settings.notion_enabled:
        unplanned.append(Unplanned(initiative.id, initiative.name, jobs.AGENDA, "NOTION_TOKEN is not set"))
    else:
        every = agenda_schedule(settings.agenda_refresh_minutes)
        add(jobs.AGENDA, _schedule_text(every, settings.schedule_override_agenda), AGENDA_GRACE)
    return planned, unplanned


def _fingerprint(initiative: Initiative) -> tuple[Any, ...]:
    # Revision covers a re-applied file; the fields themselves cover direct edits.
    return (
        initiative.revision,
        initiative.timezone,
        initiative.digest_schedule,
        initiative.reminders_schedule,
        initiative.digest_channel,
        initiative.notion_agenda_page,
    )


class Scheduler:
    """One process's scheduler: APScheduler for timing, `JobRun` claims for exactly once."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self.grace = timedelta(minutes=self.settings.digest_grace_minutes)
        self.aps = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={
                # APScheduler wants a positive number of seconds; a grace of 0 minutes means "on time only".
                "misfire_grace_time": max(1, int(self.grace.total_seconds())),
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self.fingerprints: dict[int, tuple[Any, ...]] = {}
        # Per initiative, the (organization, user group) pairs followed when last looked at.
        self.followed: dict[int, frozenset[tuple[str, str]]] = {}
        self.lock = threading.Lock()

    # -- building the jobs ---------------------------------------------------------------
    def sync(self) -> None:
        """Rebuild the jobs of every initiative that is new, changed or gone."""
        with self.lock, self.services.db.unit_of_work() as session:
            initiatives = list(session.scalars(select(Initiative).order_by(Initiative.id)))
            seen = set()
            for initiative in initiatives:
                seen.add(initiative.id)
                fingerprint = _fingerprint(initiative)
                if self.fingerprints.get(initiative.id) == fingerprint:
                    continue
                self._replace_jobs(initiative)
                self.fingerprints[initiative.id] = fingerprint
            for gone in set(self.fingerprints) - seen:
                self._remove_jobs(gone)
                del self.fingerprints[gone]
                log.info("initiative %s is gone: its jobs are removed", gone)
            self._follow_new_usergroups(session, {i.id: i.revision for i in initiatives})
            jobs.prune_agenda_runs(session, self.services.now())

    def _follow_new_usergroups(self, session: Any, revisions: dict[int, int]) -> None:
        """An organization started following a user group (or another one): sync that initiative now."""
        followed = all_followed_usergroups(session)
        for initiative_id, pairs in followed.items():
            if self.followed.get(initiative_id) != pairs and initiative_id in revisions:
                slot = jobs.usergroups_changed_slot(revisions[initiative_id])
                # No trigger: APScheduler runs it once, now, in the pool.
                self.aps.add_job(
                    self._run_usergroups,
                    args=(initiative_id, slot),
                    name=f"user groups of initiative {initiative_id}, at once",
                    misfire_grace_time=None,
                )
        self.followed = followed

    def _remove_jobs(self, initiative_id: int) -> None:
        for job in self.aps.get_jobs():
            if job.id.startswith(f"{initiative_id}:"):
                job.remove()

    def _replace_jobs(self, initiative: Initiative) -> None:
        self._remove_jobs(initiative.id)
        planned, unplanned = plan(initiative, self.settings)
        for item in planned:
            self.aps.add_job(
                self._run_scheduled,
                trigger=item.trigger,
                args=(item,),
                id=item.job_id,
                name=f"{item.job} for {item.initiative_name}",
                misfire_grace_time=max(1, int(item.grace.total_seconds())),
                replace_existing=True,
            )
            log.info(
                "scheduled %s for %s: %r in %s",
                item.job,
                item.initiative_name,
                item.schedule,
                item.timezone,
            )
        for skipped in unplanned:
            log.info("not scheduling %s for %s: %s", skipped.job, skipped.initiative_name, skipped.reason)

    # -- running -------------------------------------------------------------------------
    def _run_usergroups(self, initiative_id: int, slot: str) -> str:
        try:
            outcome = jobs.run_usergroups(self.services, initiative_id, slot)
        except Exception:
            log.exception("user groups slot %s for initiative %s failed", slot, initiative_id)
            return "failed"
        log.info("user groups slot %s for initiative %s: %s", slot, initiative_id, outcome)
        return outcome

    def _sync_all_usergroups(self) -> None:
        """The periodic sync: every initiative with an organization following a user group."""
        slot = jobs.usergroup_slot(self.services.now(), self.settings.usergroup_sync_minutes)
        with self.services.db.unit_of_work() as session:
            initiatives = sorted(all_followed_usergroups(session))
        for initiative_id in initiatives:
            self._run_usergroups(initiative_id, slot)

    def _run_scheduled(self, item: PlannedJob) -> None:
        now = self.services.now()
        fire = latest_fire_time(item.trigger, now)
        if fire is None:
            log.warning("%s for %s ran with no slot at or before %s", item.job, item.initiative_name, now)
            return
        self.run_slot(item, fire, now, reason="on schedule")

    def run_slot(self, item: PlannedJob, fire: datetime, now: datetime, *, reason: str) -> str:
        slot = jobs.slot_for(item.job, fire, item.timezone)
        late = now - fire
        if late > item.grace:
            log.warning(
                "%s slot %s (%s) for %s is %s late, past the grace period of %s: skipped",
                item.job,
                slot,
                item.timezone,
                item.initiative_name,
                _duration(late),
                _duration(item.grace),
            )
            return "skipped: past the grace period"
        try:
            outcome = jobs.RUNNERS[item.job](self.services, item.initiative_id, slot)
        except Exception:
            # A digest or a day's reminders that failed (the database away a moment, say) is tried
            # again within its grace period; its claim went with the failed transaction. The next
            # fire is a week or a day away: without this the slot was lost with a line in the log.
            retry_at = now + RETRY_FAILED_SLOT
            log.exception("%s slot %s for %s failed; tried again at %s", item.job, slot, item.initiative_name, retry_at)
            self.aps.add_job(
                self._retry_slot,
                DateTrigger(run_date=retry_at),
                args=(item, fire),
                name=f"{item.job} slot {slot} for {item.initiative_name}, again after a failure",
                misfire_grace_time=None,
            )
            return "failed"
        level = logging.DEBUG if item.job == jobs.AGENDA else logging.INFO
        log.log(
            level,
            "%s slot %s (%s) for %s, %s: %s",
            item.job,
            slot,
            item.timezone,
            item.initiative_name,
            reason,
            outcome,
        )
        return outcome

    def _retry_slot(self, item: PlannedJob, fire: datetime) -> None:
        self.run_slot(item, fire, self.services.now(), reason="tried again after a failure")

    def catch_up(self) -> None:
        """At start-up: run each job's latest slot if it was missed within the grace period; report older misses."""
        now = self.services.now()
        with self.services.db.unit_of_work() as session:
            initiatives = list(session.scalars(select(Initiative).order_by(Initiative.id)))
            planned = [p for i in initiatives for p in plan(i, self.settings)[0]]
        for item in planned:
            try:
                self._catch_up_one(item, now)
            except Exception:
                log.exception("catching up %s for %s failed", item.job, item.initiative_name)

    def _catch_up_one(self, item: PlannedJob, now: datetime) -> None:
        fire = latest_fire_time(item.trigger, now)
        if fire is None:
            return
        slot = jobs.slot_for(item.job, fire, item.timezone)
        with self.services.db.unit_of_work() as session:
            taken = jobs.claimed_run(session, item.initiative_id, item.job, slot)
            loaded = self._loaded_at(session, item.initiative_id)
            since = self._last_scheduled_run(session, item, loaded) if item.job != jobs.AGENDA else None
        if taken is not None:
            log.log(
                logging.DEBUG if item.job == jobs.AGENDA else logging.INFO,
                "%s slot %s (%s) for %s already ran, claimed by %s: nothing to catch up",
                item.job,
                slot,
                item.timezone,
                item.initiative_name,
                taken.claimed_by,
            )
            return
        if loaded is not None and fire < loaded:
            # Not missed: the initiative was not loaded yet when this slot came.
            log.log(
                logging.DEBUG if item.job == jobs.AGENDA else logging.INFO,
                "%s slot %s (%s) for %s came before the initiative was loaded: nothing to catch up",
                item.job,
                slot,
                item.timezone,
                item.initiative_name,
            )
            return
        if since is not None:
            self._report_earlier_misses(item, since, fire)
        late = now - fire
        if late <= item.grace:
            outcome = self.run_slot(item, fire, now, reason="catching up after start-up")
            if item.job != jobs.AGENDA:
                log.warning(
                    "%s slot %s (%s) for %s was missed while the app was down; caught up %s late: %s",
                    item.job,
                    slot,
                    item.timezone,
                    item.initiative_name,
                    _duration(late),
                    outcome,
                )
        elif item.job != jobs.AGENDA:
            log.warning(
                "%s slot %s (%s) for %s was missed while the app was down and is %s old, past the grace period "
                "of %s (CI_SLACKBOT_DIGEST_GRACE_MINUTES): not run",
                item.job,
                slot,
                item.timezone,
                item.initiative_name,
                _duration(late),
                _duration(item.grace),
            )

    @staticmethod
    def _loaded_at(session: Any, initiative_id: int) -> datetime | None:
        """When the initiative's workspace was first loaded: no slot before it was ever due."""
        loaded: datetime | None = session.scalar(
            select(Workspace.created_at)
            .join(Initiative, Initiative.workspace_id == Workspace.id)
            .where(Initiative.id == initiative_id)
        )
        return loaded

    def _last_scheduled_run(self, session: Any, item: PlannedJob, loaded: datetime | None) -> datetime:
        """When missed slots of this job start counting: its last scheduled run, or when the initiative was loaded."""
        last = session.scalar(
            select(func.max(JobRun.claimed_at)).where(
                JobRun.initiative_id == item.initiative_id,
                JobRun.job == item.job,
                JobRun.slot.not_like("manual:%"),
            )
        )
        floor = self.services.now() - MISSED_LOOKBACK
        start = last or loaded
        return max(start, floor) if start is not None else floor

    def _report_earlier_misses(self, item: PlannedJob, since: datetime, latest: datetime) -> None:
        earlier = [f for f in fire_times_between(item.trigger, since, latest, limit=1_000) if since < f < latest]
        if not earlier:
            return
        listed = ", ".join(jobs.slot_for(item.job, f, item.timezone) for f in earlier[:MAX_LISTED_MISSED])
        more = f" and {len(earlier) - MAX_LISTED_MISSED} more" if len(earlier) > MAX_LISTED_MISSED else ""
        log.warning(
            "%s for %s also missed %d earlier slot(s) while the app was down, not run: %s%s",
            item.job,
            item.initiative_name,
            len(earlier),
            listed,
            more,
        )

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        self.sync()
        self.aps.add_job(
            self._sync_quietly,
            IntervalTrigger(seconds=self.settings.scheduler_poll_seconds),
            id="sync",
            name="rebuild jobs from the database",
            misfire_grace_time=None,
        )
        self.aps.add_job(
            self._sync_all_usergroups,
            IntervalTrigger(minutes=self.settings.usergroup_sync_minutes),
            id="usergroups",
            name="keep organizations in step with the Slack user groups they follow",
            misfire_grace_time=None,
        )
        self.aps.add_job(
            self._retell_parked,
            IntervalTrigger(minutes=RETELL_PARKED_MINUTES),
            id="parked-notices",
            name="tell the backbone team of parked items whose notice could not be posted",
            misfire_grace_time=None,
        )
        # Catching up runs in the pool, so that a slow digest never delays the app's start.
        self.aps.add_job(self.catch_up, id="catch-up", name="run slots missed while down", misfire_grace_time=None)
        self.aps.start()

    def _retell_parked(self) -> None:
        try:
            jobs.retell_parked(self.services)
        except Exception:
            log.exception(
                "telling the backbone team of parked items failed; tried again in %s minutes", RETELL_PARKED_MINUTES
            )

    def _sync_quietly(self) -> None:
        try:
            self.sync()
        except Exception:
            log.exception("rebuilding the scheduler's jobs failed; the current jobs stay")

    def shutdown(self) -> None:
        if self.aps.running:
            # Don't wait for a running job: its claim and outbox rows are one transaction either way.
            self.aps.shutdown(wait=False)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def start_scheduler(services: Services, stop_event: threading.Event) -> Callable[[], None] | None:
    """Start this process's scheduler (called by `ci_slackbot.runtime`); returns its stopper."""
    scheduler = Scheduler(services)
    scheduler.start()
    services.scheduler = scheduler
    return scheduler.shutdown
