"""What the goals, indicators and links forms read from what people type (services/setup_agenda.py),
and the lists' Block Kit holding any number of goals and indicators within Slack's limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.setup import SetupError, change_setup, setup_document
from ci_slackbot.services.setup_agenda import (
    GoalDraft,
    IndicatorDraft,
    LinksDraft,
    group_targets,
    lines,
    move_goal,
    notion_id,
    number,
    retire_goal,
    save_goal,
    save_indicator,
    save_links,
    spreadsheet_id,
    whole_number,
)
from ci_slackbot.store.db import Database
from integrations.slack import setup_goals_blocks, setup_indicators_blocks
from tests.paths import EXAMPLE

COORDINATOR = "U0BACK0001"
PAGE = "00000000-0000-0000-0000-00000000a9e0"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.unit_of_work() as session:
        apply_initiative(session, parse_initiative(yaml.safe_load(EXAMPLE.read_text())))
    yield database
    database.dispose()


@pytest.mark.parametrize(
    ("typed", "read"),
    [("12", 12), (" 12.5 ", 12.5), ("1,000", 1000), ("-3", -3), ("1e3", 1000), ("", None), ("0.0", 0)],
)
def test_numbers_are_read_as_people_write_them(typed: str, read: float | None) -> None:
    assert number(typed, "indicators[0].min") == read


@pytest.mark.parametrize("typed", ["zero", "12%", "1.2.3", "nan", "inf", "12 children"])
def test_a_number_that_is_not_one_is_refused_at_its_path(typed: str) -> None:
    with pytest.raises(SetupError) as caught:
        number(typed, "indicators[2].max")
    assert list(caught.value.problems) == ["indicators[2].max"]
    assert "is not a number" in caught.value.problems["indicators[2].max"]


def test_days_are_whole() -> None:
    assert whole_number("15", "x") == 15
    with pytest.raises(SetupError):
        whole_number("2.5", "x")


def test_strategies_are_one_a_line_without_the_bullets_pasted_with_them() -> None:
    assert lines("- Home visits\n\n• Health workers\n3. Code enforcement\n  plain  ") == [
        "Home visits",
        "Health workers",
        "Code enforcement",
        "plain",
    ]


def test_group_targets_one_a_line() -> None:
    assert group_targets("zip=75216: 10\nzip=75215: 12.5", "p") == {"zip=75216": 10, "zip=75215": 12.5}
    for bad in ("75216 10", "zip=75216:", ": 10"):
        with pytest.raises(SetupError) as caught:
            group_targets(bad, "indicators[0].group_targets")
        assert list(caught.value.problems) == ["indicators[0].group_targets"]


@pytest.mark.parametrize(
    "pasted",
    [
        PAGE,
        PAGE.replace("-", ""),
        PAGE.upper(),
        "https://www.notion.so/hwac/Agenda-hub-" + PAGE.replace("-", ""),
        "https://www.notion.so/" + PAGE.replace("-", "") + "?v=0123456789abcdef0123456789abcdef",
        "https://hwac.notion.site/Agenda-" + PAGE.replace("-", "") + "#1234",
        "notion.so/hwac/" + PAGE.replace("-", ""),
    ],
)
def test_a_notion_link_or_id_becomes_the_id(pasted: str) -> None:
    assert notion_id(pasted, "notion.agenda_page") == PAGE


@pytest.mark.parametrize("pasted", ["the agenda", "https://www.notion.so/hwac/Agenda", "1234", PAGE + "x"])
def test_what_is_no_notion_id_is_refused(pasted: str) -> None:
    with pytest.raises(SetupError) as caught:
        notion_id(pasted, "notion.agenda_page")
    assert "Notion link" in caught.value.problems["notion.agenda_page"]


def test_a_spreadsheet_link_or_id_becomes_the_id() -> None:
    sheet = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    assert spreadsheet_id(f"https://docs.google.com/spreadsheets/d/{sheet}/edit#gid=0", "s") == sheet
    assert spreadsheet_id(sheet, "s") == sheet
    assert spreadsheet_id("  ", "s") is None
    with pytest.raises(SetupError):
        spreadsheet_id("my sheet", "sheets.spreadsheet_id")


def _document(db: Database) -> dict[str, Any]:
    with db.unit_of_work() as session:
        return setup_document(session, all_initiatives(session)[0])


def _change(db: Database, edit: Any) -> None:
    with db.unit_of_work() as session:
        change_setup(session, all_initiatives(session)[0], COORDINATOR, edit)


def test_goals_are_added_edited_moved_and_retired(db: Database) -> None:
    _change(db, save_goal(GoalDraft(key="G4", title="Clean air", strategies="Idle-free school zones"), None))
    _change(db, move_goal("G4", -1))
    _change(db, move_goal("G1", -1))  # at the top already: stays
    assert [g["key"] for g in _document(db)["goals"]] == ["G1", "G2", "G4", "G3"]
    # The form sends every field: what it leaves empty (the strategies here) is emptied.
    _change(db, save_goal(GoalDraft(title="Cleaner air", description="Outdoors too"), "G4"))
    goal = _document(db)["goals"][2]
    assert goal == {"key": "G4", "title": "Cleaner air", "description": "Outdoors too"}
    _change(db, retire_goal("G4"))
    assert [g["key"] for g in _document(db)["goals"]] == ["G1", "G2", "G3"]


def test_a_goal_with_indicators_is_not_retired(db: Database) -> None:
    with pytest.raises(SetupError) as caught:
        _change(db, retire_goal("G2"))
    assert caught.value.problems == {"goals[1]": "G2 still has indicators (action-plans): give them another goal first"}


def _plans(**changes: Any) -> IndicatorDraft:
    fields: dict[str, Any] = {
        "name": "Students with a plan",
        "goal": "G2",
        "direction": "increase",
        "frequency": "quarterly",
        "reporters": ["dallas-isd"],
        "unit": "percent",
        "minimum": "0",
        "maximum": "100",
        "baseline_period": "2025-Q4",
        "baseline_value": "41",
        "target_period": "2027-Q4",
        "target_value": "95",
    }
    return IndicatorDraft(**(fields | changes))


def test_an_indicator_keeps_every_field_the_form_gives(db: Database) -> None:
    draft = _plans(
        breakdowns="school, grade",
        small_number_threshold="11",
        source="Nurse records",
        headline=False,
        rollup="owner",
        owner="dallas-isd",
        due_after_days="20",
        equity_lens="school",
        group_targets="school=Pinkston: 90",
    )
    _change(db, save_indicator(draft, "action-plans"))
    assert _document(db)["indicators"][2] == {
        "key": "action-plans",
        "name": "Students with a plan",
        "goal": "G2",
        "unit": "percent",
        "direction": "increase",
        "frequency": "quarterly",
        "min": 0,
        "max": 100,
        "baseline": {"period": "2025-Q4", "value": 41},
        "target": {"period": "2027-Q4", "value": 95},
        "reporters": ["dallas-isd"],
        "breakdowns": ["school", "grade"],
        "source": "Nurse records",
        "small_number_threshold": 11,
        "headline": False,
        "rollup": "owner",
        "owner": "dallas-isd",
        "due_after_days": 20,
        "equity_lens": "school",
        "group_targets": {"school=Pinkston": 90},
    }


def test_half_a_baseline_is_refused_on_the_half_missing(db: Database) -> None:
    with pytest.raises(SetupError) as caught:
        _change(db, save_indicator(_plans(baseline_value="", target_period=""), "action-plans"))
    assert set(caught.value.problems) == {"indicators[2].baseline.value", "indicators[2].target.period"}


def test_a_new_indicator_key_must_be_free_and_valid(db: Database) -> None:
    with pytest.raises(SetupError) as caught:
        _change(db, save_indicator(_plans(key="action-plans"), None))
    assert "taken" in caught.value.problems["indicators[4].key"]
    with pytest.raises(SetupError) as caught:
        _change(db, save_indicator(_plans(key="Plans At School"), None))
    assert list(caught.value.problems) == ["indicators[4].key"]


def test_links_are_kept_as_ids_and_left_out_when_emptied(db: Database) -> None:
    draft = LinksDraft(
        name="Breathe Easy Dallas",
        timezone="America/Chicago",
        digest_channel="C0DIGEST01",
        digest_schedule="fri 08:30",
        reminders_schedule="0 9 * * 2",
        notion={"agenda_page": "https://www.notion.so/x/Hub-" + PAGE.replace("-", "")},
    )
    _change(db, save_links(draft))
    document = _document(db)
    assert document["channels"] == {"digest": "C0DIGEST01"}
    assert document["schedule"] == {"digest": "fri 08:30", "reminders": "0 9 * * 2"}
    assert document["notion"] == {"agenda_page": PAGE}
    assert "sheets" not in document and "vision" not in document["initiative"]


def test_any_number_of_goals_and_indicators_fits_a_modal() -> None:
    goals = [{"key": f"G{n}", "title": "A goal " * 30, "strategies": ["s" * 500] * 8} for n in range(60)]
    view = setup_goals_blocks.goals_list(goals, page=2)
    assert validate_view(view, surface="modal") == []
    assert "G40 ·" in str(view) and "G59 ·" in str(view) and "G39 ·" not in str(view)
    indicators = [
        {"key": f"ind-{n}", "name": "An indicator " * 20, "goal": "G1", "frequency": "monthly", "reporters": ["a"]}
        for n in range(130)
    ]
    for page in range(7):
        view = setup_indicators_blocks.indicators_list(indicators, {"G1": "Goal"}, page=page)
        assert validate_view(view, surface="modal") == [], page
        assert len(view["blocks"]) <= 100
    assert "ind-129" in str(view) and "Next" not in str(view) and "Previous" in str(view)


def test_a_reporter_past_the_hundredth_organization_stays_chosen() -> None:
    organizations = [(f"org-{n}", f"Organization {n}") for n in range(250)]
    indicator = {"key": "k", "name": "n", "goal": "G1", "reporters": ["org-7", "org-240"], "owner": "org-240"}
    view = setup_indicators_blocks.indicator_form(
        indicator, goals=[("G1", "Goal")], organizations=organizations, list_view=None
    )
    assert validate_view(view, surface="modal") == []
    reporters = next(b for b in view["blocks"] if b.get("block_id") == setup_indicators_blocks.IND_REPORTERS)
    assert [o["value"] for o in reporters["element"]["initial_options"]] == ["org-7", "org-240"]
    owner = next(b for b in view["blocks"] if b.get("block_id") == setup_indicators_blocks.IND_OWNER)
    assert owner["element"]["initial_option"]["value"] == "org-240"


def test_lists_with_keys_as_long_as_the_file_allows_are_valid() -> None:
    # The file puts no bound on a key's length; Slack takes a block_id of 255 characters at most, and
    # two alike in one view not at all: keys that differ only past that must still list.
    keys = ["k" * 300 + "a", "k" * 300 + "b"]
    goals = [{"key": key, "title": "A goal"} for key in keys]
    assert validate_view(setup_goals_blocks.goals_list(goals), surface="modal") == []
    indicators = [
        {"key": key, "name": "An indicator", "goal": keys[0], "frequency": "monthly", "reporters": ["a"]}
        for key in keys
    ]
    view = setup_indicators_blocks.indicators_list(indicators, {keys[0]: "A goal"})
    assert validate_view(view, surface="modal") == []
