"""The one paced client of this process for Notion, its schema discovery, and its errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import httpx
from notion_client import Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from ci_slackbot.outbox import DeliveryError
from ci_slackbot.settings import Settings
from integrations.notion.text import (
    JSON,
    MAX_CHILDREN_PER_REQUEST,
    MAX_RICH_TEXT_ITEMS,
    MAX_SELECT_NAME,
    MAX_TEXT_UNITS,
    MAX_TITLE,
    batches,
    clip,
    rich_text,
    utf16_units,
)

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

SERVICE = "notion"
# The property by which the app finds a page it wrote before creating it again, in every database it writes.
KEY_PROPERTY = "ci-slackbot key"
TEXT_TYPES = ("rich_text", "title")
SCHEMA_TTL = 600.0  # seconds a discovered schema is trusted before it is read again
# A request waits at most this long for a Retry-After pause to end; past it the delivery is rescheduled.
MAX_PACING_WAIT = 5.0


# The Notion-Version the app is written for (request and answer shapes): pinned, so that a newer
# notion-client, whose default moves on, does not change what the app sends and reads.
NOTION_VERSION = "2025-09-03"

# -- errors ------------------------------------------------------------------------------

# Statuses that mean "too much, wait": 429 rate_limited, and 529 service_overload, which Notion's
# request-limits page says to handle alike (back off, honour Retry-After; notion-sdk-js retries both).
THROTTLED = (429, 529)

# Answers that will not change by asking again: the request or the setup must be fixed first.
PERMANENT_CODES = {
    "unauthorized",
    "restricted_resource",
    "object_not_found",
    "validation_error",
    "invalid_json",
    "invalid_request_url",
    "invalid_request",
    "missing_version",
}


def _retry_after(headers: httpx.Headers | None) -> float:
    raw = (headers or httpx.Headers()).get("retry-after")
    try:
        return max(1.0, float(raw)) if raw else 1.0
    except ValueError:
        return 1.0


def notion_error(exc: Exception) -> DeliveryError:
    """What a failed Notion call means for the outbox: wait, try again with backoff, or park."""
    if isinstance(exc, HTTPResponseError):
        code = str(getattr(exc.code, "value", exc.code))
        if exc.status in THROTTLED:
            return DeliveryError(
                f"Notion asked us to slow down ({exc.status} {code})", retry_after=_retry_after(exc.headers)
            )
        message = f"Notion answered {exc.status} {code}: {exc}"
        if exc.status >= 500 or exc.status == 409:
            return DeliveryError(message)
        if exc.status in (403, 404) or code in ("object_not_found", "restricted_resource"):
            # What Notion answers for a page or database not shared with the integration (or deleted).
            return DeliveryError(
                f"{message}. The Notion page or database is not shared with the integration: open it in Notion "
                "→ ••• → Connections → add the integration (or check its id in the initiative file), then retry",
                retryable=False,
                cause="notion:not_shared",
            )
        if exc.status == 401:
            return DeliveryError(
                f"{message}. Notion refused NOTION_TOKEN: set the integration's current secret, then retry",
                retryable=False,
                cause="notion:unauthorized",
            )
        return DeliveryError(message, retryable=code not in PERMANENT_CODES and exc.status not in (400, 401, 403, 404))
    if isinstance(exc, RequestTimeoutError | httpx.TimeoutException):
        return DeliveryError("Notion did not answer in time")
    if isinstance(exc, httpx.TransportError):
        return DeliveryError(f"Notion could not be reached: {exc!r}")
    return DeliveryError(f"unexpected answer from Notion: {exc!r}")


# -- the adapter -------------------------------------------------------------------------


@dataclass
class DataSourceSchema:
    """What the app needs to know of a database: its data source, title property and property types."""

    database_id: str
    data_source_id: str
    title_property: str
    types: dict[str, str]  # property name → type
    read_at: float = field(default_factory=time.monotonic)

    def name_for(self, wanted: str) -> str | None:
        """The existing property called `wanted` (the same name in any case)."""
        if wanted in self.types:
            return wanted
        return next((name for name in self.types if name.lower() == wanted.lower()), None)


class NotionAdapter:
    """notion-client, paced and with errors translated; one per process."""

    def __init__(self, settings: Settings, pace: Callable[[], None], on_throttled: Callable[[float], None]) -> None:
        self._pace = pace
        self._on_throttled = on_throttled
        self.schemas: dict[str, DataSourceSchema] = {}
        self._lock = threading.Lock()

        def before_request(request: httpx.Request) -> None:
            self._pace()

        # notion-client 3.1 retries 429s and some 5xx itself, sleeping in this thread for
        # up to a minute while the outbox lease runs down, and without our rate limiter
        # knowing. We turn it off: the outbox retries durably (across restarts), honours
        # Retry-After for every request of the process at once, and backs off with jitter.
        self.client = Client(
            auth=settings.notion_token,
            notion_version=NOTION_VERSION,
            base_url=settings.notion_api_url.rstrip("/"),
            timeout_ms=int(settings.notion_timeout * 1000),
            retry=False,
            logger=logging.getLogger("notion_client"),
            client=httpx.Client(event_hooks={"request": [before_request]}),
        )

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> JSON:
        """One request through notion-client; any failure comes out as a DeliveryError."""
        try:
            answer = method(*args, **kwargs)
        except DeliveryError:
            raise
        except Exception as exc:
            error = notion_error(exc)
            if error.retry_after:
                self._on_throttled(error.retry_after)
            raise error from exc
        if not isinstance(answer, dict):
            raise DeliveryError(f"unexpected answer from Notion: {type(answer).__name__}")
        return answer

    # -- schema -------------------------------------------------------------------------

    def schema(self, database_id: str, *, fresh: bool = False) -> DataSourceSchema:
        with self._lock:
            known = self.schemas.get(database_id)
        if known is not None and not fresh and time.monotonic() - known.read_at < SCHEMA_TTL:
            return known
        database: JSON = self.call(self.client.databases.retrieve, database_id)
        sources = database.get("data_sources") or []
        if not sources:
            raise DeliveryError(f"the Notion database {database_id} has no data source", retryable=False)
        data_source: JSON = self.call(self.client.data_sources.retrieve, sources[0]["id"])
        schema = schema_of(database_id, data_source)
        with self._lock:
            self.schemas[database_id] = schema
        return schema

    def forget_schema(self, database_id: str) -> None:
        with self._lock:
            self.schemas.pop(database_id, None)

    def ensure_properties(self, database_id: str, wanted: dict[str, str]) -> DataSourceSchema:
        """The schema, after adding the properties in `wanted` that are missing (never removing any)."""
        schema = self.schema(database_id)
        missing = missing_properties(schema, wanted)
        if missing:
            updated: JSON = self.call(
                self.client.data_sources.update,
                schema.data_source_id,
                properties={name: {kind: {}} for name, kind in missing.items()},
            )
            schema = schema_of(database_id, updated)
            with self._lock:
                self.schemas[database_id] = schema
        return schema

    # -- pages --------------------------------------------------------------------------

    def find_by_key(self, schema: DataSourceSchema, key_property: str, key: str) -> JSON | None:
        answer: JSON = self.call(
            self.client.data_sources.query,
            schema.data_source_id,
            filter={"property": key_property, "rich_text": {"equals": key}},
            page_size=1,
        )
        results = answer.get("results") or []
        return results[0] if results else None

    def create_page(self, *, parent: JSON, properties: JSON, body: Sequence[JSON]) -> JSON:
        """Create a page with its first request-full of blocks, then append the rest in batches."""
        groups = batches(body)
        page: JSON = self.call(
            self.client.pages.create, parent=parent, properties=properties, children=groups[0] if groups else []
        )
        for group in groups[1:]:
            self.call(self.client.blocks.children.append, page["id"], children=group)
        return page

    def write_keyed_page(
        self,
        database_id: str,
        properties: dict[str, str],
        key: str,
        *,
        what: str,
        title: str,
        values: dict[str, PropertyInput],
        body: Sequence[JSON],
        look_up: bool = True,
    ) -> JSON:
        """The page keyed `key` in a database, written once: missing `properties` are added to the
        database, the page is looked up by its key first (its body completed if a crash cut it short),
        and only then created.

        `look_up=False` creates it without looking: only for a delivery that nothing can have written
        before (its outbox row's first claim), where the look-up would find nothing. A refusal may come
        from a database changed since its schema was read: the schema is read again, and a write built
        on an older copy gets one more chance before it is parked."""
        started = time.monotonic()
        schema = self.ensure_properties(database_id, properties)
        key_property = schema.name_for(KEY_PROPERTY)
        if key_property is None or schema.types[key_property] not in TEXT_TYPES:
            raise DeliveryError(
                f"the property `{KEY_PROPERTY}` of the {what} database must be text, to find pages already written",
                retryable=False,
            )
        page = self.find_by_key(schema, key_property, key) if look_up else None
        if page is not None:
            self.complete_body(page["id"], body)
            return page
        try:
            return self.create_page(
                parent={"type": "data_source_id", "data_source_id": schema.data_source_id},
                properties=page_properties(schema, title, {**values, KEY_PROPERTY: key}),
                body=body,
            )
        except DeliveryError as exc:
            if not exc.retryable:
                self.forget_schema(database_id)
                if schema.read_at < started:
                    raise DeliveryError(f"{exc} (the database schema will be read again)") from exc
            raise

    def complete_body(self, page_id: str, body: Sequence[JSON]) -> int:
        """Append what a partly written page lacks, judged by how many blocks it has; returns how many."""
        present = self.count_children(page_id)
        rest = list(body[present:])
        for group in batches(rest):
            self.call(self.client.blocks.children.append, page_id, children=group)
        return len(rest)

    def count_children(self, block_id: str) -> int:
        return sum(1 for _ in self.children(block_id))

    def children(self, block_id: str) -> list[JSON]:
        found: list[JSON] = []
        cursor: str | None = None
        while True:
            answer: JSON = self.call(
                self.client.blocks.children.list, block_id, start_cursor=cursor, page_size=MAX_CHILDREN_PER_REQUEST
            )
            found.extend(answer.get("results") or [])
            cursor = answer.get("next_cursor")
            if not answer.get("has_more") or not cursor:
                return found


def schema_of(database_id: str, data_source: JSON) -> DataSourceSchema:
    properties: JSON = data_source.get("properties") or {}
    types = {name: str(prop.get("type", "")) for name, prop in properties.items()}
    title = next((name for name, kind in types.items() if kind == "title"), None)
    if title is None:
        raise DeliveryError(f"the Notion database {database_id} has no title property", retryable=False)
    return DataSourceSchema(database_id, str(data_source["id"]), title, types)


def missing_properties(schema: DataSourceSchema, wanted: dict[str, str]) -> dict[str, str]:
    return {name: kind for name, kind in wanted.items() if schema.name_for(name) is None}


# What a page's property may be given: text, a moment, or a day (a `date` property holds either).
PropertyInput = str | datetime | date | None


def property_value(kind: str, value: PropertyInput) -> JSON | None:
    """`value` written as a property of type `kind`; None when that type cannot hold it."""
    if value is None or value == "":
        return None
    if isinstance(value, date):  # a datetime is a date too
        if kind == "date":
            return {"date": {"start": value.isoformat()}}
        value = value.isoformat()
    if kind in TEXT_TYPES:
        return {kind: rich_text(clip(value, MAX_TEXT_UNITS * MAX_RICH_TEXT_ITEMS // 2))}
    if kind == "url":
        return {"url": value} if utf16_units(value) <= MAX_TEXT_UNITS else None
    if kind == "select":
        return {"select": {"name": clip(value.replace(",", " "), MAX_SELECT_NAME)}}
    if kind == "multi_select":
        return {"multi_select": [{"name": clip(value.replace(",", " "), MAX_SELECT_NAME)}]}
    if kind == "date":
        return None  # a date property and a text value: leave it empty rather than guess
    return None


def page_properties(schema: DataSourceSchema, title: str, values: dict[str, PropertyInput]) -> JSON:
    properties: JSON = {schema.title_property: {"title": rich_text(clip(title, MAX_TITLE))}}
    for wanted, value in values.items():
        name = schema.name_for(wanted)
        if name is None or name == schema.title_property:
            continue
        written = property_value(schema.types[name], value)
        if written is not None:
            properties[name] = written
    return properties


def adapter_of(services: Services) -> NotionAdapter:
    """This process's adapter, built on first use."""
    adapter = services.notion_adapter
    if adapter is not None:
        return adapter
    if not services.settings.notion_enabled:
        raise DeliveryError("NOTION_TOKEN is not set, so nothing can be written to Notion", retryable=False)
    limiter = services.outbox_registry().limiter(SERVICE)
    never = threading.Event()

    def pace() -> None:
        paused = limiter.pause_left()
        if paused > MAX_PACING_WAIT:
            # Notion asked for a long wait: end this delivery (the outbox reschedules it) rather
            # than hold its claim while the lease runs down.
            raise DeliveryError("Notion asked us to wait", retry_after=paused)
        # Looked up on each request: the background's stop event appears only once it has started.
        background = services.background
        if not limiter.wait(background.stop_event if background is not None else never):
            raise DeliveryError("stopping: the request to Notion was not sent")

    with services.building:
        if services.notion_adapter is None:
            services.notion_adapter = NotionAdapter(services.settings, pace, limiter.throttled)
        return services.notion_adapter
