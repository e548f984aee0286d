"""The change log of the set-up: a reloaded file's changes are logged as "loaded from file", shown to
backbone staff in App Home, and announced once (DMs through the outbox, one line in the next digest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from ci_slackbot.store.models import ChangeLogEntry
from tests.harness import BACKBONE, HOSPITAL, NEIGHBOR, World, load_example, wait_for
from tests.paths import EXAMPLE

NEWCOMER = "U0DISD0002"  # joins Dallas ISD in the edited file
DIGEST = "C0DIGEST01"


def _edited(tmp_path: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["indicators"][0]["target"]["value"] = 11
    raw["indicators"].append(
        {
            "key": "asthma-camps",
            "name": "Children at asthma camps",
            "goal": "G1",
            "unit": "children",
            "direction": "increase",
            "frequency": "quarterly",
            "reporters": ["neighbors"],
        }
    )
    raw["organizations"][2]["members"].append(NEWCOMER)
    path = tmp_path / "edited.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _texts(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False)


def _home(world: World, user: str) -> str:
    before = world.slack.home(user)
    world.send.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": f"D{user}"})
    view = wait_for(lambda: (lambda v: v if v and v != before else None)(world.slack.home(user)), timeout=30)
    return json.dumps(view["blocks"], ensure_ascii=False)


def _digest_text(world: World) -> str:
    return _texts(world.slack.messages(DIGEST)) + "".join(
        _texts(world.slack.messages(DIGEST, thread_ts=m["ts"])) for m in world.slack.messages(DIGEST)
    )


def test_a_reloaded_file_is_logged_shown_and_announced_once(fresh_world: World, tmp_path: Path) -> None:
    world = fresh_world
    path = _edited(tmp_path)
    load_example(world.database_url, path)

    db = world.db()
    try:
        with db.unit_of_work() as session:
            rows = list(session.scalars(select(ChangeLogEntry).order_by(ChangeLogEntry.id)))
            entries = {e.subject: e for e in rows}  # the latest entry of each subject
            target = entries["indicator er-visits"]
            assert (target.author, target.before, target.after) == (
                "loaded from file",
                {"target_value": 12.0},
                {"target_value": 11},
            )
            assert entries["indicator asthma-camps"].before is None
            assert entries["indicator asthma-camps reporters"].after == {"reporters": ["neighbors"]}
            members = entries["organization dallas-isd members"]
            assert (members.before, members.after) == (
                {"members": ["U0DISD0001"]},
                {"members": ["U0DISD0001", NEWCOMER]},
            )
            assert {e.author for e in entries.values()} == {"loaded from file"}
            logged = len(rows)
    finally:
        db.dispose()

    # The new member is welcomed with what Dallas ISD reports and how; Neighbors United hears of its new duty.
    welcome = wait_for(lambda: world.slack.dms(NEWCOMER), timeout=30)
    assert "Welcome to Breathe Easy Dallas" in _texts(welcome) and "/ci update action-plans <value>" in _texts(welcome)
    duty = wait_for(lambda: [m for m in world.slack.dms(NEIGHBOR) if "asthma-camps" in _texts([m])], timeout=30)
    assert "/ci update asthma-camps <value>" in _texts(duty)
    assert not [m for m in world.slack.dms(HOSPITAL) if "asthma-camps" in _texts([m])]

    # Backbone staff see the changes in App Home; partners do not.
    home = _home(world, BACKBONE)
    assert "Recent changes to the set-up" in home
    assert "indicator er-visits: target_value: 12 → 11 (loaded from file)" in home
    assert "Recent changes to the set-up" not in _home(world, HOSPITAL)

    # The next digest says the target changed, once.
    world.send.ci("digest post", user=BACKBONE)
    line = "Target for er-visits changed from 12 to 11 (loaded from file)"
    wait_for(lambda: line in _digest_text(world), timeout=30)
    posted = len(world.slack.messages(DIGEST))
    world.send.ci("digest post", user=BACKBONE)
    wait_for(lambda: len(world.slack.messages(DIGEST)) > posted, timeout=30)
    assert _digest_text(world).count(line) == 1

    # Loading the same file again logs nothing and sends nothing new.
    dms = {user: len(world.slack.dms(user)) for user in (NEWCOMER, NEIGHBOR)}
    load_example(world.database_url, path)
    db = world.db()
    try:
        with db.unit_of_work() as session:
            assert len(list(session.scalars(select(ChangeLogEntry)))) == logged
    finally:
        db.dispose()
    world.send.ci("help", user=BACKBONE)  # a request after the reload: the outbox has had its chance
    assert {user: len(world.slack.dms(user)) for user in (NEWCOMER, NEIGHBOR)} == dms
