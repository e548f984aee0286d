"""How gspread reaches Google: a requests session that can be pointed elsewhere.

gspread hard-codes `https://sheets.googleapis.com` and `https://www.googleapis.com`
(Drive) in its URLs. With `SHEETS_API_URL` set to another origin (the Sheets
stand-in in tests and `ci-slackbot demo`), the session rewrites those prefixes
and keeps the path, so the rest of the app never knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import gspread
import requests
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.service_account import Credentials

DEFAULT_API_URL = "https://sheets.googleapis.com"
GOOGLE_ORIGINS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive.file",
)


def rewrite_url(url: str, api_url: str | None) -> str:
    """Move a Google API URL onto `api_url`, keeping its path and query."""
    if not api_url:
        return url
    target = api_url.rstrip("/")
    if target == DEFAULT_API_URL:
        return url
    for origin in GOOGLE_ORIGINS:
        if url == origin or url.startswith(origin + "/"):
            return target + url[len(origin) :]
    return url


class _RedirectedSession(requests.Session):
    def __init__(self, api_url: str | None) -> None:
        super().__init__()
        self.api_url = api_url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str):
            url = rewrite_url(url, self.api_url)
        return super().request(method, url, *args, **kwargs)


class _RedirectedAuthorizedSession(AuthorizedSession):
    # Only API calls move; the OAuth token exchange keeps going to Google through
    # AuthorizedSession's own refresh transport.
    def __init__(self, credentials: Credentials, api_url: str | None) -> None:
        super().__init__(credentials)
        self.api_url = api_url

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str):
            url = rewrite_url(url, self.api_url)
        response: requests.Response = super().request(method, url, *args, **kwargs)
        return response


def sheets_session(api_url: str | None, credentials_file: str | None) -> requests.Session:
    """An authorised session from the service-account file, or a bare one without it."""
    if credentials_file:
        credentials = Credentials.from_service_account_file(credentials_file, scopes=list(SCOPES))
        return _RedirectedAuthorizedSession(credentials, api_url)
    return _RedirectedSession(api_url)


def sheets_client(api_url: str | None, credentials_file: str | None) -> gspread.Client:
    # gspread uses a given session as it is when auth is None (HTTPClient.__init__).
    return gspread.Client(auth=None, session=sheets_session(api_url, credentials_file))  # type: ignore[arg-type]


# Google's 403 PERMISSION_DENIED means either that the caller may not touch the resource (the sheet
# is not shared with the service account) or that the API is not enabled in the caller's Cloud
# project. Google's error model (cloud.google.com/apis/design/errors) tells them apart in the
# body: an ErrorInfo detail with reason SERVICE_DISABLED and metadata.consumer "projects/N" (v4
# APIs), or an `errors` entry with reason accessNotConfigured (the older shape), with the message
# "… API has not been used in project N before or it is disabled".
_DISABLED_REASONS = {"SERVICE_DISABLED", "accessNotConfigured"}
_PROJECT_IN_MESSAGE = re.compile(r"\bproject (\d+)\b")


def api_not_enabled(error: Mapping[str, Any]) -> tuple[bool, str | None]:
    """From Google's `error` object: (whether the API is not enabled in the project, the project number)."""
    details = [d for d in error.get("details") or [] if isinstance(d, Mapping)]
    legacy = [e for e in error.get("errors") or [] if isinstance(e, Mapping)]
    disabled = any(d.get("reason") in _DISABLED_REASONS for d in details + legacy)
    message = str(error.get("message") or "")
    disabled = disabled or "has not been used in project" in message
    if not disabled:
        return False, None
    for detail in details:
        consumer = str((detail.get("metadata") or {}).get("consumer") or "")
        if consumer.startswith("projects/"):
            return True, consumer.removeprefix("projects/")
    found = _PROJECT_IN_MESSAGE.search(message)
    return True, found.group(1) if found else None


def enable_api_message(project: str | None) -> str:
    """What to do when the Sheets API is not enabled in the service account's project."""
    where = f"project {project}" if project else "the service account's Cloud project"
    url = "https://console.cloud.google.com/apis/library/sheets.googleapis.com"
    if project:
        url += f"?project={project}"
    return (
        f"The Google Sheets API is not enabled in {where}: enable it at {url} (signed in as an owner of "
        "that project), wait a few minutes, then retry. Sharing the sheet does not help with this one"
    )
