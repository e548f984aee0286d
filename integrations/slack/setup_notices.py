"""The DMs a change to the set-up brings (services/change_log.py): a welcome to a new member, and a
new reporting duty to the members of the organization asked for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ci_slackbot.outbox import Item, Registry
from ci_slackbot.services.change_log import KIND, SERVICE
from integrations.slack import blocks as bk
from integrations.slack.delivery import post_message
from integrations.slack.escape import escape

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services


def _line(item: dict[str, Any]) -> str:
    return (
        f"• *{escape(str(item['key']))}* — {escape(bk.clip(str(item['name']), 120))} ({escape(str(item['frequency']))})"
    )


def notice_message(payload: dict[str, Any]) -> dict[str, Any]:
    initiative, org = escape(str(payload["initiative"])), escape(str(payload["organization"]))
    indicators: list[dict[str, Any]] = list(payload.get("indicators") or [])
    lines = [_line(i) for i in indicators]
    if payload.get("more"):
        lines.append(f"…and {payload['more']} more: `/ci indicators` lists them.")
    example = f"`/ci update {indicators[0]['key']} <value>`" if indicators else "`/ci update <indicator> <value>`"
    if payload["notice"] == "welcome":
        text = f"Welcome to {initiative}"
        head = f":wave: *Welcome to {initiative}!* You are now a member of *{org}*."
        if indicators:
            body = [f"{org} reports:", *lines, f"Report a value with {example}, or `/ci update` for a form."]
        else:
            body = [f"{org} reports no indicator yet. `/ci help` shows what you can do."]
    else:
        text = f"{org} now reports {', '.join(escape(str(i['key'])) for i in indicators)}"
        head = f":bar_chart: *{org}* is now asked to report in *{initiative}*:"
        body = [*lines, f"Report a value with {example}, or `/ci update` for a form."]
    message = bk.Message(bk.clip(text, bk.MAX_FALLBACK_TEXT), bk.sections([head, *body]))
    return message.build("`/ci indicators` lists every indicator.")


def deliver_notices(services: Services, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    """Render each notice and post it as an ordinary DM (chat.postMessage to the user's ID)."""
    rendered = [
        replace(item, kind="post", payload={"channel": item.payload["channel"], **notice_message(item.payload)})
        for item in items
    ]
    return post_message(services, rendered)


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, KIND, deliver_notices)
