"""Progress a person can read wherever the output goes: a tqdm bar on a terminal, and one plain line
every few seconds when stdout/stderr is a file or a pipe (SLURM, nohup, CI), where a bar's carriage
returns would pile up into one unreadable line.

The interval is 30 s, or the environment's ``RVT_PROGRESS_EVERY_S``.
``progress_bar(total, unit, desc)`` is what the long ``rvt`` commands use; the training loop's
counterpart is the Lightning callback ``rvt.training.progress.LineProgress``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

#: seconds between two progress lines when the output is not a terminal (env RVT_PROGRESS_EVERY_S)
EVERY_S = float(os.environ.get("RVT_PROGRESS_EVERY_S", 30.0))


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class Ticker:
    """True at most once every ``every_s`` seconds (the first call after the start included)."""

    def __init__(self, every_s: float = EVERY_S):
        self.every_s = float(every_s)
        self.start = self.last = time.perf_counter()

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            return True
        return False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class LineProgress:
    """tqdm's ``update``/context-manager interface, printing ``desc: done/total unit (pct), rate`` lines."""

    def __init__(self, total: int, unit: str = "it", desc: str = "", every_s: float = EVERY_S,
                 stream: TextIO | None = None):
        self.total, self.unit, self.desc = int(total), unit, desc
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self.printed = False
        self.ticker = Ticker(every_s)

    def line(self) -> str:
        t = self.ticker.elapsed()
        rate = self.done / t if t > 0 else 0.0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"{self.desc}: {self.done}/{self.total} {self.unit} ({pct:.0f} %), {rate:,.0f} {self.unit}/s, "
                f"{t:.0f} s")

    def update(self, n: int = 1) -> None:
        self.done += int(n)
        if self.ticker.due():
            self.printed = True
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        """The final line, when the work was long enough to have printed progress (short work prints nothing)."""
        if self.printed:
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        return False


def progress_bar(total: int, unit: str = "it", desc: str = "", every_s: float = EVERY_S,
                 stream: TextIO | None = None):
    """A tqdm bar on a terminal, else a :class:`LineProgress` (both: ``with ... as bar: bar.update(n)``)."""
    stream = sys.stderr if stream is None else stream
    if is_terminal(stream):
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, desc=desc, leave=False, file=stream)
    return LineProgress(total, unit, desc, every_s, stream)


__all__ = ["EVERY_S", "LineProgress", "Ticker", "is_terminal", "progress_bar"]
