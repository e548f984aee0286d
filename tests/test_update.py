"""`/ci update` through the real `serve` process: text, context, corrections, refusals, the modal, the story."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.models.blocks import Option
from sqlalchemy import event, func, select
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.services import measurement
from ci_slackbot.store.models import Indicator, IndicatorValue, Organization, OutboxItem, ValueRevision
from tests.harness import BACKBONE, EXAMPLE, HOSPITAL, NEIGHBOR, NURSE, STRANGER, World, load_example, wait_for


def _values(world: World) -> int:
    db = world.db()
    with db.unit_of_work() as session:
        count = session.scalar(select(func.count()).select_from(IndicatorValue)) or 0
    db.dispose()
    return count


def _text(answer: dict[str, Any]) -> str:
    return json.dumps(answer, ensure_ascii=False)


def test_a_value_is_recorded_with_its_context(world: World) -> None:
    world.send.ci("update er-visits 19 2026-09", user=HOSPITAL)
    answer = world.send.ci("update er-visits 17.2 2026-10 fewer visits after the school campaign", user=HOSPITAL)
    text = _text(answer)
    assert "Recorded *17.2 per 1,000 children*" in text
    assert "Oct 2026" in text and "Children's Health" in text
    assert "Change from Sep 2026: −1.8 (−9%) — better" in text  # a decrease is good for ER visits
    assert ":large_green_circle:" in text
    assert "% of the way from the baseline" in text
    assert "On track" in text or "Off track" in text
    assert "fewer visits after the school campaign" in text


def test_reporting_again_corrects_and_keeps_a_revision(world: World) -> None:
    world.send.ci("update home-assessments 40 2026-08", user=NEIGHBOR)
    before = _values(world)
    answer = world.send.ci("update home-assessments 42 2026-08 recounted", user=NEIGHBOR)
    assert "corrects the earlier 40 homes (revision 2)" in _text(answer)
    assert _values(world) == before
    db = world.db()
    with db.unit_of_work() as session:
        revisions = session.scalars(select(ValueRevision).where(ValueRevision.value == 40)).all()
        assert len(revisions) == 1 and revisions[0].replaced_by == NEIGHBOR
        queued = session.scalars(select(OutboxItem).where(OutboxItem.service == "sheets")).all()
        assert any(item.idempotency_key.endswith(":r2") for item in queued)
    db.dispose()


def _statements_of(world: World, text: str, keep: Callable[[str], bool]) -> tuple[dict[str, Any], list[str]]:
    """Neighbors' `/ci <text>`: its answer, and the SQL statements run meanwhile that `keep` keeps."""
    engine = world.server.services.db.engine
    kept: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if keep(statement):
            kept.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        answer = world.send.ci(text, user=NEIGHBOR)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    return answer, kept


def test_a_first_report_on_postgresql_is_stored_by_the_statement_that_reads_before_it(world: World) -> None:
    """The INSERT rides along the report's reads (a WITH that inserts); the reads still see the table
    as it was before it: the change is from the month before, not from the value itself."""
    world.send.ci("update home-assessments 30 2026-05 zip=75291", user=NEIGHBOR)
    engine = world.server.services.db.engine
    answer, touching = _statements_of(
        world,
        "update home-assessments 36 2026-06 zip=75291",
        lambda statement: "indicator_values" in statement or "INSERT INTO outbox" in statement,
    )
    text = _text(answer)
    assert "Recorded *36 homes*" in text and "corrects" not in text
    assert "Change from May 2026: +6 (+20%)" in text
    if engine.dialect.name == "postgresql":
        # One statement reads, stores the value and queues its Sheets row.
        assert len(touching) == 1 and "ins AS (INSERT INTO indicator_values" in touching[0], touching
        assert "queued AS (INSERT INTO outbox" in touching[0]
    else:
        assert [" ".join(statement.split()[:3]) for statement in touching] == [
            "SELECT anon_1.id, anon_1.value,",
            "INSERT INTO indicator_values",
            "INSERT INTO outbox",
        ], touching
    db = world.db()
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(IndicatorValue).where(IndicatorValue.breakdown_key.contains("75291")).order_by(IndicatorValue.period)
        ).all()
        assert [(row.period, row.value, row.revision, row.withdrawn) for row in rows] == [
            ("2026-05", 30, 1, False),
            ("2026-06", 36, 1, False),
        ]
        queued = session.scalars(
            select(OutboxItem).where(OutboxItem.idempotency_key == f"sheets:value:{rows[1].id}:r1")
        )
        row = queued.one()
        assert (row.service, row.kind, row.payload, row.status, row.attempts, row.claims, row.result) == (
            "sheets",
            "value",
            {"value_id": rows[1].id, "revision": 1},
            "pending",
            0,
            0,
            {},
        )
        assert row.initiative_id == rows[1].initiative_id
    db.dispose()


def test_a_correction_keeps_the_whole_earlier_state_in_one_statement_on_postgresql(world: World) -> None:
    """On PostgreSQL the report's reads, the revision and the change are one statement, one round trip
    (WITHs that write): what is kept must still be the value as it stood, every field of it, and the
    answer must still compare with the value before the correction."""
    world.send.ci("update home-assessments 40 2026-07 zip=75290 first count", user=NEIGHBOR)
    db = world.db()
    which = (IndicatorValue.period == "2026-07", IndicatorValue.breakdown_key.contains("75290"))
    with db.unit_of_work() as session:
        first = session.scalars(select(IndicatorValue).where(*which)).one()
        value_id, first_recorded = first.id, first.recorded_at
    engine = world.server.services.db.engine
    answer, written = _statements_of(
        world,
        "update home-assessments 44 2026-07 zip=75290 recounted",
        # What writes the correction.
        lambda s: any(w in s for w in ("INSERT INTO value_revisions", "UPDATE indicator_values", "INSERT INTO outbox")),
    )
    assert "corrects the earlier 40 homes (revision 2)" in _text(answer)
    if engine.dialect.name == "postgresql":
        assert len(written) == 1, written
        assert written[0].startswith("WITH cur AS (SELECT"), written
        assert "kept AS (INSERT INTO value_revisions" in written[0]
        assert "upd AS (UPDATE indicator_values AS v" in written[0]
        assert "queued AS (INSERT INTO outbox" in written[0]  # and the Sheets row is queued by it too
    else:
        assert [" ".join(statement.split()[:3]) for statement in written] == [
            "INSERT INTO value_revisions",
            "UPDATE indicator_values SET",
            "INSERT INTO outbox",
        ], written
    with db.unit_of_work() as session:
        value = session.get_one(IndicatorValue, value_id)
        kept = session.scalars(select(ValueRevision).where(ValueRevision.value_id == value_id)).one()
        assert (value.value, value.revision, value.note) == (44, 2, "recounted")
        assert value.recorded_at > first_recorded
        assert (kept.value, kept.revision, kept.note, kept.reporter, kept.entered_via, kept.withdrawn) == (
            40,
            1,
            "first count",
            NEIGHBOR,
            "text",
            False,
        )
        assert (kept.recorded_at, kept.replaced_by, kept.initiative_id) == (
            first_recorded,
            NEIGHBOR,
            value.initiative_id,
        )
        queued = session.scalars(select(OutboxItem).where(OutboxItem.idempotency_key == f"sheets:value:{value_id}:r2"))
        row = queued.one()
        assert (row.service, row.kind, row.payload, row.status, row.attempts) == (
            "sheets",
            "value",
            {"value_id": value_id, "revision": 2},
            "pending",
            0,
        )
    db.dispose()


@pytest.mark.parametrize("name", ["_REPORT_POSTGRES", "_REPORT_AND_QUEUE_POSTGRES"])
def test_the_report_statement_is_short_enough_for_psycopg_to_keep_it_parsed(name: str) -> None:
    """psycopg converts a statement's text once and keeps it only up to its length limit; past it,
    every `/ci update` would pay for the parse again (a sixth of the report's CPU, bench/ack_latency.py).
    A column added to the values grows it: shorten it elsewhere (measurement.py says how)."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    statement = getattr(measurement, name)
    sql = str(statement.compile(dialect=postgresql_psycopg.dialect()))
    assert len(sql) <= MAX_CACHED_STATEMENT_LENGTH, len(sql)


def test_keys_match_by_prefix_and_case_and_units_are_understood(world: World) -> None:
    answer = world.send.ci("update HOME-V 45% 2026-10 zip=75216", user=NEIGHBOR)
    text = _text(answer)
    assert "Recorded *45%*" in text and "zip 75216" in text
    counted = world.send.ci("update home-a 1,204 2026-09", user=NEIGHBOR)
    assert "Recorded *1,204 homes*" in _text(counted)


def test_a_wrong_way_move_asks_for_the_story_and_the_story_is_saved(world: World) -> None:
    world.send.ci("update action-plans 60 2026-Q2", user=NURSE)
    answer = world.send.ci("update action-plans 50 2026-Q3", user=NURSE)
    text = _text(answer)
    assert "moved the wrong way" in text and ":red_circle:" in text
    button = next(b["accessory"] for b in answer["blocks"] if b.get("accessory", {}).get("action_id") == "add_story")
    response = world.send.click(NURSE, "add_story", button["value"])
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(NURSE, callback_id="value_story"))
    view = opened[-1]["view"]
    submitted = world.send.submit(
        NURSE,
        {**view, "id": opened[-1]["view_id"]},
        {"story": {"story": {"type": "plain_text_input", "value": "Two nurses left in August"}}},
    )
    assert submitted.status_code == 200
    db = world.db()
    with db.unit_of_work() as session:
        row = session.get(IndicatorValue, int(button["value"]))
        assert row is not None and "Two nurses left in August" in row.note
    db.dispose()


BAD_INPUT = [
    ("update er-visits lots", "`lots`"),
    ("update er-visits 1001", "maximum"),
    ("update er-visits -3", "minimum"),
    ("update nothing-like-this 12", "There is no indicator `nothing-like-this`"),
    ("update home 12", "could be"),
    ("update er-visits 12 2026-13", "2026-13"),
    ("update er-visits 12 2026-Q3", "monthly"),
    ("update er-visits 12 2099-01", "has not started yet"),
    ("update er-visits 12 2026-10 age=5", "not split by `age`"),
    ("update er-visits 45% 2026-10", "45%"),
    ("update action-plans 50 2026-Q3", "reported by Dallas ISD"),
]


def test_bad_input_gets_a_clear_private_answer_and_writes_nothing(world: World) -> None:
    before = _values(world)
    for text, expected in BAD_INPUT:
        answer = world.send.ci(text, user=HOSPITAL)
        assert answer["response_type"] == "ephemeral", text
        assert answer["text"].startswith(":warning:"), (text, answer)
        assert expected in answer["text"], (text, answer["text"])
    assert _values(world) == before


def test_backbone_staff_say_which_organization_they_report_for(world: World) -> None:
    unclear = world.send.ci("update home-visits 50 2026-10", user=BACKBONE)
    assert "org=childrens-health" in unclear["text"] and "org=neighbors" in unclear["text"]
    answer = world.send.ci("update home-visits 50 2026-10 org=neighbors", user=BACKBONE)
    assert "Neighbors United" in _text(answer)


def test_update_alone_opens_a_modal_and_field_errors_show_on_the_field(world: World) -> None:
    response, _ = world.send.command("update", user=NURSE)
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(NURSE, callback_id="update_value"))
    view = opened[-1]["view"]
    options = next(b for b in view["blocks"] if b["block_id"] == "indicator")["element"]["options"]
    assert [o["value"] for o in options] == ["action-plans"]  # only what Dallas ISD reports
    state = {
        "indicator": {"update_pick_indicator": {"type": "static_select", "selected_option": {"value": "action-plans"}}},
        "value": {"value": {"type": "plain_text_input", "value": "abc"}},
        "period": {"period": {"type": "plain_text_input", "value": "2026-10"}},
        "note": {"note": {"type": "plain_text_input", "value": None}},
    }
    before = _values(world)
    refused = world.send.submit(NURSE, {**view, "id": opened[-1]["view_id"]}, state)
    body = refused.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"value", "period"}
    assert _values(world) == before

    # Refused by the recording itself (out of range): the form stays usable, as for the errors above.
    state["value"]["value"]["value"] = "150"
    state["period"]["period"]["value"] = "2026-Q1"
    out_of_range = world.send.submit(NURSE, {**view, "id": opened[-1]["view_id"]}, state).json()
    assert out_of_range["response_action"] == "errors" and set(out_of_range["errors"]) == {"value"}

    state["value"]["value"]["value"] = "72"
    accepted = world.send.submit(NURSE, {**view, "id": opened[-1]["view_id"]}, state)
    assert accepted.status_code == 200 and not accepted.content.strip(b"{} ")
    dm = wait_for(lambda: [m for m in world.slack.dms(NURSE) if "Recorded" in json.dumps(m)])
    assert "72%" in json.dumps(dm[-1])
    assert _values(world) == before + 1
    db = world.db()
    # The DM went through the outbox, queued with the value: a Slack hiccup on the way is retried.
    with db.unit_of_work() as session:
        keys = session.scalars(select(OutboxItem.idempotency_key).where(OutboxItem.kind == "post")).all()
    assert any(key.startswith("slack:recorded:") for key in keys)

    # The same form sent again (a double click): recorded once, no correction of itself.
    def revisions() -> int:
        with db.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(ValueRevision)) or 0)

    kept = revisions()
    twice = world.send.submit(NURSE, {**view, "id": opened[-1]["view_id"]}, state)
    assert twice.status_code == 200 and not twice.content.strip(b"{} ")
    assert _values(world) == before + 1 and revisions() == kept
    db.dispose()
    # The confirmation in the DM can take the report back too.
    undone = _click_undo(world, NURSE, _undo_button(dm[-1]))
    assert "Withdrawn: *72%*" in _text(undone) and undone["replace_original"] is True


LEAVING = "U0CHLD0002"  # of Children's Health until the edited file below gives the seat to a new colleague


def test_a_changed_initiative_file_is_seen_by_the_next_command(fresh_world: World, tmp_path: Path) -> None:
    """Indicators and memberships are kept in memory between commands; `ci-slackbot init` with an
    edited file (here from this process, as another process would) must reach the very next command."""
    refused = _text(fresh_world.send.ci("update er-visits 17 2026-10", user=STRANGER))
    assert "not listed as a member" in refused
    assert "Recorded" in _text(fresh_world.send.ci("update er-visits 18 2026-09", user=LEAVING))

    edited = EXAMPLE.read_text().replace(f"members: [{HOSPITAL}, {LEAVING}]", f"members: [{HOSPITAL}, {STRANGER}]")
    edited = edited.replace("key: er-visits", "key: er-trips")
    assert edited != EXAMPLE.read_text()
    path = tmp_path / "initiative.yml"
    path.write_text(edited)
    load_example(fresh_world.database_url, path)

    welcome = _text(fresh_world.send.ci("update er-trips 17 2026-10", user=STRANGER))
    assert "Recorded *17 per 1,000 children*" in welcome
    gone = _text(fresh_world.send.ci("update er-trips 16 2026-10", user=LEAVING))
    assert "not listed as a member" in gone
    retired = _text(fresh_world.send.ci("update er-visits 16 2026-10", user=STRANGER))
    assert "There is no indicator `er-visits`" in retired


def test_progress_beyond_either_end_is_said_in_words(world: World) -> None:
    # ER visits: baseline 18.4 (Dec 2025), target 12 by Dec 2027, lower is better.
    worse = _text(world.send.ci("update er-visits 19.5 2026-03", user=HOSPITAL))
    assert "Further from the target (12 per 1,000 children by Dec 2027) than the baseline (18.4" in worse
    assert "% of the way" not in worse
    reached = _text(world.send.ci("update er-visits 11.8 2026-04", user=HOSPITAL))
    assert "Target reached (12 per 1,000 children by Dec 2027); the baseline was 18.4" in reached
    assert "% of the way" not in reached


def _undo_button(answer: dict[str, Any]) -> str:
    return next(
        e["value"]
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "undo_value"
    )


def _click_undo(world: World, user: str, value: str) -> dict[str, Any]:
    """Press an Undo button; returns what replaced the message (or answered beside it)."""
    key = uuid.uuid4().hex
    assert world.send.click(user, "undo_value", value, response_key=key).status_code == 200
    return wait_for(lambda: world.slack.responses(key))[0]


def _row(world: World, period: str) -> IndicatorValue:
    """The whole-population home-assessments value of Neighbors United for `period`."""
    db = world.db()
    with db.unit_of_work() as session:
        row = session.scalars(
            select(IndicatorValue)
            .join(Indicator, IndicatorValue.indicator_id == Indicator.id)
            .join(Organization, IndicatorValue.organization_id == Organization.id)
            .where(
                Indicator.key == "home-assessments",
                Organization.key == "neighbors",
                IndicatorValue.period == period,
                IndicatorValue.breakdown_key == "",
            )
        ).one()
        session.expunge(row)
    db.dispose()
    return row


def test_undo_restores_the_value_a_correction_replaced(world: World) -> None:
    first = world.send.ci("update home-assessments 30 2026-05", user=NEIGHBOR)
    corrected = world.send.ci("update home-assessments 33 2026-05 recounted", user=NEIGHBOR)
    assert _undo_button(first).endswith(":1") and _undo_button(corrected).endswith(":2")
    # The first message's button is out of date: it undoes nothing.
    stale = _click_undo(world, NEIGHBOR, _undo_button(first))
    assert "changed since" in stale["text"] and "like `/ci update home-assessments 12 2026-05`" in stale["text"]
    assert stale["replace_original"] is False
    assert (_row(world, "2026-05").value, _row(world, "2026-05").revision) == (33, 2)

    undone = _click_undo(world, NEIGHBOR, _undo_button(corrected))
    assert undone["replace_original"] is True
    assert "is back to *30 homes*, the value before 33 homes" in _text(undone)
    row = _row(world, "2026-05")
    assert (row.value, row.revision, row.withdrawn, row.note) == (30, 3, False, "")


def test_undo_withdraws_a_first_report_until_it_is_reported_again(world: World) -> None:
    answer = world.send.ci("update home-assessments 12 2026-04", user=NEIGHBOR)
    button = _undo_button(answer)
    # Only the organization that reported it (or the backbone) may take it back.
    refused = _click_undo(world, HOSPITAL, button)
    assert "Only the organization that reported this value can undo it" in refused["text"]
    assert not _row(world, "2026-04").withdrawn

    undone = _click_undo(world, NEIGHBOR, button)
    assert "Withdrawn: *12 homes* for *Environmental home assessments completed* (Apr 2026" in _text(undone)
    row = _row(world, "2026-04")
    assert (row.withdrawn, row.revision, row.reporter) == (True, 2, NEIGHBOR)
    history = _text(world.send.ci("indicator home-assessments", user=NEIGHBOR))
    assert "Apr 2026" not in history
    for forged in ("", "12", "x:1", "99999999999999999999:1", f"{button.split(':')[0]}:-1"):
        assert "out of date" in _click_undo(world, NEIGHBOR, forged)["text"], forged
    again = _click_undo(world, NEIGHBOR, button)
    assert "This value was withdrawn, so nothing changed" in again["text"]

    reported = _text(world.send.ci("update home-assessments 14 2026-04", user=NEIGHBOR))
    assert "Recorded *14 homes*" in reported and "corrects" not in reported
    row = _row(world, "2026-04")
    assert (row.withdrawn, row.revision, row.value) == (False, 3, 14)
    assert "Apr 2026" in _text(world.send.ci("indicator home-assessments", user=NEIGHBOR))


def test_two_undo_clicks_at_once_undo_once(world: World) -> None:
    world.send.ci("update home-assessments 20 2026-03", user=NEIGHBOR)
    button = _undo_button(world.send.ci("update home-assessments 21 2026-03", user=NEIGHBOR))
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: _click_undo(world, NEIGHBOR, button), range(2)))
    assert sorted(a["replace_original"] for a in answers) == [False, True]
    assert any("changed since" in a["text"] for a in answers)
    row = _row(world, "2026-03")
    assert (row.value, row.revision, row.withdrawn) == (20, 3, False)
    db = world.db()
    with db.unit_of_work() as session:
        kept = session.scalars(select(ValueRevision.revision).where(ValueRevision.value_id == row.id)).all()
    db.dispose()
    assert sorted(kept) == [1, 2]


def test_a_value_is_withdrawn_by_text_long_after_its_message(world: World) -> None:
    world.send.ci("update home-visits 41% 2026-02 zip=75217", user=NEIGHBOR)
    # Backbone staff clean up a partner's value; with two reporting organizations they say which.
    ambiguous = world.send.ci("update home-visits withdraw 2026-02 zip=75217", user=BACKBONE)
    assert "org=childrens-health" in ambiguous["text"] and "org=neighbors" in ambiguous["text"]
    answer = world.send.ci("update home-visits withdraw 2026-02 zip=75217 org=neighbors", user=BACKBONE)
    assert answer["response_type"] == "ephemeral"
    assert "Withdrawn: *41%* for *Emergency visits followed by a home visit within 14 days* (Feb 2026" in _text(answer)
    db = world.db()
    with db.unit_of_work() as session:
        row = session.scalars(select(IndicatorValue).where(IndicatorValue.breakdown_key == "zip=75217")).one()
        assert (row.withdrawn, row.revision, row.reporter) == (True, 2, BACKBONE)
    db.dispose()
    for text, expected in [
        ("update home-visits withdraw 2026-02 zip=75217 org=neighbors", "no value of home-visits for Feb 2026"),
        ("update home-visits withdraw 2026-02 zip=75217 org=neighbors oops", "takes no note"),
        ("update home-visits withdraw 2026-Q1 org=neighbors", "monthly"),
        ("update er-visits withdraw 2026-02", "reported by Children's Health"),
    ]:
        refused = world.send.ci(text, user=NEIGHBOR if "er-visits" in text else BACKBONE)
        assert refused["text"].startswith(":warning:") and expected in refused["text"], (text, refused["text"])
    assert "/ci update &lt;indicator&gt; withdraw" in _text(world.send.ci("help", user=NEIGHBOR))


def _rows(world: World, key: str) -> dict[tuple[str, str], tuple[float, str]]:
    """(period, breakdown) → (value, note) of an indicator's current values."""
    db = world.db()
    with db.unit_of_work() as session:
        rows = session.execute(
            select(IndicatorValue.period, IndicatorValue.breakdown_key, IndicatorValue.value, IndicatorValue.note)
            .join(Indicator, Indicator.id == IndicatorValue.indicator_id)
            .where(Indicator.key == key, IndicatorValue.withdrawn.is_(False))
        ).all()
    db.dispose()
    return {(period, breakdown): (value, note) for period, breakdown, value, note in rows}


def test_a_date_or_a_period_written_any_way_names_the_period_and_keeps_the_breakdown(fresh_world: World) -> None:
    world = fresh_world
    current = Period.current(Frequency.MONTHLY, "America/Chicago")
    last = current.previous()
    name = last.start.strftime("%B")
    forms = [
        f"{last.year}-{last.number:02d}-01",
        f"{last.start:%b}-{last.year}",
        f"{last.year}/{last.number:02d}",
        f"{last.number:02d}/{last.year}",
        name,
        f"{last.year}-{last.number}-1",
        f"{name} {last.year}",
    ]
    world.send.ci("update er-visits 20 kept as it was", user=HOSPITAL)
    for index, form in enumerate(forms):
        zip_code = f"7520{index}"
        answer = world.send.ci(f"update er-visits {30 + index} {form} zip={zip_code} after the flu", user=HOSPITAL)
        assert answer["response_type"] == "ephemeral"
        assert f"({last.label()}, Children's Health, zip {zip_code})" in _text(answer), (form, answer)
        if form == name:
            assert f"`{name}` has no year: it is read as {last.label()}" in _text(answer)
        rows = _rows(world, "er-visits")
        assert rows[(str(last), f"zip={zip_code}")] == (30 + index, "after the flu"), form
        assert rows[(str(last), "")] == (20, "kept as it was"), form  # no period: the last completed
        assert not any(zip_code in b for p, b in rows if p == str(current))


def test_a_quarter_written_in_words_is_that_quarter(fresh_world: World) -> None:
    world = fresh_world
    quarter = Period.current(Frequency.QUARTERLY, "America/Chicago").previous()
    for form in (f"Q{quarter.number} {quarter.year}", f"{quarter.year} Q{quarter.number}", f"Q{quarter.number}"):
        answer = world.send.ci(f"update action-plans 55 {form} new plans", user=NURSE)
        assert f"({quarter.label()}, Dallas ISD Health Services)" in _text(answer), (form, answer)
        assert _rows(world, "action-plans") == {(str(quarter), ""): (55, "new plans")}


DATES_REFUSED = [
    ("update er-visits 12 0001-01 zip=75216", "0001-01 is long before er-visits"),
    ("update er-visits 12 1999-05", "long before"),
    ("update er-visits 12 11/01/2026", "YYYY-MM-DD"),
    ("update er-visits 12 Nov-26", "not clear"),
    ("update er-visits 12 2026-02-30", "not a real date"),
    ("update er-visits 12 Q3 2026", "reported monthly"),
    ("update er-visits 12 2026-10 2026-11", "Give one period"),
    ("update er-visits 12 zip=75216 2026-10 2026-11", "Give one period"),
    ("update action-plans 12 November", "reported quarterly: write a quarter like"),
]


def test_a_date_that_cannot_be_the_period_is_refused_never_a_note(world: World) -> None:
    before = _values(world)
    for text, expected in DATES_REFUSED:
        answer = world.send.ci(text, user=BACKBONE if "action-plans" in text else HOSPITAL)
        assert answer["response_type"] == "ephemeral", text
        assert answer["text"].startswith(":warning:"), (text, answer)
        assert expected in answer["text"], (text, answer["text"])
    assert _values(world) == before


def test_the_form_reads_the_period_as_the_text_does(world: World) -> None:
    response, _ = world.send.command("update er-visits", user=HOSPITAL)
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(HOSPITAL, callback_id="update_value"))
    view = opened[-1]["view"]
    last = Period.current(Frequency.MONTHLY, "America/Chicago").previous()

    def submit(period: str) -> Any:
        state = {
            "indicator": {
                "update_pick_indicator": {"type": "static_select", "selected_option": {"value": "er-visits"}}
            },
            "value": {"value": {"type": "plain_text_input", "value": "16"}},
            "period": {"period": {"type": "plain_text_input", "value": period}},
            "breakdown:zip": {"breakdown:zip": {"type": "plain_text_input", "value": "75298"}},
        }
        return world.send.submit(HOSPITAL, {**view, "id": opened[-1]["view_id"]}, state)

    refused = submit("0001-01").json()
    assert refused["response_action"] == "errors" and "long before" in refused["errors"]["period"]
    assert submit(f"{last.start:%B} {last.year}").status_code == 200
    assert wait_for(lambda: _rows(world, "er-visits").get((str(last), "zip=75298")))[0] == 16


def _initiative_of(count: int, directory: Path) -> list[str]:
    """The example initiative grown to `count` indicators, all reported by Children's Health; their keys in order."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for number in range(count - len(data["indicators"])):
        data["indicators"].append(
            {
                "key": f"bulk-{number:03d}",
                "name": f"Bulk indicator {number} with a name long enough to be cut in a select",
                "goal": "G3",
                "unit": "homes",
                "direction": "increase",
                "frequency": "monthly",
                "reporters": ["childrens-health"],
            }
        )
    path = directory / "many.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return [i["key"] for i in data["indicators"]]


def _suggest(world: World, user: str, view: dict[str, Any], typed: str) -> list[dict[str, Any]]:
    """What Slack sends when someone types in an external select, and the options the app answers."""
    response = world.send.interaction(
        {
            "type": "block_suggestion",
            "user": {"id": user, "team_id": world.send.team},
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
            "block_id": "indicator",
            "action_id": "update_pick_indicator",
            "value": typed,
        }
    )
    assert response.status_code == 200
    options: list[dict[str, Any]] = response.json()["options"]
    for option in Option.parse_all(options):
        option.validate_json()  # slack_sdk's own model of an option
    return options


def test_the_form_of_someone_who_reports_150_indicators_is_valid_with_the_140th_chosen(
    fresh_world: World, tmp_path: Path
) -> None:
    """A static select holds 100 options and its initial option must be one of them (the stand-in
    refuses it otherwise, as Slack does): past 100 the form asks the app for options as one types."""
    world = fresh_world
    keys = _initiative_of(150, tmp_path)
    load_example(world.database_url, tmp_path / "many.yml")
    wanted = keys[139]
    response, _ = world.send.command(f"update {wanted}", user=HOSPITAL)
    assert response.status_code == 200
    opened = wait_for(lambda: world.slack.views(HOSPITAL, callback_id="update_value"))
    view = {**opened[-1]["view"], "id": opened[-1]["view_id"]}
    select = next(b for b in view["blocks"] if b["block_id"] == "indicator")["element"]
    assert select["type"] == "external_select" and select["initial_option"]["value"] == wanted
    assert "options" not in select
    # The options as the partner types: at most 100, what they report, the best match first.
    everything = _suggest(world, HOSPITAL, view, "")
    assert len(everything) == 100 and {o["value"] for o in everything} <= set(keys)
    typed = _suggest(world, HOSPITAL, view, wanted[:-1])
    assert typed[0]["value"].startswith(wanted[:-1]) and wanted in [o["value"] for o in typed]
    assert _suggest(world, HOSPITAL, view, "no such thing") == []
    assert _suggest(world, STRANGER, view, "") == []  # not a member: nothing to offer
    # Choosing another indicator rebuilds the form, still valid, with that one chosen.
    world.send.interaction(
        {
            "type": "block_actions",
            "user": {"id": HOSPITAL, "team_id": world.send.team},
            "trigger_id": world.slack.new_trigger_id(HOSPITAL, team_id=world.send.team),
            "container": {"type": "view", "view_id": view["id"]},
            "view": {
                **view,
                "state": {
                    "values": {
                        "indicator": {
                            "update_pick_indicator": {"type": "external_select", "selected_option": typed[-1]}
                        }
                    }
                },
            },
            "actions": [{"action_id": "update_pick_indicator", "block_id": "indicator", "type": "external_select"}],
        }
    )
    updated = wait_for(
        lambda: [v for v in world.slack.views(HOSPITAL, callback_id="update_value") if v["method"] == "views.update"]
    )
    chosen = next(b for b in updated[-1]["view"]["blocks"] if b["block_id"] == "indicator")["element"]
    assert chosen["initial_option"]["value"] == typed[-1]["value"]


def test_up_to_100_indicators_the_form_keeps_its_static_select(fresh_world: World, tmp_path: Path) -> None:
    keys = _initiative_of(100, tmp_path)
    load_example(fresh_world.database_url, tmp_path / "many.yml")
    fresh_world.send.command(f"update {keys[99]}", user=BACKBONE)
    opened = wait_for(lambda: fresh_world.slack.views(BACKBONE, callback_id="update_value"))
    select = next(b for b in opened[-1]["view"]["blocks"] if b["block_id"] == "indicator")["element"]
    assert select["type"] == "static_select" and len(select["options"]) == 100
    assert select["initial_option"] in select["options"] and select["initial_option"]["value"] == keys[99]
