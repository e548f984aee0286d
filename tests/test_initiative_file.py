"""The initiative file: the example loads, errors name the field, loading twice changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from ci_slackbot.initiative_file import InitiativeFileError, load_initiative_file, parse_initiative
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.store import models as m
from ci_slackbot.store.db import Database
from tests.paths import EXAMPLE, ROOT


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_example_loads() -> None:
    data = load_initiative_file(EXAMPLE)
    assert data.initiative.name == "Breathe Easy Dallas"
    assert [i.key for i in data.indicators] == ["er-visits", "home-visits", "action-plans", "home-assessments"]


def test_the_packaged_copy_of_the_example_is_the_shared_one() -> None:
    shared = ROOT.parent / "shared" / "examples" / "initiative.yml"
    if not shared.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert (ROOT / "ci_slackbot" / "examples" / "initiative.yml").read_text() == shared.read_text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["indicators"][2].update(frequency="fortnightly"),
            "indicators[2].frequency: must be one of weekly, monthly, quarterly, yearly",
        ),
        (
            lambda d: d["indicators"][0].update(direction="up"),
            "indicators[0].direction: must be one of increase, decrease",
        ),
        (lambda d: d["indicators"][0].update(goal="G9"), "indicators[0].goal: `G9` is not a goal key"),
        (
            lambda d: d["indicators"][1]["reporters"].append("nobody"),
            "indicators[1].reporters[2]: `nobody` is not an organization key",
        ),
        (lambda d: d["initiative"].update(backbone="acme"), "initiative.backbone: `acme` is not an organization key"),
        (
            lambda d: d["initiative"].update(timezone="Mars/Olympus"),
            "initiative.timezone: `Mars/Olympus` is not a time zone",
        ),
        (lambda d: d["indicators"][0]["baseline"].update(period="2025-Q4"), "indicators[0].baseline.period:"),
        (lambda d: d["schedule"].update(digest="someday"), "schedule.digest: `someday` is not a schedule"),
        (
            lambda d: d["organizations"][1]["members"].append("bob"),
            "organizations[1].members: `bob` is not a Slack user ID",
        ),
        (lambda d: d["indicators"][0].update(colour="red"), "indicators[0].colour: is not a known field"),
        (lambda d: d["indicators"][0].pop("name"), "indicators[0].name: is required"),
        (lambda d: d["goals"].append(dict(d["goals"][0])), "goals[3].key: `G1` is used twice"),
    ],
)
def test_errors_name_the_field(change, expected: str) -> None:
    data = example()
    change(data)
    with pytest.raises(InitiativeFileError) as caught:
        parse_initiative(data)
    assert any(problem.startswith(expected) for problem in caught.value.problems), caught.value.problems


def _counts(db: Database) -> dict[str, int]:
    with db.unit_of_work() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (
                m.Initiative,
                m.Organization,
                m.Membership,
                m.Goal,
                m.Strategy,
                m.Indicator,
                m.IndicatorReporter,
            )
        }


def test_loading_twice_changes_nothing_and_edits_apply(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url)
    db.upgrade()
    data = example()
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(data))
    first = _counts(db)
    with db.unit_of_work() as session:
        _, report = apply_initiative(session, parse_initiative(data))
    assert report.lines() == ["no changes"]
    assert _counts(db) == first
    assert first["indicators"] == 4 and first["memberships"] == 8 and first["strategies"] == 6

    # An edit applies; a removed indicator is retired, not dropped.
    data["indicators"][0]["name"] = "ER visits per 1,000 children"
    removed = data["indicators"].pop()
    data["organizations"][2]["members"].append("U0DISD0002")
    with db.unit_of_work() as session:
        _, report = apply_initiative(session, parse_initiative(data))
    with db.unit_of_work() as session:
        indicators = {i.key: i for i in session.scalars(select(m.Indicator))}
        assert indicators["er-visits"].name == "ER visits per 1,000 children"
        assert indicators[removed["key"]].retired is True
        assert len(indicators) == 4
        members = set(session.scalars(select(m.Membership.slack_user_id)))
        assert "U0DISD0002" in members
    assert f"indicator {removed['key']}" in report.retired
    db.dispose()


def test_cli_init_reports_errors_with_exit_code_2(tmp_path: Path) -> None:
    bad = example()
    bad["indicators"][2]["frequency"] = "fortnightly"
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(bad))
    result = subprocess.run(
        [sys.executable, "-m", "ci_slackbot", "init", "--config", str(path)],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "indicators[2].frequency: must be one of weekly, monthly, quarterly, yearly" in result.stderr


def test_cli_init_loads_the_example_twice(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "ci_slackbot", "init", "--config", str(EXAMPLE)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
    assert "no changes" in result.stdout


def _longest(length: Callable[[int], int]) -> dict:
    """The example with every text the file stores at the length its column holds (`length(n)` for a
    column of n characters), in new sections so that no reference breaks."""
    data = example()
    data["initiative"].update(name="N" * length(200), team_id="T" + "A" * (length(32) - 1))
    data["initiative"]["partner_workspaces"] = ["T" + "B" * (length(32) - 1)]
    data["channels"] = {"digest": "C" + "D" * (length(32) - 1), "decisions": "C" + "E" * (length(32) - 1)}
    data["goals"].append({"key": "g" * length(64), "title": "t" * length(300)})
    data["organizations"].append(
        {
            "key": "o" * length(64),
            "name": "n" * length(200),
            "sector": "s" * length(100),
            "members": ["U" + "M" * (length(32) - 1)],
            "backup": "U" + "K" * (length(32) - 1),
            "usergroup": "S" + "G" * (length(32) - 1),
        }
    )
    lens = "z" * length(100)
    data["indicators"].append(
        {
            **data["indicators"][0],
            "key": "i" * length(64),
            "name": "n" * length(300),
            "unit": "u" * length(100),
            "goal": "g" * length(64),
            "reporters": ["o" * length(64)],
            "breakdowns": [lens],
            "equity_lens": lens,
        }
    )
    return data


def test_the_longest_texts_the_file_takes_fit_the_database(database_url: str) -> None:
    """On PostgreSQL a text longer than its column is refused by the database: the file must refuse
    it first, or `init` (and any set-up change) failed with a traceback."""
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(_longest(lambda n: n)))
    with db.unit_of_work() as session:
        assert len(session.scalars(select(m.Indicator.key).order_by(m.Indicator.id)).all()[-1]) == 64
        assert max(len(name) for name in session.scalars(select(m.Organization.name))) == 200
    db.dispose()


@pytest.mark.parametrize(
    "path",
    [
        "initiative.name",
        "initiative.team_id",
        "initiative.partner_workspaces[0]",
        "channels.digest",
        "goals[3].key",
        "goals[3].title",
        "organizations[5].key",
        "organizations[5].name",
        "organizations[5].sector",
        "organizations[5].members[0]",
        "organizations[5].backup",
        "organizations[5].usergroup",
        "indicators[4].key",
        "indicators[4].name",
        "indicators[4].unit",
        "indicators[4].equity_lens",
    ],
)
def test_a_text_one_longer_than_its_column_is_refused_where_it_is(path: str) -> None:
    longest, one_over = _longest(lambda n: n), _longest(lambda n: n + 1)
    data = longest
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    container, over = data, one_over
    for part in parents:
        container = container[int(part)] if part.isdigit() else container[part]
        over = over[int(part)] if part.isdigit() else over[part]
    container[int(last) if last.isdigit() else last] = over[int(last) if last.isdigit() else last]
    with pytest.raises(InitiativeFileError) as caught:
        parse_initiative(data)
    assert [problem for problem in caught.value.problems if problem.startswith(f"{path}: ")], caught.value.problems


def test_notion_and_sheets_links_in_the_file_are_kept_as_their_ids() -> None:
    data = example()
    data["notion"]["agenda_page"] = "https://www.notion.so/breathe/Agenda-0123456789ABCDEF0123456789abcdef?pvs=4"
    data["notion"]["decisions_database"] = "0123456789abcdef0123456789abcdee"
    data["sheets"]["spreadsheet_id"] = (
        "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789/edit#gid=0"
    )
    parsed = parse_initiative(data)
    assert parsed.notion is not None and parsed.sheets is not None
    assert parsed.notion.agenda_page == "01234567-89ab-cdef-0123-456789abcdef"
    assert parsed.notion.decisions_database == "01234567-89ab-cdef-0123-456789abcdee"
    assert parsed.sheets.spreadsheet_id == "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"

    data["notion"]["agenda_page"] = "our agenda page"
    data["sheets"]["spreadsheet_id"] = "the data sheet"
    with pytest.raises(InitiativeFileError) as caught:
        parse_initiative(data)
    assert any(p.startswith("notion.agenda_page: paste the Notion link") for p in caught.value.problems)
    assert any(p.startswith("sheets.spreadsheet_id: paste the spreadsheet's link") for p in caught.value.problems)
