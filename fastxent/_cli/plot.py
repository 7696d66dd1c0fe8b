"""``bench --plot FILE.png``: the ratios as bar charts (matplotlib).

One panel per kernel at one thread count: for each shape and dtype, a bar
per peer of its time over fastxent's (left axis, log scale: above the line
at 1 fastxent is faster, higher is better) and a dot for fastxent's time
over the copy of as many bytes (right axis, log scale: 1 is the memory-bound
limit, lower is better). The two ratios read in opposite directions, hence
one axis each. A last panel shows the estimator comparisons.

:func:`check_path` runs before the measurements, so that a path the figure
cannot be written to fails at once, not after minutes of benchmarking.
"""

from __future__ import annotations

import os

import numpy as np

from fastxent._cli.cases import PEERS, KernelCase
from fastxent._cli.estimators import Comparison
from fastxent._cli.report import KernelTiming
from fastxent._optional import require

_COLORS = {"numpy/scipy": "#4c72b0", "scikit-learn": "#dd8452", "PyTorch": "#55a868"}
_BAR_WIDTH = 0.26
_SPEEDUP_LABEL = "peer time / fastxent time\n(higher is better)"
_COPY_LABEL = "fastxent time / copy time\n(dots, lower is better)"


class BadPlotPath(Exception):
    """``--plot`` names a file the figure cannot be written to."""


def check_path(path: str) -> None:
    """Raise unless :func:`draw` can write ``path``.

    Parameters
    ----------
    path : str
        The ``--plot`` argument: its directory must exist, matplotlib be
        installed and the extension (if any) be a format it writes.

    Raises
    ------
    BadPlotPath
        For the directory or the extension.
    MissingDependency
        Without matplotlib.
    """
    directory = os.path.dirname(path) or os.curdir
    if not os.path.isdir(directory):
        raise BadPlotPath(f"--plot {path}: no such directory: {directory}")
    require("matplotlib", "python -m fastxent bench --plot")
    from matplotlib.backend_bases import FigureCanvasBase

    extension = os.path.splitext(path)[1].lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension and extension not in formats:
        raise BadPlotPath(
            f"--plot {path}: matplotlib cannot write .{extension} files; "
            f"use one of {', '.join('.' + name for name in sorted(formats))}"
        )


def draw(
    timings: list[KernelTiming],
    comparisons: list[Comparison],
    path: str,
    title: str,
    n_threads: int | None = None,
) -> None:
    """Write the figure of the ``n_threads`` runs to ``path``.

    ``n_threads=None`` picks the largest thread count measured; the format
    follows the extension of ``path``.
    """
    import matplotlib.pyplot as plt

    figure = build_figure(timings, comparisons, title, n_threads)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def build_figure(
    timings: list[KernelTiming],
    comparisons: list[Comparison],
    title: str,
    n_threads: int | None = None,
):
    """The figure :func:`draw` writes, open (``matplotlib.pyplot.close`` it).

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = sorted({t.n_threads for t in timings})
    if n_threads is None:
        n_threads = measured[-1]
    elif n_threads not in measured:
        raise ValueError(
            f"n_threads={n_threads} was not measured; the runs used {measured}"
        )
    kernels = list(dict.fromkeys(t.case.kernel for t in timings))
    n_panels = len(kernels) + bool(comparisons)
    n_cols = 2
    n_rows = -(-n_panels // n_cols)
    figure, axes = plt.subplots(
        n_rows, n_cols, figsize=(14, 3.6 * n_rows), squeeze=False
    )
    for ax, kernel in zip(axes.flat, kernels, strict=False):
        group = [t for t in timings if t.case.kernel == kernel]
        _kernel_panel(ax, kernel, [t for t in group if t.n_threads == n_threads])
    if comparisons:
        _estimator_panel(axes.flat[len(kernels)], comparisons, n_threads)
    for ax in list(axes.flat)[n_panels:]:
        ax.set_visible(False)
    # Each series once, whichever panel first has it; the dots are on twin axes.
    handles, labels = [], []
    for ax in figure.axes:
        if ax.get_visible():
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(handle)
                    labels.append(label)
    threads = "1 thread" if n_threads == 1 else f"{n_threads} threads"
    figure.suptitle(f"{title}, {threads}", y=0.995)
    figure.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.975),
        ncol=2, frameon=False, fontsize=9,
    )  # fmt: skip
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    return figure


def _short_count(count: int) -> str:
    """1000000 -> "1M", 32000 -> "32k", 256 -> "256"."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def _short_label(case: KernelCase) -> str:
    """``"200kx10\nf64"``: short enough for ten groups side by side."""
    shape = _short_count(case.n_samples)
    if case.n_classes > 1:
        shape += f"x{_short_count(case.n_classes)}"
    return f"{shape}\nf{np.dtype(case.dtype).itemsize * 8}"


def _log_ratio_axis(ax, line_at_one: bool = True) -> None:
    """Log scale with plain numbers as labels, and the line at 1 if
    ``line_at_one`` (not on the copy axis: a second line at 1, at another
    height than the bars', would read as the bars' threshold)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if line_at_one:
        ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="y", labelsize=7)


def _kernel_panel(ax, kernel: str, group: list[KernelTiming]) -> None:
    positions = np.arange(len(group))
    peers = [p for p in PEERS if any(t.ratio(p) is not None for t in group)]
    for offset, peer in enumerate(peers):
        ratios = [t.ratio(peer) or np.nan for t in group]
        shift = (offset - (len(peers) - 1) / 2) * _BAR_WIDTH
        ax.bar(
            positions + shift, ratios, _BAR_WIDTH, color=_COLORS[peer],
            label=f"{peer} time / fastxent time",
        )  # fmt: skip
    _log_ratio_axis(ax)
    ax.set_ylabel(_SPEEDUP_LABEL, fontsize=8)
    copy_axis = ax.twinx()
    copy_axis.plot(
        positions, [t.limit_ratio for t in group], "ko",
        label="fastxent time / copy time",
    )  # fmt: skip
    _log_ratio_axis(copy_axis, line_at_one=False)
    copy_axis.set_ylabel(_COPY_LABEL, fontsize=8)
    ax.set_xticks(positions)
    ax.set_xticklabels([_short_label(t.case) for t in group], fontsize=7)
    ax.set_title(kernel, fontsize=10)


def _estimator_panel(ax, comparisons: list[Comparison], n_threads: int) -> None:
    chosen = [c for c in comparisons if c.n_threads == n_threads]
    positions = np.arange(len(chosen))
    ax.bar(positions, [c.ratio for c in chosen], 0.5, color=_COLORS["scikit-learn"])
    _log_ratio_axis(ax)
    ax.set_ylabel("scikit-learn time / fastxent time\n(higher is better)", fontsize=8)
    ax.set_xticks(positions)
    # "digits\nagd vs lbfgs": the problem, then fastxent's solver and its peer.
    ax.set_xticklabels(
        [
            f"{c.problem.split(' (')[0]}\n{c.ours.model.split()[-1]} vs "
            f"{c.peer.model.split()[-1]}"
            for c in chosen
        ],
        fontsize=7,
    )
    ax.set_title("LogisticRegression", fontsize=10)
