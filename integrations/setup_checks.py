"""The links a coordinator saves in App Home, checked at once the way `ci-slackbot doctor` checks them.

The app must be in the digest and decisions channels, each Notion page and database must be shared
with the integration (databases: with the properties the app writes, or the capability to add them),
and the spreadsheet must be shared with the service account as Editor. Each check makes read-only
requests (the Sheets one a write that changes nothing, as the doctor's) and becomes a row that says
what works or what to fix. These calls go to Slack, Notion and Google: they are made after the
request's commit (commands/setup_links.py), never inside its transaction, and they never raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ci_slackbot.services.doctor import Check, NotionTarget, SheetTarget, Status
from ci_slackbot.settings import Settings
from integrations.doctor import (
    NOTION_WHAT,
    _first_line,
    _notion_problem,
    check_notion_target,
    check_spreadsheet_target,
    notion_bot_name,
    notion_client,
)

INVITE = "/invite @ci-slackbot"


@dataclass(frozen=True)
class Links:
    """What the initiative is linked to, as its file says: `channels`, `notion` and `sheets`."""

    initiative: str
    channels: Mapping[str, str] = field(default_factory=dict)  # digest / decisions → channel id
    notion: Mapping[str, str] = field(default_factory=dict)  # the file's notion field → id
    spreadsheet: str | None = None

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Links:
        return cls(
            initiative=str((document.get("initiative") or {}).get("name", "")),
            channels={k: str(v) for k, v in (document.get("channels") or {}).items() if v},
            notion={k: str(v) for k, v in (document.get("notion") or {}).items() if v},
            spreadsheet=(document.get("sheets") or {}).get("spreadsheet_id"),
        )


def channel_label(purpose: str, channel_id: str) -> str:
    """`Digest channel <#C…>`: Slack shows the channel's name; only ids Slack's select gave are linked."""
    shown = f"<#{channel_id}>" if channel_id.isalnum() else "(an id that is not a channel's)"
    return f"{purpose.capitalize()} channel {shown}"


def check_channel(slack: WebClient, purpose: str, channel_id: str) -> Check:
    """The app can post in the channel: it exists, is not archived, and the app is a member."""
    component = channel_label(purpose, channel_id)
    try:
        channel: dict[str, Any] = slack.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as exc:
        code = str(exc.response.get("error", ""))
        if code == "channel_not_found":
            return Check(
                component,
                Status.FAIL,
                f"the app cannot see it: a private channel shows only to its members, so type `{INVITE}` in it "
                "(or pick another channel)",
            )
        if code == "missing_scope":
            return Check(
                component,
                Status.WARN,
                "not checked: the app lacks the channels:read and groups:read scopes; reinstall it from manifest.yml",
            )
        if code == "ratelimited":
            return Check(
                component, Status.WARN, "not checked: Slack asked the app to slow down; check again in a minute"
            )
        return Check(component, Status.WARN, f"not checked: Slack answered {code or exc.response.status_code}")
    except Exception as exc:  # the network: say so, never fail the form for it
        return Check(component, Status.WARN, f"not checked: Slack could not be reached ({_first_line(exc)})")
    if channel.get("is_archived"):
        return Check(component, Status.FAIL, "it is archived: nothing can be posted there; pick another channel")
    if not channel.get("is_member"):
        return Check(component, Status.FAIL, f"the app is not in it: type `{INVITE}` in that channel")
    return Check(component, Status.OK, "the app is in it and can post there")


def check_notion(settings: Settings, links: Links) -> list[Check]:
    if not links.notion:
        return []
    if not settings.notion_enabled:
        return [
            Check(
                "Notion",
                Status.OFF,
                "the links are saved, but NOTION_TOKEN is not set on the server: nothing goes to Notion until it is",
            )
        ]
    client = notion_client(settings)
    try:
        me: dict[str, Any] = client.users.me()
    except Exception as exc:
        return [Check("Notion", Status.FAIL, _notion_problem(exc, "the integration"))]
    bot = notion_bot_name(me)
    rows = []
    for name, object_id in links.notion.items():
        what, wanted = NOTION_WHAT.get(name, (name.replace("_", " "), None))
        target = NotionTarget(links.initiative, what, object_id)
        rows.append(check_notion_target(client, target, bot, f"Notion {what}", wanted))
    return rows


def check_links(settings: Settings, slack: WebClient, links: Links) -> list[Check]:
    """Every link the initiative has, one row each, in the form's order."""
    rows = [check_channel(slack, purpose, channel) for purpose, channel in links.channels.items()]
    rows.extend(check_notion(settings, links))
    if links.spreadsheet:
        rows.append(check_spreadsheet_target(settings, SheetTarget(links.initiative, links.spreadsheet), "Spreadsheet"))
    return rows
