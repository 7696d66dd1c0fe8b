"""Results are bitwise identical for every thread count, on inputs of many blocks."""

import numpy as np
import pytest

import fastxent as fx

THREAD_COUNTS = [1, 2, 3, 4]


@pytest.fixture(params=[(50_000, 3), (3_000, 100), (40, 5_000)], ids=str)
def logits(request):
    rng = np.random.default_rng(1)
    return rng.normal(scale=4.0, size=request.param)


def same_for_all_thread_counts(func):
    results = [func(n) for n in THREAD_COUNTS]
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_cross_entropy_with_grad_is_thread_independent(logits):
    """Loss (mean) and gradient do not depend on n_threads."""
    labels = np.arange(logits.shape[0]) % logits.shape[1]
    same_for_all_thread_counts(
        lambda n: fx.cross_entropy_with_grad(
            logits, labels, label_smoothing=0.1, n_threads=n
        )
    )


def test_soft_cross_entropy_is_thread_independent(logits):
    """Soft-target loss and gradient do not depend on n_threads."""
    target = fx.softmax(logits[::-1].copy(), axis=-1)
    same_for_all_thread_counts(
        lambda n: fx.cross_entropy_with_grad(logits, target, n_threads=n)
    )


def test_binary_is_thread_independent(logits):
    """Binary loss (sum) and gradient do not depend on n_threads."""
    target = (logits > 0.5).astype(float)
    same_for_all_thread_counts(
        lambda n: fx.binary_cross_entropy_with_grad(
            logits, target, reduction="sum", n_threads=n
        )
    )


def test_weighted_binary_is_thread_independent(logits):
    """With sample and positive-class weights (repeated per label in each
    thread's scratch), binary loss and gradient do not depend on n_threads."""
    rng = np.random.default_rng(2)
    target = (logits > 0.5).astype(float)
    weights = {
        "sample_weight": rng.uniform(0.0, 2.0, logits.shape[0]),
        "pos_weight": rng.uniform(0.5, 3.0, logits.shape[1]),
    }
    same_for_all_thread_counts(
        lambda n: fx.binary_cross_entropy_with_grad(
            logits, target, n_threads=n, **weights
        )
    )


def test_lse_family_is_thread_independent(logits):
    """logsumexp, softmax, log_softmax, entropy do not depend on n_threads."""
    same_for_all_thread_counts(
        lambda n: (
            fx.logsumexp(logits, axis=-1, n_threads=n),
            fx.softmax(logits, axis=-1, n_threads=n),
            fx.log_softmax(logits, axis=-1, n_threads=n),
            fx.entropy(fx.softmax(logits, axis=-1), n_threads=n),
        )
    )
