"""Set-up changes made from Slack go through the file's rules (`services/setup.py`): a change that
`init` would refuse is refused at its path and changes nothing; one it accepts is applied and logged
under its author, exactly as the same edit to a loaded file would be."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.setup import (
    SetupError,
    change_setup,
    find_section,
    setup_document,
    start_initiative,
)
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ChangeLogEntry, Membership, Organization
from tests.paths import EXAMPLE

COORDINATOR = "U0BACK0001"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.unit_of_work() as session:
        apply_initiative(session, parse_initiative(yaml.safe_load(EXAMPLE.read_text())))
    yield database
    database.dispose()


def test_a_change_is_applied_and_logged_under_its_author(db: Database) -> None:
    def add_member(document: dict[str, Any]) -> None:
        _, org = find_section(document, "organizations", "dallas-isd")
        org["members"].append("U0DISD0002")

    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        report = change_setup(session, initiative, COORDINATOR, add_member)
    assert report.updated == ["organization dallas-isd members"]
    with db.unit_of_work() as session:
        org = session.scalars(select(Organization).where(Organization.key == "dallas-isd")).one()
        members = set(session.scalars(select(Membership.slack_user_id).where(Membership.organization_id == org.id)))
        assert members == {"U0DISD0001", "U0DISD0002"}
        entry = session.scalars(select(ChangeLogEntry).order_by(ChangeLogEntry.id.desc())).first()
        assert entry is not None and entry.author == COORDINATOR
        assert entry.subject == "organization dallas-isd members"


def test_a_change_init_would_refuse_names_its_field_and_changes_nothing(db: Database) -> None:
    def bad_target(document: dict[str, Any]) -> None:
        _, indicator = find_section(document, "indicators", "er-visits")
        indicator["target"] = {"period": "2025-01", "value": 10}  # before the baseline

    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        before = setup_document(session, initiative)
        with pytest.raises(SetupError) as caught:
            change_setup(session, initiative, COORDINATOR, bad_target)
        session.rollback()
    assert list(caught.value.problems) == ["indicators[0].target.period"]
    assert "after the baseline" in caught.value.problems["indicators[0].target.period"]
    assert caught.value.at("indicators[0]") == caught.value.problems
    assert caught.value.at("indicators[1]") == {}
    with db.unit_of_work() as session:
        assert setup_document(session, all_initiatives(session)[0]) == before


def test_an_unknown_key_is_said_plainly() -> None:
    with pytest.raises(SetupError) as caught:
        find_section({"goals": [{"key": "G1"}]}, "goals", "G9")
    assert "`G9`" in str(caught.value)


def test_a_workspace_starts_one_initiative_only(db: Database) -> None:
    document = {
        "initiative": {"name": "Breathe Easy Tulsa", "timezone": "America/Chicago", "backbone": "hub"},
        "organizations": [{"key": "hub", "name": "Tulsa Hub", "members": [COORDINATOR]}],
    }
    with db.unit_of_work() as session:
        initiative = start_initiative(session, "T0TULSA001", COORDINATOR, document)
        assert initiative.name == "Breathe Easy Tulsa"
    with db.unit_of_work() as session, pytest.raises(SetupError):
        start_initiative(session, "T0TULSA001", COORDINATOR, document)
    with db.unit_of_work() as session, pytest.raises(SetupError) as caught:
        start_initiative(session, "T0OTHER001", COORDINATOR, {**document, "organizations": []})
    assert "organizations" in caught.value.problems
