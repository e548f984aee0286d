"""The Google Sheets mirror: outbox items of recorded values become rows, batched within quota.

One batch of up to 500 values costs three requests: the spreadsheet's tabs
(a read), column A of `Values` (a read: where each value id sits now, so a
sort by hand does no harm), and one atomic `spreadsheets.batchUpdate` (a
write) that adds missing tabs, rewrites changed rows in place, appends new
ones and rewrites the touched indicators' tabs. What to write is decided by
`ci_slackbot.services.sheet_layout`; this module only talks HTTP.

Google allows 60 reads and 60 writes a minute per user, and a service account
is one user for every spreadsheet it writes. Every request here takes a slot
from the service's pace, shared by every process on the database (`SharedPace`:
0.8 a second, a burst of 3, at most 51 in any minute for all of them and every
spreadsheet together, `sheets rebuild` included), and a batch that wrote is
followed by 5 seconds of quiet (at most 12 writes a minute), during which new
values gather for the next batch; a lease row per spreadsheet makes processes
take turns writing it (see `SpreadsheetLease`). A 429 pauses every process. 429 is
waited out as Google says, 5xx and timeouts are retried with backoff, and a
sheet that is not shared (403) or does not exist (404) is parked with a
message that says what to do.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import gspread
import requests
from gspread.http_client import ParamsType
from slack_sdk import WebClient
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from ci_slackbot.outbox import DeliveryError, Item, NotReady, Policy, RateLimiter, Registry
from ci_slackbot.services.sheet_data import (
    SheetTarget,
    count_values,
    indicator_records,
    indicator_tables,
    sheet_target,
    value_records,
    value_records_after,
)
from ci_slackbot.services.sheet_layout import (
    VALUES_TAB,
    SheetInfo,
    ValueRecord,
    append_values,
    column_a_range,
    plan_delivery,
    plan_rebuild,
    sheet_infos,
    split_requests,
)
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import SheetsLease
from integrations.google_http import api_not_enabled, enable_api_message, sheets_client

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

SERVICE = "sheets"
KIND_VALUE = "value"
REQUESTS_PER_SECOND = 0.8
BURST = 3
BATCH = 500
# At most one batch every this many seconds: 12 writes a minute, and a burst of values gathers into few batches.
BATCH_INTERVAL = 5.0
TIMEOUT = 30.0
# How long a delivery waits for another process's turn before trying again later.
LEASE_WAIT = 20.0
# How long the spreadsheet's turn is held, renewed before each request. It must outlast the
# slowest request: a write still in flight when the turn ran out could land after another
# process's batch had read the sheet, and that batch would append the same value again.
TURN_HOLD = TIMEOUT + 10.0
# Values a rebuild reads from the database and appends per step.
REBUILD_PAGE = 1000

POLICY = Policy(
    batch=BATCH,
    rate=REQUESTS_PER_SECOND,
    burst=BURST,
    paced_by_deliverer=True,
    # The quota is per user, and the service account is one user: all processes share one pace.
    shared=True,
    base=2.0,
    cap=300.0,
    # About two hours of outage before an item is parked (and `sheets rebuild` mends anything anyway).
    max_attempts=30,
    # Renewed while a batch is written (`Outbox.renewing`); after a crash, its rows wait this long.
    lease=30.0,
)


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, KIND_VALUE, deliver_values)
    registry.policies[SERVICE] = POLICY


# -- errors -----------------------------------------------------------------------------


def client_email(settings: Settings) -> str:
    """The service account's address, which the spreadsheet must be shared with."""
    path = settings.google_service_account_file
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                email = json.load(file).get("client_email")
            if email:
                return str(email)
        except (OSError, ValueError):
            pass
    return "the service account's client_email"


def not_shared_message(email: str) -> str:
    return f"The spreadsheet is not shared with {email}: open it in Google Sheets → Share → add that address as Editor"


def api_error(exc: gspread.exceptions.APIError, spreadsheet_id: str, email: str) -> DeliveryError:
    """Google's answer as a DeliveryError: retried or parked, with what to do about it."""
    status = exc.code if isinstance(exc.code, int) and exc.code > 0 else exc.response.status_code
    message = str(exc.error.get("message", "")) or exc.response.reason
    if status == 429:
        header = exc.response.headers.get("Retry-After")
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None
        return DeliveryError(f"Google Sheets quota reached: {message}", retry_after=retry_after)
    if status == 403:
        disabled, project = api_not_enabled(exc.error)
        if disabled:
            return DeliveryError(
                enable_api_message(project), retryable=False, cause=f"sheets:api_not_enabled:{project or ''}"
            )
        # Not shared at all, or shared only to view: both answer 403 to a write.
        return DeliveryError(
            f"{not_shared_message(email)} (spreadsheet {spreadsheet_id}; a Viewer share is not enough)",
            retryable=False,
            cause=f"sheets:not_shared:{spreadsheet_id}",
        )
    if status == 404:
        return DeliveryError(
            f"There is no spreadsheet {spreadsheet_id} that {email} can see: check `sheets: spreadsheet_id` "
            "in the initiative file (the long id in the sheet's URL) and that the sheet is shared with that address",
            retryable=False,
            cause=f"sheets:not_found:{spreadsheet_id}",
        )
    if status == 401:
        return DeliveryError(
            f"Google rejected the service account's credentials ({message}): check GOOGLE_SERVICE_ACCOUNT_FILE",
            retryable=False,
            cause="sheets:credentials",
        )
    # 400 too is tried again: someone may have changed the sheet between our read and our write.
    return DeliveryError(f"Google Sheets answered {status}: {message}")


# -- one spreadsheet, paced -------------------------------------------------------------


class SpreadsheetClient:
    """The three calls the mirror makes, each paced by the limiter and mapped to DeliveryError."""

    def __init__(
        self,
        client: gspread.Client,
        spreadsheet_id: str,
        limiter: RateLimiter,
        email: str,
        before_request: Callable[[], None] = lambda: None,
    ) -> None:
        self.http = client.http_client
        self.spreadsheet_id = spreadsheet_id
        self.limiter = limiter
        self.email = email
        self.before_request = before_request
        self.reads = 0
        self.writes = 0
        self._stop = threading.Event()  # never set: a paced wait is a few seconds at most

    def _call(self, write: bool, call: Callable[[], Any]) -> Any:
        self.limiter.wait(self._stop)
        self.before_request()
        if write:
            self.writes += 1
        else:
            self.reads += 1
        try:
            return call()
        except gspread.exceptions.APIError as exc:
            raise api_error(exc, self.spreadsheet_id, self.email) from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"Could not reach Google Sheets: {exc}") from exc

    def sheets(self) -> list[SheetInfo]:
        params: ParamsType = {"fields": "sheets.properties(sheetId,title,gridProperties)"}
        metadata = self._call(False, lambda: self.http.fetch_sheet_metadata(self.spreadsheet_id, params))
        return sheet_infos(metadata)

    def column(self, title: str) -> list[Any]:
        params: ParamsType = {"valueRenderOption": "UNFORMATTED_VALUE", "majorDimension": "COLUMNS"}
        answer = self._call(False, lambda: self.http.values_get(self.spreadsheet_id, column_a_range(title), params))
        columns = answer.get("values") or [[]]
        return list(columns[0])

    def batch_update(self, requests_: Sequence[dict[str, Any]]) -> None:
        body = {"requests": list(requests_)}
        self._call(True, lambda: self.http.batch_update(self.spreadsheet_id, body))

    @property
    def requests(self) -> int:
        return self.reads + self.writes


def make_client(settings: Settings) -> gspread.Client:
    try:
        client = sheets_client(settings.sheets_api_url, settings.google_service_account_file)
    except (OSError, ValueError) as exc:
        raise DeliveryError(
            f"GOOGLE_SERVICE_ACCOUNT_FILE ({settings.google_service_account_file}) is not a readable service "
            f"account key: {str(exc).rstrip('.')}. Download the JSON key again (see the README)",
            retryable=False,
        ) from exc
    client.set_timeout(TIMEOUT)
    return client


# -- taking turns across processes ------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class SpreadsheetLease:
    """A row per initiative saying which process writes its spreadsheet, and till when.

    Each process paces its own requests; the lease adds that processes take
    turns (no two batches read column A and append the same value at once) and
    that the next batch anywhere starts no sooner than this one's requests
    allow at the shared pace: on release `held_until` stays set, with no holder.
    """

    def __init__(self, db: Database, initiative_id: int, holder: str, ttl: float) -> None:
        self.db = db
        self.initiative_id = initiative_id
        self.holder = holder
        self.ttl = ttl
        self._row_exists = False

    def try_acquire(self) -> bool:
        if not self._row_exists:
            self._ensure_row()
            self._row_exists = True
        now = _now()
        with self.db.unit_of_work() as session:
            result = session.execute(
                update(SheetsLease)
                .where(
                    SheetsLease.initiative_id == self.initiative_id,
                    or_(
                        SheetsLease.held_until.is_(None),
                        SheetsLease.held_until <= now,
                        SheetsLease.holder == self.holder,
                    ),
                )
                .values(holder=self.holder, held_until=now + timedelta(seconds=self.ttl))
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0))

    def acquire(self, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, max(0.01, deadline - time.monotonic())))
        return True

    def renew(self) -> None:
        """Before each request: still ours? Then hold it a while longer."""
        with self.db.unit_of_work() as session:
            result = session.execute(
                update(SheetsLease)
                .where(SheetsLease.initiative_id == self.initiative_id, SheetsLease.holder == self.holder)
                .values(held_until=_now() + timedelta(seconds=self.ttl))
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                raise NotReady("another process took over writing this spreadsheet", delay=1.0)

    def release(self, wait_seconds: float) -> None:
        """Let go; nobody starts the next batch before `wait_seconds` from now."""
        not_before = _now() + timedelta(seconds=max(0.0, wait_seconds))
        with self.db.unit_of_work() as session:
            session.execute(
                update(SheetsLease)
                .where(SheetsLease.initiative_id == self.initiative_id, SheetsLease.holder == self.holder)
                .values(holder=None, held_until=not_before)
                .execution_options(synchronize_session=False)
            )

    def _ensure_row(self) -> None:
        with self.db.unit_of_work() as session:
            if session.scalar(select(SheetsLease.id).where(SheetsLease.initiative_id == self.initiative_id)):
                return
        try:
            with self.db.unit_of_work() as session:
                session.add(SheetsLease(initiative_id=self.initiative_id))
        except IntegrityError:
            pass  # another process added it first


@contextmanager
def turn(lease: SpreadsheetLease, wait: float, sheet: SpreadsheetClient) -> Iterator[SpreadsheetLease]:
    """Hold the lease for one batch; afterwards keep to the pace, in this process and the others.

    A batch that wrote is followed by at least `BATCH_INTERVAL` of quiet. The
    pause is on the service's limiter, which the outbox worker waits out before
    it claims again, so values recorded meanwhile gather into the next batch.
    """
    if not lease.acquire(wait):
        raise NotReady("another process is writing this spreadsheet; trying again shortly", delay=2.0)
    started = time.monotonic()
    try:
        yield lease
    finally:
        spacing = max(BATCH_INTERVAL if sheet.writes else 0.0, sheet.requests / REQUESTS_PER_SECOND)
        quiet = spacing - (time.monotonic() - started)
        lease.release(quiet)
        if quiet > 0:
            sheet.limiter.pause(quiet)


# -- people's names ---------------------------------------------------------------------

Namer = Callable[[Sequence[ValueRecord]], list[ValueRecord]]


def _unnamed(records: Sequence[ValueRecord]) -> list[ValueRecord]:
    return list(records)


def reporter_names(services: Services, initiative_id: int) -> Namer:
    """Records with their reporter's name, from users.info (kept per process, see `SlackNames`).

    Asked here, in the deliverer, with no transaction open: never on a request's path.
    """

    def client() -> WebClient:
        return cast(WebClient, services.slack_for_initiative(initiative_id))

    def name(records: Sequence[ValueRecord]) -> list[ValueRecord]:
        names = {user: services.slack_names.name(client, user) for user in {r.reporter for r in records if r.reporter}}
        return [replace(r, reporter_name=names.get(r.reporter)) for r in records]

    return name


# -- delivering values ------------------------------------------------------------------


def _client(services: Services) -> gspread.Client:
    with services.building:
        if services.sheets_client is None:
            services.sheets_client = make_client(services.settings)
        return services.sheets_client


def deliver_values(services: Services, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    """Write the current state of the values these items name, one batch per spreadsheet."""
    settings: Settings = services.settings
    if not settings.sheets_enabled:
        raise DeliveryError(
            "Sheets mirroring is off: set GOOGLE_SERVICE_ACCOUNT_FILE (see the README), "
            "then run `ci-slackbot outbox retry` or `ci-slackbot sheets rebuild`",
            retryable=False,
        )
    by_initiative: dict[int, list[Item]] = {}
    for item in items:
        by_initiative.setdefault(item.initiative_id, []).append(item)
    results: dict[int, dict[str, Any]] = {}
    failures: list[DeliveryError] = []
    for initiative_id, group in by_initiative.items():
        try:
            results.update(_deliver_to_sheet(services, initiative_id, group))
        except DeliveryError as exc:
            failures.append(exc)
    if failures:
        if len(failures) == len(by_initiative):
            raise failures[0]
        # Some spreadsheets were written: those items are written again next time (harmless), the rest retried.
        raise DeliveryError("; ".join(str(f) for f in failures))
    return results


def _deliver_to_sheet(services: Services, initiative_id: int, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    db: Database = services.db
    with db.unit_of_work() as session:
        target = sheet_target(session, initiative_id)
    if target is None:
        return {item.id: {"skipped": "the initiative names no spreadsheet"} for item in items}
    registry = services.outbox_registry()
    claim_lease = registry.policy(SERVICE).lease
    lease = SpreadsheetLease(db, initiative_id, f"{services.node}:{SERVICE}", TURN_HOLD)
    sheet = SpreadsheetClient(
        _client(services),
        target.spreadsheet_id,
        registry.limiter(SERVICE),
        client_email(services.settings),
        before_request=lease.renew,
    )
    # Wait for our turn a while, then hand the items back (NotReady) to be tried again shortly.
    with turn(lease, min(LEASE_WAIT, claim_lease / 2), sheet):
        written = write_values(
            db,
            sheet,
            target,
            {int(item.payload["value_id"]) for item in items},
            reporter_names(services, initiative_id),
        )
    return {
        item.id: {
            "spreadsheet": target.spreadsheet_id,
            "value_id": int(item.payload["value_id"]),
            "revision": written.get(int(item.payload["value_id"])),
            "by": services.node,
        }
        for item in items
    }


def write_values(
    db: Database, sheet: SpreadsheetClient, target: SheetTarget, value_ids: set[int], named: Namer = _unnamed
) -> dict[int, int]:
    """One batch: read the tabs and column A, then write everything in one batchUpdate.

    The values are read from the database after the sheet, as they are now: a
    batch holding several revisions of a value writes the latest once.
    Returns value id → the revision written.
    """
    sheets = sheet.sheets()
    has_values_tab = any(s.title.lower() == VALUES_TAB.lower() for s in sheets)
    column_a = sheet.column(VALUES_TAB) if has_values_tab else []
    with db.unit_of_work() as session:
        values = value_records(session, target.initiative_id, value_ids)
        indicators = indicator_records(session, target.initiative_id)
        tables = indicator_tables(session, target.initiative_id, {v.indicator_key for v in values})
    values = named(values)
    requests_ = plan_delivery(
        sheets, column_a, values=values, indicators=indicators, tables=tables, timezone=target.timezone
    )
    for body in split_requests(requests_):
        sheet.batch_update(body)
    return {v.value_id: v.revision for v in values}


# -- rebuild ----------------------------------------------------------------------------

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RebuildReport:
    spreadsheet_id: str
    values: int
    reads: int
    writes: int


def rebuild(
    services: Services, target: SheetTarget, progress: Progress = lambda done, total: None, wait: float = 300.0
) -> RebuildReport:
    """Rewrite every tab from the database: for a new spreadsheet, or one people have damaged.

    Takes the spreadsheet's lease (deliveries wait meanwhile, then update rows
    in place) and paces its requests like the deliveries do.
    """
    db: Database = services.db
    registry = services.outbox_registry()
    named = reporter_names(services, target.initiative_id)
    lease = SpreadsheetLease(db, target.initiative_id, f"{socket.gethostname()}:{os.getpid()}:rebuild", TURN_HOLD)
    sheet = SpreadsheetClient(
        make_client(services.settings),
        target.spreadsheet_id,
        registry.limiter(SERVICE),
        client_email(services.settings),
        before_request=lease.renew,
    )
    with turn(lease, wait, sheet):
        sheets = sheet.sheets()
        with db.unit_of_work() as session:
            total = count_values(session, target.initiative_id)
            indicators = indicator_records(session, target.initiative_id)
            tables = indicator_tables(session, target.initiative_id)
        progress(0, total)
        first, values_tab = plan_rebuild(sheets, indicators=indicators, tables=tables)
        for body in split_requests(first):
            sheet.batch_update(body)
        done, after = 0, 0
        while True:
            with db.unit_of_work() as session:
                page = value_records_after(session, target.initiative_id, after, REBUILD_PAGE)
            if not page:
                break
            page = named(page)
            for body in split_requests(append_values(values_tab, page, target.timezone)):
                sheet.batch_update(body)
            done += len(page)
            after = page[-1].value_id
            progress(done, max(total, done))
    return RebuildReport(target.spreadsheet_id, done, sheet.reads, sheet.writes)


# -- doctor -----------------------------------------------------------------------------


def check_sheet(settings: Settings, spreadsheet_id: str) -> tuple[bool, str]:
    """Can the app write this spreadsheet? (ok, one plain sentence saying so, or what to do)."""
    if not settings.sheets_enabled:
        return False, "Sheets mirroring is off: set GOOGLE_SERVICE_ACCOUNT_FILE to the service account's JSON key file"
    email = client_email(settings)
    try:
        http = make_client(settings).http_client
    except DeliveryError as exc:
        return False, str(exc)
    reading = True
    try:
        metadata = http.fetch_sheet_metadata(
            spreadsheet_id, {"fields": "properties.title,sheets.properties(title,gridProperties)"}
        )
        title = str((metadata.get("properties") or {}).get("title", ""))
        reading = False
        # A write that changes nothing tells Editor access from Viewer access.
        http.batch_update(
            spreadsheet_id,
            {"requests": [{"updateSpreadsheetProperties": {"properties": {"title": title}, "fields": "title"}}]},
        )
    except gspread.exceptions.APIError as exc:
        status = exc.response.status_code
        disabled, project = api_not_enabled(exc.error) if status == 403 else (False, None)
        if disabled:
            return False, enable_api_message(project)
        if status == 403 and reading:
            return False, not_shared_message(email)
        if status == 403:
            return False, (
                f"The spreadsheet is shared with {email} but only to view: open it in Google Sheets → Share → "
                "make that address an Editor"
            )
        if status == 404:
            return False, (
                f"There is no spreadsheet {spreadsheet_id} that {email} can see: check `sheets: spreadsheet_id` "
                "in the initiative file (the long id in the sheet's URL) and that the sheet is shared with that "
                "address as Editor"
            )
        return False, str(api_error(exc, spreadsheet_id, email))
    except requests.RequestException as exc:
        return False, f"Could not reach Google Sheets at {settings.sheets_api_url}: {exc}"
    tabs = len(metadata.get("sheets") or [])
    return True, f"The spreadsheet “{title}” is shared with {email} as Editor ({tabs} tabs); {cell_usage(metadata)}"


# Google's limit on a spreadsheet: 10 million cells over every tab's grid, empty ones included
# (support.google.com/drive/answer/37603).
MAX_CELLS = 10_000_000
# Past this share of the limit `doctor` says what to do.
CELLS_WARNING = 0.8


def cells_used(metadata: Mapping[str, Any]) -> int:
    """The cells of every tab's grid, as Google counts them toward the limit."""
    total = 0
    for sheet in metadata.get("sheets") or []:
        grid = (sheet.get("properties") or {}).get("gridProperties") or {}
        total += int(grid.get("rowCount", 0) or 0) * int(grid.get("columnCount", 0) or 0)
    return total


def cell_usage(metadata: Mapping[str, Any]) -> str:
    used = cells_used(metadata)
    sentence = f"{used:,} of Google's {MAX_CELLS:,} cells a spreadsheet used ({used / MAX_CELLS:.1%})"
    if used >= CELLS_WARNING * MAX_CELLS:
        sentence += (
            ": close to the limit, after which no value can be added. `ci-slackbot sheets rebuild` trims the "
            "Values tab to its columns; delete tabs or rows you added by hand, or start a new spreadsheet"
        )
    return sentence
