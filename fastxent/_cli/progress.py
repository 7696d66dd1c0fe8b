"""A small progress bar on stderr, so that bench's stdout stays a clean report."""

from __future__ import annotations

import shutil
import sys
import time

_WIDTH = 30


class ProgressBar:
    """``[#####.....]  12/40  label`` on one line of a terminal.

    The label names what runs now: :meth:`show` sets it and redraws, and
    :meth:`step` only counts, so that a finished step's label is never left
    on the line while the next step runs. On a stream that is not a terminal
    (a CI log) it writes a line at the first label of each tenth of the work
    instead of carriage returns.

    Parameters
    ----------
    total : int
        Number of steps.
    stream : file-like, default=sys.stderr
    """

    def __init__(self, total: int, stream=None):
        self.total = max(int(total), 1)
        self.done = 0
        self.label = ""
        self.stream = sys.stderr if stream is None else stream
        self._on_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1
        self._start = time.perf_counter()

    def step(self) -> None:
        """Count one finished step; the next :meth:`show` draws it."""
        self.done = min(self.done + 1, self.total)

    def show(self, label: str) -> None:
        """Say what runs now, after :attr:`done` finished steps."""
        self.label = label
        self._draw()

    def close(self) -> None:
        """Draw the bar a last time and report the elapsed time."""
        done = f"done in {time.perf_counter() - self._start:.0f} s"
        if self._on_terminal:
            self.label = done
            self._draw()
            self.stream.write("\n")
        else:
            self.label = ""
            self._draw(force=True)
            self.stream.write(done + "\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        filled = _WIDTH * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {self.done}/{self.total}"
        if self._on_terminal:
            # One column short of the width: a full line would wrap, and the
            # carriage return would then rewrite the second row only.
            columns = shutil.get_terminal_size().columns - 1
            line = f"{bar}  {self.label}"[:columns]
            # Padded to erase a longer previous line.
            self.stream.write(f"\r{line:<{columns}}")
        else:
            tenth = 10 * self.done // self.total
            if tenth == self._last_tenth and not force:
                return
            self._last_tenth = tenth
            self.stream.write(f"{bar}  {self.label}".rstrip() + "\n")
        self.stream.flush()
