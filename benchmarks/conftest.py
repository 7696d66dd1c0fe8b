"""Shared set-up of the benchmarks: thread counts and pinned pools.

The cases and the peers' calls are those of ``python -m fastxent bench``
(``fastxent._cli.cases`` and ``fastxent._cli.estimators``); these files only
hand them to pytest-benchmark. Every figure to read is a ratio against a
peer in the same group, with BLAS, OpenMP and PyTorch pinned to the thread
count of the case.
"""

import pytest

THREADS = (1, 2)


@pytest.fixture(params=THREADS, ids=lambda n: f"{n}thr")
def n_threads(request):
    """Each thread count, with every pool pinned to it for the test."""
    timing = pytest.importorskip("fastxent._cli.timing")
    pytest.importorskip("threadpoolctl")
    with timing.pinned_threads(request.param):
        yield request.param
