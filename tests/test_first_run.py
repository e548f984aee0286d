"""The first set-up of a workspace without an initiative, from App Home (issue 19, point 1).

From an empty database: whoever installed the app (OAuth) and workspace admins and owners see a
"Set up your initiative" button in App Home; its form makes the initiative for the workspace of
the request, logged under its author, with each error on its field, and says where the app must be
invited. Anyone else is told who can, and neither their click nor a forged submission sets anything
up. In single-workspace mode (SLACK_BOT_TOKEN) and in OAuth mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ChangeLogEntry, Initiative, Membership, OutboxItem, Workspace
from integrations.slack import setup_blocks as views
from tests.harness import QUIET_SCHEDULER, TEAM, AppServer, Sandbox, SlackSender, World, wait_for
from tests.test_workspaces import install

ADMIN = "U0ADMIN001"
OWNER = "U0OWNER001"
MEMBER = "U0MEMBER01"  # an ordinary member of the workspace
STAFF = "U0STAFF001"
INSTALLER = "U0INSTALL1"  # the stand-in's installer of an OAuth install
DIGEST = "C0NEWDIGEST"
DECISIONS = "C0NEWDECIDE"
HOME = {"id": "VHOME", "type": "home"}
OAUTH_TEAM = "T0NEWCOAL1"


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _start(database_url: str, box: Sandbox, env: dict[str, str], log_dir: Path, team: str = TEAM) -> World:
    db = Database(database_url)
    db.upgrade()  # an empty database: no initiative anywhere
    db.dispose()
    server = AppServer(database_url, {**env, **QUIET_SCHEDULER})
    server.start(log_dir)
    return World(box, database_url, server, SlackSender(server.events_url, box.slack, team=team))


@pytest.fixture
def empty_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """One workspace (SLACK_BOT_TOKEN), an empty database."""
    box = Sandbox.start()
    world = _start(database_url, box, box.env(), tmp_path)
    try:
        yield world
    finally:
        world.server.stop()
        box.stop()


@pytest.fixture
def oauth_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """Many workspaces (OAuth, no SLACK_BOT_TOKEN), an empty database, one workspace installed."""
    box = Sandbox.start()
    world = _start(database_url, box, box.oauth_env(), tmp_path, team=OAUTH_TEAM)
    try:
        assert isinstance(world.server, AppServer)
        done = install(world.server.base, box.slack, OAUTH_TEAM, "A new coalition")
        assert done.callback.status_code == 200, done.callback.text
        yield world
    finally:
        world.server.stop()
        box.stop()


def _home(world: World, user: str) -> dict[str, Any]:
    team = world.send.team
    before = world.slack.home(user, team)
    world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    return wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user, team)), timeout=30)


def _open_form(world: World, user: str) -> dict[str, Any]:
    before = len(world.slack.views(user, callback_id=views.FIRST_RUN_SAVE))
    assert world.send.click(user, views.START_SETUP, "start", view=HOME).status_code == 200
    entry = wait_for(lambda: world.slack.views(user, callback_id=views.FIRST_RUN_SAVE)[before:], timeout=30)[-1]
    assert entry["method"] == "views.open"
    assert validate_view(entry["view"], surface="modal") == []
    return dict(entry["view"])


def _plain(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def _values(**changes: Any) -> dict[str, dict[str, Any]]:
    given: dict[str, Any] = {
        views.FR_NAME: _plain("Clean Air Oak Cliff"),
        views.FR_TIMEZONE: {"type": "static_select", "selected_option": {"value": "America/Chicago"}},
        views.FR_VISION: _plain("Every child in Oak Cliff breathes clean air."),
        views.FR_BACKBONE_KEY: _plain("caoc"),
        views.FR_BACKBONE_NAME: _plain("Clean Air Oak Cliff Alliance"),
        views.FR_STAFF: {"type": "multi_users_select", "selected_users": [STAFF]},
        views.FR_DIGEST: {"type": "conversations_select", "selected_conversation": DIGEST},
        views.FR_DECISIONS: {"type": "conversations_select", "selected_conversation": DECISIONS},
        views.FR_DIGEST_AT: _plain("mon 09:00"),
        views.FR_REMINDERS_AT: _plain("thu 10:00"),
    }
    given.update(changes)
    return {block: {block: element} for block, element in given.items()}


def _initiatives(world: World) -> list[tuple[str, str]]:
    db = world.db()
    try:
        with db.unit_of_work() as session:
            return [
                (i.name, str(session.scalar(select(Workspace.team_id).where(Workspace.id == i.workspace_id))))
                for i in all_initiatives(session)
            ]
    finally:
        db.dispose()


def _set_up(world: World, user: str, team: str, kept_as: str) -> None:
    """The whole first set-up by `user`, who may do it; checks what it made, kept for workspace `kept_as`."""
    home = _home(world, user)
    assert views.START_SETUP in _text(home) and validate_view(home, surface="home") == []
    form = _open_form(world, user)
    staff = next(b for b in form["blocks"] if b["block_id"] == views.FR_STAFF)
    assert staff["element"]["initial_users"] == [user]  # the person setting up is the first staff member

    # Bad input: each error on its field, and nothing is set up.
    response = world.send.submit(
        user,
        form,
        _values(
            **{
                views.FR_BACKBONE_KEY: _plain("Clean Air!"),
                views.FR_DIGEST_AT: _plain("someday 25:00"),
                views.FR_TIMEZONE: {"type": "static_select", "selected_option": {"value": "Mars/Olympus"}},
            }
        ),
    )
    errors = response.json()
    assert errors["response_action"] == "errors", errors
    assert set(errors["errors"]) == {views.FR_BACKBONE_KEY, views.FR_DIGEST_AT, views.FR_TIMEZONE}, errors
    assert "IANA" in errors["errors"][views.FR_TIMEZONE]
    response = world.send.submit(user, form, _values(**{views.FR_STAFF: {"type": "multi_users_select"}}))
    assert list(response.json()["errors"]) == [views.FR_STAFF]
    assert _initiatives(world) == []

    world.slack.add_channel(DIGEST, "clean-air-digest", team_id=team, is_member=False)
    world.slack.add_channel(DECISIONS, "clean-air-decisions", team_id=team, is_member=True)
    response = world.send.submit(
        user, form, _values(**{views.FR_STAFF: {"type": "multi_users_select", "selected_users": [user, STAFF]}})
    )
    assert response.status_code == 200 and not response.content, response.text
    assert _initiatives(world) == [("Clean Air Oak Cliff", kept_as)]

    # Told where to invite the app, and shown the new initiative's Home with its Set-up.
    told = wait_for(lambda: [m for m in world.slack.dms(user) if "is set up" in _text(m)], timeout=30)
    assert f"type `/invite @ci-slackbot` in <#{DIGEST}>" in told[-1]["text"]
    assert DECISIONS not in told[-1]["text"]
    home = wait_for(
        lambda: (lambda v: v if v and "Clean Air Oak Cliff" in _text(v) else None)(world.slack.home(user, team)),
        timeout=30,
    )
    assert views.SETUP_ORGANIZATIONS in _text(home)

    db = world.db()
    try:
        with db.unit_of_work() as session:
            initiative = session.scalars(select(Initiative)).one()
            assert initiative.backbone_org_key == "caoc" and initiative.timezone == "America/Chicago"
            members = set(session.scalars(select(Membership.slack_user_id)))
            assert members == {user, STAFF}
            authors = set(session.scalars(select(ChangeLogEntry.author)))
            assert authors == {user}
            # The welcome went through the outbox: a Slack hiccup after the form closed is retried.
            keys = session.scalars(select(OutboxItem.idempotency_key)).all()
            assert f"slack:first-run:{initiative.id}:{user}" in keys
    finally:
        db.dispose()

    # The staff member (not an admin) now runs the set-up; a stale first-run button sets up nothing more.
    assert views.SETUP_ORGANIZATIONS in _text(_home(world, STAFF))
    response = world.send.submit(user, form, _values(**{views.FR_NAME: _plain("A second one")}))
    assert response.status_code == 200
    assert _initiatives(world) == [("Clean Air Oak Cliff", kept_as)]


def _refused(world: World, user: str, team: str, who: str) -> None:
    """`user` may not set up: Home says who can; a click opens nothing; a forged submission makes nothing."""
    home = _text(_home(world, user))
    assert views.START_SETUP not in home
    assert who in home and "workspace admin or owner" in home
    before = len(world.slack.views(user))
    world.send.click(user, views.START_SETUP, "start", view=HOME)
    wait_for(lambda: [m for m in world.slack.responses() if "can set it up" in _text(m)], timeout=30)
    assert len(world.slack.views(user)) == before
    forged = {"type": "modal", "callback_id": views.FIRST_RUN_SAVE, "private_metadata": "{}"}
    answer = world.send.submit(user, forged, _values()).json()
    assert answer["response_action"] == "errors" and "can set it up" in answer["errors"][views.FR_NAME]
    assert _initiatives(world) == []


def test_a_workspace_admin_sets_up_the_initiative_in_single_workspace_mode(empty_world: World) -> None:
    world = empty_world
    world.slack.add_user(ADMIN, is_admin=True)
    world.slack.add_user(MEMBER)
    # A command says where the set-up is.
    assert "Home tab" in world.send.ci("status", user=MEMBER)["text"]
    _refused(world, MEMBER, TEAM, "whoever installed the app")
    # With one workspace, where `init` without `--team` loads: a file loaded later changes this one.
    _set_up(world, ADMIN, TEAM, kept_as="default")


def test_a_workspace_owner_may_set_up_too(empty_world: World) -> None:
    world = empty_world
    world.slack.add_user(OWNER, is_owner=True)
    home = _home(world, OWNER)
    assert views.START_SETUP in _text(home)


def test_the_installer_sets_up_the_initiative_in_oauth_mode(oauth_world: World) -> None:
    world = oauth_world
    world.slack.add_user(INSTALLER, team_id=OAUTH_TEAM)  # not an admin: installing is enough
    world.slack.add_user(MEMBER, team_id=OAUTH_TEAM)
    _refused(world, MEMBER, OAUTH_TEAM, f"<@{INSTALLER}> (who installed the app)")
    _set_up(world, INSTALLER, OAUTH_TEAM, kept_as=OAUTH_TEAM)
    # Every Slack call made for the set-up carried this workspace's own token.
    calls = [c for c in world.slack.calls() if c["method"] in ("users.info", "views.open", "conversations.info")]
    assert calls and {c["team"] for c in calls} == {OAUTH_TEAM}
