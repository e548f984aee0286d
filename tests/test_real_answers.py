"""Notion and Google as they really answer: a 529 paced like a 429 in every process, the Notion
version pinned, Sheets paced for every process together, a disabled Sheets API told apart from
an unshared sheet, and how close a spreadsheet is to Google's 10 million cells."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest
from notion_client.client import ClientOptions

from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.outbox import DeliveryError, RateLimiter
from ci_slackbot.sandbox.notion import NotionStandIn
from ci_slackbot.sandbox.sheets import SheetsStandIn
from ci_slackbot.settings import Settings
from integrations import notion, sheets
from integrations.sheets import SpreadsheetClient, check_sheet
from tests.harness import load_example, wait_for

TOKEN = "secret_unit"


def _notion_process(database_url: str, server: NotionStandIn) -> Services:
    return bootstrap(
        Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN="xoxb-unit",
            SLACK_API_URL="http://127.0.0.1:9/api/",
            NOTION_TOKEN=TOKEN,
            NOTION_API_URL=server.url,
        )
    )


@pytest.fixture
def notion_server() -> Iterator[NotionStandIn]:
    server = NotionStandIn(token=TOKEN)
    server.start()
    yield server
    server.stop()


def test_a_529_is_waited_out_by_every_process_as_a_429_is(database_url: str, notion_server: NotionStandIn) -> None:
    load_example(database_url)
    first, second = _notion_process(database_url, notion_server), _notion_process(database_url, notion_server)
    try:
        notion_server.faults.overload_next(1, retry_after=1)
        adapter = notion.adapter_of(first)
        with pytest.raises(DeliveryError) as overloaded:
            adapter.call(adapter.client.users.me)
        assert overloaded.value.retryable and overloaded.value.retry_after == 1.0
        assert notion_server.overloaded_count == 1
        # Another process, which never saw the 529, waits it out too before it asks Notion anything.
        other = notion.adapter_of(second)
        other.call(other.client.users.me)
        # The stand-in logs a request once it has answered it: poll for the log, not for the answer.
        answered = wait_for(
            lambda: (found := [r for r in notion_server.requests() if r.path == "/v1/users/me"])[1:] and found,
            timeout=5,
        )
        assert [r.status for r in answered] == [529, 200]
        assert answered[1].at - answered[0].at >= 0.9
    finally:
        first.db.dispose()
        second.db.dispose()


def test_the_notion_version_is_pinned_whatever_notion_client_defaults_to(
    database_url: str, notion_server: NotionStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A future notion-client moves its default on; the app keeps to the version it was written for.
    monkeypatch.setattr(ClientOptions, "notion_version", "2026-03-11")
    services = _notion_process(database_url, notion_server)
    try:
        adapter = notion.adapter_of(services)
        adapter.call(adapter.client.users.me)
    finally:
        services.db.dispose()
    assert notion_server.versions_seen == {notion.adapter.NOTION_VERSION: 1}
    assert notion.adapter.NOTION_VERSION == "2025-09-03"


# -- Google Sheets -----------------------------------------------------------------------------


@pytest.fixture
def sheets_server() -> Iterator[SheetsStandIn]:
    server = SheetsStandIn()
    server.start()
    yield server
    server.stop()


def _sheets_settings(database_url: str, server: SheetsStandIn) -> Settings:
    return Settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-unit", SHEETS_API_URL=server.url)


def test_a_disabled_sheets_api_and_an_unshared_sheet_get_different_advice(
    database_url: str, sheets_server: SheetsStandIn
) -> None:
    settings = _sheets_settings(database_url, sheets_server)
    sid = sheets_server.create_spreadsheet()
    assert check_sheet(settings, sid)[0]

    sheets_server.share(sid, False)
    ok, unshared = check_sheet(settings, sid)
    assert not ok and "is not shared with" in unshared and "Share" in unshared

    sheets_server.share(sid, True)
    sheets_server.disable_api(project="123456789012")
    ok, disabled = check_sheet(settings, sid)
    assert not ok and "not shared" not in disabled
    assert "console.cloud.google.com/apis/library/sheets.googleapis.com?project=123456789012" in disabled

    # The outbox's deliveries too: parked with the advice, under causes of their own.
    client = SpreadsheetClient(sheets.make_client(settings), sid, _unpaced(), "bot@example.iam.gserviceaccount.com")
    with pytest.raises(DeliveryError) as not_enabled:
        client.sheets()
    assert not not_enabled.value.retryable and not_enabled.value.cause == "sheets:api_not_enabled:123456789012"
    assert "enable it at https://console.cloud.google.com/apis/library/sheets.googleapis.com" in str(not_enabled.value)
    sheets_server.enable_api()
    sheets_server.share(sid, False)
    with pytest.raises(DeliveryError) as not_shared:
        client.sheets()
    assert not_shared.value.cause == f"sheets:not_shared:{sid}" and "Share" in str(not_shared.value)


def _unpaced() -> RateLimiter:
    return RateLimiter(None)


def test_doctor_says_how_close_a_sheet_is_to_googles_cell_limit(
    database_url: str, sheets_server: SheetsStandIn
) -> None:
    settings = _sheets_settings(database_url, sheets_server)
    small = sheets_server.create_spreadsheet(rows=1000, cols=26)
    ok, said = check_sheet(settings, small)
    assert ok and "26,000 of Google's 10,000,000 cells" in said and "close to the limit" not in said
    full = sheets_server.create_spreadsheet(rows=350_000, cols=26)
    ok, said = check_sheet(settings, full)
    assert ok and "9,100,000 of Google's 10,000,000 cells" in said and "close to the limit" in said


def test_two_processes_writing_two_sheets_keep_within_one_quota(database_url: str) -> None:
    """Google's quota is per user, and the service account is one user for every spreadsheet: two
    processes, each writing another initiative's sheet as fast as its pace lets it, stay within it
    together. (A quota of 8 a second and a pace of 5 a second, to keep the test short.)"""
    server = SheetsStandIn(write_quota_per_minute=8, read_quota_per_minute=8, quota_window_seconds=1.0)
    server.start()
    processes = [bootstrap(_sheets_settings(database_url, server)) for _ in range(2)]
    try:
        clients = []
        for services in processes:
            registry = services.outbox_registry()
            registry.policies[sheets.SERVICE] = dataclasses.replace(registry.policy(sheets.SERVICE), rate=5.0, burst=2)
            sid = server.create_spreadsheet()
            clients.append(
                SpreadsheetClient(sheets.make_client(services.settings), sid, registry.limiter(sheets.SERVICE), "x")
            )
        failures: list[BaseException] = []

        def work(client: SpreadsheetClient) -> None:
            try:
                for _ in range(10):
                    client.sheets()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(client,)) for client in clients]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert server.throttled_count == 0
        assert server.read_requests == 20
        # 20 requests at 5 a second with a burst of 2, whichever process sends them: no sooner than 3.6 s.
        assert time.monotonic() - started >= 3.4
    finally:
        for services in processes:
            services.db.dispose()
        server.stop()
