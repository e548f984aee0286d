"""`/ci indicator <key>` through the real `serve` process: history, the private chart, small numbers, limits.

The chart and the equity helper are also tested directly: they are pure functions.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import insert, select, update

from ci_slackbot.charts import ChartSeries, indicator_chart
from ci_slackbot.domain.measurement import Direction, Point
from ci_slackbot.domain.periods import Period
from ci_slackbot.sandbox.slack import MAX_BLOCKS_TOTAL, blocks_size, validate_blocks
from ci_slackbot.services.measurement import IndicatorView
from ci_slackbot.services.measurement_views import IndicatorHistory, visible_breakdowns
from ci_slackbot.store.models import Indicator, IndicatorValue, Organization
from tests.harness import HOSPITAL, NEIGHBOR, STRANGER, World, wait_for


def _text(answer: dict[str, Any]) -> str:
    return json.dumps(answer, ensure_ascii=False)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _set_threshold(world: World, key: str, threshold: float | None) -> None:
    db = world.db()
    with db.unit_of_work() as session:
        session.execute(update(Indicator).where(Indicator.key == key).values(small_number_threshold=threshold))
    db.dispose()


def test_history_and_a_private_chart(world: World) -> None:
    world.send.ci("update er-visits 19 2026-09 before the campaign", user=HOSPITAL)
    world.send.ci("update er-visits 17.2 2026-10", user=HOSPITAL)
    world.send.ci("update er-visits 21 2026-10 zip=75216", user=HOSPITAL)
    world.send.ci("update er-visits 14 2026-10 zip=75215", user=HOSPITAL)

    response, key = world.send.command("indicator er-visits", user=HOSPITAL)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert validate_blocks(answer["blocks"], surface="message") == []
    text = _text(answer)
    assert "Asthma emergency visits per 1,000 children" in text
    assert "*Oct 2026*" in text and "*Sep 2026*" in text
    assert "zip 75216: *21 per 1,000 children*" in text
    assert f"<@{HOSPITAL}>" in text  # who reported
    assert "before the campaign" in text  # the note
    assert text.index("Oct 2026") < text.index("Sep 2026")  # newest first
    assert "The chart follows in a moment" in text

    # The chart is shared where the command was typed (the app is in that channel): a file shared
    # nowhere could be shown to no one.
    files = wait_for(lambda: [f for f in world.slack.files() if f["name"] == "er-visits.png" and f["completed"]], 30)
    uploaded = files[-1]
    assert uploaded["channels"] == ["C0GENERAL"]
    assert "Asthma emergency visits" in uploaded["alt_txt"] and "17.2" in uploaded["alt_txt"]
    posted = [m for m in world.slack.messages("C0GENERAL") if m.get("files")]
    assert posted[-1]["files"][0]["id"] == uploaded["id"]
    assert "/ci indicator er-visits" in posted[-1]["text"]
    width, height = _png_size(uploaded["content"])
    assert width >= 800 and height >= 400
    # Nothing more to say: the person sees the chart right there.
    assert [r for r in world.slack.responses(key)] == []


def test_the_charts_lines_are_worked_out_after_the_answer(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer does not wait for the chart's lines: with a breakdown of thousands of ZIP codes,
    working them out took longer than the whole answer (bench: 191 -> 98 ms at 3,000)."""
    threads: list[str] = []
    lines_of = IndicatorHistory.breakdown_series

    def watched(self: IndicatorHistory, *, in_channel: bool) -> dict[str, list[Point]]:
        threads.append(threading.current_thread().name)
        return lines_of(self, in_channel=in_channel)

    monkeypatch.setattr(IndicatorHistory, "breakdown_series", watched)
    world.send.ci("update er-visits 21 2026-10 zip=75216", user=HOSPITAL)
    before = len(_chart_files(world, "er-visits.png"))
    response, _key = world.send.command("indicator er-visits", user=HOSPITAL)
    assert "The chart follows in a moment" in response.text and "zip 75216" in response.text
    wait_for(lambda: _chart_files(world, "er-visits.png")[before:], 30)
    assert threads and all(name.startswith("after") for name in threads), threads


def test_a_chart_that_cannot_be_uploaded_is_said_so(world: World) -> None:
    """The answer promised the chart; the upload of its bytes to files.slack.com fails (503, no retry
    in the SDK for that host): the person is told it will not come, rather than left waiting."""
    world.slack.fail_uploads(1)
    response, key = world.send.command("indicator er-visits", user=HOSPITAL)
    assert "The chart follows in a moment" in response.text
    said = wait_for(lambda: world.slack.responses(key), timeout=30)[-1]
    assert said["response_type"] == "ephemeral" and "could not be made this time" in said["text"]


def _chart_files(world: World, name: str) -> list[dict[str, Any]]:
    return [f for f in world.slack.files() if f["name"] == name and f["completed"]]


def test_the_chart_goes_to_the_persons_dm_when_the_app_is_not_where_the_command_was_typed(world: World) -> None:
    world.slack.add_channel("C0NOTAPP01", "not-the-apps", is_member=False)
    before = len(_chart_files(world, "er-visits.png"))
    response, key = world.send.command("indicator er-visits", user=HOSPITAL, channel="C0NOTAPP01")
    assert response.status_code == 200 and "The chart follows in a moment" in response.text
    said = wait_for(lambda: world.slack.responses(key), timeout=30)[-1]
    assert said["response_type"] == "ephemeral" and "in our DM" in said["text"]
    uploaded = _chart_files(world, "er-visits.png")[before:]
    assert [f["channels"] for f in uploaded] == [[f"D{HOSPITAL}"]]
    dm = [m for m in world.slack.dms(HOSPITAL) if m.get("files")]
    assert dm[-1]["files"][0]["id"] == uploaded[0]["id"]
    assert not [m for m in world.slack.messages("C0NOTAPP01")]
    assert world.slack.calls("conversations.open")[-1]["params"]["users"] == HOSPITAL

    # Typed in a DM between two people, where the app never is: the DM with the app too.
    response, key = world.send.command("indicator er-visits", user=HOSPITAL, channel="D0TWOPEOPLE1")
    wait_for(lambda: world.slack.responses(key), timeout=30)
    shared = _chart_files(world, "er-visits.png")[before + 1 :]
    assert [f["channels"] for f in shared] == [[f"D{HOSPITAL}"]]


def test_small_breakdown_values_are_marked_for_partners_and_hidden_from_others(world: World) -> None:
    world.send.ci("update home-assessments 3 2026-10 zip=75210", user=NEIGHBOR)
    world.send.ci("update home-assessments 40 2026-10 zip=75216", user=NEIGHBOR)
    world.send.ci("update home-assessments 25 2026-10 zip=75215", user=NEIGHBOR)
    _set_threshold(world, "home-assessments", 5)
    try:
        partner = _text(world.send.ci("indicator home-assessments", user=NEIGHBOR))
        assert "zip 75210: *3 homes :lock: _hidden from channel posts_*" in partner
        assert "shown to partners only" in partner

        outsider = _text(world.send.ci("indicator home-assessments", user=STRANGER))
        assert "zip 75210: *under 5 (hidden: small number)*" in outsider
        assert "3 homes" not in outsider
        # Homes add up: with 75210 hidden, the next smallest is hidden too, or 75210 could be worked out.
        assert "zip 75215: *hidden (so a small number can't be worked out)*" in outsider
        assert "zip 75216: *40 homes*" in outsider
    finally:
        _set_threshold(world, "home-assessments", None)


def test_a_long_history_is_trimmed_within_slack_limits(world: World) -> None:
    db = world.db()
    with db.unit_of_work() as session:
        indicator = session.scalar(select(Indicator).where(Indicator.key == "home-visits"))
        assert indicator is not None
        orgs = session.scalars(select(Organization).where(Organization.key.in_(["childrens-health", "neighbors"])))
        rows = []
        for org in orgs:
            for months in range(72):
                period = Period.parse("2020-01").shift(months)
                for zip_code in ("75210", "75215", "75216", "75217", "75218"):
                    rows.append(
                        {
                            "initiative_id": indicator.initiative_id,
                            "indicator_id": indicator.id,
                            "organization_id": org.id,
                            "period": str(period),
                            "period_start": period.start,
                            "breakdown_key": f"zip={zip_code}",
                            "breakdown": {"zip": zip_code},
                            "value": 30 + months / 3,
                            "note": "a long note " * 40,
                            "reporter": HOSPITAL,
                            "entered_via": "import",
                            "recorded_at": datetime(2026, 1, 1, tzinfo=UTC),
                            "revision": 1,
                        }
                    )
        session.execute(insert(IndicatorValue), rows)
    db.dispose()

    response, _ = world.send.command("indicator home-visits", user=HOSPITAL)
    answer = response.json()
    assert len(answer["blocks"]) <= 50
    assert validate_blocks(answer["blocks"], surface="message") == []
    assert blocks_size(answer["blocks"]) <= MAX_BLOCKS_TOTAL
    text = _text(answer)
    assert "earlier periods" in text
    assert "Dec 2025" in text  # the newest period is shown
    shared = wait_for(lambda: _chart_files(world, "home-visits.png"), timeout=30)
    assert shared[-1]["channels"] == ["C0GENERAL"]


def test_bad_input_gets_a_clear_private_answer(world: World) -> None:
    for text, expected in [
        ("indicator", "Missing the indicator key"),
        ("indicator nothing-like-this", "There is no indicator `nothing-like-this`"),
        ("indicator home", "could be"),
        ("indicator er-visits please", "takes one indicator key"),
    ]:
        answer = world.send.ci(text, user=HOSPITAL)
        assert answer["response_type"] == "ephemeral", text
        assert answer["text"].startswith(":warning:"), (text, answer)
        assert expected in answer["text"], (text, answer["text"])


# -- the pure parts ---------------------------------------------------------------------------


def _view(*, threshold: float | None, unit: str = "homes") -> IndicatorView:
    return IndicatorView(
        id=1,
        key="home-assessments",
        name="Home assessments",
        unit=unit,
        direction=Direction.INCREASE,
        frequency=Period.parse("2026-10").frequency,
        minimum=0,
        maximum=None,
        baseline=None,
        target=None,
        breakdowns=("zip",),
        goal_key=None,
        goal_title=None,
        source="",
        small_number_threshold=threshold,
        headline=True,
        reporters=(),
    )


def test_visible_breakdowns_hide_small_numbers_in_channels_only() -> None:
    values = {"zip=75210": 3.0, "zip=75215": 25.0, "zip=75216": 40.0}
    private = {s.key: s for s in visible_breakdowns(_view(threshold=5), values, in_channel=False)}
    assert private["zip=75210"].value == 3 and private["zip=75210"].below_threshold
    channel = {s.key: s for s in visible_breakdowns(_view(threshold=5), values, in_channel=True)}
    assert channel["zip=75210"].hidden and channel["zip=75210"].below_threshold
    assert channel["zip=75215"].hidden and channel["zip=75215"].suppressed_with  # complementary
    assert channel["zip=75216"].value == 40
    # Rates don't add up to a total, so nothing else needs hiding.
    rates = {s.key: s for s in visible_breakdowns(_view(threshold=5, unit="percent"), values, in_channel=True)}
    assert rates["zip=75210"].hidden and not rates["zip=75215"].hidden
    # No threshold: everything is shown everywhere.
    assert all(not s.hidden for s in visible_breakdowns(_view(threshold=None), values, in_channel=True))
    # Two small values hide each other; no third value needs hiding.
    two = {"zip=75210": 3.0, "zip=75211": 2.0, "zip=75216": 40.0}
    shown = {s.key: s for s in visible_breakdowns(_view(threshold=5), two, in_channel=True)}
    assert shown["zip=75210"].hidden and shown["zip=75211"].hidden and not shown["zip=75216"].hidden


def test_the_chart_draws_every_series_readably() -> None:
    months = [Period.parse("2026-01").shift(i) for i in range(10)]
    png = indicator_chart(
        title="Asthma emergency visits per 1,000 children with a $ sign",
        unit="per 1,000 children",
        direction=Direction.DECREASE,
        actuals=[Point(p, 18 - i * 0.4) for i, p in enumerate(months)],
        baseline=Point(Period.parse("2025-12"), 18.4),
        target=Point(Period.parse("2027-12"), 12.0),
        breakdowns=[ChartSeries(f"zip {z}", [Point(p, 15 + j) for p in months]) for j, z in enumerate(range(12))],
    )
    width, height = _png_size(png)
    assert (width, height) == (990, 550)
    # Nothing reported yet still gives a chart that says so.
    empty = indicator_chart(title="Nothing yet", unit="", direction=Direction.INCREASE, actuals=[])
    assert _png_size(empty) == (990, 550)
    assert io.BytesIO(empty).getbuffer().nbytes < len(png)


def test_period_x_places_periods_mid_period() -> None:
    from ci_slackbot.charts import period_x

    assert period_x(Period.parse("2026-10")) == date(2026, 10, 16)
    assert period_x(Period.parse("2026-Q1")) == date(2026, 2, 14)


def test_the_slack_stand_in_refuses_an_image_of_a_file_its_viewers_cannot_see() -> None:
    """A file uploaded without a channel is its uploader's alone: a block that shows it to anyone is refused
    (slackapi/bolt-python#1251, python-slack-sdk#1658 and #1797); shared into a conversation, it may be shown there."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from ci_slackbot.sandbox.slack import SlackStandIn

    slack = SlackStandIn()
    slack.start()
    try:
        client = WebClient(token="xoxb-sandbox", base_url=slack.url)
        url = slack.response_url("k", channel="C0GENERAL", user="U0ALICE01")

        def image(file_id: str) -> list[dict[str, Any]]:
            return [{"type": "image", "alt_text": "A chart", "slack_file": {"id": file_id}}]

        refused = requests.post(url, json={"blocks": image("F000000999")}, timeout=5)
        assert refused.status_code == 400 and "invalid slack file" in refused.text

        png = indicator_chart(title="T", unit="", direction=Direction.INCREASE, actuals=[])
        unshared = client.files_upload_v2(content=png, filename="t.png", title="T")["file"]["id"]
        refused = requests.post(url, json={"blocks": image(unshared)}, timeout=5)
        assert refused.status_code == 400 and "invalid slack file" in refused.text
        try:
            client.chat_postMessage(channel="C0GENERAL", text="Chart", blocks=image(unshared))
            raise AssertionError("a file shared nowhere was shown in a channel")
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_blocks"

        # Shared in the person's DM with the app: their ephemeral may show it; a channel post may not.
        dm = client.conversations_open(users="U0ALICE01")["channel"]["id"]
        in_dm = client.files_upload_v2(content=png, filename="t.png", title="T", channel=dm)["file"]["id"]
        assert requests.post(url, json={"blocks": image(in_dm)}, timeout=5).status_code == 200
        slack.add_channel("G0PRIVATE01", "private", is_private=True)
        try:
            client.chat_postMessage(channel="G0PRIVATE01", text="Chart", blocks=image(in_dm))
            raise AssertionError("a file shared in a DM was shown in a private channel")
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_blocks"
        # Shared in a public channel: anyone may open it.
        public = client.files_upload_v2(content=png, filename="t.png", title="T", channel="C0GENERAL")["file"]["id"]
        assert client.chat_postMessage(channel="G0PRIVATE01", text="Chart", blocks=image(public))["ok"]
        # A user id is no conversation id for an upload (slackapi/python-slack-sdk#1426).
        try:
            client.files_upload_v2(content=png, filename="t.png", title="T", channel="U0ALICE01")
            raise AssertionError("an upload was shared to a user id")
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_arguments"
            assert "^[CGDZ][A-Z0-9]{8,}$" in str(exc.response["response_metadata"])
    finally:
        slack.stop()
