"""Structured JSON logs with a request id and no secrets in them, and Prometheus metrics for `GET /metrics`.

Metrics are kept per process (each gunicorn worker has its own counters);
outbox depth and age are read from the database at scrape time, so they are
the same whichever process answers.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@contextmanager
def request_scope(rid: str | None = None) -> Iterator[str]:
    token = request_id.set(rid or uuid.uuid4().hex[:12])
    try:
        yield request_id.get()
    finally:
        request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any extras."""

    RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            # The text `RedactSecrets` left, when it saw the record first.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# What a secret looks like wherever it turns up: in a message, a dumped request or response of
# slack_sdk (its DEBUG lines carry `oauth.v2.access` answers and Authorization headers), a URL.
_SECRET_SHAPES = re.compile(
    # Slack tokens: bot, user, legacy workspace, config and refresh (xoxb-, xoxp-, xoxa-, xoxe-,
    # xoxe.xoxp-…), and app-level tokens (xapp-).
    r"\b(?P<slack>xox[a-z]|xapp)(?:[.-][A-Za-z0-9]+)+"
    # Notion integration tokens: secret_… (older) and ntn_….
    r"|\b(?P<notion>secret|ntn)_[A-Za-z0-9]{6,}"
    # response_url and incoming webhooks: whoever holds one may post as the app.
    r"|(?P<hook>https://hooks\.slack\.com/)[^\s'\"<>]+"
    # A secret's value after its name, as in a form, a query string, a dict or JSON.
    r"|(?P<named>(?:client_secret|signing_secret|refresh_token|access_token|\btoken)['\"]?\s*[:=]\s*['\"]?)"
    r"[^\s'\"&,}]+",
    re.IGNORECASE,
)
_known_secrets: set[str] = set()


def redact_also(*values: str | None) -> None:
    """Secret values the process knows (from its settings) and that may have no telling shape."""
    _known_secrets.update(value for value in values if value and len(value) >= 8)


def _redacted(match: re.Match[str]) -> str:
    for group in ("slack", "notion", "hook", "named"):
        if match.group(group):
            return f"{match.group(group)}[redacted]" if group != "notion" else f"{match.group(group)}_[redacted]"
    return "[redacted]"


def redact(text: str) -> str:
    """`text` with every secret in it replaced by `[redacted]`."""
    text = _SECRET_SHAPES.sub(_redacted, text)
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class RedactSecrets(logging.Filter):
    """Takes Slack and Notion tokens, client and signing secrets out of every record, at every level.

    On a handler rather than a logger: a logger's filters miss what its children log, and the SDKs
    log under many names (`slack_sdk.web.base_client`, `slack_bolt.App`…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: logging reports it itself
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put `RedactSecrets` on `handlers` (by default every handler of the root logger), once each."""
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler()
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    install_redaction([handler])
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)


ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class Metrics:
    """Counters and one latency histogram, rendered in the Prometheus text format."""

    def __init__(self, buckets: Sequence[float] = ACK_BUCKETS) -> None:
        self.lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.buckets = tuple(buckets)
        self.bucket_counts = [0] * len(self.buckets)
        self.latency_sum = 0.0
        self.latency_count = 0

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self.lock:
            self.counters[(name, tuple(sorted(labels.items())))] += amount

    def observe_ack(self, seconds: float) -> None:
        with self.lock:
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(self.buckets):
                if seconds <= bound:
                    self.bucket_counts[i] += 1

    @contextmanager
    def timed_ack(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_ack(time.perf_counter() - started)

    def render(self, gauges: dict[str, list[tuple[dict[str, str], float]]] | None = None) -> str:
        lines = []
        with self.lock:
            names = sorted({name for name, _ in self.counters})
            for name in names:
                lines.append(f"# TYPE {name} counter")
                for (metric, label_pairs), value in sorted(self.counters.items()):
                    if metric == name:
                        lines.append(f"{name}{_labels(dict(label_pairs))} {value:g}")
            lines.append("# HELP ci_slackbot_ack_seconds Time from a Slack request arriving to its HTTP answer.")
            lines.append("# TYPE ci_slackbot_ack_seconds histogram")
            for bound, count in zip(self.buckets, self.bucket_counts, strict=True):
                lines.append(f'ci_slackbot_ack_seconds_bucket{{le="{bound:g}"}} {count}')
            lines.append(f'ci_slackbot_ack_seconds_bucket{{le="+Inf"}} {self.latency_count}')
            lines.append(f"ci_slackbot_ack_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"ci_slackbot_ack_seconds_count {self.latency_count}")
        for name, samples in sorted((gauges or {}).items()):
            lines.append(f"# TYPE {name} gauge")
            for labels, value in samples:
                lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
