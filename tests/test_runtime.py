"""Start-up of a long-running process: its objects stay out of later garbage collections."""

from __future__ import annotations

import gc
import platform
import re
import subprocess
import sys

import pytest

from ci_slackbot.runtime import MALLOC_ARENAS, freeze_startup_heap


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


ARENAS_OF_THREADS = """
import ctypes, sys, threading
from ci_slackbot.runtime import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
barrier = threading.Barrier(16)
def work():
    barrier.wait()  # all at once, so that they contend for the arenas
    for _ in range(200):
        chunks = [bytearray(4096) for _ in range(50)]
        del chunks
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" paragraph per arena, on standard error
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_a_serving_process_keeps_to_two_malloc_arenas_however_many_threads_it_runs() -> None:
    def arenas(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", ARENAS_OF_THREADS, mode], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return len(re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE))

    assert arenas("default") > MALLOC_ARENAS  # glibc's own: up to 8 a core, so the setting is what limits
    assert 1 <= arenas("limited") <= MALLOC_ARENAS
