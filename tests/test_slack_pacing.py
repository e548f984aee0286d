"""Posts into one conversation keep to Slack's pace: about one a second, with a short burst.

The Slack stand-in answers 429 beyond that, as Slack does (docs.slack.dev/apis/web-api/rate-limits);
the app waits for the conversation's turn instead of bouncing off it.
"""

from __future__ import annotations

import json
import uuid

from integrations.slack.delivery import ChannelPace
from tests.harness import BACKBONE, World, wait_for

DECISIONS_CHANNEL = "C0DECIDE01"


def test_many_announcements_in_one_channel_are_paced_not_refused(world: World) -> None:
    marker = uuid.uuid4().hex[:8]
    before = len(world.slack.calls("chat.postMessage"))
    for n in range(6):
        assert world.send.ci(f"decide Pace check {marker} number {n}", user=BACKBONE)["response_type"]

    def announced() -> list[dict[str, object]]:
        return [m for m in world.slack.messages(DECISIONS_CHANNEL) if marker in json.dumps(m)]

    wait_for(lambda: len(announced()) >= 6, timeout=60)
    calls = world.slack.calls("chat.postMessage")[before:]
    assert [c for c in calls if c["status"] == 429] == []
    stamps = sorted(float(str(m["ts"])) for m in announced())
    # Two at once, then one a second.
    assert stamps[-1] - stamps[0] >= 3.5


def test_the_pace_is_per_conversation_with_a_burst_of_two() -> None:
    now = [100.0]
    pace = ChannelPace(clock=lambda: now[0])
    assert [pace.reserve(1, "C0DIGEST01") for _ in range(4)] == [0.0, 0.0, 1.0, 2.0]
    assert pace.reserve(1, "C0OTHER001") == 0.0
    assert pace.reserve(2, "C0DIGEST01") == 0.0  # another initiative's workspace
    # A user id is the DM with that user.
    assert [pace.reserve(1, "U0ALICE01"), pace.reserve(1, "U0ALICE01"), pace.reserve(1, "DU0ALICE01")] == [
        0.0,
        0.0,
        1.0,
    ]
    now[0] += 10
    assert pace.reserve(1, "C0DIGEST01") == 0.0
