"""Partners in other workspaces (issue 19, point 5): an initiative names the workspaces it belongs to.

Partner organizations often have Slack workspaces of their own and meet in Slack Connect channels,
where Slack sends each request with the team of the *user's own* workspace. A workspace named in
`initiative.partner_workspaces` that installed the app (OAuth) lets its people act as members of
their organizations (membership stays by Slack user ID, which a Slack Connect user keeps across
workspaces), answered with that workspace's own token; a workspace named by no initiative sees
nothing of it, exactly as a workspace without an initiative.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot import jobs
from ci_slackbot.initiative_file import InitiativeFileError, parse_initiative
from ci_slackbot.outbox import Parked
from ci_slackbot.services.change_log import recent_changes
from ci_slackbot.services.initiative_export import export_initiative_file
from ci_slackbot.services.initiatives import apply_initiative, find_initiative
from ci_slackbot.services.partners import set_partner_workspaces
from ci_slackbot.services.setup import SetupError, change_setup, find_section, start_initiative
from ci_slackbot.services.usergroups import set_usergroup
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import IndicatorValue, Initiative, PartnerWorkspace
from integrations.slack import setup_links_blocks as links
from integrations.slack.parked import tell_backbone
from integrations.slack.partners import dm_each
from integrations.slack.setup_blocks import SETUP_LINKS
from integrations.slack.usergroups import usergroup_choices
from tests.harness import (
    BACKBONE,
    HOSPITAL,
    QUIET_SCHEDULER,
    AppServer,
    Sandbox,
    SlackSender,
    wait_for,
)
from tests.paths import EXAMPLE
from tests.test_usergroups import members
from tests.test_workspaces import install, installation_teams, run_cli

HOME = "T0HOMEDAL1"  # the backbone's workspace: the example initiative is loaded for it
PARTNER = "T0CHILDRN1"  # Children's Health's own workspace, named by the initiative
UNNAMED = "T0ELSEWHR1"  # installed the app too, but no initiative names it
OUTSIDER = "U0ELSEWHR1"  # someone in the unnamed workspace

# What the example initiative would show: none of it may reach the unnamed workspace.
EXAMPLE_ONLY = ("Breathe Easy Dallas", "er-visits", "home-assessments", "Children's Health", "Dallas ISD", "asthma")


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def leaks(answer: Any) -> list[str]:
    text = text_of(answer).lower()
    return [name for name in EXAMPLE_ONLY if name.lower() in text]


def example_with_partners(*teams: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["initiative"]["partner_workspaces"] = list(teams)
    return raw


def minimal(name: str, backbone_member: str, **initiative: Any) -> dict[str, Any]:
    return {
        "initiative": {"name": name, "backbone": "hub", **initiative},
        "organizations": [{"key": "hub", "name": f"{name} hub", "members": [backbone_member]}],
    }


# -- loading: the file field, the store, the change log, the export ---------------------------------


def test_partner_workspaces_are_loaded_logged_exported_and_resolve_only_with_oauth(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            initiative, report = apply_initiative(session, parse_initiative(example_with_partners(PARTNER)), HOME)
            assert "added: initiative" in report.lines()[0]
            exported = export_initiative_file(session, initiative)
            assert exported["initiative"]["partner_workspaces"] == [PARTNER]
            iid = initiative.id
        with db.unit_of_work() as session:
            # The partner workspace resolves to the initiative with many workspaces (OAuth) only.
            found = find_initiative(session, PARTNER, partners=True)
            assert found is not None and found.id == iid
            assert find_initiative(session, PARTNER) is None
            assert find_initiative(session, UNNAMED, partners=True) is None
            assert find_initiative(session, HOME, partners=True) is not None
        # A change made in Slack names another partner: logged with its author, exported.
        with db.unit_of_work() as session:
            initiative = session.get_one(Initiative, iid)

            def add_partner(document: dict[str, Any]) -> None:
                document["initiative"]["partner_workspaces"].append(UNNAMED)

            report = change_setup(session, initiative, BACKBONE, add_partner)
            assert report.updated == ["initiative partner workspaces"]
            line = recent_changes(session, iid, 1)[0]
            assert (line.author, line.subject) == (BACKBONE, "initiative")
            assert line.what == f"partner_workspaces: + {UNNAMED}"
        # Leaving the field out of the file takes them all away, and the export then has none.
        with db.unit_of_work() as session:
            _, report = apply_initiative(session, parse_initiative(example_with_partners()), HOME)
            assert report.updated == ["initiative partner workspaces"]
            assert (
                "partner_workspaces"
                not in export_initiative_file(session, session.get_one(Initiative, iid))["initiative"]
            )
            assert session.scalars(select(PartnerWorkspace)).all() == []
            assert find_initiative(session, PARTNER, partners=True) is None
    finally:
        db.dispose()


def test_a_workspace_named_by_two_initiatives_is_refused_at_load(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            apply_initiative(session, parse_initiative(example_with_partners(PARTNER)), HOME)
        other = minimal("Clean Air Fort Worth", "U0FWBACK01", partner_workspaces=["T0FWPARTN1", PARTNER])
        with pytest.raises(InitiativeFileError) as refused, db.unit_of_work() as session:
            apply_initiative(session, parse_initiative(other), "T0FWORTH01")
        (problem,) = refused.value.problems
        assert problem.startswith(f"initiative.partner_workspaces[1]: `{PARTNER}` is named already by")
        assert "Breathe Easy Dallas" in problem and HOME in problem
        # Nothing of the refused file was stored, not even its workspace.
        with db.unit_of_work() as session:
            assert find_initiative(session, "T0FWORTH01") is None
            assert find_initiative(session, "T0FWPARTN1", partners=True) is None
        # Another initiative's own workspace cannot be named either, nor can a partner workspace get one.
        naming_home = parse_initiative(minimal("Other", "U0FWBACK01", partner_workspaces=[HOME]))
        with pytest.raises(InitiativeFileError, match=f"`{HOME}` is the workspace of"), db.unit_of_work() as session:
            apply_initiative(session, naming_home)
        with db.unit_of_work() as session, pytest.raises(SetupError) as first_run:
            start_initiative(session, PARTNER, "U0CHLDADM1", minimal("Children's own", "U0CHLDADM1"))
        assert "is a partner workspace of “Breathe Easy Dallas”" in first_run.value.problems["initiative.team_id"]
    finally:
        db.dispose()


def test_set_partner_workspaces_from_slack_is_checked_against_the_other_initiatives(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            apply_initiative(session, parse_initiative(example_with_partners(PARTNER)), HOME)
            apply_initiative(session, parse_initiative(minimal("Clean Air Fort Worth", "U0FWBACK01")), "T0FWORTH01")
        with db.unit_of_work() as session:
            fort_worth = find_initiative(session, "T0FWORTH01")
            assert fort_worth is not None
            with pytest.raises(SetupError) as taken:
                set_partner_workspaces(session, fort_worth, "U0FWBACK01", ["T0FWPARTN1", PARTNER])
            assert (
                "is named already by the initiative “Breathe Easy Dallas”"
                in taken.value.problems["initiative.partner_workspaces[1]"]
            )
            with pytest.raises(SetupError) as bad:
                set_partner_workspaces(session, fort_worth, "U0FWBACK01", ["fort-worth-isd"])
            assert "is not a Slack team ID" in bad.value.problems["initiative.partner_workspaces"]
            report = set_partner_workspaces(session, fort_worth, "U0FWBACK01", [" T0FWPARTN1 "])
            assert report.updated == ["initiative partner workspaces"]
        with db.unit_of_work() as session:
            found = find_initiative(session, "T0FWPARTN1", partners=True)
            assert found is not None and found.name == "Clean Air Fort Worth"
            set_partner_workspaces(session, found, "U0FWBACK01", [])
        with db.unit_of_work() as session:
            assert find_initiative(session, "T0FWPARTN1", partners=True) is None
    finally:
        db.dispose()


def test_init_refuses_a_file_naming_a_workspace_another_initiative_has(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    first, second = tmp_path / "dallas.yml", tmp_path / "other.yml"
    first.write_text(yaml.safe_dump(example_with_partners(PARTNER)), encoding="utf-8")
    second.write_text(
        yaml.safe_dump(minimal("Clean Air Fort Worth", "U0FWBACK01", partner_workspaces=[PARTNER])), encoding="utf-8"
    )
    assert run_cli(url, "init", "--config", str(first), "--team", HOME).returncode == 0
    refused = run_cli(url, "init", "--config", str(second), "--team", "T0FWORTH01")
    assert refused.returncode == 2, refused.stdout
    assert f"initiative.partner_workspaces[0]: `{PARTNER}` is named already by the initiative" in refused.stderr
    assert "Breathe Easy Dallas" in refused.stderr and "partner_workspaces` first" in refused.stderr
    assert "No initiative belongs to team `T0FWORTH01`" in run_cli(url, "export", "--team", "T0FWORTH01").stderr


def test_partner_workspace_ids_are_checked_like_team_ids() -> None:
    for bad in ("childrens-health", "U0CHLD0001", "t0chldrn1", "T"):
        with pytest.raises(InitiativeFileError) as refused:
            parse_initiative(example_with_partners(bad))
        assert refused.value.problems == [
            f"initiative.partner_workspaces: `{bad}` is not a Slack team ID: they look like T0123ABCD"
        ]
    with pytest.raises(InitiativeFileError) as twice:
        parse_initiative(example_with_partners(PARTNER, PARTNER))
    assert twice.value.problems == [f"initiative.partner_workspaces: `{PARTNER}` is named twice"]
    own = example_with_partners(HOME)
    own["initiative"]["team_id"] = HOME
    with pytest.raises(InitiativeFileError, match=r"partner_workspaces\[0\]: `T0HOMEDAL1` is the initiative's own"):
        parse_initiative(own)


# -- three workspaces, by OAuth: home, a named partner, an unnamed one ------------------------------


@dataclass
class ThreeWorkspaces:
    sandbox: Sandbox
    server: AppServer
    database_url: str

    def send(self, team: str) -> SlackSender:
        return SlackSender(self.server.events_url, self.sandbox.slack, team=team)


@pytest.fixture
def three(database_url: str, tmp_path: Path) -> Iterator[ThreeWorkspaces]:
    box = Sandbox.start()
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(example_with_partners(PARTNER)), HOME)
    db.dispose()
    server = AppServer(database_url, {**box.oauth_env(), **QUIET_SCHEDULER})
    try:
        server.start(tmp_path)
        for team, name in ((HOME, "Breathe Easy Dallas"), (PARTNER, "Children's Health"), (UNNAMED, "Elsewhere")):
            assert install(server.base, box.slack, team, name).callback.status_code == 200
        # The Children's Health staffer's account is in their own workspace; in the shared channel
        # their requests come with that workspace's team.
        box.slack.add_user(HOSPITAL, team_id=PARTNER, real_name="Casey Children's")
        box.slack.add_user(OUTSIDER, team_id=UNNAMED, real_name="Olly Outsider")
        yield ThreeWorkspaces(box, server, database_url)
    finally:
        server.stop()
        box.stop()


def open_home(sender: SlackSender, user: str) -> None:
    response = sender.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    assert response.status_code == 200


def test_a_named_partner_workspace_is_served_with_its_own_token(three: ThreeWorkspaces) -> None:
    slack = three.sandbox.slack
    partner = three.send(PARTNER)
    recorded = partner.ci("update er-visits 17.5 2026-10 from the partner workspace", user=HOSPITAL)
    assert "17.5" in text_of(recorded) and "er-visits" in text_of(recorded), recorded
    assert recorded.get("response_type", "ephemeral") == "ephemeral"
    # The form without values opens in the partner workspace, with its token.
    assert partner.ci("update", user=HOSPITAL).get("text", "") == ""
    opened = wait_for(lambda: [c for c in slack.calls("views.open") if c["ok"]], timeout=10)
    assert opened[-1]["team"] == PARTNER and "er-visits" in text_of(opened[-1]["params"])
    # App Home: published in the partner workspace, showing the member's organization.
    open_home(partner, HOSPITAL)
    home = wait_for(lambda: slack.home(HOSPITAL, team=PARTNER), timeout=10)
    assert "er-visits" in text_of(home) and "Children" in text_of(home)
    assert slack.home(HOSPITAL, team=HOME) is None
    publishes = [c for c in slack.calls("views.publish") if c["ok"]]
    assert publishes and {c["team"] for c in publishes} == {PARTNER}
    # Nobody outside the initiative gains anything from the partner workspace: still not a member.
    stranger = partner.ci("update er-visits 3 2026-10", user="U0CHLDNEW1")
    assert stranger["response_type"] == "ephemeral" and "member" in stranger["text"]
    # The value is the initiative's: the home workspace's backbone sees it.
    assert "17.5" in text_of(three.send(HOME).ci("indicator er-visits", user=BACKBONE))
    # No reply, DM or view for the partner's user went out with the home workspace's token. (Looking
    # their name up for the Sheet may: Slack Connect shows a shared channel's members to both sides.)
    answered = [
        call
        for call in slack.calls()
        if call["method"].startswith(("chat.", "views.", "conversations.open"))
        and HOSPITAL in (call["params"].get(name) for name in ("user", "user_id", "channel", "users"))
    ]
    assert answered and {call["team"] for call in answered} == {PARTNER}, answered


def _add_members(database_url: str, members: list[tuple[str, str]]) -> int:
    """Backbone staff add each (organization key, user) as App Home does; the initiative's id."""
    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            initiative = find_initiative(session, HOME)
            assert initiative is not None

            def add_members(document: dict[str, Any]) -> None:
                for key, user in members:
                    _, org = find_section(document, "organizations", key)
                    org["members"].append(user)

            change_setup(session, initiative, BACKBONE, add_members)
            return initiative.id
    finally:
        db.dispose()


def test_dms_to_a_partner_workspace_member_go_with_that_workspace_token(three: ThreeWorkspaces) -> None:
    slack = three.sandbox.slack
    newcomer, colleague = "U0CHLDNEW2", "U0BACKNEW2"
    slack.add_user(newcomer, team_id=PARTNER, real_name="Nia Newcomer")
    slack.add_user(colleague, team_id=HOME, real_name="Cal Colleague")
    _add_members(three.database_url, [("childrens-health", newcomer), ("hwac", colleague)])
    # Each welcome reaches its person from their own workspace's app.
    assert "Welcome to Breathe Easy Dallas" in text_of(wait_for(lambda: slack.dms(newcomer), timeout=15))
    assert "Welcome to Breathe Easy Dallas" in text_of(wait_for(lambda: slack.dms(colleague), timeout=15))
    posts = {c["params"]["channel"]: c["team"] for c in slack.calls("chat.postMessage") if c["ok"]}
    assert posts[newcomer] == PARTNER and posts[colleague] == HOME


def test_an_unnamed_workspace_gets_the_no_initiative_answer_and_sees_nothing(three: ThreeWorkspaces) -> None:
    slack = three.sandbox.slack
    elsewhere = three.send(UNNAMED)
    # Even a member of the initiative, through a workspace it does not name, is answered as nobody.
    for user in (OUTSIDER, HOSPITAL):
        for text in ("indicators", "status", "help", "update er-visits 3 2026-10", "update"):
            answer = elsewhere.ci(text, user=user)
            assert answer["response_type"] == "ephemeral", (text, answer)
            assert "no collective impact initiative loaded yet" in answer["text"], (text, answer)
            assert f"--team {UNNAMED}" in answer["text"] and not leaks(answer), (text, answer)
    # A button of the initiative is refused as privately.
    assert elsewhere.click(HOSPITAL, "open_update_modal", "er-visits", response_key="elsewhere").status_code == 200
    reply = wait_for(lambda: slack.responses("elsewhere"), timeout=10)[0]
    assert "no collective impact initiative loaded yet" in reply["text"] and not leaks(reply)
    # The options of a select (say, a form's indicator picker) are none at all.
    suggestion = elsewhere.interaction(
        {
            "type": "block_suggestion",
            "user": {"id": HOSPITAL, "team_id": UNNAMED},
            "container": {"type": "view", "view_id": "V0ELSEWHR1"},
            "view": {"id": "V0ELSEWHR1", "type": "modal", "callback_id": "update_value", "blocks": []},
            "block_id": "indicator",
            "action_id": "update_pick_indicator",
            "value": "er",
        }
    )
    assert suggestion.status_code == 200 and suggestion.json() == {"options": []}
    # A message shortcut is refused privately, and opens no form.
    shortcut = elsewhere.interaction(
        {
            "type": "message_action",
            "callback_id": "record_decision",
            "trigger_id": slack.new_trigger_id(HOSPITAL, team_id=UNNAMED),
            "user": {"id": HOSPITAL, "team_id": UNNAMED},
            "channel": {"id": "C0ELSEWHR1"},
            "message": {"type": "message", "ts": "1764900000.000100", "user": OUTSIDER, "text": "We agree"},
            "response_url": slack.response_url("elsewhere-shortcut", team_id=UNNAMED),
        }
    )
    assert shortcut.status_code == 200
    said = wait_for(lambda: slack.responses("elsewhere-shortcut"), timeout=10)[0]
    assert "no collective impact initiative loaded yet" in said["text"] and not leaks(said)
    # App Home says the same, and shows nothing.
    open_home(elsewhere, OUTSIDER)
    home = wait_for(lambda: slack.home(OUTSIDER, team=UNNAMED), timeout=10)
    assert "no collective impact initiative loaded yet" in text_of(home) and not leaks(home)
    assert not [c for c in slack.calls("views.open") if c["team"] == UNNAMED]
    db = Database(three.database_url)
    try:
        with db.unit_of_work() as session:
            assert session.scalars(select(IndicatorValue)).all() == []
    finally:
        db.dispose()


def test_backbone_staff_name_a_partner_workspace_in_app_home(three: ThreeWorkspaces) -> None:
    """Set-up → Initiative and links lists the other workspaces the app is installed in, by name."""
    slack, home = three.sandbox.slack, three.send(HOME)
    assert "no collective impact initiative" in text_of(three.send(UNNAMED).ci("indicators", user=OUTSIDER))
    since = len(slack.views(BACKBONE))
    trigger = slack.new_trigger_id(BACKBONE, team_id=HOME)
    click = {
        "type": "block_actions",
        "user": {"id": BACKBONE, "team_id": HOME},
        "team": {"id": HOME},
        "trigger_id": trigger,
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home"},
        "actions": [{"action_id": SETUP_LINKS, "value": "open", "type": "button", "block_id": "b"}],
    }
    assert home.interaction(click).status_code == 200
    form = wait_for(lambda: [v for v in slack.views(BACKBONE)[since:] if v["method"] == "views.open"], timeout=10)
    view = form[-1]["view"]
    partners = next(b for b in view["blocks"] if b.get("block_id") == links.LINK_PARTNERS)
    offered = {o["value"]: o["text"]["text"] for o in partners["element"]["options"]}
    assert offered == {PARTNER: "Children's Health", UNNAMED: "Elsewhere"}  # never its own workspace
    assert [o["value"] for o in partners["element"]["initial_options"]] == [PARTNER]

    values = {
        block["block_id"]: {"value": _as_submitted(block["element"])}
        for block in view["blocks"]
        if block.get("type") == "input"
    }
    values[links.LINK_PARTNERS] = {
        "value": {"type": "multi_static_select", "selected_options": [{"value": PARTNER}, {"value": UNNAMED}]}
    }
    answer = home.submit(BACKBONE, view, values)
    assert answer.status_code == 200 and answer.json()["response_action"] == "update", answer.text
    # At once, the outsider's workspace is the initiative's: still not a member, but no longer a stranger.
    refused = three.send(UNNAMED).ci("update er-visits 3 2026-10", user=OUTSIDER)
    assert "member" in refused["text"] and "no collective impact initiative" not in refused["text"]
    db = Database(three.database_url)
    try:
        with db.unit_of_work() as session:
            line = recent_changes(session, session.scalars(select(Initiative)).one().id, 1)[0]
        assert (line.author, line.what) == (BACKBONE, f"partner_workspaces: + {UNNAMED}")
    finally:
        db.dispose()


def _as_submitted(element: dict[str, Any]) -> dict[str, Any]:
    """What Slack sends for an input left as the form showed it."""
    kind = element["type"]
    if kind == "plain_text_input":
        return {"type": kind, "value": element.get("initial_value")}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": element.get("initial_conversation")}
    if kind == "static_select":
        return {"type": kind, "selected_option": element.get("initial_option")}
    return {"type": kind, "selected_options": element.get("initial_options", [])}


def test_a_parked_items_notice_reaches_backbone_staff_of_a_partner_workspace_with_its_token(
    three: ThreeWorkspaces,
) -> None:
    """The backbone team is told of parked items in DMs, each from the person's own workspace: a staff
    member whose account is in a partner workspace cannot be DMed with the home workspace's token."""
    slack = three.sandbox.slack
    partner_staff = "U0BACKPRT1"
    slack.add_user(partner_staff, team_id=PARTNER, real_name="Pat Partner-Staff")
    initiative_id = _add_members(three.database_url, [("hwac", partner_staff)])
    parked = Parked(0, initiative_id, "slack", "post", "slack:not_in_channel:C0DIGEST01", "not_in_channel")
    tell_backbone(three.server.services, [parked])
    notices = {
        call["params"]["channel"]: call["team"]
        for call in slack.calls("chat.postMessage")
        if call["ok"] and "could not deliver" in text_of(call["params"])
    }
    assert notices.get(partner_staff) == PARTNER and notices.get(BACKBONE) == HOME, notices


def test_a_partner_organization_follows_a_user_group_of_its_own_workspace(three: ThreeWorkspaces) -> None:
    """A user group belongs to one workspace and only its token reads it: Children's Health keeps its
    asthma team's group in its own workspace, where the home workspace's token finds no such group
    (the sync said it was gone, and told the backbone team so every day)."""
    slack, services = three.sandbox.slack, three.server.services
    nurse = "U0CHLDNRS1"
    slack.add_user(nurse, team_id=PARTNER, real_name="Nora Nurse")
    slack.add_usergroup("S0HOMEGRP1", "backbone-staff", [BACKBONE], team_id=HOME)
    slack.add_usergroup("S0CHLDGRP1", "asthma-team", [HOSPITAL, nurse], name="Asthma Team", team_id=PARTNER)
    slack.add_usergroup("S0ELSEGRP1", "elsewhere", [OUTSIDER], team_id=UNNAMED)  # no initiative names it
    db = Database(three.database_url)
    try:
        with db.unit_of_work() as session:
            initiative = find_initiative(session, HOME)
            assert initiative is not None
            iid = initiative.id
        # The organization form offers the home workspace's groups, then the partner's, by workspace.
        choices = usergroup_choices(services, iid)
        assert [(c.id, c.workspace) for c in choices] == [("S0HOMEGRP1", ""), ("S0CHLDGRP1", "Children's Health")]
        with db.unit_of_work() as session:
            set_usergroup(session, session.get_one(Initiative, iid), BACKBONE, "childrens-health", "S0CHLDGRP1")
        jobs.run_usergroups(services, iid, "2026-12-05T03:00")  # or the scheduler's own run got there first
        assert members(db, "childrens-health") == {HOSPITAL, nurse}
        reads = [
            call for call in slack.calls("usergroups.users.list") if call["params"].get("usergroup") == "S0CHLDGRP1"
        ]
        assert reads and {call["team"] for call in reads} == {PARTNER} and all(call["ok"] for call in reads)
        assert not [m for m in slack.dms(BACKBONE) if "S0CHLDGRP1" in text_of(m)]  # nobody told it is gone
        # The partner's plan loses user groups: its members stay, and the backbone team is told why.
        slack.set_usergroups_plan(False, team_id=PARTNER)
        assert "plan_upgrade_required" in jobs.run_usergroups(services, iid, "2026-12-05T04:00")
        assert members(db, "childrens-health") == {HOSPITAL, nurse}
        assert wait_for(lambda: [m for m in slack.dms(BACKBONE) if "plan has no user groups" in text_of(m)], timeout=10)
    finally:
        db.dispose()


def test_each_backbone_staff_member_is_told_though_one_cannot_be_reached(three: ThreeWorkspaces) -> None:
    """The notices to backbone staff (parked items, user groups) DM each person from their own workspace.
    One whose workspace removed the app cannot be reached at all (no token): the others are still told.
    (The user-group notice stopped at the first such person, and told nobody after them.)"""
    slack, services = three.sandbox.slack, three.server.services
    partner_staff = "U0BACKPRT2"
    slack.add_user(partner_staff, team_id=PARTNER, real_name="Pat Partner-Staff")
    initiative_id = _add_members(three.database_url, [("hwac", partner_staff)])
    slack.uninstall(PARTNER)
    assert three.send(PARTNER).event({"type": "app_uninstalled"}).status_code == 200
    wait_for(lambda: PARTNER not in installation_teams(three.database_url), timeout=10)
    told = dm_each(services, initiative_id, [partner_staff, BACKBONE], "a test notice", text="Heads up")
    assert told == 1
    assert [m for m in slack.dms(BACKBONE) if m.get("text") == "Heads up"]
    assert not slack.dms(partner_staff)
