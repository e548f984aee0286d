"""Every chart of a process is drawn on its one chart thread, whichever threads ask for it.

Real charts, real threads, a real fork: no stand-in for matplotlib or for the drawer.
"""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from ci_slackbot.chart_drawer import ChartDrawer, ChartTimeout, drawer
from ci_slackbot.charts import ChartSeries, HeadlinePanel, headline_chart, indicator_chart
from ci_slackbot.domain.measurement import Direction, Point
from ci_slackbot.domain.periods import Period

MONTHS = [Period.parse("2026-01").shift(i) for i in range(9)]


def _indicator(i: int) -> bytes:
    return indicator_chart(
        title=f"Asthma emergency visits, chart {i}",
        unit="per 1,000 children",
        direction=Direction.DECREASE,
        actuals=[Point(p, 18 - j * 0.3 + i % 4) for j, p in enumerate(MONTHS)],
        baseline=Point(Period.parse("2025-12"), 18.4),
        target=Point(Period.parse("2027-12"), 12.0),
        breakdowns=[ChartSeries(f"zip 7521{k}", [Point(p, 14 + k + i % 3) for p in MONTHS]) for k in range(i % 5)],
    )


def _headline(i: int) -> bytes:
    panels = [
        HeadlinePanel(
            f"indicator-{k}", "%", Direction.INCREASE, [Point(p, 40 + k + j + i) for j, p in enumerate(MONTHS)]
        )
        for k in range(1 + i % 4)
    ]
    return headline_chart(panels, title=f"Headline indicators {i}", left_out=i % 2)


def _draw(i: int) -> bytes:
    return _headline(i) if i % 3 == 0 else _indicator(i)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # every chunk read and its CRC checked
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_charts_asked_for_on_many_threads_are_valid_pngs_drawn_on_one_thread() -> None:
    count, callers = 16, 8
    expected = {i: _draw(i) for i in range(count)}  # drawn one by one first, for comparison
    chart_thread = drawer().thread
    assert chart_thread is not None and chart_thread.is_alive()
    assert chart_thread.ident != threading.get_ident()
    before = drawer().drawn_by.copy()

    start = threading.Barrier(callers)
    asked_from: set[int] = set()

    def ask(i: int) -> tuple[int, bytes]:
        if i < callers:
            start.wait(timeout=30)  # the first round asks all at once
        asked_from.add(threading.get_ident())
        return i, _draw(i)

    with ThreadPoolExecutor(callers) as pool:
        drawn = dict(pool.map(ask, range(count)))

    assert len(asked_from) == callers and chart_thread.ident not in asked_from
    for i, png in drawn.items():
        size = _png_size(png)
        if i % 3:
            assert size == (990, 550)
        # Drawing at the same time as others changed nothing: the same numbers, the same picture.
        assert png == expected[i], f"chart {i} differs from the one drawn alone"
    assert drawer().thread is chart_thread  # the same thread throughout, never restarted
    assert drawer().drawn_by - before == {chart_thread.ident: count}


def test_a_failing_drawing_raises_in_its_caller_and_a_late_one_is_dropped() -> None:
    chart_drawer = ChartDrawer(name="test-chart-drawer")
    assert chart_drawer.thread is None  # started lazily

    def broken() -> bytes:
        raise ValueError("no such axis")

    with pytest.raises(ValueError, match="no such axis"):
        chart_drawer.draw(broken, timeout=30)
    assert chart_drawer.thread is not None and chart_drawer.thread.is_alive()

    release, started = threading.Event(), threading.Event()

    def slow() -> bytes:
        started.set()
        release.wait(timeout=30)
        return b"slow"

    late_ran = threading.Event()

    def late() -> bytes:
        late_ran.set()
        return b"late"

    slow_future = chart_drawer.submit(slow)
    assert started.wait(timeout=30)
    with pytest.raises(ChartTimeout):
        chart_drawer.draw(late, timeout=0.05)  # the thread is busy with `slow`
    release.set()
    assert slow_future.result(timeout=30) == b"slow"
    # Drawings are taken in order: once this one is back, `late` was reached, and dropped.
    assert chart_drawer.draw(lambda: b"next", timeout=30) == b"next"
    assert not late_ran.is_set()
    assert chart_drawer.drawn_by == {chart_drawer.thread_ident: 3}


def test_a_forked_child_draws_on_a_chart_thread_of_its_own() -> None:
    """gunicorn forks its workers: a drawer used before the fork must not wait for the parent's thread."""
    _indicator(0)  # the parent's chart thread is running
    parent_thread = drawer().thread
    assert parent_thread is not None and parent_thread.native_id is not None
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running pytest's teardown
        try:
            os.close(reading)
            signal.alarm(120)  # a hung child dies rather than hanging the test
            forgotten = drawer().thread is None and drawer().drawn == 0
            png = _indicator(1)
            thread = drawer().thread
            report = {
                "forgotten": forgotten,
                "size": list(_png_size(png)),
                "native_id": thread.native_id if thread is not None else None,
                "drawn_by": {str(k): v for k, v in drawer().drawn_by.items()},
                "thread_ident": drawer().thread_ident,
            }
            os.write(writing, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        answer = pipe.read()  # returns when the child closes its end: exits
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(answer)
    assert report["forgotten"], "the child kept the parent's drawing thread"
    assert report["size"] == [990, 550]
    assert report["native_id"] not in (None, parent_thread.native_id)
    assert report["drawn_by"] == {str(report["thread_ident"]): 1}
    assert parent_thread.is_alive() and drawer().thread is parent_thread
