"""Where indicators stand, read from the database, against the rules applied to every value by hand.

`standings` lets the database pick each indicator's latest periods with a coalition figure
(`recent`), and `reporting_status` and the equity gap read only the periods they need. These
tests build a history with every rollup rule, breakdown values (which never count in the
whole-population figure), withdrawn and revised values, partners that report sparsely, and a
retired organization whose values stay, and compare what is read with `combine` over all values.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from ci_slackbot.domain.measurement import Combined, Point, Reported, combine, unit_scale
from ci_slackbot.domain.periods import Period
from ci_slackbot.initiative_file import parse_initiative
from ci_slackbot.services.equity import _equity, equity_by_indicator, lens_groups
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.services.measurement import (
    IndicatorView,
    Standing,
    breakdown_figure,
    indicator_views,
    record_value,
    reporting_status,
    standings,
    withdraw_value,
)
from ci_slackbot.services.people import who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import IndicatorValue, Initiative, Organization

INSTALLED = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 7, 20, 15, 0, tzinfo=UTC)
MONTHS = [Period.parse("2024-01").shift(m) for m in range(30)]  # to 2026-06
ORGS = ("alpha", "beta", "gamma", "delta")
ZIPS = ("75201", "75216", "75217")
BACKBONE = "U0STANDBB1"


def _file(orgs: tuple[str, ...]) -> dict[str, Any]:
    def indicator(key: str, unit: str, **more: Any) -> dict[str, Any]:
        return {
            "key": key,
            "name": f"Indicator {key}",
            "goal": "G1",
            "unit": unit,
            "direction": "increase",
            "frequency": "monthly",
            "baseline": {"period": "2023-12", "value": 10},
            "target": {"period": "2027-12", "value": 90},
            "reporters": [o for o in ORGS[:3] if o in orgs] + (["delta"] if "delta" in orgs else []),
            # `zone` sorts after `zip`: keys like `zip=75201,zone=north` look like the lens's to a pattern.
            "breakdowns": ["zip", "zone"],
            **more,
        }

    organizations = [{"key": "backbone", "name": "Backbone", "sector": "backbone", "members": [BACKBONE]}]
    organizations += [{"key": o, "name": f"Org {o}", "members": [f"U0STAND{o[:3].upper()}"]} for o in orgs]
    return {
        "initiative": {"name": "Standings", "timezone": "America/Chicago", "backbone": "backbone"},
        "goals": [{"key": "G1", "title": "Goal", "strategies": ["One"]}],
        "organizations": organizations,
        "indicators": [
            indicator("homes", "homes"),  # sum
            indicator("weighted", "percent"),  # rate, mostly with numerators and denominators
            indicator("bare", "percent"),  # rate, bare values: a figure only where one partner reported
            indicator("never", "per 1,000 children"),  # rate, bare values from several partners: never combined
            indicator("owned", "visits", rollup="owner", owner="beta"),
            indicator("listed", "score", rollup="none"),
            indicator("empty", "homes"),  # no values at all
            indicator("split-only", "homes"),  # breakdown values only
        ],
        "channels": {"digest": "C0STANDING"},
    }


def _fill(db: Database, initiative_id: int, seed: int) -> None:
    """A history of whole-population and breakdown values, some withdrawn; integers, so sums are exact."""
    rng = random.Random(seed)
    with db.unit_of_work() as session:
        views = {v.key: v for v in indicator_views(session, initiative_id)}
        orgs = {key: org_id for key, org_id in session.execute(select(Organization.key, Organization.id))}
        rows: list[dict[str, Any]] = []

        def add(key: str, org: str, period: Period, breakdown: dict[str, str], **value: Any) -> None:
            rows.append(
                {
                    "initiative_id": initiative_id,
                    "indicator_id": views[key].id,
                    "organization_id": orgs[org],
                    "period": str(period),
                    "period_start": period.start,
                    "breakdown_key": ",".join(f"{k}={breakdown[k]}" for k in sorted(breakdown)),
                    "breakdown": breakdown,
                    "note": "",
                    "reporter": BACKBONE,
                    "entered_via": "import",
                    "recorded_at": INSTALLED + timedelta(days=rng.randrange(900), seconds=rng.randrange(86400)),
                    "revision": 1,
                    "withdrawn": rng.random() < 0.04,
                    "numerator": None,
                    "denominator": None,
                    **value,
                }
            )

        for m, period in enumerate(MONTHS):
            for org in ORGS:
                late = org == "delta" and m > 20  # delta stopped reporting before it was retired
                for key in ("homes", "owned", "listed"):
                    if not late and rng.random() < (0.4 if (key, org) == ("owned", "beta") else 0.8):
                        add(key, org, period, {}, value=rng.randrange(0, 500))
                if not late and rng.random() < 0.8:
                    whole = rng.randrange(1, 400)
                    part = rng.randrange(0, whole + 1)
                    if rng.random() < 0.85:
                        add("weighted", org, period, {}, value=part / whole * 100, numerator=part, denominator=whole)
                    else:
                        add("weighted", org, period, {}, value=rng.randrange(0, 100))
                # One partner alone in a period now and then: only those periods have a figure.
                # In the last six months two partners report each time: the latest figure lies further back.
                alone = org == "alpha" or (rng.random() < 0.15 if m < len(MONTHS) - 6 else org == "beta")
                if not late and alone and m % 7 != 6:
                    add("bare", org, period, {}, value=rng.randrange(0, 100))
                if not late and org in ("alpha", "beta"):
                    add("never", org, period, {}, value=rng.randrange(0, 100), withdrawn=False)
                for key in ("homes", "weighted", "split-only", "owned"):
                    for zip_code in ZIPS:
                        # The last three months of split-only have values by zip and zone only.
                        if rng.random() < 0.3 and not (key == "split-only" and m >= len(MONTHS) - 3):
                            add(key, org, period, {"zip": zip_code}, value=rng.randrange(0, 60))
                        if rng.random() < 0.2:
                            add(key, org, period, {"zip": zip_code, "zone": "north"}, value=rng.randrange(0, 30))
        # Breakdown values reported for a period after the latest whole-population one.
        for org in ("alpha", "beta"):
            add("homes", org, MONTHS[-1].next(), {"zip": ZIPS[0]}, value=7, withdrawn=False)
        session.execute(insert(IndicatorValue), rows)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        created, _ = apply_initiative(session, parse_initiative(_file(ORGS)), "TSTAND", now=INSTALLED)
        initiative_id = created.id
    _fill(db, initiative_id, seed=7)
    with db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        views = {v.key: v for v in indicator_views(session, initiative_id)}
        backbone = who_is(session, initiative, BACKBONE)
        # Revised: reported, then corrected; the correction counts, the revision is only kept.
        for value in (111.0, 222.0):
            record_value(
                session,
                initiative,
                backbone,
                indicator=views["homes"],
                value=value,
                period=MONTHS[-1],
                organization_key="gamma",
                now=NOW,
            )
        # Withdrawn through the app: the owner's latest value, so the owner's figure goes back a period.
        record_value(
            session,
            initiative,
            backbone,
            indicator=views["owned"],
            value=5.0,
            period=MONTHS[-1],
            organization_key="beta",
            now=NOW,
        )
        withdraw_value(
            session, initiative, backbone, indicator=views["owned"], period=MONTHS[-1], organization_key="beta", now=NOW
        )
        # Retired: delta leaves the file; its values stay and count as from an organization no longer listed.
        apply_initiative(session, parse_initiative(_file(ORGS[:3])), "TSTAND", now=NOW)
    yield db
    db.dispose()


# -- the rules applied to every value ------------------------------------------------------------


def _current_values(db: Database, initiative_id: int) -> list[IndicatorValue]:
    with db.unit_of_work() as session:
        rows = list(
            session.scalars(
                select(IndicatorValue).where(
                    IndicatorValue.initiative_id == initiative_id, IndicatorValue.withdrawn.is_(False)
                )
            )
        )
        session.expunge_all()
    return rows


def _figures(view: IndicatorView, rows: list[IndicatorValue]) -> dict[str, Combined]:
    """Every period's coalition figure from every whole-population value, by `combine`."""
    by_period: dict[str, list[Reported]] = defaultdict(list)
    for row in rows:
        if row.indicator_id == view.id and row.breakdown_key == "":
            by_period[row.period].append(Reported(row.organization_id, row.value, row.numerator, row.denominator))
    owner = view.owner
    return {
        period: combine(
            view.rollup,
            values,
            partners=[r.id for r in view.reporters],
            owner=owner.id if owner is not None else None,
            scale=unit_scale(view.unit),
        )
        for period, values in by_period.items()
    }


def _series(figures: dict[str, Combined]) -> list[Point]:
    return sorted(
        (Point(Period.parse(p), f.value) for p, f in figures.items() if f.value is not None),
        key=lambda point: point.period,
    )


def _breakdown_latest(view: IndicatorView, rows: list[IndicatorValue]) -> dict[str, float]:
    mine = [r for r in rows if r.indicator_id == view.id and r.breakdown_key]
    if not mine:
        return {}
    latest = max({r.period for r in mine}, key=Period.parse)
    groups: dict[str, list[Reported]] = defaultdict(list)
    for r in mine:
        if r.period == latest:
            groups[r.breakdown_key].append(Reported(r.organization_id, r.value, r.numerator, r.denominator))
    figures = {key: breakdown_figure(view, values) for key, values in groups.items()}
    return {key: value for key, value in figures.items() if value is not None}


def _initiative(db: Database) -> tuple[int, list[IndicatorView]]:
    with db.unit_of_work() as session:
        initiative = session.scalars(select(Initiative)).one()
        return initiative.id, indicator_views(session, initiative.id)


def _read(db: Database, initiative_id: int, recent: int | None) -> dict[str, Standing]:
    with db.unit_of_work() as session:
        return {s.indicator.key: s for s in standings(session, initiative_id, recent=recent)}


@pytest.mark.parametrize("recent", [None, 1, 2, 3, 24])
def test_standings_read_in_the_database_are_the_rules_applied_to_every_value(db: Database, recent: int | None) -> None:
    initiative_id, views = _initiative(db)
    rows = _current_values(db, initiative_id)
    board = _read(db, initiative_id, recent)
    assert list(board) == [v.key for v in views]
    for view in views:
        standing = board[view.key]
        figures = _figures(view, rows)
        series = _series(figures)
        kept = series if recent is None else series[-recent:]
        assert list(standing.series) == kept, view.key
        assert standing.figures == {str(p.period): figures[str(p.period)] for p in kept}, view.key
        mine = [r for r in rows if r.indicator_id == view.id]
        assert standing.last_reported == (
            max(r.recorded_at if r.recorded_at.tzinfo else r.recorded_at.replace(tzinfo=UTC) for r in mine)
            if mine
            else None
        )
        assert standing.breakdown_latest == _breakdown_latest(view, rows), view.key
        whole_periods = {r.period for r in mine if r.breakdown_key == ""}
        if series or not whole_periods:
            assert standing.per_partner == (), view.key
        else:
            latest = max(whole_periods, key=Period.parse)
            names = {r.id: r.name for r in view.reporters}
            expected = sorted(
                (names.get(r.organization_id, "an organization no longer listed"), r.value)
                for r in mine
                if r.period == latest and r.breakdown_key == ""
            )
            assert sorted((p.organization, p.point.value) for p in standing.per_partner) == expected, view.key
            assert {str(p.point.period) for p in standing.per_partner} == {latest}


def test_the_history_covers_every_case_the_rules_have(db: Database) -> None:
    """The comparison above means something only if the history holds each case."""
    initiative_id, views = _initiative(db)
    rows = _current_values(db, initiative_id)
    by_key = {v.key: v for v in views}
    board = _read(db, initiative_id, 2)
    series = {v.key: _series(_figures(v, rows)) for v in views}
    # Each rule makes figures, and the latest of them is the one shown.
    for key in ("homes", "weighted", "bare", "owned"):
        assert len(series[key]) >= 3 and board[key].latest == series[key][-1], key
    # A bare rate has a figure only where one partner reported: the latest lies further back.
    assert str(series["bare"][-1].period) < str(MONTHS[-1])
    assert board["weighted"].latest_figure is not None and board["weighted"].latest_figure.denominator
    # The owner's figure ignores the others, and the owner's withdrawn latest value sends it a period back.
    assert board["owned"].latest_figure is not None and board["owned"].latest_figure.expected == 1
    assert str(board["owned"].latest.period) < str(MONTHS[-1])  # type: ignore[union-attr]
    # Never combined: shown per partner.
    assert board["never"].series == () and len(board["never"].per_partner) == 2
    assert board["listed"].series == () and board["listed"].per_partner
    assert board["empty"].series == () and board["empty"].per_partner == () and board["empty"].last_reported is None
    assert board["split-only"].series == () and board["split-only"].breakdown_latest
    # The revised value counts, not the one it replaced.
    gamma_id = next(r.id for r in by_key["homes"].reporters if r.key == "gamma")
    gamma = next(
        r
        for r in rows
        if r.indicator_id == by_key["homes"].id
        and r.period == str(MONTHS[-1])
        and not r.breakdown_key
        and r.organization_id == gamma_id
    )
    assert gamma.value == 222.0 and gamma.revision >= 2
    # Breakdown values are never counted in the whole-population figure; the latest breakdown
    # period (after the latest whole one) is where the breakdown values shown come from.
    homes_latest = board["homes"].latest_figure
    assert homes_latest is not None and homes_latest.value == sum(
        r.value
        for r in rows
        if r.indicator_id == by_key["homes"].id and r.period == str(MONTHS[-1]) and not r.breakdown_key
    )
    assert board["homes"].breakdown_latest == {f"zip={ZIPS[0]}": 14.0}
    # The retired organization's values are still counted, and its partners' count includes it.
    with db.unit_of_work() as session:
        delta = session.scalars(select(Organization).where(Organization.key == "delta")).one()
        assert delta.retired
        delta_id = delta.id
    old = str(MONTHS[5])
    reported = {
        r.organization_id
        for r in rows
        if r.indicator_id == by_key["homes"].id and r.period == old and not r.breakdown_key
    }
    if delta_id in reported:
        with db.unit_of_work() as session:
            full = standings(session, initiative_id, [by_key["homes"]])[0]
        assert full.figures[old].expected == 4


def test_reporting_status_read_per_reporter_is_the_streak_by_its_definition(db: Database) -> None:
    initiative_id, views = _initiative(db)
    rows = _current_values(db, initiative_id)
    reported: dict[tuple[int, int], set[str]] = defaultdict(set)
    for r in rows:
        reported[(r.indicator_id, r.organization_id)].add(r.period)
    with db.unit_of_work() as session:
        initiative = session.get(Initiative, initiative_id)
        assert initiative is not None
        # A partner that has not reported for a while, so that streaks go further back than a few periods.
        session.execute(
            update(IndicatorValue)
            .where(IndicatorValue.organization_id == views[0].reporters[2].id, IndicatorValue.period >= str(MONTHS[-9]))
            .values(withdrawn=True)
        )
        rows = [r for r in rows if not (r.organization_id == views[0].reporters[2].id and r.period >= str(MONTHS[-9]))]
        reported = defaultdict(set)
        for r in rows:
            reported[(r.indicator_id, r.organization_id)].add(r.period)
        for now in (NOW, NOW + timedelta(days=40), INSTALLED + timedelta(days=200)):
            status = reporting_status(session, initiative, now)
            assert len(status) == sum(len(v.reporters) for v in views)
            for report in status:
                periods = reported[(report.indicator.id, report.organization.id)]
                assert report.reported == (str(report.period) in periods)
                # The definition: earlier periods in a row without any value, back to when the
                # organization was first asked (installed: its month due, and the one before).
                floor = max(report.indicator.baseline.period, Period.parse("2023-11"))  # type: ignore[union-attr]
                missed, cursor = 0, report.period.previous()
                while cursor > floor and str(cursor) not in periods and missed < 120:
                    missed, cursor = missed + 1, cursor.previous()
                assert report.missed_in_a_row == missed, (report.indicator.key, report.organization.key, now)
        assert any(r.missed_in_a_row >= 8 for r in reporting_status(session, initiative, NOW))


def test_the_equity_gap_reads_the_latest_two_periods_of_the_lens(db: Database) -> None:
    initiative_id, views = _initiative(db)
    rows = _current_values(db, initiative_id)
    with db.unit_of_work() as session:
        found = equity_by_indicator(session, views)
    expected = {}
    for view in views:
        periods: dict[Period, dict[str, list[Reported]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            if r.indicator_id == view.id and r.breakdown_key and lens_groups(view, r.breakdown_key):
                periods[Period.parse(r.period)][r.breakdown_key].append(
                    Reported(r.organization_id, r.value, r.numerator, r.denominator)
                )
        values = {
            period: {k: v for k, v in ((k, breakdown_figure(view, g)) for k, g in groups.items()) if v is not None}
            for period, groups in periods.items()
        }
        gap = _equity(view, values)
        if gap is not None:
            expected[view.id] = gap
    assert found == expected
    # split-only's latest periods have values by zip and zone only: its gap is of the months before.
    split_only = next(v.id for v in views if v.key == "split-only")
    assert found[split_only].period == MONTHS[-4]
