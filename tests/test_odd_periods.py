"""Whatever period the store holds, the charts are drawn: a value filed under 0001-01 (accepted before
periods were checked against the indicator's life) is left off the chart, never breaks it for everyone."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select

from ci_slackbot.store.models import IndicatorValue
from tests.harness import BACKBONE, HOSPITAL, World, wait_for

DIGEST_CHANNEL = "C0DIGEST01"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _store_odd_values(world: World) -> None:
    """Copies of a reported value under periods matplotlib cannot place, written as an old release would have."""
    db = world.db()
    with db.unit_of_work() as session:
        row = session.scalars(select(IndicatorValue)).one()
        columns = {c.key: getattr(row, c.key) for c in IndicatorValue.__table__.columns if c.key != "id"}
        for period, start in (("0001-01", date(1, 1, 1)), ("9998-12", date(9998, 12, 1))):
            session.execute(insert(IndicatorValue).values({**columns, "period": period, "period_start": start}))
    db.dispose()


def test_a_stored_period_out_of_range_does_not_break_the_charts(fresh_world: World) -> None:
    world = fresh_world
    assert "Recorded" in str(world.send.ci("update er-visits 17.2", user=HOSPITAL))
    _store_odd_values(world)

    response, _ = world.send.command("indicator er-visits", user=HOSPITAL)
    assert response.status_code == 200 and "0001" in response.text
    shared = wait_for(lambda: [f for f in world.slack.files() if f["name"] == "er-visits.png" and f["completed"]], 30)
    assert shared[-1]["content"].startswith(PNG_MAGIC)

    world.send.ci("digest post", user=BACKBONE)
    charts = wait_for(lambda: [f for f in world.slack.files() if DIGEST_CHANNEL in f["channels"]], timeout=60)
    assert charts[0]["completed"] and charts[0]["content"].startswith(PNG_MAGIC)
    assert "Traceback" not in world.server.logs()
