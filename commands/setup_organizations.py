"""App Home's Set-up → Organizations (backbone staff): the organizations and their people.

The list opens from Home (views.open after the commit); Add and Edit push the form (views.push);
a saved form closes back onto the list, which is updated (views.update). Retire asks for
confirmation in Slack first. Backbone rights are checked again on every click and submission,
and each change goes through `change_setup`, so it is logged under its author and effective at once.
"""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError

from ci_slackbot.jobs import sync_usergroups_now
from ci_slackbot.services.people import NotAllowedError
from ci_slackbot.services.setup import SetupError
from ci_slackbot.services.setup_organizations import (
    OrganizationDraft,
    OrganizationRow,
    organization_row,
    organization_rows,
    retire_organization,
    save_organization,
)
from commands.router import Interaction, Reply, Router, ViewAnswer, opening, push_view, update_view
from integrations.slack import setup_blocks as views
from integrations.slack.escape import escape
from integrations.slack.usergroups import UsergroupChoice, usergroup_choices

DOING = "change the initiative's organizations"
# `organizations[3].members[0]` → the form's field for `members`.
_ORG_FIELD = re.compile(r"^organizations\[\d+\]\.(\w+)")
_FIELD_BLOCKS = {
    "key": views.ORG_KEY,
    "name": views.ORG_NAME,
    "sector": views.ORG_SECTOR,
    "members": views.ORG_MEMBERS,
    "backup": views.ORG_BACKUP,
    "usergroup": views.ORG_USERGROUP,
}


def _page(interaction: Interaction) -> int:
    page = interaction.metadata().get("page")
    return page if isinstance(page, int) and not isinstance(page, bool) and 0 <= page < 10_000 else 0


def _list_reply(interaction: Interaction, *, page: int, notice: str = "", failed: bool = False) -> Reply:
    """Show the list again in the modal clicked (after the commit), with `notice` on top."""
    view = views.organizations_modal(
        organization_rows(interaction.session, interaction.initiative), page=page, notice=notice
    )
    slack, view_id = interaction.slack, interaction.view_id
    return Reply(text="", failed=failed, after=lambda: update_view(slack, view_id, view, "organizations list"))


def open_list(interaction: Interaction) -> Reply:
    """Home's Set-up → Organizations."""
    interaction.person.require_backbone(DOING)
    view = views.organizations_modal(organization_rows(interaction.session, interaction.initiative))
    return opening(interaction, view, "organizations list")


def turn_page(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    value = interaction.action_value
    page = int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else 0
    return _list_reply(interaction, page=page)


def _pushing_form(interaction: Interaction, row: OrganizationRow | None) -> Reply:
    """Push the organization form after the commit, once Slack has listed the workspace's user groups
    (a Web API call, so never inside the request's transaction)."""
    services, initiative_id = interaction.services, interaction.initiative.id
    slack, trigger_id, list_view, page = (
        interaction.slack,
        interaction.trigger_id,
        interaction.view_id,
        _page(interaction),
    )

    def push() -> None:
        groups: list[tuple[str, str]] | None
        note = ""
        try:
            groups = [(g.id, _group_label(g)) for g in usergroup_choices(services, initiative_id)]
        except SlackApiError as exc:
            groups, note = None, _NO_GROUPS.get(str(exc.response.get("error")), _NO_GROUPS[""])
        form = views.organization_form(row, list_view_id=list_view, page=page, usergroups=groups, usergroups_note=note)
        push_view(slack, trigger_id, form, "organization form")

    return Reply(text="", after=push)


def _group_label(group: UsergroupChoice) -> str:
    people = "1 person" if group.members == 1 else f"{group.members} people"
    about = ", ".join(part for part in (group.name, people, group.workspace and f"in {group.workspace}") if part)
    return f"@{group.handle} ({about})"


# Why the form offers no user group, by Slack's error (usergroups.list reference).
_NO_GROUPS = {
    "missing_scope": "To follow a Slack user group, reinstall the app from manifest.yml (scope usergroups:read).",
    "plan_upgrade_required": "This workspace's Slack plan has no user groups: members are picked above.",
    "": "Slack did not list the workspace's user groups just now; open the form again to follow one.",
}


def add(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    return _pushing_form(interaction, None)


def edit(interaction: Interaction) -> Reply:
    interaction.person.require_backbone(DOING)
    try:
        row = organization_row(interaction.session, interaction.initiative, interaction.action_value)
    except SetupError as exc:
        return _list_reply(interaction, page=_page(interaction), notice=f":warning: {escape(str(exc))}")
    return _pushing_form(interaction, row)


def retire(interaction: Interaction) -> Reply:
    """Retire (confirmed in Slack first); the list says what happened, or why nothing did."""
    interaction.person.require_backbone(DOING)
    key = interaction.action_value
    page = _page(interaction)
    try:
        name = organization_row(interaction.session, interaction.initiative, key).name
        retire_organization(
            interaction.session, interaction.initiative, interaction.user_id, key, now=interaction.services.now()
        )
    except SetupError as exc:
        reasons = "; ".join(exc.problems.values())
        return _list_reply(
            interaction, page=page, notice=f":warning: Nothing was retired: {escape(reasons)}", failed=True
        )
    return _list_reply(interaction, page=page, notice=f":white_check_mark: *{escape(name)}* is retired.")


def save(interaction: Interaction) -> ViewAnswer:
    """The organization form (add or edit)."""
    metadata = interaction.metadata()
    key = metadata.text("key") or None
    first = views.ORG_KEY if key is None else views.ORG_NAME
    try:
        interaction.person.require_backbone(DOING)
    except NotAllowedError as exc:
        return ViewAnswer(errors={first: str(exc)})
    state = interaction.view_state()
    draft = OrganizationDraft(
        key=(state.get(views.ORG_KEY) or "").strip(),
        name=(state.get(views.ORG_NAME) or "").strip(),
        sector=(state.get(views.ORG_SECTOR) or "").strip(),
        members=tuple(interaction.selected_users(views.ORG_MEMBERS)),
        backup=state.get(views.ORG_BACKUP) or None,
        # Not asked when Slack did not list the groups: what the organization follows stays.
        usergroup=_usergroup_chosen(state) if views.ORG_USERGROUP in state else None,
    )
    try:
        before = organization_row(interaction.session, interaction.initiative, key).usergroup if key else None
        save_organization(
            interaction.session, interaction.initiative, interaction.user_id, key, draft, now=interaction.services.now()
        )
    except SetupError as exc:
        errors: dict[str, str] = {}
        for path, message in exc.problems.items():
            found = _ORG_FIELD.match(path)
            block = _FIELD_BLOCKS.get(found.group(1), first) if found else first
            if key is not None and block == views.ORG_KEY:
                block = first  # the edit form has no key field
            errors[block] = f"{errors[block]}; {message}" if block in errors else message
        return ViewAnswer(errors={block: message[:2000] for block, message in errors.items()})
    page = metadata.get("page")
    rows = organization_rows(interaction.session, interaction.initiative)
    notice = f":white_check_mark: *{escape(draft.name)}* is saved."
    view = views.organizations_modal(rows, page=page if isinstance(page, int) else 0, notice=notice)
    slack, list_view = interaction.slack, metadata.text("list") or None
    services, initiative_id = interaction.services, interaction.initiative.id
    follows = draft.usergroup if draft.usergroup is not None else before

    def after() -> None:
        # The form closes back onto the list (an empty ack pops a pushed view), which then shows the change.
        update_view(slack, list_view, view, "organizations list")
        if follows and follows != before:
            sync_usergroups_now(services, initiative_id)  # its people become members now, not within the hour

    return ViewAnswer(after=after)


def _usergroup_chosen(state: dict[str, str | None]) -> str:
    chosen = state.get(views.ORG_USERGROUP) or views.NO_USERGROUP
    return "" if chosen == views.NO_USERGROUP else chosen


def register(router: Router) -> None:
    router.on_action(views.SETUP_ORGANIZATIONS, open_list)
    router.on_action(views.ORGS_PREVIOUS, turn_page)
    router.on_action(views.ORGS_NEXT, turn_page)
    router.on_action(views.ORG_ADD, add)
    router.on_action(views.ORG_EDIT, edit)
    router.on_action(views.ORG_RETIRE, retire)
    router.on_view(views.ORG_SAVE, save)
