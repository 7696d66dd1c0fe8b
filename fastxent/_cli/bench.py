"""``python -m fastxent bench``: kernels and estimators against their peers.

Runs every kernel case (``cases``) on every thread count, timing fastxent,
each installed peer and the copy limit in turns (``timing``), measures the
peak extra memory of one call of each (``memory``), runs the estimator
comparisons (``estimators``), and prints the Markdown report (``report``);
``--plot`` draws it (``plot``). All in one process, so every ratio compares
runs that shared the machine's state.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from fastxent._cli import cases as kernel_cases
from fastxent._cli import estimators
from fastxent._cli.memory import peak_rss_bytes, peak_traced_bytes, rss_supported
from fastxent._cli.plot import check_path, draw
from fastxent._cli.progress import ProgressBar
from fastxent._cli.report import KernelMemory, KernelTiming, render
from fastxent._optional import optional, require


@dataclass(frozen=True)
class Settings:
    """How much to measure: the full run or ``--quick``."""

    shapes: tuple
    dtypes: tuple
    repeats: int
    # Per case and thread count; slow peers stop repeating past it.
    budget_seconds: float
    problems: tuple
    solvers: tuple
    estimator_repeats: int


FULL = Settings(
    shapes=kernel_cases.FULL_SHAPES,
    dtypes=kernel_cases.DTYPES,
    repeats=15,
    budget_seconds=3.0,
    problems=estimators.FULL_PROBLEMS,
    solvers=("agd", "lbfgs"),
    estimator_repeats=3,
)
QUICK = Settings(
    shapes=kernel_cases.QUICK_SHAPES,
    dtypes=(np.float64,),
    repeats=5,
    budget_seconds=0.5,
    problems=estimators.QUICK_PROBLEMS,
    solvers=("agd",),
    estimator_repeats=1,
)

# Memory does not depend on the thread count and float32 halves float64's:
# it is measured once per case, in this dtype.
_MEMORY_DTYPE = np.float64


def _measure_memory(case, inputs, n_threads: int, with_rss: bool) -> KernelMemory:
    implementations = kernel_cases.implementations(case, inputs, n_threads)
    del implementations[kernel_cases.LIMIT]
    traced, resident = {}, {}
    for name, implementation in implementations.items():
        # Untimed first call: lazy initialisation is no cost of a call.
        implementation.call()
        if with_rss:
            resident[name] = peak_rss_bytes(implementation.call)
        traced[name] = peak_traced_bytes(implementation.call)
    return KernelMemory(case, traced, resident if with_rss else None)


def run(
    *,
    quick: bool,
    threads: list[int],
    plot_path: str | None,
    plot_threads: int | None = None,
    stream=None,
) -> int:
    """Measure, print the report on ``stream`` (stdout), draw the plot of the
    ``plot_threads`` runs (None: the most threads).

    Missing dependencies and a ``plot_path`` that cannot be written are
    found before anything is measured.

    Returns
    -------
    exit_code : int

    Raises
    ------
    MissingDependency
        Without scikit-learn or threadpoolctl, or matplotlib for a plot.
    BadPlotPath
        For a ``plot_path`` in no directory or of a format matplotlib lacks.
    """
    purpose = "python -m fastxent bench"
    require("sklearn", purpose)
    require("threadpoolctl", purpose)
    if plot_path is not None:
        check_path(plot_path)

    stream = sys.stdout if stream is None else stream
    settings = QUICK if quick else FULL
    # Imported up front so that pinned_threads pins its pool from the start.
    missing = [] if optional("torch") is not None else ["PyTorch"]

    cases = kernel_cases.kernel_cases(settings.shapes, settings.dtypes)
    memory_dtype = (
        _MEMORY_DTYPE if _MEMORY_DTYPE in settings.dtypes else settings.dtypes[0]
    )
    n_memory = sum(case.dtype is memory_dtype for case in cases)
    n_estimator_jobs = (
        len(settings.problems) * len(threads) * (len(settings.solvers) + 1)
    )
    progress = ProgressBar(len(cases) * len(threads) + n_memory + n_estimator_jobs)

    timings, memories = _measure_kernels(
        cases, threads, settings, memory_dtype, progress, rss_supported()
    )
    comparisons = _compare_estimators(settings, threads, progress)
    progress.close()

    stream.write(render(threads, timings, memories, comparisons, missing))
    stream.flush()
    if plot_path is not None:
        title = "fastxent bench" + (" --quick" if quick else "")
        draw(timings, comparisons, plot_path, title, plot_threads)
        print(f"plot written to {plot_path}", file=sys.stderr)
    return 0


def _measure_kernels(cases, threads, settings, memory_dtype, progress, with_rss):
    """Every case's medians on every thread count, and the peak memory of the
    cases in ``memory_dtype``: ``(timings, memories)``."""
    from fastxent._cli.timing import median_seconds, pinned_threads

    timings, memories = [], []
    for case in cases:
        inputs = case.inputs()
        label = f"{case.kernel} {case.shape_label} {case.dtype_label}"
        for n_threads in threads:
            progress.show(f"{label}, {n_threads} threads")
            with pinned_threads(n_threads):
                implementations = kernel_cases.implementations(case, inputs, n_threads)
                seconds = median_seconds(
                    {name: impl.call for name, impl in implementations.items()},
                    repeats=settings.repeats,
                    budget_seconds=settings.budget_seconds,
                )
            timings.append(KernelTiming(case, n_threads, seconds))
            progress.step()
        if case.dtype is memory_dtype:
            progress.show(f"{label}, memory")
            with pinned_threads(threads[0]):
                memories.append(_measure_memory(case, inputs, threads[0], with_rss))
            progress.step()
    return timings, memories


def _compare_estimators(settings, threads, progress):
    """The estimator comparisons of ``settings`` on every thread count."""
    comparisons = []
    for name in settings.problems:
        progress.show(f"loading {name}")
        problem = estimators.load_problem(name)
        for n_threads in threads:
            for solver in settings.solvers:
                progress.show(f"{name}: {solver} vs lbfgs, {n_threads} threads")
                comparisons.append(
                    estimators.compare_to_lbfgs(
                        problem, solver, n_threads, settings.estimator_repeats
                    )
                )
                progress.step()
            progress.show(f"{name}: sgd vs SGDClassifier, {n_threads} threads")
            comparisons.append(
                estimators.compare_sgd(problem, n_threads, settings.estimator_repeats)
            )
            progress.step()
    return comparisons
