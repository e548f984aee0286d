"""What the scheduled jobs do, each run at most once per slot.

A *slot* is one scheduled time of one job of one initiative, named by its
wall-clock time in the initiative's time zone (`2026-03-09T09:00`); a digest
posted by hand has a slot of its own (`manual:<UTC time>`). Every run first
claims its slot by inserting a `JobRun` row: the unique key
(initiative, job, slot) lets exactly one process win, whether the others are
app processes running at the same time or this one restarted.

For the digest the claim and the outbox rows for the message and its chart
are one transaction: either the slot is claimed and the digest will be
delivered, or neither happened and the slot is still free.

Naming slots by wall-clock time also makes the hour that repeats when
daylight saving time ends run once: 01:30 CDT and 01:30 CST are one slot.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci_slackbot.outbox import enqueue, untold_notices
from ci_slackbot.services.digest import DIGEST_JOB, Digest, build_digest
from ci_slackbot.services.reminders import ReminderRun, send_reminders, to_nudge_today
from ci_slackbot.store.models import Initiative, JobRun
from integrations.notion import refresh_agenda
from integrations.slack import digest_blocks, digest_chart
from integrations.slack.reminders import away_among
from integrations.slack.usergroups import sync_usergroups

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

DIGEST = DIGEST_JOB
REMINDERS = "reminders"
AGENDA = "agenda"
USERGROUPS = "usergroups"
# Agenda refreshes run every 15 minutes and user group syncs hourly; their claims are worth keeping only briefly.
AGENDA_RUNS_KEPT = timedelta(days=2)
FREQUENT_JOBS = (AGENDA, USERGROUPS)


def slot_key(fire_time: datetime, timezone: str) -> str:
    """A scheduled time as its wall-clock minute in the initiative's time zone."""
    return fire_time.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def slot_for(job: str, fire_time: datetime, timezone: str) -> str:
    """A job's slot: the reminders check runs once a day, so its slot is the local date (`2026-11-19`)."""
    if job == REMINDERS:
        return fire_time.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")
    return slot_key(fire_time, timezone)


def manual_slot(now: datetime) -> str:
    """A slot of its own for a digest posted by hand, never equal to a scheduled one."""
    return f"manual:{now.astimezone(UTC):%Y%m%dT%H%M%S}.{uuid.uuid4().hex[:8]}"


def claimed_run(session: Session, initiative_id: int, job: str, slot: str) -> JobRun | None:
    return session.scalar(
        select(JobRun).where(JobRun.initiative_id == initiative_id, JobRun.job == job, JobRun.slot == slot)
    )


def claim(session: Session, initiative_id: int, job: str, slot: str, *, node: str, at: datetime) -> JobRun:
    """Claim a slot in the caller's transaction; raises IntegrityError when someone has it already."""
    run = JobRun(initiative_id=initiative_id, job=job, slot=slot, claimed_by=node[:100], claimed_at=at)
    session.add(run)
    session.flush()
    return run


@dataclass(frozen=True)
class QueuedDigest:
    slot: str
    channel: str
    blocks: int
    chart: bool
    replies: int = 0  # messages in the headline's thread, when the digest did not fit in one


def digest_post_key(initiative_id: int, slot: str) -> str:
    return f"digest:{initiative_id}:{slot}"


def digest_reply_key(initiative_id: int, slot: str, number: int) -> str:
    return f"{digest_post_key(initiative_id, slot)}:reply:{number}"


def queue_digest(session: Session, digest: Digest, slot: str, *, node: str) -> QueuedDigest:
    """Claim the digest slot and queue the message and its chart, all in the caller's transaction."""
    if not digest.digest_channel:
        raise ValueError("the initiative has no digest channel")
    run = claim(session, digest.initiative_id, DIGEST, slot, node=node, at=digest.as_of)
    message, *replies = digest_blocks.digest_messages(digest)
    key = digest_post_key(digest.initiative_id, slot)
    enqueue(
        session,
        initiative_id=digest.initiative_id,
        service="slack",
        kind="post",
        key=key,
        payload={"channel": digest.digest_channel, "text": message["text"], "blocks": message["blocks"]},
    )
    # Each reply is an outbox item of its own, keyed by its place in the thread: each is posted once,
    # after the headline (`thread_of` waits for its ts), and a retry sends only what did not go out.
    for number, reply in enumerate(replies, start=1):
        enqueue(
            session,
            initiative_id=digest.initiative_id,
            service="slack",
            kind="post",
            key=digest_reply_key(digest.initiative_id, slot, number),
            payload={
                "channel": digest.digest_channel,
                "text": reply["text"],
                "blocks": reply["blocks"],
                "thread_of": key,
            },
        )
    if digest.chart:
        enqueue(
            session,
            initiative_id=digest.initiative_id,
            service="slack",
            kind=digest_chart.KIND,
            key=f"digest-chart:{digest.initiative_id}:{slot}",
            payload=digest_chart.chart_payload(
                channel=digest.digest_channel,
                after_key=key,
                title=digest_blocks.chart_title(digest),
                alt_text=digest_blocks.chart_alt_text(digest),
                panels=digest.chart,
                left_out=digest.chart_left_out,
            ),
        )
    run.finished_at = digest.as_of
    thread = f" and {len(replies)} thread replies" if replies else ""
    run.outcome = f"queued: {len(message['blocks'])} blocks{thread}" + (" and a chart" if digest.chart else "")
    return QueuedDigest(slot, digest.digest_channel, len(message["blocks"]), bool(digest.chart), len(replies))


def run_digest(services: Services, initiative_id: int, slot: str) -> str:
    """The scheduled digest for one slot, unless another process or an earlier run has it."""
    now = services.now()
    with services.db.unit_of_work() as session:
        taken = claimed_run(session, initiative_id, DIGEST, slot)
        if taken is not None:
            return f"already claimed by {taken.claimed_by}"
        initiative = session.get(Initiative, initiative_id)
        if initiative is None:
            return "the initiative no longer exists"
        if not initiative.digest_channel:
            return "no digest channel configured"
        # Read first, in its own transaction: the write transaction below stays short,
        # which matters on SQLite, where it holds the one write lock.
        digest = build_digest(session, initiative, now)
    try:
        with services.db.unit_of_work() as session:
            queued = queue_digest(session, digest, slot, node=services.node)
    except IntegrityError:
        return "already claimed by another process"
    return f"queued for <#{queued.channel}>: {queued.blocks} blocks" + (" and a chart" if queued.chart else "")


def _finish(services: Services, initiative_id: int, job: str, slot: str, outcome: str) -> None:
    with services.db.unit_of_work() as session:
        run = claimed_run(session, initiative_id, job, slot)
        if run is not None:
            run.finished_at = services.now()
            run.outcome = outcome[:2000]


def _claim_alone(services: Services, initiative_id: int, job: str, slot: str) -> bool:
    try:
        with services.db.unit_of_work() as session:
            claim(session, initiative_id, job, slot, node=services.node, at=services.now())
        return True
    except IntegrityError:
        return False


def _run_claimed(
    services: Services, initiative_id: int, job: str, slot: str, work: Callable[[], object], done: str
) -> str:
    """Claim the slot for this process alone, do the work, and record how it went."""
    if not _claim_alone(services, initiative_id, job, slot):
        return "already claimed by another process"
    try:
        result = work()
    except Exception as exc:
        _finish(services, initiative_id, job, slot, f"failed: {exc!r}")
        raise
    outcome = f"{done}: {result}" if result is not None else done
    _finish(services, initiative_id, job, slot, outcome)
    return outcome


def run_reminders(services: Services, initiative_id: int, slot: str) -> str:
    """The day's reminders (a slot a day); each nudge goes once, each person gets one DM a slot.

    Slack is asked who of the day's recipients is away first; the slot is claimed by the transaction
    that queues the DMs, as the digest's is: a run that fails or is killed before (a database error,
    a deploy) leaves the slot to the next try, rather than claimed with nothing sent (a day's nudges,
    or a week's action-item reminders, lost without a word)."""
    with services.db.unit_of_work() as session:
        if claimed_run(session, initiative_id, REMINDERS, slot) is not None:
            return "already claimed by another process"
        initiative = session.get(Initiative, initiative_id)
        if initiative is None:
            return "the initiative no longer exists"
        recipients = to_nudge_today(session, initiative, services.now())
    away = away_among(services, initiative_id, recipients) if recipients else set()

    def claiming(session: Session) -> None:
        claim(session, initiative_id, REMINDERS, slot, node=services.node, at=services.now())

    result = send_reminders(services, initiative_id, slot, away, claim=claiming)
    if not isinstance(result, ReminderRun):
        return "already claimed by another process" if result.startswith("already") else result
    outcome = f"sent: {result}"
    _finish(services, initiative_id, REMINDERS, slot, outcome)
    return outcome


def run_agenda_refresh(services: Services, initiative_id: int, slot: str) -> str:
    """Read the Notion agenda page into the cache (one process a slot, to spare Notion's rate limit)."""
    return _run_claimed(
        services, initiative_id, AGENDA, slot, lambda: refresh_agenda(services, initiative_id), "refreshed"
    )


def run_usergroups(services: Services, initiative_id: int, slot: str) -> str:
    """Bring the organizations that follow a Slack user group in step with it (one process a slot)."""
    return _run_claimed(
        services, initiative_id, USERGROUPS, slot, lambda: sync_usergroups(services, initiative_id), "synced"
    )


def sync_usergroups_now(services: Services, initiative_id: int) -> str:
    """The sync run at once after an organization starts following a group: for the organization
    form's `Reply.after` (after the commit). It claims the slot the scheduler's poll would, so the
    change is read once, by whichever comes first."""
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        if initiative is None:
            return "the initiative no longer exists"
        revision = initiative.revision
    return run_usergroups(services, initiative_id, usergroups_changed_slot(revision))


def retell_parked(services: Services) -> int:
    """Tell the backbone team of parked items whose notice could not be posted when they parked (Slack
    was down then too); returns how many causes were tried. Each process's scheduler runs it; the
    notice's row lets one of them tell each cause."""
    tell = services.outbox_registry().on_parked
    if tell is None:
        return 0
    with services.db.unit_of_work() as session:
        pending = untold_notices(session)
    if pending:
        tell(services, pending)
    return len(pending)


def usergroup_slot(now: datetime, every_minutes: float) -> str:
    """The periodic user group sync's slot: the start of the window of `every_minutes` that `now` is in
    (UTC), so that the processes running the sync within one window share one claim."""
    width = max(60, int(every_minutes * 60))
    start = datetime.fromtimestamp(int(now.timestamp()) // width * width, UTC)
    return f"{start:%Y-%m-%dT%H:%M}"


def usergroups_changed_slot(revision: int) -> str:
    """The slot of the sync run at once when an organization starts following a group (or another one):
    one per revision of the set-up, whichever process (or form) notices first."""
    return f"changed:{revision}"


def prune_agenda_runs(session: Session, now: datetime) -> int:
    """Forget old agenda-refresh and user group claims (96 and 24 a day an initiative); digest and reminder
    runs are kept."""
    result = session.execute(
        delete(JobRun).where(JobRun.job.in_(FREQUENT_JOBS), JobRun.claimed_at < now - AGENDA_RUNS_KEPT)
    )
    return int(getattr(result, "rowcount", 0) or 0)


RUNNERS = {DIGEST: run_digest, REMINDERS: run_reminders, AGENDA: run_agenda_refresh, USERGROUPS: run_usergroups}
