"""The durable outbox: every write to Slack, Notion or Sheets is a row first.

A row is added in the same transaction as the change that causes it, so a
crash can never keep the change and lose the write. Workers in each app
process (or `ci-slackbot worker`) claim due rows, deliver them, and mark them
done. Claims are leases, renewed while the delivery runs: a worker killed
mid-delivery leaves its rows to be claimed again when the lease runs out (half a
minute), which is why every deliverer must be
idempotent (look the record up by its key before creating it again). Every
claim is counted (`claims`, never reset), so a deliverer can tell a row's very
first claim, when no earlier attempt can have reached the service and the
look-up can be skipped, from every later one (`Item.claimed_before`).

On PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
processes share the work without waiting on each other; on SQLite the claim
is one UPDATE, which SQLite serialises.

Services with a limit per account rather than per process (Notion) pace their
requests through the database (`SharedPace`): every process takes its request
slots from one row, so together they keep to the limit.
"""

from ci_slackbot.outbox.admin import Health, ParkedCause, health, items, parked_causes, retry_failed
from ci_slackbot.outbox.errors import DeliveryError, NotReady
from ci_slackbot.outbox.limiter import RateLimiter
from ci_slackbot.outbox.notices import Parked, claim_notice, untold, untold_notices
from ci_slackbot.outbox.pacing import SharedPace, database_clock
from ci_slackbot.outbox.policy import Policy
from ci_slackbot.outbox.registry import Deliverer, Registry
from ci_slackbot.outbox.rows import (
    DELIVERING,
    DONE,
    FAILED,
    PENDING,
    Item,
    enqueue,
    note_enqueued,
    queued_along,
    queued_times,
)
from ci_slackbot.outbox.signal import OutboxSignal
from ci_slackbot.outbox.worker import MAX_HOLD, Outbox, claimed_before, start_workers

__all__ = [
    "DELIVERING",
    "DONE",
    "FAILED",
    "MAX_HOLD",
    "PENDING",
    "Deliverer",
    "DeliveryError",
    "Health",
    "Item",
    "NotReady",
    "Outbox",
    "OutboxSignal",
    "Parked",
    "ParkedCause",
    "Policy",
    "RateLimiter",
    "Registry",
    "SharedPace",
    "claim_notice",
    "claimed_before",
    "database_clock",
    "enqueue",
    "health",
    "items",
    "note_enqueued",
    "parked_causes",
    "queued_along",
    "queued_times",
    "retry_failed",
    "start_workers",
    "untold",
    "untold_notices",
]
