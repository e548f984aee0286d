"""The reminder DM: rendered from the outbox row's data when it is delivered, then posted like any message.

The reminders service (`ci_slackbot.services.reminders`) queues data, not Block
Kit, because services know no Slack; this module turns it into the DM — what
to report with a "Report …" button each (they open the `/ci update` modal on
that indicator), a "Snooze for this period" button, and the person's action
items due — and posts it through the ordinary Slack post deliverer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError, SlackClientError

from ci_slackbot.outbox import Item, Registry
from ci_slackbot.services.reminders import KIND, SERVICE
from integrations.slack import blocks as bk
from integrations.slack.delivery import post_message
from integrations.slack.escape import escape
from integrations.slack.measurement_blocks import OPEN_UPDATE_MODAL

if TYPE_CHECKING:
    from ci_slackbot.bootstrap import Services

log = logging.getLogger(__name__)

SNOOZE_REMINDERS = "snooze_reminders"
# A message holds 50 blocks: a long list gets buttons for its first 20 and `/ci update` for the rest.
MAX_REPORT_BUTTONS = 20
MAX_LISTED = 40
MAX_ACTION_ITEMS = 15
MAX_ACTION_TEXT = 200
MAX_NAME = 90


def _day(text: str | None) -> str:
    return date.fromisoformat(text).strftime("%a %-d %b") if text else "no date"


def _action_text(item: dict[str, Any]) -> str:
    return escape(bk.clip(str(item["text"]), MAX_ACTION_TEXT))


def _indicator_line(item: dict[str, Any], several_orgs: bool) -> str:
    line = f"*{escape(item['key'])}* — {escape(bk.clip(item['name'], MAX_NAME))}: *{escape(item['period_label'])}*"
    if several_orgs:
        line += f" for {escape(item['organization_name'])}"
    due, kind = item.get("due"), item.get("kind")
    if due:
        late = kind in ("late", "backup")
        line += f", {'was due' if late else 'due by'} {_day(due)}"
    if kind == "backup":
        line += f" (you are {escape(item['organization_name'])}'s backup reporter)"
    return line


# What people set when they are away, from Slack's own status presets ("Vacationing" :palm_tree:,
# "Out sick" :face_with_thermometer:; https://slack.com/help/articles/201864558) and common words.
AWAY_EMOJI = frozenset({":palm_tree:", ":face_with_thermometer:", ":desert_island:", ":beach_with_umbrella:"})
AWAY_WORDS = re.compile(r"\b(vacation|vacationing|holiday|out of (the )?office|ooo|on leave|out sick|pto)\b", re.I)


def is_away(profile: dict[str, Any], now: float) -> bool:
    """Whether a users.info profile's custom status says its person is away.

    Slack exposes no "away" flag for this: `users.getPresence` says only whether a client is
    idle, and `is_away`/`dnd` are not about being out. The custom status is what people set
    (`profile.status_text`, `status_emoji`, `status_expiration`: https://api.slack.com/types/user).
    """
    expiration = profile.get("status_expiration") or 0
    if expiration and expiration <= now:
        return False
    emoji = str(profile.get("status_emoji") or "")
    return emoji in AWAY_EMOJI or bool(AWAY_WORDS.search(str(profile.get("status_text") or "")))


def away_among(services: Services, initiative_id: int, users: Sequence[str]) -> set[str]:
    """Who of ``users`` is away by their Slack status (users.info, scope users:read).

    A person Slack cannot tell about (an error, a timeout) counts as present: a reminder too many
    beats a report nobody was asked for.
    """
    client = services.slack_for_initiative(initiative_id)
    away = set()
    now = time.time()
    for user in users:
        try:
            profile = client.users_info(user=user)["user"].get("profile") or {}
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not read %s's Slack status, reminding them anyway: %s", user, exc)
            continue
        if is_away(profile, now):
            away.add(user)
    return away


def reminder_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The DM for one person, as `{"text", "blocks"}`."""
    indicators: list[dict[str, Any]] = payload.get("indicators") or []
    overdue: list[dict[str, Any]] = payload.get("overdue") or []
    this_week: list[dict[str, Any]] = payload.get("due_this_week") or []
    initiative = escape(str(payload.get("initiative") or "your initiative"))
    blocks: list[bk.Block] = []
    # What must stay when a long list is cut to fit one message: snoozing, the hint, the action items.
    tail: list[bk.Block] = []
    if indicators:
        several = len({i["organization_key"] for i in indicators}) > 1
        heading = f":wave: Time to report for *{initiative}*"
        if not several:
            heading += f", for {escape(indicators[0]['organization_name'])}"
        blocks.append(bk.section(heading + ":"))
        # One section per indicator, its button beside it: Slack wants action ids unique within a
        # block, and every "Report" button must carry the one id that opens the update modal.
        for item in indicators[:MAX_REPORT_BUTTONS]:
            button = bk.button(f"Report {item['key']}", OPEN_UPDATE_MODAL, item["key"])
            blocks.append(bk.section(_indicator_line(item, several), accessory=button))
        rest = [_indicator_line(i, several) for i in indicators[MAX_REPORT_BUTTONS:]]
        if rest:
            blocks.extend(bk.sections(bk.bulleted(rest, limit=MAX_LISTED, more="see `/ci status`")))
            tail.append(bk.context("Report these with `/ci update <indicator> <value>`."))
        periods = ", ".join(label for _, label in sorted({(i["period"], i["period_label"]) for i in indicators}))
        snooze_value = ",".join(payload.get("snooze_periods") or [])
        tail.append(
            bk.actions(bk.button("Snooze for this period", SNOOZE_REMINDERS, snooze_value), block_id="reminder_snooze")
        )
        tail.append(bk.context(f"Snoozing stops these reminders until the next period starts ({periods} only)."))
    if overdue or this_week:
        if blocks:
            tail.append(bk.divider())
        lines = [f":red_circle: #{a['id']} {_action_text(a)} — was due {_day(a['due'])}" for a in overdue]
        lines += [f":date: #{a['id']} {_action_text(a)} — due {_day(a['due'])}" for a in this_week]
        heading = "*Your action items*" if indicators else f":wave: Your action items in *{initiative}*"
        tail.extend(bk.sections([heading, *bk.bulleted(lines, limit=MAX_ACTION_ITEMS, more="see `/ci actions`")]))
        tail.append(bk.context("`/ci actions` lists them with buttons to mark them done."))
    message = bk.Message(str(payload.get("text") or "Reminder"), [*blocks, *tail], keep_tail=len(tail))
    return message.build("Report the others with `/ci update <indicator> <value>`; `/ci status` lists them.")


def deliver_reminders(services: Services, items: Sequence[Item]) -> dict[int, dict[str, Any]]:
    """Render each reminder and post it as an ordinary DM (chat.postMessage to the user's ID)."""
    rendered = []
    for item in items:
        message = reminder_message(item.payload)
        rendered.append(replace(item, kind="post", payload={"channel": item.payload["channel"], **message}))
    return post_message(services, rendered)


def register(registry: Registry[Services]) -> None:
    registry.register(SERVICE, KIND, deliver_reminders)
