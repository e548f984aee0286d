"""Nothing fails silently: a parked outbox item is told to the backbone team in Slack, once per
cause, and App Home lists what is parked, per cause, with a Retry button for backbone staff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from ci_slackbot.jobs import retell_parked
from ci_slackbot.outbox import enqueue
from ci_slackbot.sandbox.slack import validate_view
from ci_slackbot.store.models import Initiative, OutboxItem, ParkedNotice
from integrations.slack.parked import RETRY_PARKED, advice
from tests.harness import BACKBONE, NURSE, World, wait_for

OTHER_BACKBONE = "U0BACK0002"
DIGEST = "C0DIGEST01"
CAUSE = f"slack:not_in_channel:{DIGEST}"


@pytest.fixture
def serve_env() -> dict[str, str]:
    return {
        "CI_SLACKBOT_OUTBOX_BACKOFF_BASE": "0.1",
        "CI_SLACKBOT_OUTBOX_BACKOFF_CAP": "0.3",
        "CI_SLACKBOT_OUTBOX_MAX_ATTEMPTS": "3",
        "CI_SLACKBOT_OUTBOX_POLL": "0.2",
    }


def _slack_statuses(world: World) -> dict[str, int]:
    db = world.db()
    try:
        with db.unit_of_work() as session:
            query = (
                select(OutboxItem.status, func.count()).where(OutboxItem.service == "slack").group_by(OutboxItem.status)
            )
            return {status: count for status, count in session.execute(query)}
    finally:
        db.dispose()


def _notices(world: World, user: str) -> list[dict[str, Any]]:
    return [m for m in world.slack.dms(user) if "could not deliver" in m.get("text", "")]


def _post_to_digest(world: World, count: int) -> None:
    db = world.db()
    try:
        with db.unit_of_work() as session:
            initiative = session.scalar(select(Initiative))
            assert initiative is not None
            for n in range(count):
                enqueue(
                    session,
                    initiative_id=initiative.id,
                    service="slack",
                    kind="post",
                    key=f"test:digest-extra:{n}",
                    payload={"channel": DIGEST, "text": f"Extra digest note {n}"},
                )
    finally:
        db.dispose()


def _open_home(world: World, user: str, before: dict[str, Any] | None) -> dict[str, Any]:
    world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    return wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user)), timeout=30)


def _retry_buttons(view: dict[str, Any]) -> list[str]:
    return [
        block["accessory"]["value"]
        for block in view["blocks"]
        if block.get("accessory", {}).get("action_id") == RETRY_PARKED
    ]


def test_a_channel_the_app_was_removed_from_is_told_once_shown_in_home_and_retried(fresh_world: World) -> None:
    world = fresh_world
    world.slack.add_channel(DIGEST, "asthma-digest", is_member=False)  # the app was removed from #digest

    assert "digest" in json.dumps(world.send.ci("digest post", user=BACKBONE)).lower()
    wait_for(
        lambda: _slack_statuses(world).get("failed", 0) >= 1 and not _slack_statuses(world).get("pending"), timeout=30
    )
    wait_for(lambda: _notices(world, BACKBONE) and _notices(world, OTHER_BACKBONE), timeout=30)

    # More items parked for the same cause: no more notices.
    _post_to_digest(world, 3)
    wait_for(
        lambda: _slack_statuses(world).get("failed", 0) >= 4 and not _slack_statuses(world).get("pending"), timeout=30
    )
    parked = _slack_statuses(world)["failed"]
    for user in (BACKBONE, OTHER_BACKBONE):
        notices = _notices(world, user)
        assert len(notices) == 1, notices
        said = json.dumps(notices[0], ensure_ascii=False)
        assert "invite @ci-slackbot to <#C0DIGEST01>" in said and "Retry" in said
    assert _notices(world, NURSE) == []  # partners are not told

    # App Home shows it, per cause, with a Retry button.
    view = _open_home(world, BACKBONE, None)
    assert validate_view(view, surface="home") == []
    assert _retry_buttons(view) == [CAUSE]
    text = json.dumps(view["blocks"], ensure_ascii=False)
    assert f"Parked: {parked} items" in text and "invite @ci-slackbot" in text

    # Rights are checked again on the click: a partner's Retry requeues nothing.
    world.send.click(NURSE, RETRY_PARKED, CAUSE, view={"id": "VHOME", "type": "home"}, response_key="refused")
    wait_for(
        lambda: any("Only backbone staff" in r.get("text", "") for r in world.slack.responses("refused")), timeout=30
    )
    assert _slack_statuses(world).get("failed") == parked

    # Invited back, a backbone member's Retry delivers every parked item, once.
    world.slack.add_channel(DIGEST, "asthma-digest", is_member=True)
    before = world.slack.home(BACKBONE)
    world.send.click(BACKBONE, RETRY_PARKED, CAUSE, view={"id": "VHOME", "type": "home"})
    wait_for(lambda: _slack_statuses(world) == {"done": parked}, timeout=60)
    posted = world.slack.messages(DIGEST)
    assert [m["text"] for m in posted if m["text"].startswith("Extra digest note")] == [
        f"Extra digest note {n}" for n in range(3)
    ]
    assert len(posted) >= 4  # the digest itself, whole, and the three notes
    # Home is shown again, with nothing parked.
    home = wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(BACKBONE)), timeout=30)
    assert _retry_buttons(home) == []
    # Resolved: failing again would be told again.
    db = world.db()
    with db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(ParkedNotice)) == 0
    db.dispose()
    assert len(_notices(world, BACKBONE)) == 1


def test_a_direct_message_to_a_bot_user_is_parked_at_once_with_what_to_do(fresh_world: World) -> None:
    """Slack refuses every DM to a bot user (someone put a workflow bot among the members): trying again
    cannot help, so it is parked at its first answer, and the backbone team is told to name a person."""
    world = fresh_world
    world.slack.add_user("U0WORKFLOW", real_name="Workflow Bot", is_bot=True)
    db = world.db()
    try:
        with db.unit_of_work() as session:
            initiative = session.scalar(select(Initiative))
            assert initiative is not None
            enqueue(
                session,
                initiative_id=initiative.id,
                service="slack",
                kind="post",
                key="test:dm-to-a-bot",
                payload={"channel": "U0WORKFLOW", "text": "Your report is due"},
            )
        wait_for(lambda: _slack_statuses(world).get("failed") == 1, timeout=30)
        with db.unit_of_work() as session:
            item = session.scalars(select(OutboxItem).where(OutboxItem.idempotency_key == "test:dm-to-a-bot")).one()
            assert item.attempts == 1 and "cannot_dm_bot" in (item.last_error or ""), (item.attempts, item.last_error)
    finally:
        db.dispose()
    notice = wait_for(lambda: _notices(world, BACKBONE), timeout=30)[0]
    assert "is a bot user" in json.dumps(notice, ensure_ascii=False)


def test_a_notice_that_cannot_be_posted_either_is_logged_as_an_error(fresh_world: World) -> None:
    world = fresh_world
    world.slack.faults.outage(503)  # Slack is down: the post is parked after its attempts, and no DM goes out
    _post_to_digest(world, 1)
    wait_for(lambda: _slack_statuses(world).get("failed") == 1, timeout=30)
    wait_for(lambda: "nobody could be told" in world.server.logs(), timeout=30)
    world.slack.faults.restore()
    told = [line for line in world.server.logs().splitlines() if "nobody could be told" in line]
    assert told and told[0].startswith("ERROR") and "slack:post:failed" in told[0]
    assert _notices(world, BACKBONE) == []
    # Not noted as told: the next item parked for that cause tries to tell again, and so does the
    # scheduler's sweep every few minutes, which is what tells them once Slack is back and nothing
    # parks any more.
    db = world.db()
    with db.unit_of_work() as session:
        assert session.scalars(select(ParkedNotice.told_at)).all() == [None]
    db.dispose()
    assert retell_parked(world.server.services) == 1
    said = wait_for(lambda: _notices(world, BACKBONE), timeout=30)
    assert "Retry" in json.dumps(said[0])
    assert retell_parked(world.server.services) == 0  # told: not again until a day has passed


def test_a_workspace_the_app_was_removed_from_is_told_to_install_it_again() -> None:
    # Its items are parked with no channel in their cause: the advice is still the install, not a generic line.
    assert "install it again" in advice("slack", "slack:not_installed:", "the app is not installed there")
