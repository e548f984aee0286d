"""App Home → Set-up → Organizations (issue 19): backbone staff add, edit and retire organizations
and their people through modals, with each error on its field; a change is effective at once (a
member added reports at once, one removed is refused at once) and logged under its author."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ci_slackbot.sandbox.slack import manifest_scopes, validate_view
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.services.setup_organizations import OrganizationDraft, save_organization
from ci_slackbot.store.models import ChangeLogEntry, Organization
from integrations.slack import setup_blocks as views
from tests.harness import BACKBONE, HOSPITAL, NURSE, World, wait_for

NEWCOMER = "U0DISD0002"  # joins Dallas ISD in App Home
HOME = {"id": "VHOME", "type": "home"}


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _home(world: World, user: str) -> dict[str, Any]:
    before = world.slack.home(user)
    world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    return wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user)), timeout=30)


def _opened(world: World, user: str, callback_id: str, before: int) -> dict[str, Any]:
    """The next view opened, pushed or updated for `user` with `callback_id` (its log entry)."""
    return wait_for(lambda: world.slack.views(user, callback_id=callback_id)[before:], timeout=30)[-1]


def _count(world: World, user: str, callback_id: str) -> int:
    return len(world.slack.views(user, callback_id=callback_id))


def _open_list(world: World, user: str = BACKBONE) -> dict[str, Any]:
    before = _count(world, user, views.ORGS_LIST)
    world.send.click(user, views.SETUP_ORGANIZATIONS, "open", view=HOME)
    entry = _opened(world, user, views.ORGS_LIST, before)
    assert entry["method"] == "views.open"
    assert validate_view(entry["view"], surface="modal") == []
    return dict(entry["view"])


def _click_in(world: World, user: str, view: dict[str, Any], action_id: str, value: str) -> None:
    assert world.send.click(user, action_id, value, view=view).status_code == 200


def _form(world: World, user: str, list_view: dict[str, Any], action_id: str, value: str) -> dict[str, Any]:
    before = _count(world, user, views.ORG_SAVE)
    _click_in(world, user, list_view, action_id, value)
    entry = _opened(world, user, views.ORG_SAVE, before)
    assert entry["method"] == "views.push"
    assert validate_view(entry["view"], surface="modal") == []
    return dict(entry["view"])


def _values(
    *, name: str, members: list[str], sector: str = "", backup: str | None = None, key: str | None = None
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {
        views.ORG_NAME: {views.ORG_NAME: {"type": "plain_text_input", "value": name}},
        views.ORG_SECTOR: {views.ORG_SECTOR: {"type": "plain_text_input", "value": sector or None}},
        views.ORG_MEMBERS: {views.ORG_MEMBERS: {"type": "multi_users_select", "selected_users": members}},
        views.ORG_BACKUP: {views.ORG_BACKUP: {"type": "users_select", "selected_user": backup}},
    }
    if key is not None:
        values[views.ORG_KEY] = {views.ORG_KEY: {"type": "plain_text_input", "value": key}}
    return values


def _initial_users(form: dict[str, Any]) -> list[str]:
    block = next(b for b in form["blocks"] if b.get("block_id") == views.ORG_MEMBERS)
    return list(block["element"].get("initial_users", []))


def _latest(world: World, subject: str) -> ChangeLogEntry | None:
    db = world.db()
    try:
        with db.unit_of_work() as session:
            entry = session.scalars(
                select(ChangeLogEntry).where(ChangeLogEntry.subject == subject).order_by(ChangeLogEntry.id.desc())
            ).first()
            if entry is not None:
                session.expunge(entry)
            return entry
    finally:
        db.dispose()


def _save_members(world: World, user: str, key: str, name: str, members: list[str]) -> dict[str, Any]:
    """Set-up → Organizations → Edit `key` → members → Save; the list as it is shown after."""
    listed = _open_list(world, user)
    form = _form(world, user, listed, views.ORG_EDIT, key)
    updates = _count(world, user, views.ORGS_LIST)
    response = world.send.submit(user, form, _values(name=name, members=members))
    assert response.status_code == 200 and not response.content, response.text  # closes back onto the list
    entry = _opened(world, user, views.ORGS_LIST, updates)
    assert entry["method"] == "views.update" and entry["view_id"] == listed["id"]
    return dict(entry["view"])


def test_backbone_staff_see_the_set_up_section_and_partners_do_not(fresh_world: World) -> None:
    world = fresh_world
    home = _home(world, BACKBONE)
    assert validate_view(home, surface="home") == []
    buttons = {
        element["action_id"] for block in home["blocks"] if block["type"] == "actions" for element in block["elements"]
    }
    assert {views.SETUP_ORGANIZATIONS, views.SETUP_GOALS, views.SETUP_INDICATORS, views.SETUP_LINKS} <= buttons
    assert views.SETUP_ORGANIZATIONS not in _text(_home(world, HOSPITAL))

    # A partner's forged click on the button opens nothing and is told why.
    before = _count(world, HOSPITAL, views.ORGS_LIST)
    world.send.click(HOSPITAL, views.SETUP_ORGANIZATIONS, "open", view=HOME)
    refusal = wait_for(lambda: [m for m in world.slack.responses() if "Only backbone staff" in _text(m)], timeout=30)
    assert "change the initiative's organizations" in _text(refusal)
    assert _count(world, HOSPITAL, views.ORGS_LIST) == before


def test_the_list_names_members_by_mention_and_a_member_added_reports_at_once(fresh_world: World) -> None:
    world = fresh_world
    listed = _open_list(world)
    text = _text(listed["blocks"])
    assert "Dallas ISD Health Services" in text and "(`dallas-isd`) · education · 1 member" in text
    assert f"<@{NURSE}>" in text
    # Every ID shown is a mention, never a raw ID.
    assert text.count("U0BACK0001") == text.count("<@U0BACK0001>")

    # Not a member yet: the newcomer cannot report.
    refused = world.send.ci("update action-plans 61", user=NEWCOMER)
    assert "not listed as a member" in refused["text"]

    form = _form(world, BACKBONE, listed, views.ORG_EDIT, "dallas-isd")
    assert _initial_users(form) == [NURSE]
    assert not any(b.get("block_id") == views.ORG_KEY for b in form["blocks"])  # a key never changes
    updated = _save_members(world, BACKBONE, "dallas-isd", "Dallas ISD Health Services", [NURSE, NEWCOMER])
    assert f"<@{NEWCOMER}>" in _text(updated["blocks"]) and "is saved" in _text(updated["blocks"])
    assert [v["id"] for v in world.slack.view_stack(BACKBONE)] == [updated["id"]]  # the form closed

    # At once: the newcomer reports, and the change is logged under the coordinator and shown in Home.
    answer = world.send.ci("update action-plans 61", user=NEWCOMER)
    assert "Recorded" in answer["text"], answer
    entry = _latest(world, "organization dallas-isd members")
    assert entry is not None and entry.author == BACKBONE
    assert entry.after == {"members": [NURSE, NEWCOMER]}
    home = _text(_home(world, BACKBONE)["blocks"])
    assert f"organization dallas-isd members: members: + <@{NEWCOMER}> (<@{BACKBONE}>)" in home


def test_a_member_removed_loses_their_rights_at_once(fresh_world: World) -> None:
    world = fresh_world
    home = _home(world, HOSPITAL)
    assert "open_update_modal" in _text(home)  # the Report buttons they have now
    _save_members(world, BACKBONE, "childrens-health", "Children's Health", ["U0CHLD0002"])

    refused = world.send.ci("update er-visits 17.1", user=HOSPITAL)
    assert "not listed as a member" in refused["text"]
    # The Report button still in their Home opens nothing now.
    before = _count(world, HOSPITAL, "update_value")

    def refusals() -> int:
        return len([m for m in world.slack.responses() if "not listed as a member" in _text(m)])

    told = refusals()
    world.send.click(HOSPITAL, "open_update_modal", "er-visits", view=HOME)
    wait_for(lambda: refusals() > told, timeout=30)
    assert _count(world, HOSPITAL, "update_value") == before
    entry = _latest(world, "organization childrens-health members")
    assert entry is not None and entry.author == BACKBONE


def test_adding_an_organization_checks_it_as_the_file_does_and_retire_asks_first(fresh_world: World) -> None:
    world = fresh_world
    listed = _open_list(world)
    form = _form(world, BACKBONE, listed, views.ORG_ADD, "0")
    assert any(b.get("block_id") == views.ORG_KEY for b in form["blocks"])

    # A key `init` would refuse, and one taken: each error on the key, nothing added.
    for bad in ("Parks Dept", "hwac"):
        response = world.send.submit(BACKBONE, form, _values(key=bad, name="Parks", members=[]))
        errors = response.json()
        assert errors["response_action"] == "errors" and list(errors["errors"]) == [views.ORG_KEY], errors
    response = world.send.submit(BACKBONE, form, _values(key="parks", name="", members=[]))
    assert list(response.json()["errors"]) == [views.ORG_NAME]
    db = world.db()
    try:
        with db.unit_of_work() as session:
            assert session.scalar(select(Organization).where(Organization.key == "parks")) is None
    finally:
        db.dispose()

    # A person may belong to several organizations.
    response = world.send.submit(
        BACKBONE,
        form,
        _values(key="parks", name="Parks & Recreation", sector="government", members=[NURSE], backup=BACKBONE),
    )
    assert response.status_code == 200 and not response.content, response.text
    updated = wait_for(
        lambda: (lambda v: v if v and "Parks &amp; Recreation" in _text(v) else None)(world.slack.view(listed["id"])),
        timeout=30,
    )
    assert f"Backup reporter: <@{BACKBONE}>" in _text(updated["blocks"])
    entry = _latest(world, "organization parks")
    assert entry is not None and entry.author == BACKBONE

    # Retire asks for confirmation in Slack first.
    retire = next(
        element
        for block in updated["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == views.ORG_RETIRE and element["value"] == "parks"
    )
    assert retire["confirm"]["confirm"]["text"] == "Retire"
    _click_in(world, BACKBONE, updated, views.ORG_RETIRE, "parks")
    retired = wait_for(
        lambda: (lambda v: v if v and "is retired" in _text(v) else None)(world.slack.view(listed["id"])), timeout=30
    )
    assert "(`parks`)" not in _text(retired["blocks"])
    entry = _latest(world, "organization parks")
    assert entry is not None and entry.author == BACKBONE and entry.after == {"retired": True}

    # The backbone organization is never retired, and the list says why.
    _click_in(world, BACKBONE, retired, views.ORG_RETIRE, "hwac")
    refused = wait_for(
        lambda: (lambda v: v if v and "Nothing was retired" in _text(v) else None)(world.slack.view(listed["id"])),
        timeout=30,
    )
    assert "backbone organization cannot be retired" in _text(refused["blocks"])
    # An organization indicators still ask for reports is not retired either, and the list says what to do first.
    _click_in(world, BACKBONE, refused, views.ORG_RETIRE, "dallas-isd")
    still = wait_for(
        lambda: (lambda v: v if v and "still reports" in _text(v) else None)(world.slack.view(listed["id"])),
        timeout=30,
    )
    assert "`dallas-isd` still reports `action-plans`" in _text(still["blocks"])
    db = world.db()
    try:
        with db.unit_of_work() as session:
            hwac = session.scalars(select(Organization).where(Organization.key == "hwac")).one()
            assert not hwac.retired
    finally:
        db.dispose()


def test_a_forged_save_by_a_partner_changes_nothing(fresh_world: World) -> None:
    world = fresh_world
    forged = {"type": "modal", "callback_id": views.ORG_SAVE, "private_metadata": json.dumps({"key": "hwac"})}
    response = world.send.submit(HOSPITAL, forged, _values(name="Taken over", members=[HOSPITAL]))
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "Only backbone staff" in answer["errors"][views.ORG_NAME]
    db = world.db()
    try:
        with db.unit_of_work() as session:
            assert not list(session.scalars(select(ChangeLogEntry).where(ChangeLogEntry.author == HOSPITAL)))
            hwac = session.scalars(select(Organization).where(Organization.key == "hwac")).one()
            assert hwac.name == "Health and Wellness Alliance for Children"
    finally:
        db.dispose()


def test_a_long_list_pages_within_the_modal(fresh_world: World) -> None:
    world = fresh_world
    db = world.db()
    try:
        with db.unit_of_work() as session:
            initiative = all_initiatives(session)[0]
            for i in range(views.ORGS_PER_PAGE):
                draft = OrganizationDraft(
                    key=f"partner-{i:02d}", name=f"Partner {i:02d}", sector="", members=(), backup=None
                )
                save_organization(session, initiative, BACKBONE, None, draft)
    finally:
        db.dispose()
    listed = _open_list(world)
    assert "page 1 of 2" in _text(listed["blocks"]) and "Partner 24" in _text(listed["blocks"])
    assert "Partner 29" not in _text(listed["blocks"])
    before = _count(world, BACKBONE, views.ORGS_LIST)
    _click_in(world, BACKBONE, listed, views.ORGS_NEXT, "1")
    turned = _opened(world, BACKBONE, views.ORGS_LIST, before)
    assert turned["method"] == "views.update" and turned["view_id"] == listed["id"]
    assert "page 2 of 2" in _text(turned["view"]["blocks"]) and "Partner 29" in _text(turned["view"]["blocks"])
    assert validate_view(turned["view"], surface="modal") == []


def test_an_organization_follows_a_user_group_picked_in_the_form(fresh_world: World) -> None:
    world = fresh_world
    group, newcomer = "S0DISDNRSE", "U0DISDNEW1"
    world.slack.add_usergroup(group, "disd-nurses", [NURSE, newcomer], name="DISD nurses")
    listed = _open_list(world)
    form = _form(world, BACKBONE, listed, views.ORG_EDIT, "dallas-isd")
    select_block = next(b for b in form["blocks"] if b.get("block_id") == views.ORG_USERGROUP)
    options = {o["value"]: o["text"]["text"] for o in select_block["element"]["options"]}
    assert options[group] == "@disd-nurses (DISD nurses, 2 people)"
    assert select_block["element"]["initial_option"]["value"] == views.NO_USERGROUP

    values = _values(name="Dallas ISD Health Services", sector="education", members=[NURSE])
    values[views.ORG_USERGROUP] = {views.ORG_USERGROUP: {"type": "static_select", "selected_option": {"value": group}}}
    response = world.send.submit(BACKBONE, form, values)
    assert response.status_code == 200 and not response.content, response.text
    # Followed at once, after the commit: the group's newcomer reports, under the group's authorship.
    wait_for(
        lambda: (lambda e: e is not None and newcomer in (e.after or {}).get("members", []))(
            _latest(world, "organization dallas-isd members")
        ),
        timeout=30,
    )
    assert "Recorded" in world.send.ci("update action-plans 62", user=newcomer)["text"]
    entry = _latest(world, "organization dallas-isd")
    assert entry is not None and entry.author == BACKBONE and entry.after == {"usergroup": group}

    # Without the scope, the form says how to get it, asks nothing, and what is followed stays.
    world.slack.set_scopes([s for s in manifest_scopes() if s != "usergroups:read"])
    listed = _open_list(world)
    form = _form(world, BACKBONE, listed, views.ORG_EDIT, "dallas-isd")
    assert not any(b.get("block_id") == views.ORG_USERGROUP for b in form["blocks"])
    assert f"follows the user group `{group}`" in _text(form["blocks"]) and "usergroups:read" in _text(form["blocks"])
    response = world.send.submit(
        BACKBONE, form, _values(name="Dallas ISD Nursing", sector="education", members=[NURSE, newcomer])
    )
    assert response.status_code == 200 and not response.content, response.text
    renamed = _latest(world, "organization dallas-isd")
    assert renamed is not None and renamed.after == {"name": "Dallas ISD Nursing"}  # the group is still followed
