"""The digest chart's delivery against the Slack stand-in: after its message, and never
uploaded twice for one slot, even when a retry follows an attempt that got through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from ci_slackbot.bootstrap import Services, bootstrap
from ci_slackbot.domain.measurement import Direction, Point
from ci_slackbot.domain.periods import Period
from ci_slackbot.initiative_file import load_initiative_file
from ci_slackbot.outbox import DONE, DeliveryError, Item, enqueue
from ci_slackbot.sandbox.slack import SlackStandIn
from ci_slackbot.services.digest import ChartPanel
from ci_slackbot.services.initiatives import apply_initiative
from ci_slackbot.settings import Settings
from ci_slackbot.store.models import OutboxItem
from integrations.slack.digest_chart import KIND, chart_payload, deliver_chart
from tests.harness import BOT_TOKEN, TEAM
from tests.paths import EXAMPLE

CHANNEL = "C0DIGEST01"
POST_KEY = "digest:1:2026-11-23T09:00"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn(bot_token=BOT_TOKEN, team_id=TEAM)
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def services(tmp_path: Any, slack: SlackStandIn) -> Iterator[Services]:
    built = bootstrap(
        Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'chart.db'}", SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.url)
    )
    with built.db.unit_of_work() as session:
        apply_initiative(session, load_initiative_file(EXAMPLE))
    yield built
    built.db.dispose()


def _queue(services: Services, *, posted: bool) -> Item:
    panel = ChartPanel(
        key="er-visits",
        name="Asthma emergency visits",
        unit="per 1,000 children",
        direction=Direction.DECREASE,
        points=(Point(Period.parse("2026-09"), 17.9), Point(Period.parse("2026-10"), 17.1)),
        baseline=Point(Period.parse("2025-12"), 18.4),
        target=Point(Period.parse("2027-12"), 12.0),
    )
    payload = chart_payload(
        channel=CHANNEL,
        after_key=POST_KEY,
        title="Headline indicators",
        alt_text="er-visits 17.1",
        panels=[panel],
        left_out=0,
    )
    with services.db.unit_of_work() as session:
        post_id = enqueue(session, initiative_id=1, service="slack", kind="post", key=POST_KEY, payload={})
        if posted:
            session.execute(update(OutboxItem).where(OutboxItem.id == post_id).values(status=DONE))
        key = f"digest-chart:{POST_KEY}"
        row_id = enqueue(session, initiative_id=1, service="slack", kind=KIND, key=key, payload=payload)
        return Item(row_id, 1, "slack", KIND, key, payload, 0)


def _shared(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [f for f in slack.files() if CHANNEL in f["channels"]]


def test_the_chart_waits_for_its_digest_message(services: Services, slack: SlackStandIn) -> None:
    item = _queue(services, posted=False)
    with pytest.raises(DeliveryError, match="waiting for the digest message"):
        deliver_chart(services, [item])
    assert slack.files() == []


def test_a_retry_after_an_upload_that_got_through_does_not_upload_again(
    services: Services, slack: SlackStandIn
) -> None:
    item = _queue(services, posted=True)
    first = deliver_chart(services, [item])
    assert len(_shared(slack)) == 1
    assert first[item.id]["file_id"] == _shared(slack)[0]["id"]
    # The worker died before it could mark the row done: the row is delivered again.
    again = deliver_chart(services, [item])
    assert again == first
    assert len(_shared(slack)) == 1
    assert len(slack.calls("files.completeUploadExternal")) == 1


def test_an_upload_that_never_completed_is_done_afresh_once(services: Services, slack: SlackStandIn) -> None:
    item = _queue(services, posted=True)
    calls: list[str] = []
    original = services.slack.files_completeUploadExternal

    def complete(**kwargs: Any) -> Any:
        calls.append("complete")
        if len(calls) == 1:  # the bytes went up, then the connection dropped before completing
            raise DeliveryError("the connection dropped")
        return original(**kwargs)

    services.slack.files_completeUploadExternal = complete  # type: ignore[method-assign]
    with pytest.raises(DeliveryError):
        deliver_chart(services, [item])
    assert _shared(slack) == []
    with services.db.unit_of_work() as session:
        row = session.get(OutboxItem, item.id)
        assert row is not None and row.result.get("file_id")  # remembered before the bytes were sent
    deliver_chart(services, [item])
    assert len(_shared(slack)) == 1
    assert _shared(slack)[0]["content"].startswith(b"\x89PNG")
    assert len(slack.calls("files.getUploadURLExternal")) == 2  # started afresh: the first file was never shown
