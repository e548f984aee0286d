"""App Home in Block Kit: what I owe, my action items, my goals; for backbone staff, status and outbox.

Within the Home tab's 100 blocks whatever the data: report buttons are capped
at `MAX_REPORT_BUTTONS` and every list is one capped section.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from ci_slackbot.outbox import Health, ParkedCause
from ci_slackbot.services.change_log import by_person
from ci_slackbot.services.home import HomeData
from integrations.slack import blocks as bk
from integrations.slack import setup_blocks, systems_change_blocks
from integrations.slack.community_voice_blocks import community_stories_block
from integrations.slack.digest_blocks import action_line, goal_blocks, reporting_block, stories_block
from integrations.slack.escape import escape, mention
from integrations.slack.measurement_blocks import OPEN_UPDATE_MODAL, due_day
from integrations.slack.parked import RETRY_PARKED, advice

MAX_REPORT_BUTTONS = 15
MAX_PARKED_CAUSES = 10


def _owed_blocks(data: HomeData) -> list[bk.Block]:
    names = ", ".join(o.name for o in data.person.organizations)
    head = f"*What {escape(names)} reports now*"
    if data.due == 0:
        return [bk.section(f"{head}\nNothing: no indicator asks your organization for a report.")]
    if not data.owed:
        return [bk.section(f"{head}\n:white_check_mark: All {data.due} reports are in. Thank you!")]
    out = [bk.section(f"{head}\n{data.reported} of {data.due} reports are in. Report the rest here:")]
    for report in data.owed[:MAX_REPORT_BUTTONS]:
        streak = f" · missed {report.missed_in_a_row} before this" if report.missed_in_a_row else ""
        org = f" for {escape(report.organization.name)}" if len(data.person.organizations) > 1 else ""
        if report.due is not None:
            org += f" · {'was due' if report.late else 'due by'} {due_day(report.due)}"
        out.append(
            bk.section(
                f"*{escape(report.indicator.key)}* — {escape(bk.clip(report.indicator.name, 120))}\n"
                f"{report.period.label()}{org}{streak}",
                accessory=bk.button("Report", OPEN_UPDATE_MODAL, report.indicator.key, style="primary"),
            )
        )
    if len(data.owed) > MAX_REPORT_BUTTONS:
        out.append(bk.context(f"…and {len(data.owed) - MAX_REPORT_BUTTONS} more: report them with `/ci update`."))
    return out


def _actions_block(data: HomeData) -> bk.Block:
    if not data.my_actions:
        return bk.section("*Your open action items*\nNone. Add one with `/ci action add <text> [due <date>]`.")
    today = data.now.astimezone(ZoneInfo(data.timezone)).date()
    lines = [action_line(i, today, "overdue" if i.due and i.due < today else "due") for i in data.my_actions]
    return bk.capped_section(
        f"*Your open action items* ({len(data.my_actions)})", lines, more="`/ci actions` lists them all"
    )


def _outbox_block(health: Health) -> bk.Block:
    if not health.pending and not health.failed:
        return bk.section("*Outbox:* :white_check_mark: every write to Slack, Notion and Sheets has been delivered.")
    head = f"*Outbox:* {health.pending} waiting"
    if health.oldest_pending_seconds is not None:
        head += f" (the oldest for {bk.age(health.oldest_pending_seconds)})"
    head += f", {health.failed} parked"
    if health.failed:
        head += " :rotating_light: — below, per cause, with what to do (`ci-slackbot outbox` lists them all)"
    lines = [
        f"• {escape(service)}: " + ", ".join(f"{count} {status}" for status, count in sorted(states.items()))
        for service, states in sorted(health.by_service.items())
    ]
    return bk.capped_section(head, lines, more="`ci-slackbot outbox`")


def _parked_blocks(parked: tuple[ParkedCause, ...]) -> list[bk.Block]:
    out: list[bk.Block] = []
    for cause in parked[:MAX_PARKED_CAUSES]:
        items = "1 item" if cause.count == 1 else f"{cause.count} items"
        kinds = ", ".join(escape(k) for k in cause.kinds)
        out.append(
            bk.section(
                bk.clip(
                    f"*Parked: {items}* ({escape(cause.service)}: {kinds})\n"
                    f"{advice(cause.service, cause.cause, cause.last_error)}",
                    3000,
                ),
                accessory=bk.button("Retry", RETRY_PARKED, cause.cause),
            )
        )
    if len(parked) > MAX_PARKED_CAUSES:
        out.append(bk.context(f"…and {len(parked) - MAX_PARKED_CAUSES} more causes: `ci-slackbot outbox` lists them."))
    return out


CHANGE_TEXT = 200  # one change's description in its line
# A Slack user ID in a members change's description (`members: + U0DISD0002 − U0CHLD0001`).
_MEMBER_ID = re.compile(r"(?<![A-Za-z0-9])[UW][A-Z0-9]{2,}(?![A-Za-z0-9…])")


def changes_block(data: HomeData) -> bk.Block:
    """The recent changes to the set-up, one capped section: who, when, what."""
    zone = ZoneInfo(data.timezone)
    lines = []
    for change in data.changes:
        local = change.at.astimezone(zone)
        who = mention(change.author) if by_person(change.author) else escape(change.author)
        what = escape(bk.clip(change.what, CHANGE_TEXT))
        if change.subject.endswith(" members"):
            # People are named, never shown by ID: the IDs of a members change become mentions.
            what = _MEMBER_ID.sub(lambda found: mention(found.group(0)), what)
        lines.append(f"• {local:%b} {local.day}, {local:%H:%M} · {escape(change.subject)}: {what} ({who})")
    return bk.capped_section("*Recent changes to the set-up*", lines, more="`ci-slackbot export --config -`")


def home_blocks(data: HomeData) -> list[bk.Block]:
    local = data.now.astimezone(ZoneInfo(data.timezone))
    out: list[bk.Block] = [
        bk.header(data.initiative_name),
        bk.context(
            f"Updated {local:%a %b} {local.day}, {local:%H:%M} {local.tzname() or ''} · `/ci help` for every command"
        ),
    ]
    if data.person.organizations:
        out.extend(_owed_blocks(data))
    else:
        out.append(
            bk.section(
                "You are not listed as a member of any partner organization yet, so nothing is asked of you. "
                "The backbone team can add you to your organization's `members` in the initiative file."
            )
        )
    out.extend([bk.divider(), _actions_block(data)])
    out.append(bk.divider())
    out.append(bk.section("*Your goals*" if data.person.organizations else "*Where our goals stand*"))
    out.extend(goal_blocks(data.goals))
    if data.stories:
        out.append(
            stories_block(
                data.stories,
                head="*The latest stories behind your indicators' numbers*",
                more="the digest and the meeting-prep page carry them",
            )
        )
    out.extend(systems_change_blocks.home_blocks(data.systems_changes, data.wishes, backbone=data.person.is_backbone))
    if data.kept_community_stories and not data.person.is_backbone:
        out.append(
            community_stories_block(
                data.kept_community_stories,
                head=":lock: *Stories you recorded, kept within the backbone team*",
                more="the backbone team keeps them all",
            )
        )
    if data.reporting is not None or data.outbox is not None:
        out.extend([bk.divider(), bk.header("For backbone staff")])
        if data.person.is_backbone:
            out.extend(setup_blocks.home_section())
        if data.kept_community_stories and data.person.is_backbone:
            out.append(
                community_stories_block(
                    data.kept_community_stories,
                    head=":lock: *Stories kept within the backbone team* (no consent to share them)",
                    more="the latest are shown here",
                    recorder=True,
                )
            )
        if data.reporting is not None:
            out.append(reporting_block(data.reporting))
        if data.outbox is not None:
            out.append(_outbox_block(data.outbox))
            out.extend(_parked_blocks(data.parked))
        if data.changes:
            out.append(changes_block(data))
    return out


def home_view(data: HomeData) -> dict[str, Any]:
    message = bk.Message("", home_blocks(data), max_blocks=bk.MAX_VIEW_BLOCKS, budget=None).build()
    return {"type": "home", "blocks": message["blocks"]}


def notice_view(text: str) -> dict[str, Any]:
    """App Home where there is nothing to show but why: no initiative is set up in this workspace."""
    return {"type": "home", "blocks": [bk.header("ci-slackbot"), bk.section(text)]}
