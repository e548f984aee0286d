"""`ci-slackbot doctor`, run as a real process against the local stand-ins of Slack, Notion and Sheets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ci_slackbot.store.db import Database, upgrade
from ci_slackbot.store.models import Initiative
from integrations.notion.decisions import DECISION_PROPERTIES
from integrations.notion.systems_changes import SYSTEMS_CHANGE_PROPERTIES
from integrations.slack.manifest import bot_scopes, load_manifest
from tests.harness import AGENDA_PAGE, SPREADSHEET, Sandbox, free_port, load_example
from tests.paths import ROOT

MANIFEST_SCOPES = bot_scopes(load_manifest(ROOT / "manifest.yml"))
CONFIGURED = ("SLACK_", "NOTION_", "SHEETS_", "GOOGLE_", "DATABASE_URL")


@dataclass
class Report:
    returncode: int
    rows: dict[str, tuple[str, str]]  # component -> (status, detail)
    output: str

    def status(self, component: str) -> str:
        assert component in self.rows, self.output
        return self.rows[component][0]

    def detail(self, component: str) -> str:
        return self.rows[component][1]

    def failed(self) -> set[str]:
        return {component for component, (status, _) in self.rows.items() if status == "FAIL"}


def parse_table(output: str) -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    last = ""
    for line in output.splitlines()[2:]:
        if " | " not in line:
            continue
        component, status, detail = (part.strip() for part in line.split(" | ", 2))
        if component:
            rows[component] = (status, detail)
            last = component
        else:  # a wrapped detail continues the row above
            rows[last] = (rows[last][0], f"{rows[last][1]} {detail}")
    return rows


def run_doctor(env: dict[str, str], cwd: Path) -> Report:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(CONFIGURED)}
    clean.update(env)
    # Wide enough that no detail wraps mid-word in a way the parser would need to rejoin.
    clean["COLUMNS"] = "400"
    done = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "doctor"],
        env=clean,
        cwd=cwd,  # a directory without a .env file
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Report(done.returncode, parse_table(done.stdout), done.stdout + done.stderr)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox.start()
    box.slack.set_scopes(MANIFEST_SCOPES)
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def loaded_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ci.db'}"
    load_example(url)
    return url


def configured(sandbox: Sandbox, database_url: str) -> dict[str, str]:
    return {**sandbox.env(), "DATABASE_URL": database_url, "SLACK_APP_TOKEN": "xapp-1-sandbox"}


def set_notion_link(database_url: str, field: str, object_id: str) -> None:
    """What the initiative names for one of its `notion:` links (`field`: its column)."""
    db = Database(database_url)
    with db.unit_of_work() as session:
        for initiative in session.query(Initiative):
            setattr(initiative, field, object_id)
    db.dispose()


def made_by_notion_setup(sandbox: Sandbox, title: str, properties: dict[str, str]) -> str:
    """A database with every property the app writes there, as `ci-slackbot notion setup` makes one."""
    schema: dict[str, Any] = {"Name": {"title": {}}, **{name: {kind: {}} for name, kind in properties.items()}}
    database_id, _source = sandbox.notion.add_database(AGENDA_PAGE, title, schema)
    return database_id


def test_everything_configured_works(sandbox: Sandbox, database_url: str, tmp_path: Path) -> None:
    load_example(database_url)
    set_notion_link(
        database_url, "notion_decisions_database", made_by_notion_setup(sandbox, "Decisions", DECISION_PROPERTIES)
    )
    report = run_doctor(configured(sandbox, database_url), tmp_path)
    assert report.returncode == 0, report.output
    assert {status for status, _ in report.rows.values()} == {"ok"}, report.output
    assert "schema up to date" in report.detail("database")
    assert "Breathe Easy Dallas" in report.detail("initiatives")
    assert "T0SANDBOX" in report.detail("Slack")
    assert "granted exactly the manifest's" in report.detail("Slack scopes")
    assert "agenda hub" in report.detail("Notion agenda page")
    assert "Decisions" in report.detail("Notion decisions database")
    assert report.status("Sheets spreadsheet") == "ok"
    assert "Everything that is configured works." in report.output
    # It asked Slack who it is, and wrote nothing anywhere.
    assert [call["method"] for call in sandbox.slack.calls()] == ["auth.test"]
    assert sandbox.notion.request_count("POST") == sandbox.notion.request_count("PATCH") == 0


def test_missing_slack_scopes_are_named_with_how_to_fix_them(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    sandbox.slack.set_scopes([s for s in MANIFEST_SCOPES if s not in ("files:write", "users:read")])
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"Slack scopes"}, report.output
    detail = report.detail("Slack scopes")
    assert "missing files:write, users:read" in detail
    assert "reinstall the app after adding them" in detail
    assert report.status("Slack") == "ok"


def test_an_app_installed_before_charts_went_to_dms_is_told_to_add_im_write(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    """/ci indicator shares its chart in the person's DM (conversations.open) when the app is not in the
    conversation: a workspace that installed the app without im:write hears so from doctor."""
    assert "im:write" in MANIFEST_SCOPES and "users:read" in MANIFEST_SCOPES
    sandbox.slack.set_scopes([s for s in MANIFEST_SCOPES if s != "im:write"])
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 1
    assert "missing im:write" in report.detail("Slack scopes")


def test_scopes_granted_beyond_the_manifest_are_a_warning_not_a_failure(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    sandbox.slack.set_scopes([*MANIFEST_SCOPES, "channels:history"])
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 0, report.output
    assert report.status("Slack scopes") == "warn"
    assert "not needed: channels:history" in report.detail("Slack scopes")


def test_a_wrong_slack_token_is_refused_with_where_to_get_the_right_one(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    env = {**configured(sandbox, loaded_sqlite), "SLACK_BOT_TOKEN": "xoxb-not-the-token"}
    report = run_doctor(env, tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"Slack"}, report.output
    assert "invalid_auth" in report.detail("Slack")
    assert "Bot User OAuth Token" in report.detail("Slack")


def test_a_notion_page_not_shared_with_the_integration_says_how_to_share_it(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    # Notion answers 404 object_not_found for a page the integration was not given, exactly as for
    # one that does not exist; here the initiative names a page the integration cannot see.
    unshared = "00000000-0000-0000-0000-0000000000ff"
    set_notion_link(loaded_sqlite, "notion_agenda_page", unshared)
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"Notion agenda page"}, report.output
    detail = report.detail("Notion agenda page")
    assert unshared in detail
    assert "••• → Connections" in detail and "ci-slackbot" in detail
    assert report.status("Notion decisions database") == "warn"  # shared; lacks what the app writes (below)


def test_every_notion_database_is_checked_with_the_properties_the_app_writes_there(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    """The decisions database a coordinator made by hand has only its title: the app adds the rest on its
    first write, which needs a capability the integration may lack, so the doctor names them. The
    systems changes and community voice databases are checked as the others are."""
    set_notion_link(
        loaded_sqlite,
        "notion_systems_changes_database",
        made_by_notion_setup(sandbox, "Systems changes", SYSTEMS_CHANGE_PROPERTIES),
    )
    unshared = "00000000-0000-0000-0000-0000000000fe"
    set_notion_link(loaded_sqlite, "notion_community_voice_database", unshared)
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.failed() == {"Notion community voice database"}, report.output
    assert unshared in report.detail("Notion community voice database")
    assert "••• → Connections" in report.detail("Notion community voice database")
    assert report.status("Notion systems changes database") == "ok"
    assert report.status("Notion decisions database") == "warn"
    detail = report.detail("Notion decisions database")
    assert all(name in detail for name in DECISION_PROPERTIES), detail
    assert "Update content capability" in detail


def test_a_sheet_not_shared_with_the_service_account_says_so(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    sandbox.sheets.share(SPREADSHEET, False)
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"Sheets spreadsheet"}, report.output
    assert "not shared with" in report.detail("Sheets spreadsheet")
    assert "Share" in report.detail("Sheets spreadsheet")


def test_an_unreachable_database_fails_and_the_rest_is_still_checked(sandbox: Sandbox, tmp_path: Path) -> None:
    closed_port = free_port()
    report = run_doctor(configured(sandbox, f"postgresql://ci:secret@127.0.0.1:{closed_port}/ci"), tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"database"}, report.output
    assert "cannot connect" in report.detail("database")
    assert "secret" not in report.output  # the password is never printed
    assert report.status("Slack") == "ok"
    assert report.status("Notion") == "ok"
    assert "database could not be read" in report.detail("Notion pages")


def test_a_missing_sqlite_file_is_reported_not_created(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    report = run_doctor(configured(sandbox, f"sqlite:///{path}"), tmp_path)
    assert report.returncode == 1
    assert "does not exist" in report.detail("database")
    assert "ci-slackbot init" in report.detail("database")
    assert not path.exists()


def test_a_schema_behind_the_code_asks_for_db_upgrade(sandbox: Sandbox, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    upgrade(db.engine, "0001")
    db.dispose()
    report = run_doctor(configured(sandbox, url), tmp_path)
    assert report.returncode == 1
    assert "schema at 0001" in report.detail("database")
    assert "ci-slackbot db upgrade" in report.detail("database")


def test_unconfigured_services_are_off_and_do_not_fail(loaded_sqlite: str, tmp_path: Path) -> None:
    report = run_doctor({"DATABASE_URL": loaded_sqlite}, tmp_path)
    assert report.returncode == 0, report.output
    off = "off (not configured)"
    for component in ("Slack", "Slack HTTP mode", "Slack Socket Mode", "Notion", "Sheets"):
        assert report.status(component) == off
    assert "SLACK_BOT_TOKEN" in report.detail("Slack")
    assert report.status("database") == "ok"


def test_services_that_are_down_are_reported_without_a_crash(
    sandbox: Sandbox, loaded_sqlite: str, tmp_path: Path
) -> None:
    for stand_in in (sandbox.slack, sandbox.notion, sandbox.sheets):
        stand_in.faults.outage(503)
    report = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert report.returncode == 1
    assert report.failed() == {"Slack", "Notion", "Sheets spreadsheet"}, report.output
    assert "503" in report.detail("Slack") and "503" in report.detail("Notion")
    assert "Traceback" not in report.output


def test_partner_workspaces_not_installed_are_named_with_how_to_install(
    sandbox: Sandbox, tmp_path: Path, loaded_sqlite: str
) -> None:
    import yaml

    from tests.paths import EXAMPLE

    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["initiative"]["partner_workspaces"] = ["T0CHILDRN1"]
    named = tmp_path / "with-partners.yml"
    named.write_text(yaml.safe_dump(raw), encoding="utf-8")
    load_example(loaded_sqlite, named)
    one_workspace = run_doctor(configured(sandbox, loaded_sqlite), tmp_path)
    assert one_workspace.status("partner workspaces") == "warn", one_workspace.output
    assert "T0CHILDRN1 (Breathe Easy Dallas)" in one_workspace.detail("partner workspaces")
    assert "SLACK_CLIENT_ID" in one_workspace.detail("partner workspaces")
    oauth = {**configured(sandbox, loaded_sqlite), **sandbox.oauth_env(), "DATABASE_URL": loaded_sqlite}
    not_installed = run_doctor(oauth, tmp_path)
    assert "not installed yet: T0CHILDRN1 (Breathe Easy Dallas)" in not_installed.detail("partner workspaces")
    assert "/slack/install" in not_installed.detail("partner workspaces")
