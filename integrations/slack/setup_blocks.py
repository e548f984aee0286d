"""Block Kit of the set-up in App Home: the Set-up section, the organizations list and form, and
the first-run Home and form of a workspace without an initiative.

Within Slack's limits whatever the data: the list is paged (`ORGS_PER_PAGE`, two blocks each, well
under 100 a view), member mentions are capped per section, labels stay under 75 characters,
titles under 24, and a static select holds at most 100 options.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ci_slackbot.services.setup_organizations import DEFAULT_DIGEST, DEFAULT_REMINDERS, OrganizationRow
from integrations.slack import blocks as bk
from integrations.slack.escape import escape, mention

# App Home's Set-up buttons (the names every set-up helper registers on; see each commands/setup_*.py).
SETUP_ORGANIZATIONS = "setup_organizations"
SETUP_GOALS = "setup_goals"
SETUP_INDICATORS = "setup_indicators"
SETUP_LINKS = "setup_links"

# The organizations list and form.
ORGS_LIST = "setup_orgs_list"
ORG_ADD = "setup_org_add"
ORG_EDIT = "setup_org_edit"
ORG_RETIRE = "setup_org_retire"
# Two ids: action_ids must differ within one actions block.
ORGS_PREVIOUS = "setup_orgs_previous"
ORGS_NEXT = "setup_orgs_next"
ORG_SAVE = "setup_org_save"
ORG_KEY = "org_key"
ORG_NAME = "org_name"
ORG_SECTOR = "org_sector"
ORG_MEMBERS = "org_members"
ORG_BACKUP = "org_backup"
ORG_USERGROUP = "org_usergroup"
# The user group select's "none": members are the ones picked above.
NO_USERGROUP = "-"
ORGS_PER_PAGE = 30
MEMBERS_SHOWN = 40  # mentions in one organization's line; past that "…and N more"

# First run.
START_SETUP = "setup_start"
FIRST_RUN_SAVE = "setup_first_run"
FR_NAME = "fr_name"
FR_TIMEZONE = "fr_timezone"
FR_VISION = "fr_vision"
FR_BACKBONE_KEY = "fr_backbone_key"
FR_BACKBONE_NAME = "fr_backbone_name"
FR_STAFF = "fr_staff"
FR_DIGEST = "fr_digest"
FR_DECISIONS = "fr_decisions"
FR_DIGEST_AT = "fr_digest_at"
FR_REMINDERS_AT = "fr_reminders_at"

# The zones coalitions most often work in; the person's own zone (from Slack) is added when missing.
COMMON_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/Toronto",
    "America/Vancouver",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
)


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": bk.plain(text, 75), "value": value[:150]}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> bk.Block:
    block: bk.Block = {
        "type": "input",
        "block_id": block_id,
        "label": bk.plain(label, 75),
        "element": {**element, "action_id": block_id},
        "optional": optional,
    }
    if hint:
        block["hint"] = bk.plain(hint, 150)
    return block


def _text_input(initial: str = "", *, max_length: int = 150, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "max_length": max_length, "multiline": multiline}
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def _modal(
    title: str, blocks: list[bk.Block], *, callback_id: str, metadata: dict[str, Any], submit: str = ""
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": bk.plain(title, bk.MAX_MODAL_TITLE),
        "close": bk.plain("Close" if not submit else "Cancel", bk.MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks[: bk.MAX_VIEW_BLOCKS],
    }
    if submit:
        view["submit"] = bk.plain(submit, bk.MAX_MODAL_TITLE)
    return view


# -- App Home ------------------------------------------------------------------------------------


def home_section() -> list[bk.Block]:
    """The Set-up section of App Home, for backbone staff."""
    return [
        bk.section(
            "*Set-up*\nOrganizations and their people, goals, indicators, channels and schedule. "
            "A change takes effect at once and is in the change log."
        ),
        bk.actions(
            bk.button("Organizations", SETUP_ORGANIZATIONS, "open"),
            bk.button("Goals and strategies", SETUP_GOALS, "open"),
            bk.button("Indicators", SETUP_INDICATORS, "open"),
            bk.button("Channels, schedule, links", SETUP_LINKS, "open"),
            block_id="setup_buttons",
        ),
    ]


def first_run_home(*, allowed: bool, installer: str | None, init_command: str) -> dict[str, Any]:
    """App Home in a workspace without an initiative: the set-up button, or who may press it; and the
    file's way (`init_command`, which names the workspace's team ID where the app serves several)."""
    head = "*This workspace has no collective impact initiative loaded yet.*"
    file_way = bk.context(f"Or the backbone team loads a whole initiative file on the server: `{init_command}`.")
    if allowed:
        blocks = [
            bk.header("ci-slackbot"),
            bk.section(
                f"{head}\nSet it up here in a minute: its name, time zone and vision, the backbone "
                "organization and its staff, the channels for the digest and decisions, and the schedule. "
                "Backbone staff then add partners, goals and indicators from this Home tab.",
                accessory=bk.button("Set up your initiative", START_SETUP, "start", style="primary"),
            ),
            file_way,
        ]
    else:
        who = f"{mention(installer)} (who installed the app)" if installer else "whoever installed the app"
        blocks = [
            bk.header("ci-slackbot"),
            bk.section(f"{head}\n{who} or a workspace admin or owner can set it up from this Home tab."),
            file_way,
        ]
    return {"type": "home", "blocks": blocks}


def set_up_text(name: str, not_member: Sequence[tuple[str, str]]) -> str:
    """What the person who set up the initiative is told; `not_member`: (channel, what) the app is not in."""
    lines = [
        f":white_check_mark: *{escape(name)}* is set up. Open the app's Home tab to add partner organizations, "
        "goals and indicators (Set-up)."
    ]
    for channel, what in not_member:
        lines.append(
            f":warning: The app is not in <#{channel}>, so it cannot post the {what} there: "
            f"type `/invite @ci-slackbot` in <#{channel}>."
        )
    return "\n".join(lines)


def first_run_modal(*, user_id: str, user_zone: str | None) -> dict[str, Any]:
    """The first set-up form. The person opening it is the first backbone staff member, and their
    own time zone (from Slack) is the initial one."""
    zones = list(COMMON_ZONES)
    if user_zone and user_zone not in zones:
        zones.insert(0, user_zone)
    options = [_option(zone.replace("_", " "), zone) for zone in zones[:100]]
    zone_select: dict[str, Any] = {"type": "static_select", "options": options}
    if user_zone in zones:
        zone_select["initial_option"] = options[zones.index(str(user_zone))]
    conversation = {
        "type": "conversations_select",
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    blocks = [
        _input(FR_NAME, "Initiative name", _text_input(max_length=150)),
        _input(FR_TIMEZONE, "Time zone", zone_select, hint="Deadlines, reminders and the digest follow it."),
        _input(FR_VISION, "Vision", _text_input(max_length=2000, multiline=True), optional=True),
        _input(
            FR_BACKBONE_NAME,
            "Backbone organization",
            _text_input(max_length=150),
            hint="The organization that staffs the initiative.",
        ),
        _input(
            FR_BACKBONE_KEY,
            "Backbone organization's short key",
            _text_input(max_length=40),
            hint="Lower-case letters, digits, - and _, like hwac. It names the organization in commands.",
        ),
        _input(
            FR_STAFF,
            "Backbone staff",
            {"type": "multi_users_select", "initial_users": [user_id]},
            hint="They run the set-up from App Home.",
        ),
        _input(FR_DIGEST, "Digest channel", dict(conversation), optional=True),
        _input(FR_DECISIONS, "Decisions channel", dict(conversation), optional=True),
        _input(
            FR_DIGEST_AT,
            "Weekly digest",
            _text_input(DEFAULT_DIGEST, max_length=40),
            hint="A day and a time, like mon 09:00.",
        ),
        _input(
            FR_REMINDERS_AT,
            "Weekly reminders",
            _text_input(DEFAULT_REMINDERS, max_length=40),
            hint="A day and a time, like thu 10:00.",
        ),
        bk.context("If the app is not in a channel you pick, you will be told to `/invite @ci-slackbot` there."),
    ]
    return _modal("Set up the initiative", blocks, callback_id=FIRST_RUN_SAVE, metadata={}, submit="Set up")


# -- organizations -------------------------------------------------------------------------------


def _members_text(members: Sequence[str]) -> str:
    if not members:
        return "_No members yet._"
    shown = ", ".join(mention(m) for m in members[:MEMBERS_SHOWN])
    if len(members) > MEMBERS_SHOWN:
        shown += f" …and {len(members) - MEMBERS_SHOWN} more (Edit shows them all)"
    return shown


def _org_blocks(row: OrganizationRow) -> list[bk.Block]:
    count = f"{len(row.members)} member" + ("" if len(row.members) == 1 else "s")
    sector = f" · {escape(row.sector)}" if row.sector else ""
    backbone = " · backbone" if row.is_backbone else ""
    backup = f"\nBackup reporter: {mention(row.backup)}" if row.backup else ""
    text = f"*{escape(row.name)}* (`{escape(row.key)}`){sector}{backbone} · {count}\n{_members_text(row.members)}"
    retire = bk.button("Retire", ORG_RETIRE, row.key, style="danger")
    retire["confirm"] = {
        "title": bk.plain("Retire this organization?", 100),
        "text": bk.mrkdwn(
            bk.clip(
                f"{escape(row.name)} and its people leave the initiative's reporting. "
                "Its history stays, and adding the key again brings it back.",
                300,
            )
        ),
        "confirm": bk.plain("Retire", 30),
        "deny": bk.plain("Keep it", 30),
        "style": "danger",
    }
    return [
        bk.section(bk.clip(text + backup, bk.MAX_SECTION_TEXT)),
        # No block_id from the key: a key has no length limit in the file, a block_id has (255).
        bk.actions(bk.button("Edit", ORG_EDIT, row.key), retire),
    ]


def organizations_modal(rows: Sequence[OrganizationRow], *, page: int = 0, notice: str = "") -> dict[str, Any]:
    """The organizations, a page at a time, with Add, Edit and Retire."""
    pages = max(1, -(-len(rows) // ORGS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = rows[page * ORGS_PER_PAGE : (page + 1) * ORGS_PER_PAGE]
    blocks: list[bk.Block] = []
    if notice:
        blocks.append(bk.section(notice))
    count = f"{len(rows)} organization" + ("" if len(rows) == 1 else "s")
    where = f" · page {page + 1} of {pages}" if pages > 1 else ""
    blocks.append(bk.context(f"{count}{where}. A person may belong to several organizations."))
    blocks.append(bk.actions(bk.button("Add an organization", ORG_ADD, str(page), style="primary")))
    for row in shown:
        blocks.extend(_org_blocks(row))
    pager = []
    if page > 0:
        pager.append(bk.button("Previous page", ORGS_PREVIOUS, str(page - 1)))
    if page < pages - 1:
        pager.append(bk.button("Next page", ORGS_NEXT, str(page + 1)))
    if pager:
        blocks.append(bk.actions(*pager, block_id="pager"))
    return _modal("Organizations", blocks, callback_id=ORGS_LIST, metadata={"page": page})


def organization_form(
    row: OrganizationRow | None,
    *,
    list_view_id: str | None,
    page: int,
    usergroups: Sequence[tuple[str, str]] | None = None,
    usergroups_note: str = "",
) -> dict[str, Any]:
    """Add an organization (`row` None) or edit one: name, sector, members, backup reporter, and the
    Slack user group it follows, picked among `usergroups` (`(id, label)`; None: Slack did not list
    them, and `usergroups_note` says why; the group it follows then stays as it is)."""
    blocks: list[bk.Block] = []
    if row is None:
        blocks.append(
            _input(
                ORG_KEY,
                "Short key",
                _text_input(max_length=40),
                hint="Lower-case letters, digits, - and _, like childrens-health. It never changes.",
            )
        )
    else:
        blocks.append(bk.context(f"Key: `{escape(row.key)}` (a key never changes)"))
    blocks.append(_input(ORG_NAME, "Name", _text_input(row.name if row else "", max_length=150)))
    blocks.append(_input(ORG_SECTOR, "Sector", _text_input(row.sector if row else "", max_length=80), optional=True))
    members: dict[str, Any] = {"type": "multi_users_select"}
    if row is not None and row.members:
        members["initial_users"] = list(row.members)
    blocks.append(_input(ORG_MEMBERS, "Members", members, optional=True, hint="They report for this organization."))
    backup: dict[str, Any] = {"type": "users_select"}
    if row is not None and row.backup:
        backup["initial_user"] = row.backup
    blocks.append(
        _input(
            ORG_BACKUP,
            "Backup reporter",
            backup,
            optional=True,
            hint="Asked to report when no member has by the due date.",
        )
    )
    blocks.append(_usergroup_block(row.usergroup if row else None, usergroups, usergroups_note))
    metadata = {"key": row.key if row else None, "list": list_view_id, "page": page}
    title = "Edit organization" if row else "Add an organization"
    return _modal(title, blocks, callback_id=ORG_SAVE, metadata=metadata, submit="Save")


def _usergroup_block(current: str | None, usergroups: Sequence[tuple[str, str]] | None, note: str) -> bk.Block:
    if usergroups is None:
        following = f"It follows the user group `{escape(current)}`. " if current else ""
        return bk.context(following + escape(note))
    options = [_option("None: the members picked above", NO_USERGROUP)]
    listed = dict(usergroups)
    if current and current not in listed:
        # Followed, but gone from Slack's list (deleted or disabled): shown so that it can be let go.
        options.append(_option(f"{current} (no longer in Slack)", current))
    # A static select takes at most 100 options (Block Kit reference, static_select).
    options += [_option(label, group) for group, label in list(usergroups)[: 100 - len(options)]]
    element: dict[str, Any] = {"type": "static_select", "options": options}
    chosen = next((o for o in options if o["value"] == (current or NO_USERGROUP)), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return _input(
        ORG_USERGROUP,
        "Follows a Slack user group",
        element,
        optional=True,
        hint="Its members become the group's people, kept in step every hour; people picked above are replaced.",
    )


# -- errors on their fields ----------------------------------------------------------------------


def errors_on_fields(problems: dict[str, str], fields: dict[str, str], first: str) -> dict[str, str]:
    """`response_action: errors` from a `SetupError`'s `{file path: message}`: each on the block of the
    longest path in `fields` it falls under; what matches none goes on `first`, never lost."""
    errors: dict[str, str] = {}
    for path, message in problems.items():
        block = first
        best = -1
        for prefix, block_id in fields.items():
            if (path == prefix or path.startswith((prefix + ".", prefix + "["))) and len(prefix) > best:
                block, best = block_id, len(prefix)
        errors[block] = f"{errors[block]}; {message}" if block in errors else message
    return {block: bk.clip(message, 2000) for block, message in errors.items()}
