"""Which URLs the app links to or posts to: Slack's own, and hosts the deployment names.

A permalink arrives in a modal's `private_metadata` and a response_url in every request body:
both are whatever the sender put there once the signature is checked, so neither is trusted for
its shape. A permalink becomes a link others click (`javascript:` must never be one); a
response_url is posted to (a foreign host must never be called).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["is_response_url", "is_slack_permalink", "origin_prefix"]

_SLACK_DOMAIN = ".slack.com"


def _slack_host(url: str) -> str | None:
    """The host of an https URL without credentials or odd characters, else None."""
    if any(c.isspace() or c in "<>|\\\"'" or ord(c) < 0x20 for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return None
    return (parts.hostname or "").lower()


def _allowed(url: str, prefixes: Sequence[str]) -> bool:
    """Whether ``url`` starts with one of the deployment's own prefixes (the stand-ins, a proxy)."""
    return any(prefix and url.startswith(prefix) for prefix in prefixes) and not any(
        c.isspace() or c in "<>|" for c in url
    )


def is_slack_permalink(url: str, prefixes: Sequence[str] = ()) -> bool:
    """`https://<workspace>.slack.com/archives/…` (or under a trusted prefix)."""
    host = _slack_host(url)
    if host is not None and host.endswith(_SLACK_DOMAIN) and urlsplit(url).path.startswith("/archives/"):
        return True
    return _allowed(url, prefixes)


def is_response_url(url: str, prefixes: Sequence[str] = ()) -> bool:
    """Slack's response URLs, `https://hooks.slack.com/…` (or under a trusted prefix)."""
    host = _slack_host(url)
    if host == "hooks.slack.com" and urlsplit(url).path.startswith("/"):
        return True
    return _allowed(url, prefixes)


def origin_prefix(url: str) -> str | None:
    """`scheme://host[:port]/` of ``url``, for a trusted prefix; None for Slack's own hosts."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not parts.scheme or not host or host == "slack.com" or host.endswith(_SLACK_DOMAIN):
        return None
    return f"{parts.scheme}://{parts.netloc}/"
