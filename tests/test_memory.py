"""The kernels allocate no N x C temporary: only the outputs a caller asked for.

numpy reports its allocations to tracemalloc, so the traced peak of one call
bounds every array the call created, including the kernels' scratch buffers.
"""

import numpy as np
import pytest
from tracing import peak_bytes

import fastxent as fx

N_SAMPLES, N_CLASSES = 20_000, 100


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def problem(request):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(N_SAMPLES, N_CLASSES)).astype(request.param)
    labels = rng.integers(0, N_CLASSES, N_SAMPLES)
    return logits, labels


def small_budget(logits) -> int:
    """What a call may allocate besides its outputs: O(n_samples) vectors."""
    return logits.nbytes // 8


def test_loss_allocates_no_matrix(problem):
    """cross_entropy allocates far less than one logits-sized array."""
    logits, labels = problem
    assert peak_bytes(lambda: fx.cross_entropy(logits, labels)) < small_budget(logits)


def test_grad_into_out_allocates_no_matrix(problem):
    """With out=, cross_entropy_with_grad allocates no logits-sized array."""
    logits, labels = problem
    out = np.empty_like(logits)
    peak = peak_bytes(lambda: fx.cross_entropy_with_grad(logits, labels, out=out))
    assert peak < small_budget(logits)


def test_grad_allocates_only_the_gradient(problem):
    """Without out=, the only large allocation is the returned gradient."""
    logits, labels = problem
    peak = peak_bytes(lambda: fx.cross_entropy_with_grad(logits, labels))
    assert peak < logits.nbytes + small_budget(logits)


def test_soft_target_grad_allocates_no_matrix(problem):
    """Soft targets of the logits' dtype are read in place, not copied."""
    logits, labels = problem
    target = np.zeros_like(logits)
    target[np.arange(N_SAMPLES), labels] = 1.0
    out = np.empty_like(logits)
    peak = peak_bytes(
        lambda: fx.cross_entropy_with_grad(logits, target, label_smoothing=0.1, out=out)
    )
    assert peak < small_budget(logits)


def test_binary_grad_into_out_allocates_no_matrix(problem):
    """binary_cross_entropy_with_grad with out= allocates no logits-sized array."""
    logits, _ = problem
    target = (logits > 0).astype(logits.dtype)
    out = np.empty_like(logits)
    peak = peak_bytes(
        lambda: fx.binary_cross_entropy_with_grad(logits, target, out=out)
    )
    assert peak < small_budget(logits)


def test_softmax_into_out_allocates_no_matrix(problem):
    """softmax and log_softmax with out= allocate no logits-sized array."""
    logits, _ = problem
    out = np.empty_like(logits)
    assert peak_bytes(lambda: fx.softmax(logits, axis=-1, out=out)) < small_budget(
        logits
    )
    assert peak_bytes(lambda: fx.log_softmax(logits, axis=-1, out=out)) < small_budget(
        logits
    )
