"""Organizations and the first set-up as plain services (`services/setup_organizations.py`), without
Slack: what App Home's forms call. And their Block Kit within Slack's limits for any data size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.people import who_is
from ci_slackbot.services.setup import SetupError, setup_document, start_initiative
from ci_slackbot.services.setup_organizations import (
    FirstRunDraft,
    OrganizationDraft,
    OrganizationRow,
    first_run_document,
    first_run_problems,
    organization_rows,
    retire_organization,
    save_organization,
)
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import ChangeLogEntry, Organization
from integrations.slack import setup_blocks
from tests.paths import EXAMPLE

COORDINATOR = "U0BACK0001"
NURSE = "U0DISD0001"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    with database.unit_of_work() as session:
        apply_initiative(session, parse_initiative(yaml.safe_load(EXAMPLE.read_text())))
    yield database
    database.dispose()


def test_an_organization_is_added_with_a_person_of_another_and_logged_under_its_author(db: Database) -> None:
    draft = OrganizationDraft(
        key="parks", name="Parks", sector="government", members=(NURSE, NURSE, "U0PARK0001"), backup=None
    )
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        report = save_organization(session, initiative, COORDINATOR, None, draft)
    assert "organization parks" in report.created
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        rows = {row.key: row for row in organization_rows(session, initiative)}
        assert rows["parks"].members == (NURSE, "U0PARK0001")  # listed once
        # A person may belong to several organizations.
        assert [o.key for o in who_is(session, initiative, NURSE).organizations] == ["dallas-isd", "parks"]
        authors = set(session.scalars(select(ChangeLogEntry.author).where(ChangeLogEntry.subject.like("%parks%"))))
        assert authors == {COORDINATOR}


def test_a_taken_or_malformed_key_is_refused_at_the_key(db: Database) -> None:
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        for key in ("hwac", "Parks Dept"):
            draft = OrganizationDraft(key=key, name="Parks", sector="", members=(), backup=None)
            with pytest.raises(SetupError) as caught:
                save_organization(session, initiative, COORDINATOR, None, draft)
            assert [path.rsplit(".", 1)[-1] for path in caught.value.problems] == ["key"], caught.value.problems
        session.rollback()


def test_editing_keeps_the_key_and_the_activities_and_a_bad_backup_is_refused_there(db: Database) -> None:
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        draft = OrganizationDraft(name="DISD Health", sector="education", members=(NURSE,), backup="not-an-id")
        with pytest.raises(SetupError) as caught:
            save_organization(session, initiative, COORDINATOR, "dallas-isd", draft)
        assert list(caught.value.problems) == ["organizations[2].backup"]
        session.rollback()
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        before = setup_document(session, initiative)["organizations"][2]
        draft = OrganizationDraft(name="DISD Health", sector="education", members=(NURSE,), backup=COORDINATOR)
        save_organization(session, initiative, COORDINATOR, "dallas-isd", draft)
    with db.unit_of_work() as session:
        after = setup_document(session, all_initiatives(session)[0])["organizations"][2]
    assert after["key"] == "dallas-isd" and after["name"] == "DISD Health" and after["backup"] == COORDINATOR
    assert after.get("activities") == before.get("activities")


def test_retiring_refuses_the_backbone_and_an_organization_indicators_still_name(db: Database) -> None:
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        with pytest.raises(SetupError) as caught:
            retire_organization(session, initiative, COORDINATOR, "hwac")
        assert "backbone organization cannot be retired" in str(caught.value)
        with pytest.raises(SetupError) as caught:
            retire_organization(session, initiative, COORDINATOR, "dallas-isd")  # reports action-plans
        assert caught.value.problems == {
            "organizations[2]": "`dallas-isd` still reports `action-plans`: take it off those indicators' "
            "reporters first (Set-up → Indicators), then retire it"
        }
        session.rollback()


def test_a_retired_organization_comes_back_when_its_key_is_added_again(db: Database) -> None:
    draft = OrganizationDraft(key="parks", name="Parks", sector="", members=(NURSE,), backup=None)
    with db.unit_of_work() as session:
        save_organization(session, all_initiatives(session)[0], COORDINATOR, None, draft)
    with db.unit_of_work() as session:
        retire_organization(session, all_initiatives(session)[0], COORDINATOR, "parks")
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        assert "parks" not in {row.key for row in organization_rows(session, initiative)}
        assert [o.key for o in who_is(session, initiative, NURSE).organizations] == ["dallas-isd"]
        save_organization(session, initiative, COORDINATOR, None, draft)
    with db.unit_of_work() as session:
        rows = session.scalars(select(Organization).where(Organization.key == "parks")).all()
        assert len(rows) == 1 and not rows[0].retired  # the same organization, with its history


def test_the_first_set_up_makes_an_initiative_init_would_accept(database_url: str) -> None:
    database = Database(database_url)
    database.upgrade()
    draft = FirstRunDraft(
        name="Clean Air Oak Cliff",
        timezone="America/Chicago",
        vision="",
        backbone_key="caoc",
        backbone_name="Clean Air Oak Cliff Alliance",
        staff=("U0ADMIN001",),
        digest_channel="C0NEWDIGEST",
        decisions_channel=None,
    )
    assert first_run_problems(draft) == {}
    assert list(first_run_problems(FirstRunDraft(**{**draft.__dict__, "staff": ()}))) == ["organizations[0].members"]
    document = first_run_document(draft)
    assert document["channels"] == {"digest": "C0NEWDIGEST"}
    assert document["schedule"] == {"digest": "mon 09:00", "reminders": "thu 10:00"}
    try:
        with database.unit_of_work() as session:
            initiative = start_initiative(session, "T0NEWCOAL1", "U0ADMIN001", document)
            assert initiative.backbone_org_key == "caoc"
        with database.unit_of_work() as session:
            initiative = all_initiatives(session)[0]
            assert who_is(session, initiative, "U0ADMIN001").is_backbone
            assert set(session.scalars(select(ChangeLogEntry.author))) == {"U0ADMIN001"}
    finally:
        database.dispose()


def _row(i: int, members: int) -> OrganizationRow:
    return OrganizationRow(
        key=f"org-{i:04d}-" + "k" * 300,
        name=f"Organization {i} " + "<&> " * 60,
        sector="a sector " * 40,
        members=tuple(f"U{i:04d}{m:05d}" for m in range(members)),
        backup="U0BACK0001",
        is_backbone=i == 0,
    )


def test_the_list_and_the_forms_stay_within_slack_limits_for_any_data() -> None:
    rows = [_row(i, 400) for i in range(250)]
    pages = -(-len(rows) // setup_blocks.ORGS_PER_PAGE)
    for page in range(pages):
        view = setup_blocks.organizations_modal(rows, page=page, notice="x" * 5000)
        assert validate_view(view, surface="modal") == [], page
    last = setup_blocks.organizations_modal(rows, page=999)
    assert "page 9 of 9" in str(last["blocks"])
    for row in (rows[1], None):
        form = setup_blocks.organization_form(row, list_view_id="V0123", page=3)
        assert validate_view(form, surface="modal") == []
    first = setup_blocks.first_run_modal(user_id="U0ADMIN001", user_zone="America/Argentina/ComodRivadavia")
    assert validate_view(first, surface="modal") == []
    for allowed in (True, False):
        home = setup_blocks.first_run_home(allowed=allowed, installer="U0INSTALL1", init_command="ci-slackbot init")
        assert validate_view(home, surface="home") == []
