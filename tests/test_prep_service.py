"""Meeting prep's "not reported yet": the periods partners report now, as reminders and the digest count them."""

from __future__ import annotations

from datetime import UTC, datetime

from ci_slackbot.domain.periods import Period
from ci_slackbot.services.initiatives import all_initiatives
from ci_slackbot.services.measurement import find_indicator, indicator_views, record_value
from ci_slackbot.services.people import who_is
from ci_slackbot.services.prep import not_reported
from ci_slackbot.store.db import Database
from tests.harness import HOSPITAL, load_example

# Thursday 19 November 2026 in Dallas: October is the month partners report, Q3 the quarter.
NOW = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)


def test_a_partner_up_to_date_is_not_listed_and_the_periods_are_those_due(database_url: str) -> None:
    load_example(database_url)
    db = Database(database_url)
    with db.unit_of_work() as session:
        initiative = all_initiatives(session)[0]
        for key in ("er-visits", "home-visits"):
            record_value(
                session,
                initiative,
                who_is(session, initiative, HOSPITAL),
                indicator=find_indicator(indicator_views(session, initiative.id), key),
                value=17,
                period=Period.parse("2026-10"),
                now=NOW,
            )
    with db.unit_of_work() as session:
        lines = not_reported(session, all_initiatives(session)[0], NOW)
    db.dispose()
    assert not [line for line in lines if "(er-visits)" in line]  # Children's Health reported October
    assert [line for line in lines if "(home-visits)" in line] == [
        "Emergency visits followed by a home visit within 14 days (home-visits), Oct 2026: waiting for Neighbors United"
    ]
    # The quarter still running (Q4) is nobody's to report yet: Q3 is the one asked for.
    assert "(action-plans), Q3 2026: waiting for" in next(line for line in lines if "(action-plans)" in line)
