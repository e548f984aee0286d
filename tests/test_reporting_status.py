"""Who has reported, and missed streaks that count only the periods an organization was asked for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ci_slackbot.domain.periods import Period
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.sandbox.slack import validate_blocks
from ci_slackbot.services.initiatives import all_initiatives, apply_initiative
from ci_slackbot.services.measurement import (
    DueReport,
    find_indicator,
    indicator_views,
    record_value,
    reporting_status,
)
from ci_slackbot.services.people import who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import IndicatorReporter, Organization
from integrations.slack.measurement_blocks import status_blocks
from tests.harness import NEIGHBOR
from tests.paths import EXAMPLE

# The coalition starts using the app on 2 December 2026; its baselines are December 2025.
INSTALLED = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
# 20 March 2027 in Dallas: February was due on 15 March; November (due when the app came) to January before it.
LATER = datetime(2027, 3, 20, 15, 0, tzinfo=UTC)


def _text(blocks: list[Any]) -> str:
    assert validate_blocks(blocks, surface="message") == []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(found)


def _streaks(db: Database, now: datetime, key: str) -> dict[str, DueReport]:
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        return {r.organization.key: r for r in reporting_status(session, initiative, now) if r.indicator.key == key}


def _report_january(db: Database) -> None:
    _neighbors_report(db, 41, "2027-01")


def _neighbors_report(db: Database, value: float, period: str, *, reporters_since_start: bool = False) -> None:
    """Neighbors United reports home-assessments for `period`; with `reporters_since_start`, every
    reporter is first made one since the indicator began (no `since` date)."""
    with db.unit_of_work() as session:
        if reporters_since_start:
            session.execute(update(IndicatorReporter).values(since=None))
        initiative = all_initiatives(session)[0]
        record_value(
            session,
            initiative,
            who_is(session, initiative, NEIGHBOR),
            indicator=find_indicator(indicator_views(session, initiative.id), "home-assessments"),
            value=value,
            period=Period.parse(period),
            now=LATER,
        )


def _database(database_url: str, path: Path = EXAMPLE) -> Database:
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        apply_initiative(session, load_initiative_file(path), now=INSTALLED)
    return db


def test_a_streak_counts_from_when_the_organization_was_first_asked(database_url: str) -> None:
    db = _database(database_url)
    try:
        _report_january(db)
        streaks = _streaks(db, LATER, "home-assessments")
        # City Code never reported: November (the month due when the app came), December and January
        # are missed before February, not the year since the baseline, when nobody had asked them
        # anything through the app.
        assert streaks["city-code"].missed_in_a_row == 3
        assert not streaks["city-code"].reported and streaks["city-code"].missing
        assert str(streaks["city-code"].period) == "2027-02"
        # Neighbors United reported January, which ends its streak: only February is missing.
        assert streaks["neighbors"].missed_in_a_row == 0 and streaks["neighbors"].missing
        # On the day the app is installed, nothing is overdue yet.
        assert all(r.missed_in_a_row == 0 for r in _streaks(db, INSTALLED, "home-assessments").values())
    finally:
        db.dispose()


def test_reporters_from_before_the_column_count_from_the_baseline(database_url: str) -> None:
    db = _database(database_url)
    try:
        with db.unit_of_work() as session:
            session.execute(update(IndicatorReporter).values(since=None))
        # January 2026 to January 2027: thirteen periods after the December 2025 baseline, before February.
        assert _streaks(db, LATER, "home-assessments")["city-code"].missed_in_a_row == 13
    finally:
        db.dispose()


def test_a_streak_ends_at_a_report_older_than_the_last_few_periods(database_url: str) -> None:
    # reporting_status reads each reporter's latest earlier period in one probe, not the history:
    # a streak still ends at the last period reported, however far back.
    db = _database(database_url)
    try:
        _neighbors_report(db, 38, "2026-06", reporters_since_start=True)
        streaks = _streaks(db, LATER, "home-assessments")
        # July 2026 to January 2027 missed before February; City Code never reported since the baseline.
        assert streaks["neighbors"].missed_in_a_row == 7
        assert streaks["city-code"].missed_in_a_row == 13
    finally:
        db.dispose()


def test_an_organization_added_as_a_reporter_later_is_asked_from_then(database_url: str, tmp_path: Path) -> None:
    db = _database(database_url)
    try:
        edited = tmp_path / "initiative.yml"
        edited.write_text(
            EXAMPLE.read_text().replace(
                "reporters: [neighbors, city-code]", "reporters: [neighbors, city-code, dallas-isd]"
            )
        )
        with db.unit_of_work() as session:
            apply_initiative(session, load_initiative_file(edited), now=datetime(2027, 2, 15, 18, 0, tzinfo=UTC))
        streaks = _streaks(db, LATER, "home-assessments")
        assert streaks["dallas-isd"].missed_in_a_row == 1  # January (due when it was asked), before February
        assert streaks["city-code"].missed_in_a_row == 3  # applying the file again does not restart it
    finally:
        db.dispose()


def test_status_shows_a_streak_with_the_current_period_and_none_on_the_first_day(database_url: str) -> None:
    db = _database(database_url)
    try:
        later = _text(status_blocks(list(_streaks(db, LATER, "home-assessments").values())))
        first_day = _text(status_blocks(list(_streaks(db, INSTALLED, "home-assessments").values())))
        with db.unit_of_work() as session:
            city = session.scalars(select(Organization.name).where(Organization.key == "city-code")).one()
    finally:
        db.dispose()
    assert city in later
    assert "home-assessments — Feb 2027 missing (was due Mon 15 Mar) · 4 periods in a row" in later
    # On the first day nothing is missing yet: November is due by 15 December.
    assert "home-assessments — Nov 2026 due by Tue 15 Dec" in first_day
    assert "missing" not in first_day and "in a row" not in first_day
