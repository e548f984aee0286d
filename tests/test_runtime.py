"""Start-up of a long-running process: its objects stay out of later garbage collections."""

from __future__ import annotations

import gc

from ci_slackbot.runtime import freeze_startup_heap


def test_objects_alive_at_start_up_are_left_out_of_later_collections() -> None:
    made_at_start_up: list[object] = [{"listener": "on_ci"}]
    try:
        freeze_startup_heap()
        made_later: list[object] = [{"request": 1}]
        tracked = gc.get_objects()
        assert gc.get_freeze_count() > 0
        assert not any(o is made_at_start_up for o in tracked)
        assert any(o is made_later for o in tracked)
    finally:
        gc.unfreeze()
