"""`ci-slackbot export --config`: the set-up as an initiative file; export → init → export is a fixed point."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ci_slackbot.cli.export import initiative_yaml
from ci_slackbot.initiative_file import InitiativeFile, parse_initiative
from ci_slackbot.services.initiative_export import export_initiative_file
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.store.db import Database
from tests.paths import EXAMPLE, ROOT

RICH = """
initiative:
  name: Breathe Easy Fort Worth
  timezone: America/Chicago
  backbone: hub
  vision: |
    Every child breathes easy.
    At home and at school.
  problem: Too many emergency visits & too few plans <at school>.
  team_id: T0RICH0001
  partner_workspaces: [T0RICHPRT2, T0RICHPRT1]
goals:
  - key: G1
    title: Fewer emergencies
    description: Cut emergency visits by a third.
    strategies: [Home visits after every ER visit, Health workers in five ZIP codes]
  - key: G2
    title: Plans at school
organizations:
  - key: hub
    name: The Hub
    sector: backbone
    members: [U0HUB0001, U0HUB0002]
    activities:
      - {goal: G1, text: Convenes the asthma table}
  - key: clinic
    name: The Clinic
    sector: health care
    members: [U0CLN0001]
    backup: U0CLN0009
    usergroup: S0CLINIC01
    activities:
      - {goal: G1, text: Home visits within 14 days, strategy: 1}
      - {goal: G2, text: School nurse training}
  - key: schools
    name: The Schools
    members: []
indicators:
  - key: er-visits
    name: ER visits per 1,000 children
    goal: G1
    unit: per 1,000 children
    direction: decrease
    frequency: monthly
    min: 0
    max: 1000.5
    baseline: {period: 2025-12, value: 18.4}
    target: {period: 2027-12, value: 12}
    reporters: [clinic]
    breakdowns: [zip, age]
    equity_lens: zip
    group_targets: {zip=75104: 14, zip=76104: 10.5}
    source: Emergency department records
    small_number_threshold: 11
    headline: false
    rollup: owner
    owner: clinic
    due_after_days: 20
  - key: plans
    name: Students with a plan
    goal: G2
    unit: percent
    direction: increase
    frequency: yearly
    baseline: {period: "2025", value: 41}
    target: {period: "2027", value: 95}
    reporters: [clinic, schools]
    rollup: rate
channels:
  digest: C0DIGEST02
  decisions: C0DECIDE02
schedule:
  digest: "fri 08:30"
  reminders: "0 9 * * 2"
reporting:
  due_after_days: {weekly: 2, monthly: 18, quarterly: 25, yearly: 90}
  nudges: {opening: false, days_before_due: 5, days_after_due: null}
holidays: [2026-11-26, 2026-12-25]
notion:
  agenda_page: 00000000-0000-0000-0000-0000000000a1
  decisions_database: 00000000-0000-0000-0000-0000000000d1
  actions_database: 00000000-0000-0000-0000-0000000000c1
  systems_changes_database: 00000000-0000-0000-0000-0000000000e1
  community_voice_database: 00000000-0000-0000-0000-0000000000f1
sheets:
  spreadsheet_id: 1RichSheet0123456789
"""


def _load(url: str, raw: dict[str, Any]) -> tuple[str, list[str]]:
    """Loads `raw` into the database at `url`; its export's text, and what loading reported."""
    db = Database(url)
    db.upgrade()
    try:
        with db.unit_of_work() as session:
            _, report = apply_initiative(session, parse_initiative(raw))
        with db.unit_of_work() as session:
            text = initiative_yaml(export_initiative_file(session, all_initiatives(session)[0]))
    finally:
        db.dispose()
    return text, report.lines()


def _normalized(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as the store keeps it: members are a set, and reporters are kept in the organizations' order."""
    data = parse_initiative(raw).model_dump()
    order = [o["key"] for o in data["organizations"]]
    for org in data["organizations"]:
        org["members"] = sorted(org["members"])
    for ind in data["indicators"]:
        ind["reporters"] = sorted(ind["reporters"], key=order.index)
    return data


@pytest.mark.parametrize("source", ["example", "rich"])
def test_export_then_init_then_export_is_a_fixed_point(source: str, database_url: str, tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text() if source == "example" else RICH)
    first, _ = _load(database_url, raw)
    exported = yaml.safe_load(first)
    # The export describes the same initiative as the file it came from, every field.
    assert _normalized(exported) == _normalized(raw)

    # Into a fresh database, and exported again: the very same text.
    second, report = _load(f"sqlite:///{tmp_path / 'fresh.db'}", exported)
    assert "added: initiative" in report[0]
    assert second == first

    # Loaded back where it came from, it changes nothing.
    db = Database(database_url)
    try:
        with db.unit_of_work() as session:
            _, again = apply_initiative(session, parse_initiative(exported))
            assert again.lines() == ["no changes"]
    finally:
        db.dispose()


def test_export_leaves_out_what_is_retired_and_what_slack_added(database_url: str) -> None:
    raw = yaml.safe_load(RICH)
    _load(database_url, raw)
    raw["indicators"].pop()
    raw["organizations"][1]["activities"].pop()
    raw["goals"][0]["strategies"].pop()
    del raw["organizations"][1]["activities"][0]["strategy"]
    text, report = _load(database_url, raw)
    assert "retired: indicator plans" in report
    assert _normalized(yaml.safe_load(text)) == _normalized(raw)


def _fields(model: type[BaseModel], where: str) -> set[str]:
    """Every field path of the schema, nested models and lists of them included."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{where}.{name}" if where else name
        out.add(path)
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            inner = typing.get_args(arg) or (arg,)
            for candidate in inner:
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    out |= _fields(candidate, path)
    return out


def _present(raw: Any, where: str) -> set[str]:
    out: set[str] = set()
    if isinstance(raw, dict):
        for name, value in raw.items():
            path = f"{where}.{name}" if where else name
            out.add(path)
            out |= _present(value, path)
    elif isinstance(raw, list):
        for item in raw:
            out |= _present(item, where)
    return out


def test_the_rich_file_sets_every_field_of_the_schema() -> None:
    """A field added to the initiative file must be exported too: add it to RICH, then to the export."""
    assert _fields(InitiativeFile, "") - _present(yaml.safe_load(RICH), "") == set()


def test_cli_export_config_writes_a_file_init_loads_with_no_changes(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "ci_slackbot", *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        return result

    cli("init", "--config", str(EXAMPLE))
    out = tmp_path / "initiative.yml"
    result = cli("export", "--config", str(out))
    assert "Wrote the set-up of Breathe Easy Dallas" in result.stderr
    assert cli("export", "--config", "-").stdout == out.read_text()
    assert "no changes" in cli("init", "--config", str(out)).stdout
    # Without --config, export still writes the values as CSV.
    assert cli("export").stdout.startswith("indicator,")
