"""An initiative is seen only from the workspaces it belongs to.

The initiative loaded without `--team` belongs to SLACK_BOT_TOKEN's own workspace, which the app
learns from Slack's auth.test, never from a request. With OAuth on, a workspace that installs the
app through /slack/install has no initiative until one is loaded for its team: its commands,
buttons and App Home say so, and show nothing of anyone else's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ci_slackbot.store.models import IndicatorValue
from tests.harness import (
    BACKBONE,
    BOT_TOKEN,
    HOSPITAL,
    QUIET_SCHEDULER,
    TEAM,
    AppServer,
    Sandbox,
    SlackSender,
    World,
    load_example,
    wait_for,
)
from tests.test_workspaces import install

NEWCOMER = "T0NEWCOMER"  # installs the app through /slack/install; nobody loads an initiative for it
FOREIGN = "T0FOREIGN1"  # not SLACK_BOT_TOKEN's workspace: a request naming it is signed, but from elsewhere

# What the example initiative (Breathe Easy Dallas) would show: none of it may reach another workspace.
EXAMPLE_ONLY = ("Breathe Easy Dallas", "er-visits", "home-assessments", "Children's Health", "Dallas ISD", "asthma")
READS = ("indicators", "indicator er-visits", "digest", "agenda", "map", "status", "actions", "help")


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def leaks(answer: Any) -> list[str]:
    text = text_of(answer).lower()
    return [name for name in EXAMPLE_ONLY if name.lower() in text]


def open_home(slack_sender: SlackSender, user: str) -> None:
    response = slack_sender.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    assert response.status_code == 200


@dataclass
class OAuthDeployment:
    sandbox: Sandbox
    database_url: str
    server: AppServer

    def send(self, team: str) -> SlackSender:
        return SlackSender(self.server.events_url, self.sandbox.slack, team=team)


def _deployment(database_url: str, folder: Path, env: dict[str, str]) -> Iterator[OAuthDeployment]:
    box = Sandbox.start()
    server = AppServer(database_url, {**box.oauth_env(), **env, **QUIET_SCHEDULER})
    try:
        load_example(database_url)  # without --team, as README's first steps do
        server.start(folder)
        assert install(server.base, box.slack, NEWCOMER, "Newcomer Coalition").callback.status_code == 200
        yield OAuthDeployment(box, database_url, server)
    finally:
        server.stop()
        box.stop()


@pytest.fixture
def oauth_only(database_url: str, tmp_path: Path) -> Iterator[OAuthDeployment]:
    """OAuth on, no SLACK_BOT_TOKEN, the example initiative loaded without `--team`."""
    yield from _deployment(database_url, tmp_path, {})


def test_with_oauth_an_installed_workspace_sees_nothing_of_an_initiative_loaded_without_team(
    oauth_only: OAuthDeployment,
) -> None:
    send = oauth_only.send(NEWCOMER)
    for text in READS:
        answer = send.ci(text, user=HOSPITAL)
        assert answer["response_type"] == "ephemeral", (text, answer)
        assert "no collective impact initiative loaded yet" in answer["text"], (text, answer)
        assert f"--team {NEWCOMER}" in answer["text"], (text, answer)
        assert not leaks(answer), (text, answer)
    # Writing is refused the same way, and nothing lands in the initiative.
    refused = send.ci("update er-visits 17 2026-10", user=HOSPITAL)
    assert "no collective impact initiative loaded yet" in refused["text"] and not leaks(refused)
    # A button of the initiative (say, from a forwarded message) is refused too, privately.
    key = "newcomer-click"
    assert send.click(HOSPITAL, "open_update_modal", "er-visits", response_key=key).status_code == 200
    reply = wait_for(lambda: oauth_only.sandbox.slack.responses(key), timeout=10)[0]
    assert "no collective impact initiative loaded yet" in reply["text"] and not leaks(reply)
    assert not oauth_only.sandbox.slack.views(HOSPITAL)
    # App Home says so too.
    open_home(send, HOSPITAL)
    home = wait_for(lambda: oauth_only.sandbox.slack.home(HOSPITAL, team=NEWCOMER), timeout=10)
    assert "no collective impact initiative loaded yet" in text_of(home) and f"--team {NEWCOMER}" in text_of(home)
    assert not leaks(home)
    db = oauth_only.server.services.db  # type: ignore[union-attr]
    with db.unit_of_work() as session:
        assert session.scalars(select(IndicatorValue)).all() == []


def test_with_oauth_and_slack_bot_token_only_its_own_workspace_keeps_the_default_initiative(
    database_url: str, tmp_path: Path
) -> None:
    for deployment in _deployment(database_url, tmp_path, {"SLACK_BOT_TOKEN": BOT_TOKEN}):
        own = deployment.send(TEAM).ci("indicators", user=HOSPITAL)
        assert "er-visits" in text_of(own)
        newcomer = deployment.send(NEWCOMER).ci("indicators", user=HOSPITAL)
        assert "no collective impact initiative loaded yet" in newcomer["text"] and not leaks(newcomer)
        # The team was learned from Slack (auth.test of SLACK_BOT_TOKEN), not from any request.
        assert deployment.sandbox.slack.calls("auth.test")


# -- one workspace (SLACK_BOT_TOKEN, no OAuth) --------------------------------------------------------


def test_one_workspace_serves_the_default_initiative_to_the_bot_token_workspace_only(world: World) -> None:
    own = world.send.ci("indicators", user=HOSPITAL)
    assert "er-visits" in text_of(own)
    foreign = SlackSender(world.server.events_url, world.slack, team=FOREIGN)
    for text in (*READS, "update er-visits 17 2026-10"):
        answer = foreign.ci(text, user=HOSPITAL)
        assert answer["response_type"] == "ephemeral", (text, answer)
        assert "serves another Slack workspace" in answer["text"], (text, answer)
        assert not leaks(answer), (text, answer)


def test_one_workspace_refuses_a_foreign_team_click_and_changes_nothing(world: World) -> None:
    recorded = world.send.ci("update er-visits 16.4 2026-07", user=HOSPITAL)
    undo = next(
        element["value"]
        for block in recorded["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "undo_value"
    )
    world.slack.add_token("xoxb-some-other-app", FOREIGN)  # Slack knows the workspace; this app holds no token there
    foreign = SlackSender(world.server.events_url, world.slack, team=FOREIGN)
    key = "foreign-undo"
    assert foreign.click(HOSPITAL, "undo_value", undo, response_key=key).status_code == 200
    reply = wait_for(lambda: world.slack.responses(key), timeout=10)[0]
    assert "serves another Slack workspace" in reply["text"] and reply.get("response_type") == "ephemeral"
    db = world.db()
    with db.unit_of_work() as session:
        row = session.get(IndicatorValue, int(undo.split(":")[0]))
        assert row is not None and (row.withdrawn, row.revision) == (False, 1)
    db.dispose()
    # A foreign team's App Home shows nothing of the initiative either.
    open_home(foreign, BACKBONE)
    publishes = wait_for(
        lambda: [c for c in world.slack.calls("views.publish") if c["params"].get("user_id") == BACKBONE], timeout=10
    )
    assert "serves another Slack workspace" in text_of(publishes[-1]["params"]) and not leaks(publishes[-1]["params"])
