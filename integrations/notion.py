"""Notion: the decisions database, meeting-prep pages and the agenda page.

Writes arrive through the outbox (kinds `decision_page` and `prep_page`) and
are idempotent: each page carries a key (the `ci-slackbot key` property, or
the prep page's title under the agenda hub) that is looked up before a page
is created, and a page whose body was only partly written is completed from
the number of blocks it already has. A decision's page is looked up only when
its outbox row was claimed before (`Item.claimed_before`): on the first claim
no earlier try can have written it, and the page is created in one request.
Reads (the agenda page) are done by a job into `AgendaCache`; Slack never
waits on Notion.

All requests of this process go through one `NotionAdapter`, paced by the
outbox's rate limiter for the "notion" service (3 requests a second on
average, as Notion asks, for every process on the database together: the
slots come from the database), and every failure is translated into a
`DeliveryError` that says whether trying again can help.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from notion_client import Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from ci_slackbot.outbox import DONE, FAILED, DeliveryError, Item, NotReady, Policy, Registry, enqueue
from ci_slackbot.services.agenda import BLOCK_TYPES, note_refresh_failure, store_agenda
from ci_slackbot.services.decisions import NOTION_PAGE_KIND as DECISION_PAGE_KIND
from ci_slackbot.services.decisions import link_reply_key
from ci_slackbot.services.prep import NOTION_PAGE_KIND as PREP_PAGE_KIND
from ci_slackbot.services.prep import prep_link_key
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import Decision, Goal, Initiative, MeetingPrep, OutboxItem
from integrations.slack import blocks as bk
from integrations.slack.escape import escape
from integrations.slack.installations import NotInstalledError

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

SERVICE = "notion"
JSON = dict[str, Any]

# Notion's limits (developers.notion.com/reference/request-limits): a rich-text item holds
# 2000 characters (counted in UTF-16 code units, as JavaScript counts them), an array 100
# items, a request 100 children and 500 KB.
MAX_TEXT_UNITS = 2000
MAX_RICH_TEXT_ITEMS = 100
MAX_CHILDREN_PER_REQUEST = 100
# Leaves room in the 500 KB for the page's properties and the JSON around the children.
MAX_CHILDREN_BYTES = 400_000
MAX_TITLE = 200
MAX_SELECT_NAME = 100

# The properties the app writes in the decisions database, by name and type. Missing ones are
# added; existing ones are used as they are, whatever their type, and none is ever removed.
KEY_PROPERTY = "ci-slackbot key"
DECISION_PROPERTIES: dict[str, str] = {
    "Date": "date",
    "Recorded by": "rich_text",
    "Goal": "rich_text",
    "Slack link": "url",
    KEY_PROPERTY: "rich_text",
}
TEXT_TYPES = ("rich_text", "title")
SCHEMA_TTL = 600.0  # seconds a discovered schema is trusted before it is read again
# The page links to its announcement; waiting for Slack to post it is worth this long, not a missing record.
ANNOUNCEMENT_WAIT = 600.0
# A request waits at most this long for a Retry-After pause to end; past it the delivery is rescheduled.
MAX_PACING_WAIT = 5.0
AGENDA_MAX_BLOCKS = 1000
AGENDA_MAX_DEPTH = 3


# -- text → blocks -----------------------------------------------------------------------


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, never splitting a surrogate pair.

    The pieces concatenate back to `text` exactly (rich-text items are shown run together).
    """
    pieces: list[str] = []
    start = 0
    units = 0
    for index, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > limit:
            pieces.append(text[start:index])
            start, units = index, 0
        units += width
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def rich_text(text: str) -> list[JSON]:
    return [{"type": "text", "text": {"content": piece}} for piece in split_text(text)]


def encoded_size(value: Any) -> int:
    """Bytes of `value` in a request body, encoded the way httpx encodes JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def text_blocks(text: str, kind: str = "paragraph") -> list[JSON]:
    """The body of a page holding `text`: one block a line, each line's text in ≤2000-unit pieces.

    A line too long for one block (100 pieces, or the request size) continues in the
    next block. Read back block by block, one line each, the text is exactly `text`.
    """
    blocks: list[JSON] = []
    for line in text.split("\n"):
        pieces = rich_text(line)
        if not pieces:
            blocks.append({"type": kind, kind: {"rich_text": []}})
            continue
        chunk: list[JSON] = []
        size = 0
        for piece in pieces:
            piece_size = encoded_size(piece)
            if chunk and (len(chunk) >= MAX_RICH_TEXT_ITEMS or size + piece_size > MAX_CHILDREN_BYTES - 1000):
                blocks.append({"type": kind, kind: {"rich_text": chunk}})
                chunk, size = [], 0
            chunk.append(piece)
            size += piece_size
        blocks.append({"type": kind, kind: {"rich_text": chunk}})
    return blocks


def batches(blocks: Sequence[JSON]) -> list[list[JSON]]:
    """`blocks` in request-sized groups: at most 100 children and `MAX_CHILDREN_BYTES` each."""
    groups: list[list[JSON]] = []
    group: list[JSON] = []
    size = 0
    for block in blocks:
        block_size = encoded_size(block)
        if group and (len(group) >= MAX_CHILDREN_PER_REQUEST or size + block_size > MAX_CHILDREN_BYTES):
            groups.append(group)
            group, size = [], 0
        group.append(block)
        size += block_size
    if group:
        groups.append(group)
    return groups


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str, limit: int = MAX_TITLE) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return clip(line, limit)


# -- errors ------------------------------------------------------------------------------

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
        if exc.status == 429:
            return DeliveryError(f"Notion rate limit ({code})", retry_after=_retry_after(exc.headers))
        message = f"Notion answered {exc.status} {code}: {exc}"
        if exc.status >= 500 or exc.status == 409:
            return DeliveryError(message)
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


def property_value(kind: str, value: str | datetime | None) -> JSON | None:
    """`value` written as a property of type `kind`; None when that type cannot hold it."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
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


def page_properties(schema: DataSourceSchema, title: str, values: dict[str, str | datetime | None]) -> JSON:
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
            services.notion_adapter = NotionAdapter(services.settings, pace, limiter.pause)
        return services.notion_adapter


# -- Slack helpers (the page links back, and its link is posted) -------------------------

# A page without a Slack link or a name is better than no page: Slack trouble never fails a Notion write.
SLACK_UNAVAILABLE = (SlackApiError, OSError, KeyError, NotInstalledError)


def _slack(services: Services, initiative_id: int) -> WebClient:
    """The initiative's workspace's Web API client (its bot token when the app is installed by OAuth)."""
    return services.slack_for_initiative(initiative_id)


def slack_permalink(services: Services, initiative_id: int, channel: str, ts: str) -> str | None:
    try:
        return str(_slack(services, initiative_id).chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except SLACK_UNAVAILABLE:
        log.warning("no permalink for %s/%s", channel, ts)
        return None


def slack_name(services: Services, initiative_id: int, user_id: str) -> str:
    """A person's name for Notion readers, with their Slack ID; the ID alone when Slack won't say."""
    names = services.slack_names
    if user_id not in names:
        try:
            user = _slack(services, initiative_id).users_info(user=user_id)["user"]
            profile = user.get("profile") or {}
            name = profile.get("real_name") or profile.get("display_name") or user.get("name") or ""
        except SLACK_UNAVAILABLE:
            return user_id
        names[user_id] = f"{name} ({user_id})" if name else user_id
    return names[user_id]


def _enqueue_follow_up(services: Services, initiative_id: int, key: str, payload: JSON) -> None:
    """Queue a Slack post from inside a delivery. Its key makes a retried delivery add nothing."""
    with services.db.unit_of_work() as session:
        enqueue(session, initiative_id=initiative_id, service="slack", kind="post", key=key, payload=payload)


# -- the decisions database --------------------------------------------------------------


def decision_key(initiative_id: int, decision_id: int) -> str:
    return f"decision-{initiative_id}-{decision_id}"


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    initiative_id: int
    text: str
    recorded_by: str
    recorded_at: datetime
    goal: str | None
    slack_link: str | None
    channel: str | None


def _announcement_link(services: Services, decision: Decision, announcement: str | None) -> str | None:
    """The announcement's permalink; NotReady while it is still on its way (for a while)."""
    if not announcement:
        return None
    with services.db.unit_of_work() as session:
        row = session.scalar(select(OutboxItem).where(OutboxItem.idempotency_key == announcement))
        if row is None or row.status == FAILED:
            return None
        if row.status != DONE:
            waited = (services.now() - row.created_at).total_seconds()
            if waited < ANNOUNCEMENT_WAIT:
                # Raised before any request to Notion (deliveries load their records first).
                raise NotReady("waiting for the announcement to be posted, to link to it", delay=2.0, sent_nothing=True)
            return None
        posted = dict(row.result or {})
        stored = session.get(Decision, decision.id)
        if stored is not None and posted.get("ts"):
            stored.announcement_channel = posted.get("channel")
            stored.announcement_ts = posted.get("ts")
    if not posted.get("channel") or not posted.get("ts"):
        return None
    return slack_permalink(services, decision.initiative_id, str(posted["channel"]), str(posted["ts"]))


def _load_decision(services: Services, decision_id: int, announcement: str | None) -> DecisionRecord:
    with services.db.unit_of_work() as session:
        decision = session.get(Decision, decision_id)
        if decision is None:
            raise DeliveryError(f"decision {decision_id} no longer exists", retryable=False)
        goal = session.get(Goal, decision.goal_id) if decision.goal_id else None
        session.expunge(decision)
    link = decision.source_permalink or _announcement_link(services, decision, announcement)
    return DecisionRecord(
        id=decision.id,
        initiative_id=decision.initiative_id,
        text=decision.text,
        recorded_by=decision.recorded_by,
        recorded_at=decision.recorded_at,
        goal=f"{goal.key} — {goal.title}" if goal else None,
        slack_link=link,
        channel=decision.announcement_channel,
    )


def write_decision_page(
    services: Services, adapter: NotionAdapter, database_id: str, record: DecisionRecord, *, look_up: bool = True
) -> JSON:
    """The decision's page, created once: looked up by key first, its body completed if a crash cut it short.

    `look_up=False` creates it without looking: only for a delivery that no earlier one can
    have reached Notion before (its outbox row's first claim), where the look-up would find nothing.
    """
    started = time.monotonic()
    schema = adapter.ensure_properties(database_id, DECISION_PROPERTIES)
    key_property = schema.name_for(KEY_PROPERTY)
    if key_property is None or schema.types[key_property] not in TEXT_TYPES:
        raise DeliveryError(
            f"the property `{KEY_PROPERTY}` of the decisions database must be text, to find pages already written",
            retryable=False,
        )
    key = decision_key(record.initiative_id, record.id)
    body = text_blocks(record.text)
    page = adapter.find_by_key(schema, key_property, key) if look_up else None
    if page is not None:
        adapter.complete_body(page["id"], body)
        return page
    properties = page_properties(
        schema,
        first_line(record.text),
        {
            "Date": record.recorded_at,
            "Recorded by": slack_name(services, record.initiative_id, record.recorded_by),
            "Goal": record.goal,
            "Slack link": record.slack_link,
            KEY_PROPERTY: key,
        },
    )
    try:
        return adapter.create_page(
            parent={"type": "data_source_id", "data_source_id": schema.data_source_id}, properties=properties, body=body
        )
    except DeliveryError as exc:
        if not exc.retryable:
            # Someone may have changed the database since we read it: read it again, and if the
            # schema we used was an old copy, give the write one more chance before parking it.
            adapter.forget_schema(database_id)
            if schema.read_at < started:
                raise DeliveryError(f"{exc} (the database schema will be read again)") from exc
        raise


def deliver_decision_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    results: dict[int, JSON] = {}
    # Every record first: a NotReady from one of them then comes before any request is sent.
    records = [_load_decision(services, int(i.payload["decision_id"]), i.payload.get("announcement")) for i in items]
    for item, record in zip(items, records, strict=True):
        payload = item.payload
        announcement = payload.get("announcement")
        # The first claim of the row: nothing can have written the page yet, so it is created at once.
        # Any later claim (a retry, a lease that ran out under a killed worker) looks it up first.
        page = write_decision_page(services, adapter, str(payload["database_id"]), record, look_up=item.claimed_before)
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            stored = session.get(Decision, record.id)
            if stored is not None:
                stored.notion_page_id = page["id"]
                stored.notion_url = url or None
        if announcement and record.channel:
            message = bk.Message(
                f"This decision is in Notion: {url}",
                [bk.section(f":notebook: This decision is recorded in Notion: <{url}|open its page>.")],
            ).build()
            _enqueue_follow_up(
                services,
                item.initiative_id,
                link_reply_key(record.id),
                {"channel": record.channel, "thread_of": announcement, **message},
            )
        results[item.id] = {"page_id": page["id"], "url": url}
    return results


# -- meeting prep pages ------------------------------------------------------------------


def prep_blocks(content: JSON) -> list[JSON]:
    """A prep page's body: the intro, then a heading and a bulleted list a section."""
    body: list[JSON] = text_blocks(str(content.get("intro", "")))
    for section in content.get("sections", []):
        body.append({"type": "heading_2", "heading_2": {"rich_text": rich_text(clip(str(section["heading"]), 1000))}})
        lines = section.get("lines") or []
        if not lines:
            empty = {"type": "text", "text": {"content": clip(str(section["when_empty"]), 1000)}}
            body.append({"type": "paragraph", "paragraph": {"rich_text": [{**empty, "annotations": {"italic": True}}]}})
        for line in lines:
            body.extend(text_blocks(str(line), "bulleted_list_item"))
    return body


def prep_title(content: JSON, prep_id: int) -> str:
    # The number makes the title the page's key: a retried delivery finds the page by it.
    return f"{clip(str(content.get('title', 'Meeting prep')), 150)} (#{prep_id})"


def deliver_prep_pages(services: Services, items: Sequence[Item]) -> dict[int, JSON]:
    adapter = adapter_of(services)
    results: dict[int, JSON] = {}
    for item in items:
        payload = item.payload
        prep_id = int(payload["prep_id"])
        parent = str(payload["parent_page"])
        title = prep_title(payload["content"], prep_id)
        body = prep_blocks(payload["content"])
        existing = next(
            (
                child
                for child in adapter.children(parent)
                if child.get("type") == "child_page" and child.get("child_page", {}).get("title") == title
            ),
            None,
        )
        if existing is not None:
            adapter.complete_body(existing["id"], body)
            page: JSON = adapter.call(adapter.client.pages.retrieve, existing["id"])
        else:
            page = adapter.create_page(
                parent={"type": "page_id", "page_id": parent},
                properties={"title": {"title": rich_text(title)}},
                body=body,
            )
        url = str(page.get("url") or "")
        with services.db.unit_of_work() as session:
            prep = session.get(MeetingPrep, prep_id)
            if prep is not None:
                prep.notion_page_id = page["id"]
                prep.notion_url = url or None
        reply_to = payload.get("reply_to")
        if reply_to:
            message = bk.Message(
                f"The meeting prep page is ready: {url}",
                [bk.section(f":clipboard: The meeting prep page is ready: <{url}|{escape(title)}>")],
            ).build()
            _enqueue_follow_up(services, item.initiative_id, prep_link_key(prep_id), {"channel": reply_to, **message})
        results[item.id] = {"page_id": page["id"], "url": url}
    return results


# -- the agenda page ---------------------------------------------------------------------


def _runs(items: Sequence[JSON]) -> list[JSON]:
    runs = []
    for item in items:
        annotations = item.get("annotations") or {}
        runs.append(
            {
                "text": str(item.get("plain_text", "")),
                "href": item.get("href"),
                "bold": bool(annotations.get("bold")),
                "italic": bool(annotations.get("italic")),
                "code": bool(annotations.get("code")),
                "strike": bool(annotations.get("strikethrough")),
            }
        )
    return runs


def normalise_block(block: JSON, depth: int) -> JSON:
    """A Notion block as the agenda cache keeps it (see `ci_slackbot.services.agenda`)."""
    kind = str(block.get("type", ""))
    data: JSON = block.get(kind) or {}
    if kind in ("child_page", "child_database"):
        return {"type": kind, "depth": depth, "runs": [{"text": str(data.get("title", ""))}]}
    if kind not in BLOCK_TYPES:
        return {"type": "other", "kind": kind, "depth": depth, "runs": []}
    normal: JSON = {"type": kind, "depth": depth, "runs": _runs(data.get("rich_text") or [])}
    if kind == "to_do":
        normal["checked"] = bool(data.get("checked"))
    return normal


def read_blocks(adapter: NotionAdapter, block_id: str) -> list[JSON]:
    """Every block of a page, nested ones after their parent, as far as the agenda needs."""
    out: list[JSON] = []

    def walk(container: str, depth: int) -> None:
        for block in adapter.children(container):
            if len(out) >= AGENDA_MAX_BLOCKS:
                return
            out.append(normalise_block(block, depth))
            nested = block.get("has_children") and block.get("type") not in ("child_page", "child_database")
            if nested and depth + 1 < AGENDA_MAX_DEPTH:
                walk(str(block["id"]), depth + 1)

    walk(block_id, 0)
    return out


def page_title(page: JSON) -> str:
    for prop in (page.get("properties") or {}).values():
        if prop.get("type") == "title":
            return "".join(str(item.get("plain_text", "")) for item in prop.get("title") or [])
    return ""


def refresh_agenda(services: Services, initiative_id: int) -> bool:
    """Read the initiative's agenda page into the cache; True when the copy is fresh.

    For the scheduler to call every few minutes. When Notion cannot be reached
    the last copy stays, marked with the failure, and `/ci agenda` shows its age.
    """
    with services.db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        page_id = initiative.notion_agenda_page if initiative is not None else None
    if not page_id or not services.settings.notion_enabled:
        return False
    try:
        adapter = adapter_of(services)
        page: JSON = adapter.call(adapter.client.pages.retrieve, page_id)
        content = read_blocks(adapter, page_id)
    except DeliveryError as exc:
        log.warning("the agenda page could not be read from Notion: %s", exc)
        with services.db.unit_of_work() as session:
            note_refresh_failure(session, initiative_id, str(exc), services.now())
        return False
    with services.db.unit_of_work() as session:
        store_agenda(
            session,
            initiative_id,
            page_id=page_id,
            title=page_title(page),
            url=page.get("url"),
            last_edited_time=page.get("last_edited_time"),
            content=content,
            now=services.now(),
        )
    return True


# -- setup -------------------------------------------------------------------------------


def create_decisions_database(settings: Settings, parent_page: str, title: str = "Decisions") -> JSON:
    """A decisions database with every property the app writes, under `parent_page` (for `notion setup`)."""
    adapter = NotionAdapter(settings, pace=lambda: None, on_throttled=lambda seconds: None)
    properties: JSON = {"Decision": {"title": {}}}
    properties.update({name: {kind: {}} for name, kind in DECISION_PROPERTIES.items()})
    database: JSON = adapter.call(
        adapter.client.databases.create,
        parent={"type": "page_id", "page_id": parent_page},
        title=rich_text(title),
        initial_data_source={"properties": properties},
    )
    return database


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, DECISION_PAGE_KIND, deliver_decision_pages)
    registry.register(SERVICE, PREP_PAGE_KIND, deliver_prep_pages)
    # Notion allows 3 requests a second on average per integration, with bursts. The adapter
    # takes a token for every request (a delivery makes several), so the worker does not; the
    # tokens are shared by every process on the database (`shared`), as the limit is per integration.
    # Twenty tries with backoff up to 5 minutes ride out an outage of about an hour before an
    # item is parked. The lease is renewed while a long body is appended, so it only needs to
    # cover a crash: a killed process's pages are taken up again half a minute later.
    registry.policies[SERVICE] = Policy(
        rate=3.0, burst=3, base=2.0, cap=300.0, max_attempts=20, lease=30.0, paced_by_deliverer=True, shared=True
    )
