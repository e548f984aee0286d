"""Many workspaces (issue 8): one deployment, several coalitions, each in its own Slack workspace.

A real `ci-slackbot serve` with SLACK_CLIENT_ID/SECRET and no SLACK_BOT_TOKEN; workspaces install it
through the OAuth flow (GET /slack/install → slack.com → GET /slack/oauth_redirect, driven here with
`requests`, the stand-in playing slack.com's part with `prepare_install`), and initiatives are loaded
for them with the real `ci-slackbot init --team`. Each workspace then uses every command, and the
test checks that neither sees the other's data and that every Web API call made for a workspace
carried that workspace's own bot token (the Slack stand-in records the team of each call).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, inspect, select

from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.settings import Settings
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import Initiative, OutboxItem, Workspace, slack_bots, slack_installations
from ci_slackbot.store.models import slack_oauth_states as oauth_states_table
from integrations.slack.installations import NotInstalledError, Workspaces, install_scopes
from integrations.slack.manifest import bot_scopes, load_manifest
from tests.harness import (
    BACKBONE,
    BOT_TOKEN,
    DECISIONS_DB,
    HOSPITAL,
    QUIET_SCHEDULER,
    SIGNING_SECRET,
    SPREADSHEET,
    TEAM,
    AppServer,
    Sandbox,
    SlackSender,
    wait_for,
)
from tests.paths import EXAMPLE, ROOT

# The two coalitions: Dallas runs the example initiative, Fort Worth its own.
DALLAS = "T0DALLAS01"
FORT_WORTH = "T0FWORTH01"
NO_INITIATIVE_TEAM = "T0NOINIT01"  # installed, but nobody loaded an initiative for it
NEVER_INSTALLED = "T0NEVER001"
LEAVING = "T0LEAVING1"  # installs, then removes the app

FW_BACKBONE = "U0FWBACK01"
FW_CLINIC = "U0FWCLIN01"
FW_NURSE = "U0FWISD001"
FW_DIGEST = "C0FWDIGEST"
FW_DECISIONS = "C0FWDECIDE"
FW_AGENDA = "00000000-0000-0000-0000-00000000f0a9"
FW_DECISIONS_DB = "00000000-0000-0000-0000-00000000f0dc"
FW_SHEET = "1FortWorthCleanAirSheet0123456789abcdefgh"
DALLAS_DIGEST = "C0DIGEST01"
DALLAS_DECISIONS = "C0DECIDE01"

FORT_WORTH_FILE = f"""
initiative:
  name: Clean Air Fort Worth
  timezone: America/Chicago
  backbone: cafw
  vision: Every child in Fort Worth breathes clean air on the way to school.
  problem: Idling buses and diesel traffic next to campuses send children to the clinic.
goals:
  - key: G1
    title: Cleaner air around campuses
    description: Idle-free zones and air monitors at every campus.
    strategies:
      - Idle-free pledge for buses and parents
  - key: G2
    title: Asthma care next to school
    description: School-based clinics see every child with asthma.
    strategies:
      - Clinic hours at the ten highest-burden campuses
organizations:
  - key: cafw
    name: Clean Air Fort Worth Alliance
    sector: backbone
    members: [{FW_BACKBONE}]
  - key: cook-clinics
    name: Cook Children's School Clinics
    sector: health care
    members: [{FW_CLINIC}]
  - key: fwisd
    name: Fort Worth ISD Campus Health
    sector: education
    members: [{FW_NURSE}]
indicators:
  - key: idle-free-campuses
    name: Campuses with an idle-free zone
    goal: G1
    unit: campuses
    direction: increase
    frequency: monthly
    min: 0
    baseline: {{period: 2025-12, value: 12}}
    target: {{period: 2027-12, value: 80}}
    reporters: [fwisd]
  - key: clinic-visits
    name: Asthma visits at school clinics
    goal: G2
    unit: visits
    direction: increase
    frequency: monthly
    min: 0
    reporters: [cook-clinics]
channels:
  digest: {FW_DIGEST}
  decisions: {FW_DECISIONS}
schedule:
  digest: "mon 09:00"
  reminders: "thu 10:00"
notion:
  agenda_page: {FW_AGENDA}
  decisions_database: {FW_DECISIONS_DB}
sheets:
  spreadsheet_id: {FW_SHEET}
"""

# Names only one coalition has: a leak of either into the other's answers fails the test.
DALLAS_ONLY = ("Breathe Easy Dallas", "er-visits", "Children's Health", "Dallas ISD")
FORT_WORTH_ONLY = ("Clean Air Fort Worth", "clinic-visits", "idle-free", "Cook Children", "Fort Worth ISD")

# Short retries, so that the uninstall test sees its parked write quickly; many attempts, so that
# nothing is parked for having run out of them.
OUTBOX_ENV = {
    "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.2",
    "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "1.0",
    "CI_SLACKBOT_OUTBOX_MAX_ATTEMPTS": "50",
}


def text_of(answer: Any) -> str:
    return json.dumps(answer, ensure_ascii=False)


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "ci_slackbot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def load_initiative(database_url: str, path: Path, team: str) -> None:
    done = run_cli(database_url, "init", "--config", str(path), "--team", team)
    assert done.returncode == 0, done.stderr


@dataclass
class Install:
    """What one pass through the install flow showed."""

    install_page: requests.Response
    authorize_url: str
    callback: requests.Response

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlparse(self.authorize_url).query)


def install(base: str, slack: SlackStandIn, team: str, name: str) -> Install:
    """Install the app into a workspace as a person's browser does, with slack.com played by the stand-in."""
    page = requests.get(f"{base}/slack/install", allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    found = re.search(r'href="(https://slack\.com/oauth/v2/authorize[^"]+)"', page.text)
    assert found, page.text
    authorize_url = html.unescape(found.group(1))
    state = parse_qs(urlparse(authorize_url).query)["state"][0]
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith(f"slack-app-oauth-state={state};"), cookie
    # The person approves on slack.com, which sends the browser back with a code and the same state.
    code = slack.prepare_install(team, name)
    callback = requests.get(
        f"{base}/slack/oauth_redirect",
        params={"code": code, "state": state},
        # The cookie is Secure (the real site is HTTPS), so it is handed over as a browser would send it.
        headers={"Cookie": f"slack-app-oauth-state={state}"},
        timeout=10,
    )
    return Install(page, authorize_url, callback)


def installed_bots(database_url: str) -> dict[str, str]:
    db = Database(database_url)
    with db.engine.connect() as connection:
        rows = connection.execute(select(slack_bots.c.team_id, slack_bots.c.bot_token)).all()
    db.dispose()
    return {str(team): str(token) for team, token in rows}


def installation_teams(database_url: str) -> set[str]:
    db = Database(database_url)
    with db.engine.connect() as connection:
        rows = connection.execute(select(slack_installations.c.team_id)).all()
    db.dispose()
    return {str(row[0]) for row in rows}


@dataclass
class Deployment:
    sandbox: Sandbox
    database_url: str
    server: AppServer
    installs: dict[str, Install] = field(default_factory=dict)

    @property
    def slack(self) -> SlackStandIn:
        return self.sandbox.slack

    def send(self, team: str) -> SlackSender:
        return SlackSender(self.server.events_url, self.sandbox.slack, team=team)

    def ci(self, team: str, text: str, user: str) -> dict[str, Any]:
        return self.send(team).ci(text, user=user)

    def initiative_id(self, team: str) -> int:
        db = Database(self.database_url)
        with db.unit_of_work() as session:
            found = session.scalar(select(Initiative.id).join(Workspace).where(Workspace.team_id == team))
        db.dispose()
        assert found is not None
        return int(found)

    def sheet_values(self, spreadsheet_id: str) -> str:
        """The Values tab of a spreadsheet as one text ("" until the mirror has made the tab)."""
        if "Values" not in self.sandbox.sheets.worksheet_titles(spreadsheet_id):
            return ""
        return text_of(self.sandbox.sheets.values(spreadsheet_id, "Values"))

    def messages(self, team: str) -> str:
        """Everything now posted in a workspace, as one text to search."""
        return text_of(self.slack.messages(team=team))


@pytest.fixture(scope="module")
def deployment(
    module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("workspaces")
    fort_worth = folder / "fort-worth.yml"
    fort_worth.write_text(FORT_WORTH_FILE, encoding="utf-8")
    load_initiative(module_database_url, EXAMPLE, DALLAS)
    load_initiative(module_database_url, fort_worth, FORT_WORTH)
    # What the Fort Worth backbone already has in Notion and Sheets.
    sandbox.notion.add_page("Clean Air Fort Worth — agenda hub", page_id=FW_AGENDA)
    sandbox.notion.add_database(FW_AGENDA, "Decisions", {"Name": {"title": {}}}, database_id=FW_DECISIONS_DB)
    sandbox.sheets.create_spreadsheet("Clean Air Fort Worth data", spreadsheet_id=FW_SHEET)
    server = AppServer(module_database_url, {**sandbox.oauth_env(), **QUIET_SCHEDULER, **OUTBOX_ENV})
    server.start(folder)
    deployment = Deployment(sandbox, module_database_url, server)
    try:
        for team, name in (
            (DALLAS, "Breathe Easy Dallas"),
            (FORT_WORTH, "Clean Air Fort Worth"),
            (NO_INITIATIVE_TEAM, "Nobody loaded anything"),
        ):
            deployment.installs[team] = install(server.base, sandbox.slack, team, name)
        yield deployment
    finally:
        server.stop()


# -- the install flow -------------------------------------------------------------------------


def test_each_workspace_installs_through_oauth_and_gets_its_own_token(deployment: Deployment) -> None:
    manifest_scopes = bot_scopes(load_manifest(ROOT / "manifest.yml"))
    for team, done in deployment.installs.items():
        query = done.query
        assert query["client_id"] == ["1111111111.2222222222"]
        assert query["scope"][0].split(",") == manifest_scopes  # SLACK_SCOPES defaults to the manifest's
        assert "redirect_uri" not in query  # SLACK_REDIRECT_URI unset: the app's configured one
        assert done.callback.status_code == 200, done.callback.text
        assert "ci-slackbot is installed" in done.callback.text
        assert f"ci-slackbot init --config initiative.yml --team {team}" in done.callback.text
        # The state is spent: its cookie is cleared.
        assert "slack-app-oauth-state=deleted" in done.callback.headers.get("Set-Cookie", "")
    bots = installed_bots(deployment.database_url)
    assert set(bots) == {DALLAS, FORT_WORTH, NO_INITIATIVE_TEAM}
    assert len(set(bots.values())) == 3
    for team, token in bots.items():
        assert deployment.slack.tokens(team) == [token]  # the token Slack minted for that workspace
    assert installation_teams(deployment.database_url) == {DALLAS, FORT_WORTH, NO_INITIATIVE_TEAM}


def test_a_callback_without_the_browser_state_or_with_a_spent_code_installs_nothing(deployment: Deployment) -> None:
    base = deployment.server.base
    before = installed_bots(deployment.database_url)
    page = requests.get(f"{base}/slack/install", timeout=10)
    state = parse_qs(urlparse(html.unescape(re.findall(r'href="(https://slack[^"]+)"', page.text)[0])).query)["state"][
        0
    ]
    code = deployment.slack.prepare_install("T0INTRUDER", "Someone else")
    # No cookie: another browser than the one that started the install (a forged link).
    forged = requests.get(f"{base}/slack/oauth_redirect", params={"code": code, "state": state}, timeout=10)
    assert forged.status_code == 400
    # A state nobody issued.
    made_up = requests.get(
        f"{base}/slack/oauth_redirect",
        params={"code": code, "state": "made-up"},
        headers={"Cookie": "slack-app-oauth-state=made-up"},
        timeout=10,
    )
    assert made_up.status_code == 401
    assert installed_bots(deployment.database_url) == before
    assert deployment.slack.calls("oauth.v2.access") and all(
        call["team"] != "T0INTRUDER" for call in deployment.slack.calls("oauth.v2.access")
    )


# -- every query scoped to its workspace's initiative ------------------------------------------


def test_values_and_indicators_stay_in_their_own_workspace(deployment: Deployment) -> None:
    dallas = deployment.ci(DALLAS, "update er-visits 17.3 2026-10 first Dallas value", user=HOSPITAL)
    assert "17.3" in text_of(dallas) and "er-visits" in text_of(dallas), dallas
    fort_worth = deployment.ci(FORT_WORTH, "update clinic-visits 42 2026-10", user=FW_CLINIC)
    assert "42" in text_of(fort_worth) and "clinic-visits" in text_of(fort_worth), fort_worth
    # An indicator of the other coalition does not exist here.
    refused = deployment.ci(FORT_WORTH, "update er-visits 17 2026-10", user=FW_CLINIC)
    assert "er-visits" in refused["text"] and "clinic-visits" in text_of(refused)
    assert refused["response_type"] == "ephemeral"
    assert "Asthma emergency" not in text_of(refused)
    refused = deployment.ci(DALLAS, "update clinic-visits 5 2026-10", user=HOSPITAL)
    assert "clinic-visits" in refused["text"] and "Clean Air" not in text_of(refused)
    # A Dallas partner is nobody in Fort Worth, even with the same Slack user ID.
    stranger = deployment.ci(FORT_WORTH, "update clinic-visits 5 2026-10", user=HOSPITAL)
    assert stranger["response_type"] == "ephemeral" and "member" in stranger["text"]

    dallas_list = text_of(deployment.ci(DALLAS, "indicators", user=HOSPITAL))
    fort_worth_list = text_of(deployment.ci(FORT_WORTH, "indicators", user=FW_CLINIC))
    assert "er-visits" in dallas_list and "17.3" in dallas_list
    assert "clinic-visits" in fort_worth_list and "42" in fort_worth_list
    assert not [name for name in FORT_WORTH_ONLY if name in dallas_list]
    assert not [name for name in DALLAS_ONLY if name in fort_worth_list]
    # Each value went to its own coalition's sheet.
    wait_for(lambda: "clinic-visits" in deployment.sheet_values(FW_SHEET), timeout=30)
    wait_for(lambda: "er-visits" in deployment.sheet_values(SPREADSHEET), timeout=30)
    assert "er-visits" not in deployment.sheet_values(FW_SHEET)
    assert "clinic-visits" not in deployment.sheet_values(SPREADSHEET)


def test_status_names_only_the_workspace_organizations(deployment: Deployment) -> None:
    dallas = text_of(deployment.ci(DALLAS, "status", user=BACKBONE))
    fort_worth = text_of(deployment.ci(FORT_WORTH, "status", user=FW_BACKBONE))
    assert "Children's Health" in dallas and "Dallas ISD Health Services" in dallas
    assert "Cook Children's School Clinics" in fort_worth and "Fort Worth ISD Campus Health" in fort_worth
    assert not [name for name in FORT_WORTH_ONLY if name in dallas]
    assert not [name for name in DALLAS_ONLY if name in fort_worth]
    # Dallas's backbone staff are not Fort Worth's.
    refused = deployment.ci(FORT_WORTH, "status", user=BACKBONE)
    assert refused["response_type"] == "ephemeral" and "backbone" in refused["text"].lower()
    assert "Cook Children" not in text_of(refused)


def test_action_items_stay_in_their_own_workspace(deployment: Deployment) -> None:
    dallas_task = f"Call the landlords on Bexar Street {uuid.uuid4().hex[:6]}"
    fort_worth_task = f"Map the bus depots next to campuses {uuid.uuid4().hex[:6]}"
    dallas = deployment.ci(DALLAS, f"action add {dallas_task}", user=HOSPITAL)
    fort_worth = deployment.ci(FORT_WORTH, f"action add {fort_worth_task}", user=FW_CLINIC)
    dallas_id = int(re.search(r"Added action item #(\d+)", dallas["text"]).group(1))  # type: ignore[union-attr]
    assert "Added action item #" in fort_worth["text"], fort_worth
    dallas_list = text_of(deployment.ci(DALLAS, "actions", user=HOSPITAL))
    fort_worth_list = text_of(deployment.ci(FORT_WORTH, "actions", user=FW_CLINIC))
    assert dallas_task in dallas_list and fort_worth_task not in dallas_list
    assert fort_worth_task in fort_worth_list and dallas_task not in fort_worth_list
    # Fort Worth's backbone cannot close (or even see) a Dallas item by its number.
    refused = deployment.ci(FORT_WORTH, f"action done {dallas_id}", user=FW_BACKBONE)
    assert f"There is no action item #{dallas_id}" in refused["text"]
    assert dallas_task in text_of(deployment.ci(DALLAS, "actions", user=HOSPITAL))


def test_decisions_are_announced_and_mirrored_in_their_own_workspace(deployment: Deployment) -> None:
    marker = uuid.uuid4().hex[:6]
    dallas_text = f"Fund two more community health workers {marker}"
    fort_worth_text = f"Every campus joins the idle-free pledge {marker}"
    assert "is recorded" in deployment.ci(DALLAS, f"decide {dallas_text}", user=BACKBONE)["text"]
    assert "is recorded" in deployment.ci(FORT_WORTH, f"decide {fort_worth_text}", user=FW_BACKBONE)["text"]
    refused = deployment.ci(FORT_WORTH, f"decide Dallas decides for Fort Worth {marker}", user=BACKBONE)
    assert refused["response_type"] == "ephemeral" and "backbone" in refused["text"].lower()

    slack = deployment.slack
    wait_for(lambda: dallas_text in text_of(slack.messages(DALLAS_DECISIONS, team=DALLAS)), timeout=30)
    wait_for(lambda: fort_worth_text in text_of(slack.messages(FW_DECISIONS, team=FORT_WORTH)), timeout=30)
    assert fort_worth_text not in deployment.messages(DALLAS) and dallas_text not in deployment.messages(FORT_WORTH)
    assert "Dallas decides for Fort Worth" not in deployment.messages(FORT_WORTH)
    # Each decision became a page in its own coalition's Notion database, named by its own workspace's lookup.
    notion = deployment.sandbox.notion
    wait_for(lambda: fort_worth_text in text_of(notion.pages_in(FW_DECISIONS_DB)), timeout=30)
    wait_for(lambda: dallas_text in text_of(notion.pages_in(DECISIONS_DB)), timeout=30)
    assert dallas_text not in text_of(notion.pages_in(FW_DECISIONS_DB))
    assert fort_worth_text not in text_of(notion.pages_in(DECISIONS_DB))
    lookups = {call["params"].get("user"): call["team"] for call in slack.calls("users.info")}
    assert lookups.get(FW_BACKBONE) == FORT_WORTH and lookups.get(BACKBONE) == DALLAS


def test_the_digest_is_posted_with_its_own_workspace_token(deployment: Deployment) -> None:
    slack = deployment.slack
    assert "Posting the digest" in deployment.ci(DALLAS, "digest post", user=BACKBONE)["text"]
    assert "Posting the digest" in deployment.ci(FORT_WORTH, "digest post", user=FW_BACKBONE)["text"]
    dallas = wait_for(lambda: slack.messages(DALLAS_DIGEST, team=DALLAS), timeout=30)
    fort_worth = wait_for(lambda: slack.messages(FW_DIGEST, team=FORT_WORTH), timeout=30)
    assert "Fewer asthma emergencies" in text_of(dallas) and not [n for n in FORT_WORTH_ONLY if n in text_of(dallas)]
    assert "Cleaner air around campuses" in text_of(fort_worth)
    assert not [name for name in DALLAS_ONLY if name in text_of(fort_worth)]
    posts = [call for call in slack.calls("chat.postMessage") if call["ok"]]
    assert {call["team"] for call in posts if call["params"].get("channel") == DALLAS_DIGEST} == {DALLAS}
    assert {call["team"] for call in posts if call["params"].get("channel") == FW_DIGEST} == {FORT_WORTH}
    # Nothing of one coalition ever landed in the other's workspace.
    assert slack.messages(FW_DIGEST, team=DALLAS) == [] and slack.messages(DALLAS_DIGEST, team=FORT_WORTH) == []


def test_every_web_api_call_carried_its_own_workspace_token(deployment: Deployment) -> None:
    calls = [call for call in deployment.slack.calls() if call["method"] != "oauth.v2.access"]
    assert calls
    # No call went out without a workspace's token, nor with SLACK_BOT_TOKEN's (which this deployment lacks).
    assert {call["team"] for call in calls} <= {DALLAS, FORT_WORTH, NO_INITIATIVE_TEAM, LEAVING}
    dallas_channels = {DALLAS_DIGEST, DALLAS_DECISIONS}
    fort_worth_channels = {FW_DIGEST, FW_DECISIONS}
    for call in calls:
        channel = call["params"].get("channel") or call["params"].get("channel_id")
        if channel in dallas_channels:
            assert call["team"] == DALLAS, call
        if channel in fort_worth_channels:
            assert call["team"] == FORT_WORTH, call
    # DMs and modals too: a Fort Worth person only ever heard from the app in Fort Worth.
    for call in calls:
        if call["params"].get("channel") in (FW_BACKBONE, FW_CLINIC) or call["params"].get("user") == FW_CLINIC:
            assert call["team"] == FORT_WORTH, call


def test_the_update_form_opens_with_the_workspace_token(deployment: Deployment) -> None:
    answer = deployment.ci(FORT_WORTH, "update", user=FW_CLINIC)
    assert answer == {} or answer.get("text", "") == ""
    opened = wait_for(lambda: deployment.slack.views(FW_CLINIC), timeout=10)
    assert "clinic-visits" in text_of(opened[-1]["view"]) and "er-visits" not in text_of(opened[-1]["view"])
    calls = [call for call in deployment.slack.calls("views.open") if call["ok"]]
    assert calls and calls[-1]["team"] == FORT_WORTH


def test_a_workspace_without_an_initiative_gets_a_polite_answer(deployment: Deployment) -> None:
    answer = deployment.ci(NO_INITIATIVE_TEAM, "status", user="U0NOINIT01")
    assert answer["response_type"] == "ephemeral"
    assert "no collective impact initiative loaded yet" in answer["text"]
    assert f"--team {NO_INITIATIVE_TEAM}" in answer["text"]
    assert not [name for name in DALLAS_ONLY + FORT_WORTH_ONLY if name in text_of(answer)]
    # A workspace that never installed the app is told so, privately, and nothing else happens. (Slack
    # knows the workspace: here through a token of some other app, which ours never sees.)
    deployment.slack.add_token("xoxb-some-other-app", NEVER_INSTALLED)
    response, key = deployment.send(NEVER_INSTALLED).command("indicators", user="U0NEVER001")
    assert response.status_code == 200
    replies = wait_for(lambda: deployment.slack.responses(key), timeout=10)
    assert "not installed in this workspace" in replies[0]["text"] and replies[0]["response_type"] == "ephemeral"
    assert not [name for name in DALLAS_ONLY + FORT_WORTH_ONLY if name in text_of(replies)]


# -- uninstall --------------------------------------------------------------------------------


def test_after_uninstall_the_token_is_gone_and_its_slack_writes_are_parked(
    deployment: Deployment, tmp_path: Path
) -> None:
    leaving_file = tmp_path / "leaving.yml"
    leaving_file.write_text(
        FORT_WORTH_FILE.replace("Clean Air Fort Worth", "Leaving Coalition")
        .replace(FW_DIGEST, "C0LVDIGEST")
        .replace(FW_DECISIONS, "C0LVDECIDE")
        .split("notion:")[0],
        encoding="utf-8",
    )
    load_initiative(deployment.database_url, leaving_file, LEAVING)
    assert install(deployment.server.base, deployment.slack, LEAVING, "Leaving Coalition").callback.status_code == 200
    assert LEAVING in installed_bots(deployment.database_url)
    leaving = deployment.initiative_id(LEAVING)
    slack = deployment.slack

    # Slack is unreachable while the decision is recorded: its announcement waits in the outbox.
    slack.faults.outage(503)
    try:
        marker = uuid.uuid4().hex[:6]
        assert "is recorded" in deployment.ci(LEAVING, f"decide We wind down {marker}", user=FW_BACKBONE)["text"]
        db = Database(deployment.database_url)

        def announcement() -> OutboxItem | None:
            with db.unit_of_work() as session:
                row = session.scalar(
                    select(OutboxItem).where(OutboxItem.initiative_id == leaving, OutboxItem.service == "slack")
                )
                if row is not None:
                    session.expunge(row)
                return row

        wait_for(lambda: (row := announcement()) is not None and row.attempts >= 1, timeout=20)
        # The workspace removes the app: Slack revokes its token and tells us.
        slack.uninstall(LEAVING)
        sent = deployment.send(LEAVING).event({"type": "app_uninstalled"})
        assert sent.status_code == 200
        wait_for(lambda: LEAVING not in installation_teams(deployment.database_url), timeout=10)
        assert LEAVING not in installed_bots(deployment.database_url)
    finally:
        slack.faults.restore()

    parked = wait_for(lambda: (row := announcement()) is not None and row.status == "failed" and row, timeout=20)
    assert parked and parked.last_error is not None
    # Parked because the workspace has no installation any more, at once, not by running out of attempts.
    assert f"not installed in the Slack workspace {LEAVING}" in parked.last_error
    assert "ci-slackbot outbox retry" in parked.last_error
    assert parked.attempts < 50
    assert not [call for call in slack.calls("chat.postMessage") if call["team"] == LEAVING and call["ok"]]
    db.dispose()
    # The other workspaces carry on.
    assert "er-visits" in text_of(deployment.ci(DALLAS, "indicators", user=HOSPITAL))


def test_a_revoked_bot_token_is_forgotten_at_once(deployment: Deployment) -> None:
    # Known to work before: the workspace is installed (and its token cached by this request).
    assert "no collective impact initiative" in deployment.ci(NO_INITIATIVE_TEAM, "help", user="U0NOINIT01")["text"]
    db = Database(deployment.database_url)
    with db.engine.connect() as connection:
        bot_user = connection.execute(
            select(slack_bots.c.bot_user_id).where(slack_bots.c.team_id == NO_INITIATIVE_TEAM)
        ).scalar()
    db.dispose()
    # Slack names the users whose tokens went: here the bot user, so its bot token.
    sent = deployment.send(NO_INITIATIVE_TEAM).event(
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [bot_user]}}
    )
    assert sent.status_code == 200
    wait_for(lambda: NO_INITIATIVE_TEAM not in installed_bots(deployment.database_url), timeout=10)
    response, key = deployment.send(NO_INITIATIVE_TEAM).command("help", user="U0NOINIT01")
    assert response.status_code == 200
    replies = wait_for(lambda: deployment.slack.responses(key), timeout=10)
    assert "not installed in this workspace" in replies[0]["text"]


# -- pieces, without a server ---------------------------------------------------------------------


def _columns(table: Any) -> dict[str, tuple[str, int | None, bool]]:
    return {
        column.name: (type(column.type).__name__, getattr(column.type, "length", None), bool(column.nullable))
        for column in table.columns
    }


def test_the_installation_tables_are_the_libraries_and_the_migration_makes_them(database_url: str) -> None:
    metadata = MetaData()
    library = {
        "slack_installations": SQLAlchemyInstallationStore.build_installations_table(metadata, "slack_installations"),
        "slack_bots": SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots"),
        "slack_oauth_states": SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, "slack_oauth_states"),
    }
    ours = {
        "slack_installations": slack_installations,
        "slack_bots": slack_bots,
        "slack_oauth_states": oauth_states_table,
    }
    for name, table in library.items():
        assert _columns(ours[name]) == _columns(table), name
    db = Database(database_url)
    db.upgrade()
    inspector = inspect(db.engine)
    for name, table in library.items():
        assert {column["name"] for column in inspector.get_columns(name)} == set(_columns(table)), name
    assert {index["name"] for index in inspector.get_indexes("slack_bots")} >= {"slack_bots_idx"}
    db.dispose()


def test_one_workspace_mode_uses_slack_bot_token_for_every_team(tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'one.db'}", SLACK_BOT_TOKEN="xoxb-one")
    services: Services = bootstrap(settings)
    try:
        assert services.workspaces is None
        assert services.slack_for("T0ANYTHING") is services.slack
        assert services.slack_for_initiative(1) is services.slack
        assert services.slack.token == "xoxb-one"
    finally:
        services.db.dispose()


def test_with_oauth_the_bot_token_workspace_and_the_default_initiative_keep_slack_bot_token(tmp_path: Path) -> None:
    slack = SlackStandIn(bot_token=BOT_TOKEN, team_id=TEAM)
    slack.start()
    try:
        settings = Settings(
            DATABASE_URL=f"sqlite:///{tmp_path / 'many.db'}",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_CLIENT_ID="1111111111.2222222222",
            SLACK_CLIENT_SECRET="sandbox-client-secret",
            SLACK_API_URL=slack.url,
        )
        services = bootstrap(settings)
        workspaces = services.workspaces
        assert isinstance(workspaces, Workspaces)
        assert services.slack_for("default").token == BOT_TOKEN
        assert services.slack_for(TEAM).token == BOT_TOKEN  # SLACK_BOT_TOKEN's own workspace, by auth.test
        with pytest.raises(NotInstalledError, match="T0ELSEWHERE"):
            services.slack_for("T0ELSEWHERE")
        assert len(slack.calls("auth.test")) == 1  # asked once, then known
        services.db.dispose()
    finally:
        slack.stop()


def test_the_install_scopes_are_slack_scopes_or_the_manifests(tmp_path: Path) -> None:
    assert install_scopes(Settings(SLACK_SCOPES="commands, chat:write")) == ["commands", "chat:write"]
    assert install_scopes(Settings()) == bot_scopes(load_manifest(ROOT / "manifest.yml"))


def test_serve_with_half_the_oauth_credentials_names_the_missing_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_"))}
    env.update({"SLACK_CLIENT_ID": "1111.2222", "SLACK_SIGNING_SECRET": "s"})
    done = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "SLACK_CLIENT_SECRET is not set" in done.stderr and "Client Secret" in done.stderr
