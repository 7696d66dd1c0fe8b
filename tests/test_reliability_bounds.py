"""Index arithmetic is 64-bit: logits with more than 2**31 elements.

With a 32-bit row offset, ``row * n_classes`` wraps past 2**31 elements and
the kernels read the wrong row (or crash). The loss is computed once (one
pass over 2**31 elements takes about 10 s on two cores). The logits here are a float32
array of 2,147,500 rows by 1000 classes, 2**31 + 16,352 elements (8.6 GB
of address space): mostly zeros from ``np.zeros``, whose pages the kernel
only reads, so the operating system backs them with its shared zero page
and the process needs little real memory. Distinct rows are planted at
both ends, the last ones wholly past element 2**31, and each must get the
loss it gets on its own.

Skipped when the system reports less available memory than the array's
size (in case the zero pages are not shared) or refuses the allocation.
"""

import numpy as np
import pytest
from scipy.special import log_softmax

import fastxent as fx

N_ROWS, N_CLASSES = 2_147_500, 1000
N_PLANTED = 16


def available_bytes() -> int:
    """Memory available to new allocations, from psutil or /proc/meminfo."""
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.fixture(scope="module")
def big_logits():
    """(logits, labels): planted random rows at both ends, zeros between."""
    nbytes = N_ROWS * N_CLASSES * np.dtype(np.float32).itemsize
    if available_bytes() < nbytes + 2**30:
        pytest.skip(f"needs {nbytes / 2**30:.1f} GiB of available memory")
    try:
        logits = np.zeros((N_ROWS, N_CLASSES), np.float32)
    except MemoryError:
        pytest.skip("the system refused an 8.6 GB array")
    rng = np.random.default_rng(0)
    labels = np.zeros(N_ROWS, np.intp)
    for rows in (slice(0, N_PLANTED), slice(N_ROWS - N_PLANTED, N_ROWS)):
        logits[rows] = rng.normal(scale=5.0, size=(N_PLANTED, N_CLASSES))
        labels[rows] = rng.integers(0, N_CLASSES, N_PLANTED)
    assert (N_ROWS - N_PLANTED) * N_CLASSES > 2**31  # the last rows lie past it
    yield logits, labels
    del logits


def expected_losses(logits, labels):
    """Reference per-row losses from scipy, in float64."""
    rows = log_softmax(logits.astype(np.float64), axis=1)
    return -rows[np.arange(len(labels)), labels]


def test_loss_rows_past_2_31_elements(big_logits):
    """Rows past element 2**31 get their own loss, as when computed alone."""
    logits, labels = big_logits
    loss = fx.cross_entropy(logits, labels, reduction="none", n_threads=2)
    assert loss.shape == (N_ROWS,)
    for rows in (slice(0, N_PLANTED), slice(N_ROWS - N_PLANTED, N_ROWS)):
        alone = fx.cross_entropy(logits[rows], labels[rows], reduction="none")
        np.testing.assert_array_equal(loss[rows], alone)
        np.testing.assert_allclose(
            loss[rows], expected_losses(logits[rows], labels[rows]), rtol=1e-6
        )
    # All-zero rows lose log(n_classes), also the one across element 2**31.
    middle = slice(2**31 // N_CLASSES - 3, N_ROWS - N_PLANTED)
    np.testing.assert_allclose(loss[middle], np.log(N_CLASSES), rtol=1e-6)
    np.testing.assert_allclose(loss.mean(dtype=np.float64), expected_mean(big_logits))


def expected_mean(big_logits):
    """Mean loss: planted rows from scipy, log(n_classes) for the others."""
    logits, labels = big_logits
    planted = np.r_[0:N_PLANTED, N_ROWS - N_PLANTED : N_ROWS]
    total = expected_losses(logits[planted], labels[planted]).sum()
    return (total + (N_ROWS - planted.size) * np.log(N_CLASSES)) / N_ROWS
