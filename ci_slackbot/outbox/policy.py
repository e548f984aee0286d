"""How hard to try a service: backoff, lease, batch size and pace."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ci_slackbot.settings import Settings


@dataclass(frozen=True)
class Policy:
    """How hard to try: backoff doubles from `base` up to `cap`, with jitter."""

    max_attempts: int = 12
    base: float = 1.0
    cap: float = 120.0
    lease: float = 30.0  # kept alive while the delivery runs (`Outbox.renewing`)
    batch: int = 1
    rate: float | None = None  # requests a second on average, client-side
    burst: float = 1.0
    # The deliverer takes a token from `Registry.limiter(service)` for every request
    # it makes (one delivery may need several), so the worker does not take one per claim.
    paced_by_deliverer: bool = False
    # The rate is for every process on the database together (`SharedPace`), not for each.
    shared: bool = False

    def __post_init__(self) -> None:
        if self.shared and not self.paced_by_deliverer:
            # A worker takes its token before it knows whether anything is due: taken from the
            # shared pace, every idle poll of every process would use up a slot of the service.
            raise ValueError("a shared pace is taken per request: it needs paced_by_deliverer=True")

    def backoff(self, attempts: int) -> float:
        delay = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.5, 1.5)

    def tuned(self, settings: Settings) -> Policy:
        """This policy with the deployment's overrides (the CI_SLACKBOT_OUTBOX_* settings) applied."""
        return dataclasses.replace(
            self,
            base=self.base if settings.outbox_backoff_base is None else settings.outbox_backoff_base,
            cap=self.cap if settings.outbox_backoff_cap is None else settings.outbox_backoff_cap,
            max_attempts=self.max_attempts if settings.outbox_max_attempts is None else settings.outbox_max_attempts,
            lease=self.lease if settings.outbox_lease is None else settings.outbox_lease,
        )
