"""GET /metrics: bounded labels, counters summed over every gunicorn worker, and the bearer token."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from ci_slackbot.observability import MULTIPROC_ENV, Metrics, multiprocess_directory
from ci_slackbot.sandbox.world import children_of
from tests.harness import (
    HOSPITAL,
    QUIET_SCHEDULER,
    Sandbox,
    ServeProcess,
    SlackSender,
    World,
    load_example,
    wait_for,
)

TOKEN = "scrape-token-for-tests"
HELP_OK = 'ci_slackbot_commands_total{command="help",outcome="ok"}'
UNKNOWN_OK = 'ci_slackbot_commands_total{command="unknown",outcome="ok"}'
ACKS = "ci_slackbot_ack_seconds_count"


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line of a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_unknown_first_words_add_no_series_and_never_show_what_was_typed(world: World) -> None:
    world.send.ci("help")
    world.send.ci("frobnicate first")

    def command_series() -> set[str]:
        text = requests.get(f"{world.server.base}/metrics", timeout=5).text
        return {name for name in samples(text) if name.startswith("ci_slackbot_commands_total{")}

    before = command_series()
    assert UNKNOWN_OK in before
    typed = [f"zz{n}secretword" for n in range(50)]
    for word in typed:
        world.send.ci(f"{word} please", user=HOSPITAL)
    text = requests.get(f"{world.server.base}/metrics", timeout=5).text
    assert command_series() == before
    assert samples(text)[UNKNOWN_OK] >= 51
    assert not [word for word in typed if word in text]
    assert "frobnicate" not in text


def test_the_metrics_directory_is_private_and_removed_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_directory() as directory:
        assert os.environ[MULTIPROC_ENV] == directory
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert not Path(directory).exists()
    assert MULTIPROC_ENV not in os.environ


def test_a_scrape_leaves_out_a_metrics_file_a_worker_is_still_creating(tmp_path: Path) -> None:
    """A worker's first count creates its file empty, then sizes it; a scrape in between read it and
    failed whole, and /metrics answered 500 (prometheus/client_python#604)."""
    written = MmapedDict(str(tmp_path / "counter_1111.db"))
    key = mmap_key("ci_slackbot_commands", "ci_slackbot_commands_total", ["command", "outcome"], ["help", "ok"], "")
    written.write_value(key, 5.0, 0.0)
    written.close()
    (tmp_path / "counter_2222.db").write_bytes(b"")  # the other worker's, created and not yet sized
    metrics = Metrics()
    metrics.directory = str(tmp_path)  # as serve's workers have it, without switching this process's value class
    text = metrics.render()
    assert 'ci_slackbot_commands_total{command="help",outcome="ok"} 5.0' in text


@pytest.fixture(scope="module")
def two_workers(
    module_database_url: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, SlackSender, Path]]:
    load_example(module_database_url)
    # A directory of our own rather than serve's private one, so that the test can see which workers wrote.
    directory = tmp_path_factory.mktemp("metrics")
    env = {**sandbox.env(), **QUIET_SCHEDULER, "CI_SLACKBOT_METRICS_TOKEN": TOKEN, MULTIPROC_ENV: str(directory)}
    server = ServeProcess(module_database_url, env)
    server.start(tmp_path_factory.mktemp("serve"), ("--workers", "2"))
    try:
        yield server, SlackSender(server.events_url, sandbox.slack), directory
    finally:
        server.stop()


def scrape(server: ServeProcess) -> dict[str, float]:
    response = requests.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert response.status_code == 200, response.text
    return samples(response.text)


@pytest.mark.e2e
def test_counters_add_up_over_both_workers_and_never_go_backwards(
    two_workers: tuple[ServeProcess, SlackSender, Path],
) -> None:
    server, send, directory = two_workers
    start = scrape(server)

    def writers() -> set[str]:
        return {path.name.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")}

    sent = 0
    seen: list[tuple[float, float]] = []
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(8) as pool:
        # /healthz answered when one worker was up; the other may still be loading the app (seconds, on a
        # busy machine, while a batch takes a fraction of one). Once both serve, the busier one leaves
        # new connections to the other (connection_shares.py): send batches until both have taken some.
        while time.monotonic() < deadline:
            batch = [pool.submit(send.ci, "help", HOSPITAL) for _ in range(24)]
            while not all(future.done() for future in batch):  # scrape while the batch lands
                now = scrape(server)
                seen.append((now.get(HELP_OK, 0.0), now.get(ACKS, 0.0)))
            assert all("/ci update" in str(future.result()) for future in batch)
            sent += len(batch)
            if len(writers()) == 2:
                break
    assert len(writers()) == 2, f"{sent} commands, all taken by one worker: {writers()}"
    end = scrape(server)
    seen.append((end[HELP_OK], end[ACKS]))
    helps, acks = [help_count for help_count, _ in seen], [ack_count for _, ack_count in seen]
    assert helps == sorted(helps) and acks == sorted(acks), f"a scrape went backwards: {seen}"
    # Every command counted once, whichever worker took it and whichever answers the scrape.
    assert end[HELP_OK] - start.get(HELP_OK, 0.0) == sent
    assert end[ACKS] - start.get(ACKS, 0.0) >= sent


@pytest.mark.e2e
def test_a_worker_that_exits_leaves_the_counts_in_place(served_world: World) -> None:
    # serve's own private metrics directory this time: it must outlive any one worker.
    server = served_world.server
    assert isinstance(server, ServeProcess) and server.process is not None
    for _ in range(5):
        served_world.send.ci("help")
    before = scrape_open(server)
    workers = children_of(server.process.pid)
    os.kill(workers[0], signal.SIGTERM)  # a graceful exit, as when gunicorn replaces a worker
    wait_for(lambda: len(set(children_of(server.process.pid)) - set(workers)) == 1, timeout=30)
    served_world.send.ci("help")
    after = scrape_open(server)
    assert after[HELP_OK] == before[HELP_OK] + 1
    assert after[ACKS] == before[ACKS] + 1


def scrape_open(server: ServeProcess) -> dict[str, float]:
    return samples(requests.get(f"{server.base}/metrics", timeout=5).text)


@pytest.mark.e2e
def test_metrics_need_the_bearer_token_when_one_is_set(two_workers: tuple[ServeProcess, SlackSender, Path]) -> None:
    server, _, _ = two_workers
    url = f"{server.base}/metrics"
    bare = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"Authorization": "Bearer not-it"}, timeout=5)
    basic = requests.get(url, headers={"Authorization": f"Basic {TOKEN}"}, timeout=5)
    right = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert [r.status_code for r in (bare, wrong, basic, right)] == [401, 401, 401, 200]
    assert bare.headers["WWW-Authenticate"] == "Bearer"
    assert "ci_slackbot_commands_total" not in bare.text
    assert "ci_slackbot_outbox_depth" in right.text
