"""Shared set-up of the benchmarks: pinned threads and the peers' imports.

Every figure is a ratio against a peer measured in the same run, with BLAS
pinned through threadpoolctl and every kernel given the same thread count.
"""

import numpy as np
import pytest

N_THREADS = 2


@pytest.fixture(scope="session", autouse=True)
def pinned_blas():
    """Pin BLAS and OpenMP pools of the peers to N_THREADS for the whole run."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=N_THREADS):
        yield


def random_problem(n_samples, n_classes, dtype, seed=0):
    """Logits of N(0, 2^2) and uniform labels."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n_samples, n_classes)).astype(dtype)
    labels = rng.integers(0, n_classes, n_samples)
    return logits, labels
