"""Timing of peers doing the same job: pinned threads, interleaved turns, medians.

The machine a benchmark runs on is rarely idle, so a figure is a ratio of
two medians measured in the same rounds: whatever slows one round down
slows every peer in it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

import numpy as np


@contextlib.contextmanager
def pinned_threads(n_threads: int):
    """Limit BLAS, OpenMP and PyTorch's intra-op pool to ``n_threads``.

    fastxent's and scikit-learn's kernels get ``n_threads`` as an argument
    too; this pins what has no such argument (numpy's BLAS, PyTorch).
    PyTorch is pinned only if something imported it already.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        torch = sys.modules.get("torch")
        if torch is None:
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def median_seconds(
    calls: dict[str, Callable[[], object]],
    *,
    repeats: int,
    budget_seconds: float = float("inf"),
    min_repeats: int = 3,
    warm_up: bool = True,
) -> dict[str, float]:
    """Median wall-clock seconds of one call of each callable, timed in turns.

    Every callable is called once untimed (imports, first-touch page faults
    of its buffers) unless ``warm_up`` is false, then once per round, in an
    order rotated each round so that none always follows the same peer
    (whose cache state or clock boost it would inherit).

    Parameters
    ----------
    calls : dict of str to callable
        Zero-argument callables, by name.
    repeats : int
        Rounds at most.
    budget_seconds : float, default=inf
        Stop after the round in which this much time has passed, once
        ``min_repeats`` rounds are done: slow peers would otherwise make a
        full run take hours.
    min_repeats : int, default=3
    warm_up : bool, default=True
        False for calls of seconds, whose first-call costs are negligible.

    Returns
    -------
    seconds : dict of str to float
        The median per callable.
    """
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    if warm_up:
        for func in calls.values():
            func()
    start = time.perf_counter()
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            func = calls[name]
            tic = time.perf_counter()
            func()
            samples[name].append(time.perf_counter() - tic)
        done = round_index + 1
        if done >= min_repeats and time.perf_counter() - start > budget_seconds:
            break
    return {name: float(np.median(values)) for name, values in samples.items()}
