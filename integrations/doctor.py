"""`ci-slackbot doctor`, the part that talks to the outside: Slack, Notion and Google Sheets.

Every check makes a few read-only requests with short timeouts and turns what
comes back into a row that says what works or what to fix. Nothing here
writes, retries for long, or raises: a doctor that crashed on the problem it
is diagnosing would be no use.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ci_slackbot.services.doctor import Check, NotionTarget, SheetTarget, Status, Targets
from ci_slackbot.settings import WHERE_TO_GET, Settings
from integrations.notion.actions import ACTION_PROPERTIES
from integrations.notion.community_voice import COMMUNITY_VOICE_PROPERTIES
from integrations.notion.decisions import DECISION_PROPERTIES
from integrations.notion.systems_changes import SYSTEMS_CHANGE_PROPERTIES

TIMEOUT_SECONDS = 10
NOTION_INTEGRATIONS_PAGE = "notion.so/profile/integrations"
SLACK_TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


# -- Slack ------------------------------------------------------------------------------


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return None


def _scope_list(raw: str) -> set[str]:
    return {scope.strip() for scope in raw.split(",") if scope.strip()}


def check_slack(settings: Settings, manifest_scopes: Iterable[str] | None, manifest_note: str = "") -> list[Check]:
    """auth.test with the bot token, and the scopes it was granted against the manifest's."""
    rows = [*_slack_mode_rows(settings)]
    token = settings.slack_bot_token
    if not token:
        return [Check("Slack", Status.OFF, f"set SLACK_BOT_TOKEN: {WHERE_TO_GET['SLACK_BOT_TOKEN']}"), *rows]

    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=TIMEOUT_SECONDS)
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if error in SLACK_TOKEN_ERRORS:
            detail = (
                f"Slack refused SLACK_BOT_TOKEN ({error}). Copy it again from "
                f"{WHERE_TO_GET['SLACK_BOT_TOKEN']}; reinstall the app if it was uninstalled."
            )
        elif error == "ratelimited" or exc.response.status_code == 429:
            detail = "Slack is rate limiting this app right now; run `ci-slackbot doctor` again in a minute."
        else:
            detail = f"auth.test failed at {settings.slack_api_url}: HTTP {exc.response.status_code} {error}".rstrip()
        return [Check("Slack", Status.FAIL, detail), *rows]
    except Exception as exc:  # connection refused, DNS, timeout, a proxy answering HTML
        return [
            Check(
                "Slack",
                Status.FAIL,
                f"cannot reach Slack at {settings.slack_api_url}: {_first_line(exc)}. "
                "Check the network and SLACK_API_URL.",
            ),
            *rows,
        ]

    who = f"connected to {response.get('team', '?')} ({response.get('team_id', '?')}) as @{response.get('user', '?')}"
    if token.startswith("xoxb-"):
        identity = Check("Slack", Status.OK, who)
    else:
        identity = Check(
            "Slack",
            Status.WARN,
            f"{who}, but SLACK_BOT_TOKEN is not a bot token (xoxb-…): the app would act as a person. "
            f"Use {WHERE_TO_GET['SLACK_BOT_TOKEN']}",
        )
    granted_header = _header(response.headers, "x-oauth-scopes")
    return [identity, _compare_scopes(granted_header, manifest_scopes, manifest_note), *rows]


def _compare_scopes(granted_header: str | None, manifest_scopes: Iterable[str] | None, manifest_note: str) -> Check:
    if manifest_scopes is None:
        return Check("Slack scopes", Status.WARN, f"not compared: {manifest_note or 'no manifest.yml found'}")
    if granted_header is None:
        return Check("Slack scopes", Status.WARN, "not compared: Slack's answer did not list the granted scopes")
    wanted = set(manifest_scopes)
    granted = _scope_list(granted_header)
    missing = sorted(wanted - granted)
    extra = sorted(granted - wanted)
    if missing:
        return Check(
            "Slack scopes",
            Status.FAIL,
            f"missing {', '.join(missing)}: add them under api.slack.com/apps → your app → OAuth & Permissions "
            "→ Bot Token Scopes (or paste manifest.yml under App Manifest), and reinstall the app after adding them",
        )
    if extra:
        return Check(
            "Slack scopes",
            Status.WARN,
            f"all {len(wanted)} needed scopes granted; also granted but not needed: {', '.join(extra)} "
            "(remove them and reinstall the app, so the bot holds no more rights than it uses)",
        )
    return Check(
        "Slack scopes", Status.OK, f"granted exactly the manifest's {len(wanted)}: {', '.join(sorted(wanted))}"
    )


def _slack_mode_rows(settings: Settings) -> list[Check]:
    """The secrets that cannot be tested from here, checked for presence and shape."""
    secret = settings.slack_signing_secret
    http = (
        Check(
            "Slack HTTP mode",
            Status.OK,
            "SLACK_SIGNING_SECRET is set (a wrong one shows as 401 answers in the `serve` log)",
        )
        if secret
        else Check(
            "Slack HTTP mode", Status.OFF, f"`serve` needs SLACK_SIGNING_SECRET: {WHERE_TO_GET['SLACK_SIGNING_SECRET']}"
        )
    )
    app_token = settings.slack_app_token
    if not app_token:
        socket = Check(
            "Slack Socket Mode", Status.OFF, f"`run` needs SLACK_APP_TOKEN: {WHERE_TO_GET['SLACK_APP_TOKEN']}"
        )
    elif app_token.startswith("xapp-"):
        socket = Check("Slack Socket Mode", Status.OK, "SLACK_APP_TOKEN is set (xapp-…)")
    else:
        socket = Check(
            "Slack Socket Mode",
            Status.FAIL,
            f"SLACK_APP_TOKEN must be an app-level token (xapp-…): {WHERE_TO_GET['SLACK_APP_TOKEN']}",
        )
    return [http, socket]


# -- Notion -----------------------------------------------------------------------------


def _notion_problem(exc: Exception, bot: str) -> str:
    from notion_client.errors import APIResponseError, RequestTimeoutError

    if isinstance(exc, APIResponseError):
        code = str(getattr(exc.code, "value", exc.code))
        if code == "object_not_found":
            return (
                f"not found, or not shared with the integration {bot}: open it in Notion → ••• → "
                f"Connections → add {bot} (or check the id in the initiative file)"
            )
        if code == "restricted_resource":
            return (
                f"the integration may not do this: at {NOTION_INTEGRATIONS_PAGE} → {bot} → Capabilities, "
                "allow Read, Update and Insert content"
            )
        if code == "unauthorized":
            return (
                "Notion refused NOTION_TOKEN: copy the integration's Internal Integration Secret "
                f"from {NOTION_INTEGRATIONS_PAGE}"
            )
        if code == "rate_limited":
            return "Notion is rate limiting this integration; run `ci-slackbot doctor` again in a minute"
        if code == "validation_error":
            return f"Notion rejected the request: {_first_line(exc)} (is the id right?)"
        return f"Notion answered {exc.status} {code}: {_first_line(exc)}"
    if isinstance(exc, RequestTimeoutError):
        return f"Notion did not answer within {TIMEOUT_SECONDS} s"
    return f"cannot reach Notion: {_first_line(exc)}. Check the network and NOTION_API_URL."


# What each `notion:` field of the file is, and the properties the app writes there (name → type).
NOTION_WHAT: dict[str, tuple[str, dict[str, str] | None]] = {
    "agenda_page": ("agenda page", None),
    "decisions_database": ("decisions database", DECISION_PROPERTIES),
    "actions_database": ("actions database", ACTION_PROPERTIES),
    "systems_changes_database": ("systems changes database", SYSTEMS_CHANGE_PROPERTIES),
    "community_voice_database": ("community voice database", COMMUNITY_VOICE_PROPERTIES),
}


def check_notion(settings: Settings, targets: Targets | None) -> list[Check]:
    """users.me with the token, then every page and database the initiatives name."""
    if not settings.notion_token:
        return [Check("Notion", Status.OFF, "NOTION_TOKEN is not set: decisions are not mirrored to Notion")]

    client = notion_client(settings)
    try:
        me: dict[str, Any] = client.users.me()
    except Exception as exc:
        return [Check("Notion", Status.FAIL, _notion_problem(exc, "the integration"))]
    bot = notion_bot_name(me)
    workspace = (me.get("bot") or {}).get("workspace_name")
    rows = [Check("Notion", Status.OK, f"connected as {bot}" + (f" in {workspace}" if workspace else ""))]
    if targets is None:
        rows.append(Check("Notion pages", Status.WARN, "not checked: the database could not be read"))
        return rows
    if not targets.notion:
        rows.append(Check("Notion pages", Status.WARN, "no loaded initiative names a Notion page or database"))
    # The properties each database must have, or the integration the capability to add them.
    wanted = {what: properties for what, properties in NOTION_WHAT.values()}
    for target in targets.notion:
        component = _label(targets, f"Notion {target.what}", target.initiative)
        rows.append(check_notion_target(client, target, bot, component, wanted.get(target.what)))
    return rows


def notion_client(settings: Settings) -> Any:
    """A notion-client for checks: short timeout, no retries, its own log lines silenced."""
    from notion_client import Client

    from integrations.notion.adapter import NOTION_VERSION

    return Client(
        auth=settings.notion_token,
        notion_version=NOTION_VERSION,
        base_url=settings.notion_api_url.rstrip("/"),
        timeout_ms=TIMEOUT_SECONDS * 1000,
        # A doctor should answer, not sleep out a minute-long Retry-After.
        retry=False,
        # Failures become rows of the table; the client's own log lines would only repeat them.
        logger=logging.getLogger("notion_client"),
        log_level=logging.CRITICAL,
    )


def notion_bot_name(me: dict[str, Any]) -> str:
    """The integration's name as people see it in Notion's Connections menu, from users.me."""
    return f"“{me.get('name') or 'the integration'}”"


def _label(targets: Targets, component: str, initiative: str) -> str:
    """The row's name; the initiative is named only when several share the deployment."""
    return f"{component} ({initiative})" if len(targets.initiatives) > 1 else component


def check_notion_target(
    client: Any, target: NotionTarget, bot: str, component: str, wanted: dict[str, str] | None = None
) -> Check:
    """One page or database: shared with the integration, not in the trash; for a database, readable
    through its data source and, given `wanted` (the properties the app writes, name → type), what
    the app will add to it on its first write (it never removes or retypes one)."""
    missing: list[str] = []
    try:
        if target.is_database:
            found: dict[str, Any] = client.databases.retrieve(database_id=target.object_id)
            sources = found.get("data_sources") or []
            if not sources:
                return Check(
                    component, Status.FAIL, f"{target.object_id} has no data source: decisions cannot be added"
                )
            # The deliverer reads the schema from the data source: check that it can.
            source: dict[str, Any] = client.data_sources.retrieve(data_source_id=sources[0]["id"])
            have = {str(name).lower() for name in (source.get("properties") or {})}
            missing = [name for name in (wanted or {}) if name.lower() not in have]
            title = "".join(part.get("plain_text", "") for part in found.get("title") or [])
        else:
            found = client.pages.retrieve(page_id=target.object_id)
            title = _page_title(found)
    except Exception as exc:
        return Check(component, Status.FAIL, f"{target.object_id}: {_notion_problem(exc, bot)}")
    if found.get("in_trash") or found.get("archived"):
        return Check(component, Status.FAIL, f"“{title}” ({target.object_id}) is in the Notion trash: restore it")
    if missing:
        return Check(
            component,
            Status.WARN,
            f"“{title}” is shared with {bot}; the app will add the properties it writes that it lacks "
            f"({', '.join(missing)}) on its first write, so {bot} needs the Update content capability "
            f"(at {NOTION_INTEGRATIONS_PAGE})",
        )
    return Check(component, Status.OK, f"“{title}” is shared with {bot}")


def _page_title(page: dict[str, Any]) -> str:
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("type") == "title":
            return "".join(part.get("plain_text", "") for part in prop.get("title") or [])
    return str(page.get("id", ""))


# -- Google Sheets ----------------------------------------------------------------------


def _service_account_email(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    email = data.get("client_email") if isinstance(data, dict) else None
    if not email:
        raise ValueError("it has no client_email: download a service-account key (JSON) from Google Cloud")
    return str(email)


def _sheet_checker() -> Callable[[Settings, str], object] | None:
    """`integrations.sheets.check_sheet`, when the Sheets integration provides one."""
    try:
        module = importlib.import_module("integrations.sheets")
    except ModuleNotFoundError as exc:
        if exc.name != "integrations.sheets":
            raise
        return None
    checker = getattr(module, "check_sheet", None)
    return checker if callable(checker) else None


def check_sheets(settings: Settings, targets: Targets | None) -> list[Check]:
    """The service account, then every spreadsheet the initiatives name."""
    if not settings.sheets_enabled:
        return [
            Check("Sheets", Status.OFF, "GOOGLE_SERVICE_ACCOUNT_FILE is not set: values are not mirrored to Sheets")
        ]
    account_file = settings.google_service_account_file
    if account_file:
        try:
            account = _service_account_email(account_file)
        except (OSError, ValueError) as exc:
            return [
                Check(
                    "Sheets", Status.FAIL, f"cannot use GOOGLE_SERVICE_ACCOUNT_FILE {account_file}: {_first_line(exc)}"
                )
            ]
        rows = [Check("Sheets", Status.OK, f"service account {account}")]
    else:
        account = "the service account"
        rows = [
            Check(
                "Sheets", Status.OK, f"no service account: requests go to {settings.sheets_api_url} without credentials"
            )
        ]
    if targets is None:
        rows.append(Check("Sheets spreadsheets", Status.WARN, "not checked: the database could not be read"))
        return rows
    if not targets.sheets:
        rows.append(Check("Sheets spreadsheets", Status.WARN, "no loaded initiative names a spreadsheet"))
        return rows
    checker = _sheet_checker()
    for target in targets.sheets:
        component = _label(targets, "Sheets spreadsheet", target.initiative)
        if checker is not None:
            rows.append(_run_sheet_checker(checker, settings, target, component, account))
        else:
            rows.append(_check_spreadsheet(settings, target, component, account))
    return rows


def check_spreadsheet_target(settings: Settings, target: SheetTarget, component: str) -> Check:
    """One spreadsheet, as `check_sheets` checks each: shared with the service account, as Editor."""
    if not settings.sheets_enabled:
        return Check(component, Status.OFF, "GOOGLE_SERVICE_ACCOUNT_FILE is not set: values are not mirrored to Sheets")
    account_file = settings.google_service_account_file
    try:
        account = _service_account_email(account_file) if account_file else "the service account"
    except (OSError, ValueError) as exc:
        return Check(
            component, Status.FAIL, f"cannot use GOOGLE_SERVICE_ACCOUNT_FILE {account_file}: {_first_line(exc)}"
        )
    checker = _sheet_checker()
    if checker is not None:
        return _run_sheet_checker(checker, settings, target, component, account)
    return _check_spreadsheet(settings, target, component, account)


def _sheet_problem(exc: Exception, target: SheetTarget, account: str) -> str:
    import gspread
    import requests

    if isinstance(exc, gspread.exceptions.SpreadsheetNotFound):
        return (
            f"{target.spreadsheet_id} not found: check sheets.spreadsheet_id in the initiative file "
            "(the long id in the sheet's URL)"
        )
    # gspread turns Google's 403 into the builtin PermissionError.
    if isinstance(exc, PermissionError) or getattr(exc, "code", None) == 403:
        return f"{target.spreadsheet_id} is not shared with {account}: open the sheet → Share → add {account} as Editor"
    if isinstance(exc, gspread.exceptions.APIError):
        if exc.code == 429:
            return "Google is rate limiting this account; run `ci-slackbot doctor` again in a minute"
        return f"Google answered {exc.code}: {_first_line(exc)}"
    if isinstance(exc, requests.RequestException):
        return f"cannot reach Google Sheets: {_first_line(exc)}. Check the network and SHEETS_API_URL."
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _check_spreadsheet(settings: Settings, target: SheetTarget, component: str, account: str) -> Check:
    from integrations.google_http import sheets_client

    try:
        client = sheets_client(settings.sheets_api_url, settings.google_service_account_file)
        client.set_timeout(TIMEOUT_SECONDS)
        spreadsheet = client.open_by_key(target.spreadsheet_id)
    except Exception as exc:
        return Check(component, Status.FAIL, _sheet_problem(exc, target, account))
    return Check(component, Status.OK, f"“{spreadsheet.title}” is shared with {account}")


def _run_sheet_checker(
    checker: Callable[[Settings, str], object], settings: Settings, target: SheetTarget, component: str, account: str
) -> Check:
    """Use the Sheets integration's own check: `check_sheet(settings, id) -> (ok, sentence)`."""
    try:
        result = checker(settings, target.spreadsheet_id)
    except Exception as exc:
        return Check(component, Status.FAIL, _sheet_problem(exc, target, account))
    if isinstance(result, tuple) and len(result) == 2:
        ok, sentence = result
        return Check(component, Status.OK if ok else Status.FAIL, str(sentence))
    # Anything else is a shape this module does not know: say so rather than guess.
    return Check(component, Status.WARN, f"integrations.sheets.check_sheet answered {result!r}")
