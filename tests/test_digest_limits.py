"""A large initiative — 40 goals, 100 indicators with long names and two years of values,
30 organizations, 500 open action items, 150 long decisions — still yields a digest and an
App Home within Slack's limits, built directly and posted through the real process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from ci_slackbot.charts import HeadlinePanel, headline_chart
from ci_slackbot.domain.periods import Frequency, Period
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.sandbox.slack import validate_blocks, validate_view
from ci_slackbot.services.digest import build_digest
from ci_slackbot.services.home import home_data
from ci_slackbot.services.initiatives import apply_initiative, find_initiative
from ci_slackbot.services.people import who_is
from ci_slackbot.store.db import Database
from ci_slackbot.store.models import (
    ActionItem,
    Decision,
    Indicator,
    IndicatorValue,
    Initiative,
    Organization,
)
from integrations.slack.digest_blocks import digest_message
from integrations.slack.home_blocks import home_view
from tests.harness import BACKBONE, HOSPITAL, World, wait_for
from tests.paths import EXAMPLE

GOALS, INDICATORS, EXTRA_ORGS, OPEN_ACTIONS, DONE_ACTIONS, DECISIONS = 40, 100, 25, 500, 80, 150
LONG = "word " * 400  # 2,000 characters


def large_initiative_file(directory: Path) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for number in range(4, GOALS + 1):
        data["goals"].append(
            {
                "key": f"G{number}",
                "title": f"Goal {number}: " + "a very long goal title " * 12,
                "description": "More to do.",
                "strategies": [f"Strategy {s} of goal {number}: " + "x" * 250 for s in range(1, 4)],
            }
        )
    for number in range(EXTRA_ORGS):
        data["organizations"].append(
            {"key": f"org-{number}", "name": f"Organization {number} " + "of many words " * 12, "members": []}
        )
    for number in range(INDICATORS - len(data["indicators"])):
        data["indicators"].append(
            {
                "key": f"ind-{number:03d}",
                "name": f"Indicator {number} " + "with a long descriptive name " * 9,
                "goal": f"G{number % GOALS + 1}",
                "unit": "percent" if number % 2 else "homes",
                "direction": "increase",
                "frequency": "monthly",
                "min": 0,
                "baseline": {"period": "2024-11", "value": 10},
                "target": {"period": "2028-12", "value": 90},
                "reporters": [f"org-{number % EXTRA_ORGS}", f"org-{(number + 1) % EXTRA_ORGS}"],
            }
        )
    path = directory / "large.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def grow(database_url: str, directory: Path) -> None:
    """Turn the example initiative into a large one, with values, actions and decisions."""
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("America/Chicago")).date()
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        initiative, _ = apply_initiative(session, load_initiative_file(large_initiative_file(directory)))
        initiative_id = initiative.id
    with db.unit_of_work() as session:
        orgs = {
            o.key: o.id
            for o in session.scalars(select(Organization).where(Organization.initiative_id == initiative_id))
        }
        indicators = list(session.scalars(select(Indicator).where(Indicator.initiative_id == initiative_id)))
        last = Period.current(Frequency.MONTHLY, "America/Chicago", now).previous()
        for indicator in indicators:
            if indicator.frequency != "monthly":
                continue
            for back in range(24):
                period = last.shift(-back)
                session.add(
                    IndicatorValue(
                        initiative_id=initiative_id,
                        indicator_id=indicator.id,
                        organization_id=orgs["childrens-health"],
                        period=str(period),
                        period_start=period.start,
                        value=20 + (indicator.id * 7 + back) % 50,
                        reporter=HOSPITAL,
                        entered_via="import",
                        recorded_at=now,
                    )
                )
        for number in range(OPEN_ACTIONS):
            due: date | None = today + timedelta(days=(number % 40) - 20) if number % 5 else None
            session.add(
                ActionItem(
                    initiative_id=initiative_id,
                    text=f"Action {number}: {LONG[:900]}",
                    owner=HOSPITAL if number % 3 else BACKBONE,
                    organization_id=orgs["childrens-health"] if number % 3 else orgs["hwac"],
                    created_by=BACKBONE,
                    due=due,
                )
            )
        for number in range(DONE_ACTIONS):
            session.add(
                ActionItem(
                    initiative_id=initiative_id,
                    text=f"Finished {number} <!here> {LONG[:500]}",
                    owner=HOSPITAL,
                    organization_id=orgs["childrens-health"],
                    created_by=BACKBONE,
                    due=today,
                    status="done",
                    closed_at=now - timedelta(hours=number + 1),
                    closed_by=HOSPITAL,
                )
            )
        for number in range(DECISIONS):
            session.add(
                Decision(
                    initiative_id=initiative_id,
                    text=f"Decision {number}: " + LONG * 2 + "<!channel>",
                    recorded_by=BACKBONE,
                    recorded_at=now - timedelta(minutes=number),
                )
            )
    db.dispose()


def _sections_within_limits(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


@pytest.fixture
def large(database_url: str, tmp_path: Path) -> Iterator[Database]:
    grow(database_url, tmp_path)
    db = Database(database_url)
    yield db
    db.dispose()


def _initiative(session: Any) -> Initiative:
    initiative = find_initiative(session, None)
    assert initiative is not None
    return initiative


def test_a_large_digest_stays_within_block_kit_limits(large: Database) -> None:
    now = datetime.now(UTC)
    with large.unit_of_work() as session:
        digest = build_digest(session, _initiative(session), now)
    assert digest.indicator_count == INDICATORS and len(digest.goals) == GOALS
    assert digest.actions is not None and digest.actions.open_count == OPEN_ACTIONS
    message = digest_message(digest)
    blocks = message["blocks"]
    assert validate_blocks(blocks, surface="message") == []
    assert len(blocks) <= 50
    _sections_within_limits(blocks)
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    # Long lists end with how many more and where to see them all.
    assert "more goals* — see every indicator with `/ci indicators`" in text
    assert "more: `/ci actions` lists them all" in text
    assert "more: `/ci status` lists them all" in text
    assert "more: all of them are in <#C0DECIDE01>" in text
    assert "more: `/ci map` shows who works on what" in text
    assert "<!channel>" not in str(blocks) and "<!here>" not in str(blocks)
    assert len(message["text"]) <= 3000


def test_a_large_home_tab_stays_within_limits(large: Database) -> None:
    now = datetime.now(UTC)
    with large.unit_of_work() as session:
        initiative = _initiative(session)
        for user in (BACKBONE, HOSPITAL, "U0NOBODY01"):
            view = home_view(home_data(session, initiative, who_is(session, initiative, user), now))
            assert validate_view(view, surface="home") == []
            assert len(view["blocks"]) <= 100
            _sections_within_limits(view["blocks"])


def test_the_headline_chart_of_a_large_initiative_is_one_readable_png(large: Database) -> None:
    with large.unit_of_work() as session:
        digest = build_digest(session, _initiative(session), datetime.now(UTC))
    assert len(digest.chart) == 6 and digest.chart_left_out > 0
    png = headline_chart(
        [HeadlinePanel(p.key, p.unit, p.direction, p.points, p.baseline, p.target) for p in digest.chart],
        title="Large: headline indicators",
        left_out=digest.chart_left_out,
    )
    assert png.startswith(b"\x89PNG") and len(png) < 400_000


def test_a_large_digest_posts_through_the_real_process(fresh_world: World, tmp_path: Path) -> None:
    grow(fresh_world.database_url, tmp_path)
    answer = fresh_world.send.ci("digest post", user=BACKBONE)
    assert "Posting the digest" in answer["text"]
    # The Slack stand-in refuses invalid blocks with `invalid_blocks`, as Slack does: arriving is the proof.
    digest = wait_for(lambda: [m for m in fresh_world.slack.messages("C0DIGEST01") if m.get("blocks")], timeout=60)
    assert len(digest[0]["blocks"]) <= 50
    wait_for(lambda: [f for f in fresh_world.slack.files() if "C0DIGEST01" in f["channels"]], timeout=60)
