"""A small progress bar on stderr, so that bench's stdout stays a clean report."""

from __future__ import annotations

import sys
import time

_WIDTH = 30
# Redraw at most this often on a terminal: a redraw per step would cost more
# than the fastest steps.
_MIN_REDRAW_SECONDS = 0.1


class ProgressBar:
    """``[#####.....]  12/40  label`` on one line of a terminal.

    On a stream that is not a terminal (a CI log) it writes one line per
    tenth of the work instead of carriage returns.

    Parameters
    ----------
    total : int
        Number of steps.
    stream : file-like, default=sys.stderr
    """

    def __init__(self, total: int, stream=None):
        self.total = max(int(total), 1)
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self._on_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._last_tenth = -1
        self._start = time.perf_counter()

    def step(self, label: str = "") -> None:
        """Count one finished step; ``label`` says what runs next."""
        self.done = min(self.done + 1, self.total)
        self._draw(label)

    def show(self, label: str) -> None:
        """Say what runs now without counting a step."""
        self._draw(label)

    def close(self) -> None:
        """Finish the line and report the elapsed time."""
        elapsed = time.perf_counter() - self._start
        if self._on_terminal:
            self._draw("", force=True)
            self.stream.write(f"  done in {elapsed:.0f} s\n")
        else:
            self.stream.write(f"done in {elapsed:.0f} s\n")
        self.stream.flush()

    def _draw(self, label: str, force: bool = False) -> None:
        filled = _WIDTH * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {self.done}/{self.total}"
        if self._on_terminal:
            now = time.perf_counter()
            if not force and now - self._last_draw < _MIN_REDRAW_SECONDS:
                return
            self._last_draw = now
            # Pad to erase a longer previous label.
            self.stream.write(f"\r{bar}  {label[:40]:<40}")
        else:
            tenth = 10 * self.done // self.total
            if tenth == self._last_tenth and not force:
                return
            self._last_tenth = tenth
            self.stream.write(f"{bar}  {label}\n")
        self.stream.flush()
