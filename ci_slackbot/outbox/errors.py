"""How a deliverer says a delivery failed, and whether to try again."""

from __future__ import annotations


class DeliveryError(Exception):
    """A failed delivery. Retryable ones are tried again later; others are parked at once.

    `retry_after` means the service itself asked us to wait (HTTP 429): the whole
    service is paused that long, and the wait does not count as a failed attempt,
    so a storm of 429s can never park an item.

    `cause` keys why, when the error parks the item: items parked for one reason share it
    (`slack:not_in_channel:C0DIGEST01`), so the backbone team is told once per cause and
    retries per cause. The message says what failed and what to do about it.
    """

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None, cause: str | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.cause = cause


class NotReady(DeliveryError):
    """Something this item needs is not there yet (the message it replies to, say).

    Tried again after `delay` seconds, without counting an attempt and without
    pausing the rest of the service. `sent_nothing` says that no request for any of
    the items was sent before it was raised: then the claim is not counted either
    (see `claimed_before`), and the next one still counts as the first.
    """

    def __init__(self, message: str, *, delay: float = 2.0, sent_nothing: bool = False) -> None:
        super().__init__(message)
        self.delay = delay
        self.sent_nothing = sent_nothing
