"""A large initiative — 40 goals, 100 indicators with long names and two years of values,
30 organizations, 500 open action items, 150 long decisions — still yields a digest and an
App Home within Slack's limits, built directly and posted through the real process."""

from __future__ import annotations

import json
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
from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, sdk_problems, validate_blocks, validate_view
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
    OutboxItem,
)
from integrations.slack.digest_blocks import digest_blocks, digest_messages
from integrations.slack.home_blocks import home_view
from tests.harness import BACKBONE, HOSPITAL, World, wait_for
from tests.paths import EXAMPLE

GOALS, INDICATORS, EXTRA_ORGS, OPEN_ACTIONS, DONE_ACTIONS, DECISIONS = 40, 100, 25, 500, 80, 150
LONG = "word " * 400  # 2,000 characters


def large_initiative_file(directory: Path, goals: int = GOALS) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for number in range(4, goals + 1):
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
                "goal": f"G{number % goals + 1}",
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


def grow(
    database_url: str,
    directory: Path,
    *,
    goals: int = GOALS,
    open_actions: int = OPEN_ACTIONS,
    done_actions: int = DONE_ACTIONS,
    decisions: int = DECISIONS,
) -> None:
    """Turn the example initiative into a large one, with values, actions and decisions."""
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("America/Chicago")).date()
    db = Database(database_url)
    db.upgrade()
    with db.unit_of_work() as session:
        initiative, _ = apply_initiative(session, load_initiative_file(large_initiative_file(directory, goals)))
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
        for number in range(open_actions):
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
        for number in range(done_actions):
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
        for number in range(decisions):
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


def _texts(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(
        [b["text"]["text"] for b in blocks if b["type"] == "section"]
        + [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    )


def _within_slack_limits(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        blocks = message["blocks"]
        assert validate_blocks(blocks, surface="message") == []
        assert sdk_problems(blocks) == []
        assert len(blocks) <= 50 and blocks_size(blocks) <= MAX_BLOCKS_TOTAL
        _sections_within_limits(blocks)
        assert len(message["text"]) <= 3000


def test_a_large_digest_stays_within_block_kit_limits(large: Database) -> None:
    # Past the monthly reports' due date (15 days after the month), so that the reporting section
    # lists who is missing rather than who is "due by" a date.
    now = datetime.now(UTC).replace(day=1, hour=18) + timedelta(days=20)
    with large.unit_of_work() as session:
        digest = build_digest(session, _initiative(session), now, since=datetime.now(UTC) - timedelta(days=7))
    assert digest.indicator_count == INDICATORS and len(digest.goals) == GOALS
    assert digest.actions is not None and digest.actions.open_count == OPEN_ACTIONS
    # All of it in one message would be far over Slack's total for a message's blocks.
    assert blocks_size(digest_blocks(digest)) > 3 * MAX_BLOCKS_TOTAL
    messages = digest_messages(digest)
    assert len(messages) > 1
    _within_slack_limits(messages)
    headline, thread = _texts(messages[0]["blocks"]), "\n".join(_texts(m["blocks"]) for m in messages[1:])
    assert "every indicator is in the thread below" in headline
    assert "more: every goal is in the thread below" in headline
    assert "More of this digest is in the thread below" in headline
    # Every indicator, with its goal, somewhere in the thread.
    for goal in digest.goals:
        assert f"*{goal.key} · " in thread
        for line in goal.indicators:
            assert f"*{line.key}* — " in thread
    text = headline + thread
    # Long lists end with how many more and where to see them all.
    assert "more: `/ci actions` lists them all" in text
    assert "more: `/ci status` lists them all" in text
    assert "more: all of them are in <#C0DECIDE01>" in text
    assert "more: `/ci map` shows who works on what" in text
    assert "<!channel>" not in str(messages) and "<!here>" not in str(messages)


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
    # The private answers that list the whole initiative are cut to one message too, saying so.
    for command in ("digest", "indicators", "status", "actions", "map"):
        answer = fresh_world.send.ci(command, user=BACKBONE)
        assert validate_blocks(answer["blocks"], surface="message") == [], command
        assert blocks_size(answer["blocks"]) <= MAX_BLOCKS_TOTAL, command


def _indicator_keys(database_url: str) -> list[str]:
    db = Database(database_url)
    with db.unit_of_work() as session:
        keys = list(session.scalars(select(Indicator.key)))
    db.dispose()
    return keys


def test_the_digest_of_eight_goals_and_100_indicators_is_posted_whole(fresh_world: World, tmp_path: Path) -> None:
    """8 goals, 100 indicators with long names, 12 decisions and 25 actions: about 35,000 characters of
    blocks, three times what Slack takes in one message. Posted through the strict stand-in, which refuses
    `msg_blocks_too_long`, every indicator arrives in the channel or the digest's thread, each once."""
    grow(fresh_world.database_url, tmp_path, goals=8, open_actions=25, done_actions=0, decisions=12)
    keys = _indicator_keys(fresh_world.database_url)
    assert len(keys) == INDICATORS
    fresh_world.send.ci("digest post", user=BACKBONE)

    def headline() -> dict[str, Any] | None:
        return next((m for m in fresh_world.slack.messages("C0DIGEST01") if "weekly digest" in str(m)), None)

    parent = wait_for(headline, timeout=60)
    thread = wait_for(
        lambda: (
            replies
            if len(replies := fresh_world.slack.messages("C0DIGEST01", thread_ts=parent["ts"])) >= 3
            and all(f"*{k}* — " in str(replies) for k in keys)
            else None
        ),
        timeout=60,
    )
    posted = [parent, *(m for m in thread if m["ts"] != parent["ts"])]
    _within_slack_limits(posted)
    everything = json.dumps([m["blocks"] for m in posted], ensure_ascii=False)
    for key in keys:
        assert everything.count(f"*{key}* — ") == 1, key
    assert "Decisions since" in everything and "Overdue action items" in everything
    # Nothing was refused, retried or parked on the way.
    db = fresh_world.db()

    def digest_items() -> list[OutboxItem] | None:
        with db.unit_of_work() as session:
            items = list(session.scalars(select(OutboxItem).where(OutboxItem.idempotency_key.like("digest:%"))))
            session.expunge_all()
        return items if all(i.status == "done" for i in items) else None

    items = wait_for(digest_items, timeout=30)
    db.dispose()
    assert len(items) == len(posted) and all(i.attempts <= 1 for i in items)
