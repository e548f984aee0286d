"""A progress bar on stderr for long CLI runs, with no dependency.

On a terminal the bar redraws in place (at most ten times a second); when
stderr is a file or a pipe (CI logs) it prints a line at every tenth of a long run instead,
so logs stay short and readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_drawn = 0.0
        self.last_tenth = -1
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        self.update(done, total)

    def update(self, done: int, total: int) -> None:
        fraction = 1.0 if total <= 0 else min(1.0, done / total)
        if self.interactive:
            now = time.monotonic()
            if done < total and now - self.last_drawn < 0.1:
                return
            self.last_drawn = now
            filled = int(WIDTH * fraction)
            bar = "█" * filled + "░" * (WIDTH - filled)
            self.stream.write(f"\r{self.label} {bar} {fraction:4.0%} {done:,}/{total:,}")
            if done >= total:
                self.stream.write("\n")
                self.finished = True
            self.stream.flush()
            return
        # A short run gets one line at the end; a long one a line at every tenth.
        tenth = int(fraction * 10) if total >= 1000 else (10 if done >= total else -1)
        if tenth > self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(f"{self.label}: {fraction:.0%} ({done:,}/{total:,})\n")
            self.stream.flush()
            self.finished = done >= total

    def close(self) -> None:
        if self.interactive and not self.finished and self.last_drawn:
            self.stream.write("\n")
            self.stream.flush()
