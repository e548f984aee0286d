"""Structured JSON logs with a request id and no secrets in them, and Prometheus metrics for `GET /metrics`.

Metrics are prometheus-client's. Under `serve`, each gunicorn worker writes its counters to files in
PROMETHEUS_MULTIPROC_DIR and a scrape adds up every worker's files (prometheus-client's multiprocess
mode), so a counter never goes backwards whichever worker answers the scrape. Outbox depth and age
are read from the database at scrape time, so they are the same whichever process answers.
"""

from __future__ import annotations

import contextvars
import glob
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

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
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GAUGE_HELP = {
    "ci_slackbot_outbox_depth": "Mirror writes waiting or being delivered, by service.",
    "ci_slackbot_outbox_failed": "Mirror writes parked after their last attempt, by service.",
    "ci_slackbot_outbox_oldest_seconds": "Age of the oldest mirror write still waiting.",
}

# Gauges read at scrape time: metric name -> samples of (labels, value).
Gauges = Mapping[str, Sequence[tuple[Mapping[str, str], float]]]


def command_label(text: str, known: Collection[str]) -> str:
    """The `command` label of a /ci command: a registered subcommand, `help`, or `unknown`, never
    what was typed, so that the number of series stays bounded and /metrics shows no user text."""
    words = text.split()
    first = words[0].lower() if words else "help"
    if first in known:
        return first
    return "help" if first in ("help", "?") else "unknown"


class Metrics:
    """The process's counters and ack-latency histogram, and the text a scrape of /metrics reads."""

    def __init__(self, buckets: Sequence[float] = ACK_BUCKETS) -> None:
        self.directory = os.environ.get(MULTIPROC_ENV)
        # prometheus-client picks how values are kept when it is first imported, which may have been
        # before `serve` set the directory; metrics made from here on must write to its files.
        if self.directory and not getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.get_value_class()
        # Not registered anywhere: each scrape builds its registry (see `render`), so a test process
        # may hold many of these without their names clashing in prometheus-client's global registry.
        self.commands = Counter(
            "ci_slackbot_commands",
            "/ci commands answered, by subcommand and outcome.",
            ["command", "outcome"],
            registry=None,
        )
        self.ack_seconds = Histogram(
            "ci_slackbot_ack_seconds",
            "Time from a Slack request arriving to its HTTP answer.",
            buckets=buckets,
            registry=None,
        )

    def count_command(self, command: str, outcome: str) -> None:
        self.commands.labels(command=command, outcome=outcome).inc()

    def observe_ack(self, seconds: float) -> None:
        self.ack_seconds.observe(seconds)

    @contextmanager
    def timed_ack(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe_ack(time.perf_counter() - started)

    def render(self, gauges: Gauges | None = None) -> str:
        registry = CollectorRegistry(auto_describe=False)
        if self.directory:
            _StartedFilesCollector(registry, path=self.directory)
        else:
            registry.register(self.commands)
            registry.register(self.ack_seconds)
        registry.register(_ScrapeGauges(gauges or {}))
        return generate_latest(registry).decode()


class _StartedFilesCollector(MultiProcessCollector):
    """prometheus_client's multiprocess collector, leaving out the files a worker is still creating.

    A worker's first count of a metric creates its file empty, then sizes it: a scrape that reads
    it in between fails on the whole (`struct.error`, prometheus/client_python#604), and
    `/metrics` answered 500 while a second worker took its first requests (tests/test_metrics.py).
    An empty file holds no count yet: left out, it is read on the next scrape.
    """

    def collect(self) -> Iterable[Metric]:
        files = [path for path in glob.glob(os.path.join(self._path, "*.db")) if _started(path)]
        return self.merge(files, accumulate=True)


def _started(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone meanwhile: a dead worker's live gauges
        return False


class _ScrapeGauges(Collector):
    def __init__(self, gauges: Gauges) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for name, samples in sorted(self.gauges.items()):
            labels = sorted(samples[0][0]) if samples else []
            family = GaugeMetricFamily(name, GAUGE_HELP.get(name, name), labels=labels)
            for label_values, value in samples:
                family.add_metric([label_values[key] for key in labels], value)
            yield family


@contextmanager
def multiprocess_directory() -> Iterator[str]:
    """PROMETHEUS_MULTIPROC_DIR for the processes started inside: the one set, or a fresh private
    directory, removed afterwards. Files left from an earlier run would be added to this run's
    counters, so a directory given in the environment must be emptied before each start."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        yield given
        return
    directory = tempfile.mkdtemp(prefix="ci-slackbot-metrics-")  # 0700: the counters are nobody else's
    os.environ[MULTIPROC_ENV] = directory
    owner = os.getpid()
    try:
        yield directory
    finally:
        # A gunicorn worker, forked inside this block, leaves it too when it exits (by SystemExit): only
        # the process that made the directory may remove it, or one worker's exit would erase the counts.
        if os.getpid() == owner:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)


def metrics_allowed(token: str | None, authorization: str | None) -> bool:
    """Whether a scrape may read /metrics: always when no token is set, else only with
    `Authorization: Bearer <token>`."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
