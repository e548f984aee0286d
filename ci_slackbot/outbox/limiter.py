"""One process's pace for a service: a token bucket, a Retry-After pause, or the shared pace."""

from __future__ import annotations

import threading
import time

from ci_slackbot.outbox.pacing import SharedPace


class RateLimiter:
    """Client-side pacing, so we stay under a service's limit instead of bouncing off it.

    With `shared` set, the rate is kept by every process on the database together:
    each request's slot comes from the database, and so does the service's Retry-After
    (`throttled`), since the limit it answers for is theirs together. A quiet spell a
    process keeps after its own work (`pause`) stays its own.
    """

    def __init__(self, rate: float | None, burst: float = 1.0, shared: SharedPace | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()
        self.paused_until = 0.0
        self.shared = shared

    def pause(self, seconds: float) -> None:
        """The service said Retry-After: nobody in this process calls it before then."""
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def throttled(self, seconds: float) -> None:
        """The service said Retry-After: nobody calls it before then, here and, when shared, in every process."""
        self.pause(seconds)
        if self.shared is not None:
            self.shared.pause(seconds)

    def pause_left(self) -> float:
        """Seconds until the service may be called again after a Retry-After (0 when it may now)."""
        with self.lock:
            return max(0.0, self.paused_until - time.monotonic())

    def wait(self, stop: threading.Event, *, take: bool = True) -> bool:
        """Block until a request may go (and take its token); False if `stop` is set first.

        With `take=False` only a Retry-After pause is waited out.
        """
        while not stop.is_set():
            shared = None
            with self.lock:
                now = time.monotonic()
                if now < self.paused_until:
                    delay = self.paused_until - now
                elif self.rate is None or not take:
                    return True
                elif self.shared is not None:
                    shared = self.shared
                else:
                    self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                    self.stamp = now
                    if self.tokens >= 1:
                        self.tokens -= 1
                        return True
                    delay = (1 - self.tokens) / self.rate
            if shared is not None:
                # Taken outside the lock: the database round trip must not hold up pause().
                wait = shared.reserve()
                return not stop.wait(wait) if wait > 0 else not stop.is_set()
            stop.wait(min(delay, 0.5))
        return False
