"""Requests that change the same thing at the same moment (two partners, two coordinators, a double click):
on PostgreSQL they overlap, and the later must wait for the earlier and build on it, never undo it or fail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ci_slackbot.domain.periods import Period
from ci_slackbot.domain.stories import StoryError
from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.services.activities import ActivityError, ActivityView, add_activity
from ci_slackbot.services.agenda import store_agenda
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative, find_initiative
from ci_slackbot.services.measurement import RecordedValue, add_story, find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.services.reminders import ReminderRun, queue_reminders, snooze
from ci_slackbot.services.setup import SetupError, change_setup, start_initiative
from ci_slackbot.services.setup_organizations import FirstRunDraft, first_run_document
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import (
    Activity,
    AgendaCache,
    Goal,
    IndicatorValue,
    Organization,
    OutboxItem,
    Snooze,
    ValueRevision,
    ValueStory,
)
from tests.harness import HOSPITAL, load_example, wait_for

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
COLLEAGUE = "U0CHLD0002"  # the same organization as HOSPITAL


def _record(session: Session, user: str, value: float, note: str = "") -> RecordedValue:
    """`user` reports `value` for er-visits, October 2026, in `session`'s transaction."""
    initiative = all_initiatives(session)[0]
    return record_value(
        session,
        initiative,
        who_is(session, initiative, user),
        indicator=find_indicator(indicator_views(session, initiative.id), "er-visits"),
        value=value,
        period=Period.parse("2026-10"),
        note=note,
        now=NOW,
    )


def _report(db: Database, user: str, value: float, note: str = "") -> RecordedValue:
    with db.unit_of_work() as session:
        return _record(session, user, value, note)


def _waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()
    return bool(waiting)


def _at_once(db: Database, first: Callable[[Session], Any], second: Callable[[Session], Any]) -> tuple[Any, Any]:
    """`first` and `second`, each in a transaction of its own, overlapping: `first` has done its work
    and is kept open, uncommitted, until `second` has started and, on PostgreSQL, waits for it (on
    SQLite it waits for the write turn). Each one's result, or the exception it raised."""
    done, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def run(name: str, work: Callable[[Session], Any], hold: bool) -> None:
        try:
            with db.unit_of_work() as session:
                results[name] = work(session)
                if hold:
                    done.set()
                    assert release.wait(30)
        except BaseException as exc:
            results[name] = exc

    earlier = threading.Thread(target=run, args=("first", first, True))
    earlier.start()
    assert done.wait(30), results
    later = threading.Thread(target=run, args=("second", second, False))
    later.start()
    if db.engine.dialect.name == "postgresql":
        wait_for(lambda: _waiting_on_a_lock(db), timeout=10)
    release.set()
    earlier.join(timeout=30)
    later.join(timeout=30)
    return results["first"], results["second"]


def test_the_later_of_two_simultaneous_first_reports_corrects_the_earlier(database_url: str) -> None:
    load_example(database_url)
    db = Database(database_url)
    # The first report's row is inserted, not committed; on PostgreSQL the second is past its read
    # (no row yet) and waits at its INSERT for the first to commit.
    earlier, later = _at_once(
        db, lambda session: _record(session, HOSPITAL, 17.0), lambda session: _record(session, COLLEAGUE, 18.5)
    )
    assert isinstance(earlier, RecordedValue), earlier
    assert isinstance(later, RecordedValue), later  # not an IntegrityError on the unique key
    assert (earlier.revision, later.revision) == (1, 2)
    assert later.value_id == earlier.value_id and later.replaced == 17.0
    with db.unit_of_work() as session:
        rows = session.execute(select(IndicatorValue.value, IndicatorValue.revision, IndicatorValue.reporter)).all()
        assert [tuple(r) for r in rows] == [(18.5, 2, COLLEAGUE)]
        assert session.scalar(select(func.count()).select_from(ValueRevision)) == 1
    db.dispose()


def test_two_corrections_at_once_keep_every_revision(database_url: str) -> None:
    """Two members correct one value at the same moment: the later correction corrects the earlier one,
    so the history keeps both the first value and the earlier correction, and each revision its own
    Sheets row. Read without waiting for the earlier's lock (PostgreSQL), both would write revision 2
    and keep revision 1 twice: the earlier correction lost from the history, and the later's Sheets row
    refused as a copy of the earlier's."""
    load_example(database_url)
    db = Database(database_url)
    original = _report(db, HOSPITAL, 17.0)
    earlier, later = _at_once(
        db, lambda session: _record(session, HOSPITAL, 18.0), lambda session: _record(session, COLLEAGUE, 19.5)
    )
    assert isinstance(earlier, RecordedValue), earlier
    assert isinstance(later, RecordedValue), later
    assert (earlier.revision, earlier.replaced) == (2, 17.0)
    assert (later.revision, later.replaced) == (3, 18.0)
    with db.unit_of_work() as session:
        value = session.execute(select(IndicatorValue.value, IndicatorValue.revision)).one()
        assert tuple(value) == (19.5, 3)
        kept = session.execute(select(ValueRevision.revision, ValueRevision.value).order_by(ValueRevision.id)).all()
        assert [tuple(row) for row in kept] == [(1, 17.0), (2, 18.0)]
        keys = set(session.scalars(select(OutboxItem.idempotency_key).where(OutboxItem.service == "sheets")))
        assert {f"sheets:value:{original.value_id}:r{n}" for n in (1, 2, 3)} <= keys
    db.dispose()


def test_a_correction_without_a_note_waits_and_keeps_the_note_of_the_correction_before_it(database_url: str) -> None:
    """The later correction's note comes from the value as the earlier correction left it (on
    PostgreSQL the read, the revision and the change are one statement: the locked read waits for the
    earlier and sees its row, and so must the write that takes the note from it)."""
    load_example(database_url)
    db = Database(database_url)
    _report(db, HOSPITAL, 17.0, "first count")
    earlier, later = _at_once(
        db,
        lambda session: _record(session, HOSPITAL, 18.0, "recounted after the audit"),
        lambda session: _record(session, COLLEAGUE, 19.5),
    )
    assert isinstance(earlier, RecordedValue) and isinstance(later, RecordedValue), (earlier, later)
    assert (later.revision, later.replaced, later.note) == (3, 18.0, "recounted after the audit")
    with db.unit_of_work() as session:
        value = session.execute(select(IndicatorValue.value, IndicatorValue.revision, IndicatorValue.note)).one()
        assert tuple(value) == (19.5, 3, "recounted after the audit")
        kept = session.execute(select(ValueRevision.revision, ValueRevision.note).order_by(ValueRevision.id)).all()
        assert [tuple(row) for row in kept] == [(1, "first count"), (2, "recounted after the audit")]
    db.dispose()


def test_two_coordinators_changing_the_set_up_at_once_keep_both_changes(database_url: str) -> None:
    """Each App Home form rewrites the initiative's file from the set-up as it stands. Two saved at the
    same moment: the later waits for the earlier and starts from it (or it would put back the name the
    earlier changed, and retire its new indicator), and each bumps the revision that processes cache
    the set-up by. Both bumped it from the same read before (PostgreSQL): the later's change was then
    never seen by a process that had cached the earlier's."""
    load_example(database_url)
    db = Database(database_url)
    with db.unit_of_work() as session:
        revision = all_initiatives(session)[0].revision

    def add_indicator_and_rename(document: dict[str, Any]) -> None:
        added = {**document["indicators"][0], "key": "er-visits-under-5", "name": "ER visits, children under 5"}
        document["indicators"].append(added)
        document["organizations"][1]["name"] = "Children's Health Dallas"

    def change_sector(document: dict[str, Any]) -> None:  # of the organization the other renames
        document["organizations"][1]["sector"] = "hospital"

    earlier, later = _at_once(
        db,
        lambda session: change_setup(
            session, all_initiatives(session)[0], "U0BACKBONE", add_indicator_and_rename, now=NOW
        ),
        lambda session: change_setup(session, all_initiatives(session)[0], "U0BACKBONE", change_sector, now=NOW),
    )
    assert not isinstance(earlier, BaseException) and not isinstance(later, BaseException), (earlier, later)
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        kept = {view.key for view in indicator_views(session, initiative.id)}
        assert "er-visits-under-5" in kept
        organization = session.scalars(select(Organization).where(Organization.key == "childrens-health")).one()
        assert (organization.name, organization.sector) == ("Children's Health Dallas", "hospital")
        # Two changes, two revisions: every process's cached set-up (keyed by it) is read again.
        assert initiative.revision == revision + 2
    db.dispose()


def _tell(session: Session, value_id: int, story: str, submission_id: str | None = None) -> None:
    initiative = all_initiatives(session)[0]
    person = who_is(session, initiative, HOSPITAL)
    add_story(session, initiative, person, value_id, story, now=NOW, submission_id=submission_id)


def test_a_story_told_while_the_value_is_corrected_keeps_the_corrections_note(database_url: str) -> None:
    """The story is appended to the value's note, which is rewritten whole: told while a correction is
    being saved, it waits for it and appends to the corrected note rather than putting back the old one."""
    load_example(database_url)
    db = Database(database_url)
    original = _report(db, HOSPITAL, 17.0, note="from the ED log")
    corrected, told = _at_once(
        db,
        lambda session: _record(session, COLLEAGUE, 18.0, note="recounted"),
        lambda session: _tell(session, original.value_id, "Two schools opened clinics."),
    )
    assert isinstance(corrected, RecordedValue) and not isinstance(told, BaseException), (corrected, told)
    with db.unit_of_work() as session:
        row = session.get(IndicatorValue, original.value_id)
        assert row is not None and (row.value, row.revision) == (18.0, 2)
        assert "recounted" in row.note and "Two schools opened clinics." in row.note
    db.dispose()


def test_a_story_form_sent_twice_is_kept_once(database_url: str) -> None:
    load_example(database_url)
    db = Database(database_url)
    value_id = _report(db, HOSPITAL, 17.0).value_id
    with db.unit_of_work() as session:
        _tell(session, value_id, "Two schools opened clinics.", submission_id="V0STORY1")
    with pytest.raises(StoryError, match="already sent"), db.unit_of_work() as session:
        _tell(session, value_id, "Two schools opened clinics.", submission_id="V0STORY1")
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(ValueStory)) == 1
        row = session.get(IndicatorValue, value_id)
        assert row is not None and row.note.count("Two schools opened clinics.") == 1
    db.dispose()


def test_the_same_activity_added_twice_at_once_is_added_once(database_url: str) -> None:
    """Two members of one organization add the same activity at the same moment: the later waits for the
    earlier and is told it is already listed, rather than both finding no copy and both adding it."""
    load_example(database_url)
    db = Database(database_url)

    def add(session: Session, user: str) -> ActivityView:
        initiative = all_initiatives(session)[0]
        goal = session.scalars(select(Goal.key).where(Goal.initiative_id == initiative.id)).first()
        assert goal is not None
        return add_activity(session, initiative, who_is(session, initiative, user), goal, "Home visits", NOW)

    earlier, later = _at_once(db, lambda session: add(session, HOSPITAL), lambda session: add(session, COLLEAGUE))
    assert isinstance(earlier, ActivityView), earlier
    assert isinstance(later, ActivityError) and "already lists" in str(later), later
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Activity).where(Activity.text == "Home visits")) == 1
    db.dispose()


def test_snooze_clicked_twice_at_once_snoozes_once_without_an_error(database_url: str) -> None:
    """The reminder's "Snooze" clicked twice: the second finds the period snoozed (on PostgreSQL after
    waiting for the first at the unique key) and says so, rather than failing on that key."""
    load_example(database_url)
    db = Database(database_url)
    period = Period.parse("2026-10")

    def click(session: Session) -> list[Period]:
        return snooze(session, all_initiatives(session)[0], HOSPITAL, [period, period])

    assert _at_once(db, click, click) == ([period], [])
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Snooze)) == 1
    db.dispose()


def test_two_reminder_runs_of_one_slot_at_once_send_one_dm_each_without_an_error(database_url: str) -> None:
    """`/ci remind` from two coordinators in the same second (one slot): the later run waits for the
    earlier at the unique key (PostgreSQL), leaves those people out, and answers as usual."""
    load_example(database_url)
    db = Database(database_url)

    def run(session: Session) -> ReminderRun:
        return queue_reminders(session, all_initiatives(session)[0], "manual:same-second", NOW)

    earlier, later = _at_once(db, run, run)
    assert isinstance(earlier, ReminderRun) and isinstance(later, ReminderRun), (earlier, later)
    assert earlier.sent and later.sent == [] and sorted(later.already_reminded) == sorted(earlier.sent)
    with db.unit_of_work() as session:
        keys = session.scalars(select(OutboxItem.idempotency_key).where(OutboxItem.kind == "reminder")).all()
    assert len(keys) == len(earlier.sent)
    db.dispose()


def test_the_first_set_up_sent_twice_at_once_makes_one_initiative_and_says_so(database_url: str) -> None:
    """The first-run form sent twice (a double click, two admins): the later waits for the earlier at
    the workspace's unique keys (PostgreSQL) and is told the initiative is there, not that nothing
    changed because something went wrong."""
    db = Database(database_url)
    db.upgrade()
    draft = FirstRunDraft(
        name="Breathe Easy Tulsa",
        timezone="America/Chicago",
        vision="",
        backbone_key="backbone",
        backbone_name="Tulsa Backbone",
        staff=("U0ADMIN001",),
        digest_channel=None,
        decisions_channel=None,
    )

    def submit(session: Session) -> int:
        return start_initiative(session, "T0TULSA001", "U0ADMIN001", first_run_document(draft)).id

    made, refused = _at_once(db, submit, submit)
    assert isinstance(made, int), made
    assert isinstance(refused, SetupError), refused
    # On PostgreSQL the later met the earlier at the unique key; on SQLite it waited its turn and found it.
    assert "set up a moment ago" in str(refused.problems) or "already" in str(refused.problems)
    with db.unit_of_work() as session:
        assert [i.name for i in all_initiatives(session)] == ["Breathe Easy Tulsa"]
    db.dispose()


def test_the_first_copy_of_the_agenda_fetched_twice_at_once_is_kept_without_an_error(database_url: str) -> None:
    """`/ci agenda` and the scheduled refresh fetch the page for the first time at the same moment:
    the later waits for the earlier's copy (PostgreSQL), compares with it, and keeps its own."""
    load_example(database_url)
    db = Database(database_url)

    def fetch(title: str, edited: str) -> Callable[[Session], bool]:
        return lambda session: store_agenda(
            session,
            all_initiatives(session)[0].id,
            page_id="00000000-0000-0000-0000-00000000a9e0",
            title=title,
            url=None,
            last_edited_time=edited,
            content=[],
            now=NOW,
        )

    changed = _at_once(
        db, fetch("Agenda", "2026-11-20T15:00:00.000Z"), fetch("Agenda, edited", "2026-11-20T15:01:00.000Z")
    )
    assert changed == (False, True)  # the later copy differs from the earlier
    with db.unit_of_work() as session:
        assert session.scalars(select(AgendaCache.title)).all() == ["Agenda, edited"]
    db.dispose()


def test_two_initiatives_naming_one_partner_workspace_at_once_keep_it_for_the_earlier(database_url: str) -> None:
    """A workspace belongs to one initiative. Two coordinators of two coalitions naming the same partner
    workspace at the same moment: both checked before either committed, and on PostgreSQL the later
    then failed at the unique key with a database error instead of being told why."""
    db = Database(database_url)
    db.upgrade()
    load_example(database_url, team="T0HOMEDAL1")
    tulsa = {
        "initiative": {"name": "Breathe Easy Tulsa", "backbone": "hub"},
        "organizations": [{"key": "hub", "name": "Tulsa hub", "members": ["U0TULSA001"]}],
    }
    with db.unit_of_work() as session:
        apply_initiative(session, parse_initiative(tulsa), "T0TULSA001")

    def name_partner(team: str, author: str) -> Callable[[Session], Any]:
        def change(session: Session) -> Any:
            initiative = find_initiative(session, team)
            assert initiative is not None

            def add(document: dict[str, Any]) -> None:
                document["initiative"].setdefault("partner_workspaces", []).append("T0CHILDRN1")

            return change_setup(session, initiative, author, add)

        return change

    dallas, tulsa_change = _at_once(
        db, name_partner("T0HOMEDAL1", "U0BACK0001"), name_partner("T0TULSA001", "U0TULSA001")
    )
    assert not isinstance(dallas, BaseException), dallas
    assert isinstance(tulsa_change, SetupError), tulsa_change
    (problem,) = tulsa_change.problems.values()
    assert "`T0CHILDRN1` is named already by the initiative “Breathe Easy Dallas”" in problem
    with db.unit_of_work() as session:
        assert find_initiative(session, "T0CHILDRN1", partners=True).name == "Breathe Easy Dallas"  # type: ignore[union-attr]
    db.dispose()
