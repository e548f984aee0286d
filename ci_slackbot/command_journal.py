"""The journal of queued `/ci` commands: what an ack writes before it goes back to Slack.

With CI_SLACKBOT_QUEUE_COMMANDS on, each `serve` worker appends the command, one JSON
line, to a file of its own and acks at once; the command runner (`ci-slackbot
command-runner`, started by `serve`) reads the lines into `queued_commands` and carries
them out (`command_queue`). An append costs a few microseconds and no database at all, so
the ack costs what a bare Bolt app's does, and it still goes out when the database is slow
or down (bench/ack_latency.py; ARCHITECTURE.md, "A command's answer is its ack").

Nothing is lost and nothing is read twice:
- a line is written with one `write(2)` under O_APPEND before the ack; it is in the kernel's
  page cache then, so it outlives a kill -9 of the worker (not a power cut in the next few
  seconds: the same as SQLite's `synchronous=NORMAL`);
- every line has a key made of its file and offset, and `queued_commands.key` is unique,
  so a line read again (a runner restarted, two runners on one directory) is stored once;
- a writer holds an exclusive flock(2) on its file while it may still append. A file
  whose lock can be taken, read to its end, is finished (rotated, or its worker died), and
  only then deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; the journal is off there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
# A writer starts a new file after this many bytes or seconds, and lets go of one it has not
# written to for IDLE_SECONDS, so that a line is never long in the journal once stored: the
# runners prune answered commands after a week, and a line read again after that would run again.
ROTATE_BYTES = 4 * 1024 * 1024
ROTATE_SECONDS = 600.0
IDLE_SECONDS = 60.0


def journal_directory(configured: str | None, database_url: str) -> Path:
    """Where the journal lives: as configured, else beside a SQLite file, else in the user's state directory.

    Per database: two deployments on one machine must not carry out each other's commands."""
    if configured:
        return Path(configured).expanduser()
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url.removeprefix("sqlite:///")).expanduser().resolve().with_suffix(".commands")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return state / "ci-slackbot" / f"commands-{digest}"


class CommandJournal:
    """The writing end, one per process: `append()` is what an ack does before it goes."""

    def __init__(
        self,
        directory: Path,
        rotate_bytes: int = ROTATE_BYTES,
        rotate_seconds: float = ROTATE_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("the command journal needs flock(2), which this system does not have")
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._pid = 0
        self._opened = self._written = 0.0  # time.monotonic()
        self._closer_pid = 0

    def append(self, body: dict[str, Any]) -> None:
        line = (json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:
            now = time.monotonic()
            if (
                self._fd is None
                or self._pid != os.getpid()
                or self._size >= self.rotate_bytes
                or now - self._opened >= self.rotate_seconds
            ):
                self._open()
            assert self._fd is not None
            written = os.write(self._fd, line)
            self._written = now
            if written != len(line):  # a full disk: the rest of the line would never come
                self._size += written
                self._close()
                raise OSError(f"the command journal took {written} of {len(line)} bytes")
            self._size += written

    def _open(self) -> None:
        previous = self._fd if self._pid == os.getpid() else None  # a forked child's inherited file is not its own
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._size, self._pid, self._opened = fd, 0, os.getpid(), time.monotonic()
        if previous is not None:
            os.close(previous)  # lets go of its lock: the runner may now finish that file
        if self._closer_pid != os.getpid():  # threads do not outlive a fork: one per process
            self._closer_pid = os.getpid()
            threading.Thread(target=self._close_when_idle, name="journal-idle", daemon=True).start()

    def _close_when_idle(self) -> None:
        pid = os.getpid()
        while True:
            time.sleep(max(0.05, self.idle_seconds / 4))
            with self._lock:
                if self._pid != pid:
                    return
                if self._fd is not None and time.monotonic() - self._written >= self.idle_seconds:
                    self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._close()


@dataclass
class JournalEntry:
    key: str
    body: dict[str, Any]


@dataclass
class JournalBatch:
    """New lines of one file; `finished`: nothing more can come to it."""

    path: Path
    entries: list[JournalEntry]
    end: int  # the offset after the last complete line
    finished: bool


@dataclass
class JournalReader:
    """The reading end, in the command runner: the new complete lines of every file.

    A batch counts as read only once `stored()` is called for it, after its entries are in the
    database: while the database is down, the same lines come again on the next read."""

    directory: Path
    _offsets: dict[str, int] = field(default_factory=dict)

    def batches(self) -> Iterator[JournalBatch]:
        if not self.directory.is_dir():
            return
        paths = sorted(self.directory.glob(f"*{SUFFIX}"), key=_modified)
        for gone in set(self._offsets) - {path.name for path in paths}:
            del self._offsets[gone]  # finished and deleted by another runner
        for path in paths:
            offset = self._offsets.get(path.name, 0)
            entries, end = _lines(path, offset) if _size(path) > offset else ([], offset)
            if end > offset:  # new lines (an unreadable one too: it is passed, not read again and again)
                yield JournalBatch(path, entries, end, finished=False)
                continue
            if not _writer_gone(path):
                continue
            # Its writer let go (rotated, or died); a last line may have landed just before.
            entries, end = _lines(path, offset)
            # A trailing part-line is not an entry: its ack never went (the write comes first).
            yield JournalBatch(path, entries, end, finished=not entries)

    def stored(self, batch: JournalBatch) -> None:
        """The batch's entries are in the database: move past them, and delete a finished file."""
        if batch.finished:
            with contextlib.suppress(FileNotFoundError):
                batch.path.unlink()
            self._offsets.pop(batch.path.name, None)
        else:
            self._offsets[batch.path.name] = batch.end


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _writer_gone(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock we may have taken
    return True


def _lines(path: Path, offset: int) -> tuple[list[JournalEntry], int]:
    """Complete lines from `offset`, and the offset after the last of them."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return [], offset
    entries: list[JournalEntry] = []
    position = offset
    *complete, _rest = data.split(b"\n")  # the rest: a line still being written, or cut off (never acked)
    for raw in complete:
        key = f"{path.stem}:{position}"
        position += len(raw) + 1
        try:
            body = json.loads(raw)
        except ValueError:
            log.error("an unreadable line in the command journal was skipped", extra={"key": key})
            continue
        if isinstance(body, dict):
            entries.append(JournalEntry(key=key, body=body))
    return entries, position
