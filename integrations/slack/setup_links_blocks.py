"""App Home's "Initiative and links": the initiative's name, time zone, vision and problem, its channels,
schedule, Notion pages and databases and spreadsheet; then what the checks of those links found.

The form's callback_id is `setup_links_save`, its block_ids the LINK_* names below (one element each,
action_id `value`; the channels are conversations_selects). Saved, the form turns into the checks
view (callback_id `setup_links_checked`): "Saved — checking…", then one line per link, with what to
fix; its button `setup_links_recheck` checks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ci_slackbot.services.doctor import Check, Status
from integrations.slack import blocks as bk
from integrations.slack import form_kit as kit
from integrations.slack.escape import escape

LINKS_SAVE = "setup_links_save"
LINKS_CHECKED = "setup_links_checked"
RECHECK = "setup_links_recheck"

LINK_NAME = "link_name"
LINK_TIMEZONE = "link_timezone"
LINK_VISION = "link_vision"
LINK_PROBLEM = "link_problem"
LINK_DIGEST_CHANNEL = "link_digest_channel"
LINK_DECISIONS_CHANNEL = "link_decisions_channel"
LINK_DIGEST_SCHEDULE = "link_digest_schedule"
LINK_REMINDERS_SCHEDULE = "link_reminders_schedule"
LINK_SPREADSHEET = "link_spreadsheet"
LINK_PARTNERS = "link_partner_workspaces"
# The file's `notion.<field>` → its block.
NOTION_BLOCKS = {
    "agenda_page": "link_notion_agenda_page",
    "decisions_database": "link_notion_decisions_database",
    "actions_database": "link_notion_actions_database",
    "systems_changes_database": "link_notion_systems_changes_database",
    "community_voice_database": "link_notion_community_voice_database",
}
_NOTION_LABELS = {
    "agenda_page": "Notion agenda page",
    "decisions_database": "Notion decisions database",
    "actions_database": "Notion action items database",
    "systems_changes_database": "Notion systems changes database",
    "community_voice_database": "Notion community voice database",
}

# The file's path → the block that shows it.
FIELD_BLOCKS = {
    "initiative.name": LINK_NAME,
    "initiative.timezone": LINK_TIMEZONE,
    "initiative.vision": LINK_VISION,
    "initiative.problem": LINK_PROBLEM,
    "channels.digest": LINK_DIGEST_CHANNEL,
    "channels.decisions": LINK_DECISIONS_CHANNEL,
    "schedule.digest": LINK_DIGEST_SCHEDULE,
    "schedule.reminders": LINK_REMINDERS_SCHEDULE,
    "sheets.spreadsheet_id": LINK_SPREADSHEET,
    "sheets": LINK_SPREADSHEET,
    "initiative.partner_workspaces": LINK_PARTNERS,
    **{f"notion.{name}": block for name, block in NOTION_BLOCKS.items()},
}

INVITE_NOTE = "The app posts there only once it is in the channel: type `/invite @ci-slackbot` in it."
SCHEDULE_HINT = "A day and time in the initiative's time zone, like `mon 09:00`, or a 5-field cron line."
PARTNERS_HINT = (
    "Their people act as members of their organizations from their own workspace, e.g. in a Slack Connect "
    "channel. A workspace not named here sees nothing of the initiative."
)
PARTNERS_NONE = (
    "No other workspace has installed the app yet. A partner's workspace installs it from /slack/install; "
    "it can then be named here, and its people report as members of their organizations."
)
NOTION_HINT = "Paste its link (••• → Copy link) or its id; share it with the integration (••• → Connections)."


def links_form(document: dict[str, Any], installed: Sequence[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The form; `installed` (OAuth: the other workspaces the app is installed in, `(team_id, name)`)
    adds the partner workspaces field, None leaves it out (one workspace: there are no others)."""
    initiative = document.get("initiative") or {}
    channels = document.get("channels") or {}
    schedule = document.get("schedule") or {}
    notion = document.get("notion") or {}
    sheets = document.get("sheets") or {}
    text = kit.text_input
    blocks: list[bk.Block] = [
        kit.field(LINK_NAME, "Initiative name", text(initiative.get("name"), max_length=150)),
        kit.field(
            LINK_TIMEZONE,
            "Time zone",
            text(initiative.get("timezone"), max_length=64, placeholder="America/Chicago"),
            hint="An IANA name, like America/Chicago or Europe/Berlin: the schedule and due dates follow it.",
        ),
        kit.field(LINK_VISION, "Vision", text(initiative.get("vision"), multiline=True), optional=True),
        kit.field(
            LINK_PROBLEM, "The problem we work on", text(initiative.get("problem"), multiline=True), optional=True
        ),
        bk.header("Channels"),
        kit.field(
            LINK_DIGEST_CHANNEL,
            "Digest channel",
            kit.channel_select(channels.get("digest"), "Where the weekly digest goes"),
            hint=INVITE_NOTE,
            optional=True,
        ),
        kit.field(
            LINK_DECISIONS_CHANNEL,
            "Decisions channel",
            kit.channel_select(channels.get("decisions"), "Where decisions are announced"),
            hint=INVITE_NOTE,
            optional=True,
        ),
        bk.header("Schedule"),
        kit.field(
            LINK_DIGEST_SCHEDULE,
            "Digest",
            text(schedule.get("digest") or "mon 09:00", max_length=100),
            hint=SCHEDULE_HINT,
        ),
        kit.field(
            LINK_REMINDERS_SCHEDULE,
            "Reminders",
            text(schedule.get("reminders") or "thu 10:00", max_length=100),
            hint=SCHEDULE_HINT,
        ),
        bk.header("Notion and Google Sheets"),
    ]
    for name, block_id in NOTION_BLOCKS.items():
        blocks.append(
            kit.field(
                block_id, _NOTION_LABELS[name], text(notion.get(name), max_length=500), hint=NOTION_HINT, optional=True
            )
        )
    blocks.append(
        kit.field(
            LINK_SPREADSHEET,
            "Google spreadsheet",
            text(sheets.get("spreadsheet_id"), max_length=500),
            hint="Paste its link or id; share it with the app's service account as Editor.",
            optional=True,
        )
    )
    if installed is not None:
        blocks.extend(_partner_blocks(initiative.get("partner_workspaces") or [], installed))
    return kit.modal(LINKS_SAVE, "Initiative and links", blocks, {})


def _partner_blocks(named: Sequence[str], installed: Sequence[tuple[str, str]]) -> list[bk.Block]:
    known = dict(installed)
    # A workspace named that has not installed the app (yet) stays a choice, so that saving keeps it.
    choices = [*installed, *((team, f"{team} (app not installed there yet)") for team in named if team not in known)]
    if not choices:
        return [bk.header("Partner workspaces"), bk.context(PARTNERS_NONE)]
    return [
        bk.header("Partner workspaces"),
        kit.field(
            LINK_PARTNERS,
            "Partners' own Slack workspaces",
            kit.multi_select(choices, list(named), placeholder="Workspaces whose people are members"),
            hint=PARTNERS_HINT,
            optional=True,
        ),
    ]


_MARK = {Status.OK: ":white_check_mark:", Status.WARN: ":warning:", Status.FAIL: ":x:", Status.OFF: ":pause_button:"}


def checking_view() -> dict[str, Any]:
    """What the form turns into at once: saved; the checks run after the commit."""
    blocks = [bk.section(":floppy_disk: Saved — checking the channels, Notion and the spreadsheet…")]
    return kit.modal(LINKS_CHECKED, "Initiative and links", blocks, {}, submit=None)


def checks_view(checks: Sequence[Check]) -> dict[str, Any]:
    """One line a link: fine, or what to fix; and a button to check again once it is fixed."""
    if not checks:
        head = ":floppy_disk: Saved. No channel, Notion page or spreadsheet is linked, so there was nothing to check."
    elif all(c.status is Status.OK for c in checks):
        head = ":floppy_disk: Saved, and every link works."
    else:
        head = ":floppy_disk: Saved. Some links need something from you before the app can use them:"
    blocks: list[bk.Block] = [bk.section(head)]
    for check in checks[:90]:
        # The component is the app's own wording (a channel as <#C…>); the detail may quote Notion titles.
        blocks.append(bk.section(f"{_MARK[check.status]} *{check.component}*: {escape(check.detail)}"))
    if checks:
        blocks.append(bk.actions(bk.button("Check again", RECHECK, "again")))
    return kit.modal(LINKS_CHECKED, "Initiative and links", blocks, {}, submit=None)
