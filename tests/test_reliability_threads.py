"""Threads: the kernels release the GIL, concurrent calls agree with serial ones.

- GIL: with the interpreter's switch interval raised to 10 s, a Python
  thread that wants the GIL gets it during a call only if the call lets go
  of it. A spinning thread counts its turns while each kernel runs; a
  pure-Python loop, which holds the GIL, is the control that shows the
  probe can tell the difference. Nothing is timed.
- Eight Python threads call every public function at once, on shared
  read-only inputs, with ``n_threads`` 1 and 2 (and section 5's
  ``log_loss`` and scorer when scikit-learn is installed): every result is
  bitwise the result of the same call made serially.
- Every public function (with its options) gives bitwise the same result
  for ``n_threads`` 1 to 4, on inputs of many blocks (tests/test_threads.py
  covers the main losses; this covers the rest of the surface).

Throughput is a benchmark figure, not a test: see the README.
"""

import functools
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastxent as fx
from fastxent import _kernels

N_PYTHON_THREADS = 8
REPEATS = 6

RNG = np.random.default_rng(3)
N_SAMPLES, N_CLASSES = 3000, 40  # 120,000 elements: dozens of blocks


def read_only(a):
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


Z = read_only(RNG.normal(scale=3.0, size=(N_SAMPLES, N_CLASSES)))
Z32 = read_only(Z.astype(np.float32))
Y = read_only(RNG.integers(0, N_CLASSES, N_SAMPLES))
P = read_only(fx.softmax(RNG.normal(size=(N_SAMPLES, N_CLASSES)), axis=-1))
W_CLASS = read_only(RNG.uniform(0.5, 2.0, N_CLASSES))
W_SAMPLE = read_only(RNG.uniform(0.0, 3.0, N_SAMPLES))
YB = read_only((RNG.uniform(size=(N_SAMPLES, N_CLASSES)) < 0.3).astype(float))


# One entry per function (and option set): n_threads -> tuple of arrays.
CASES = {
    "logsumexp": lambda n: (fx.logsumexp(Z, axis=-1, n_threads=n),),
    "logsumexp_axis0": lambda n: (fx.logsumexp(Z32, axis=0, n_threads=n),),
    "softmax": lambda n: (fx.softmax(Z, axis=-1, n_threads=n),),
    "log_softmax": lambda n: (fx.log_softmax(Z32, axis=-1, n_threads=n),),
    "cross_entropy": lambda n: (
        fx.cross_entropy(
            Z,
            Y,
            class_weight=W_CLASS,
            sample_weight=W_SAMPLE,
            ignore_index=7,
            label_smoothing=0.05,
            reduction="none",
            n_threads=n,
        ),
    ),  # fmt: skip
    "cross_entropy_with_grad": lambda n: fx.cross_entropy_with_grad(
        Z32, Y, class_weight=W_CLASS, label_smoothing=0.1, n_threads=n
    ),
    "cross_entropy_with_grad_soft": lambda n: fx.cross_entropy_with_grad(
        Z, P, sample_weight=W_SAMPLE, base=2, n_threads=n
    ),
    "binary_cross_entropy": lambda n: (
        fx.binary_cross_entropy(
            Z, YB, pos_weight=W_CLASS, reduction="none", n_threads=n
        ),
    ),
    "binary_cross_entropy_with_grad": lambda n: fx.binary_cross_entropy_with_grad(
        Z32, YB, sample_weight=W_SAMPLE, label_smoothing=0.1, n_threads=n
    ),
    "entropy": lambda n: (fx.entropy(P, n_threads=n),),
    "kl_divergence": lambda n: (fx.kl_divergence(P, P[::-1], axis=0, n_threads=n),),
}


# Functions without n_threads, called alike by every thread (section 5, when
# scikit-learn is installed).
OTHER_CASES = {}
try:
    from sklearn.linear_model import LogisticRegression

    from fastxent.metrics import log_loss, neg_cross_entropy_scorer

    LABELS = read_only(np.array(list("abcd"))[Y % 4])
    MODEL = LogisticRegression(max_iter=200).fit(Z[:, :5], LABELS)
    OTHER_CASES = {
        "log_loss": lambda: (log_loss(Y, P, labels=np.arange(N_CLASSES)),),
        "neg_cross_entropy_scorer": lambda: (
            neg_cross_entropy_scorer(MODEL, Z[:, :5], LABELS),
        ),
    }
except ImportError:
    pass


def assert_bitwise_equal(results, expected):
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)
        assert np.asarray(got).dtype == np.asarray(want).dtype


@pytest.mark.parametrize("name", list(CASES))
def test_results_are_bitwise_identical_for_1_to_4_threads(name):
    """n_threads 1, 2, 3, 4 give the same bits."""
    case = CASES[name]
    expected = case(1)
    for n_threads in (2, 3, 4):
        assert_bitwise_equal(case(n_threads), expected)


def test_eight_python_threads_agree_with_serial_calls():
    """Eight threads calling every function at once get the serial results."""
    calls = {(name, None): case for name, case in OTHER_CASES.items()}
    for name, case in CASES.items():
        for n_threads in (1, 2):
            calls[name, n_threads] = functools.partial(case, n_threads)
    jobs = list(calls)
    expected = {job: calls[job]() for job in jobs}
    start = threading.Barrier(N_PYTHON_THREADS)

    def worker(offset):
        start.wait()  # all threads begin together
        # Each thread walks the jobs from its own offset, so different
        # kernels overlap in time.
        results = []
        for k in range(REPEATS * len(jobs)):
            job = jobs[(offset + k) % len(jobs)]
            results.append((job, calls[job]()))
        return results

    with ThreadPoolExecutor(N_PYTHON_THREADS) as pool:
        outcomes = list(pool.map(worker, range(N_PYTHON_THREADS)))
    for results in outcomes:
        for job, result in results:
            assert_bitwise_equal(result, expected[job])


# ------------------------------------------------------------------- the GIL


def turns_of_another_thread_during(call) -> int:
    """How often a spinning Python thread got the GIL while ``call()`` ran.

    The switch interval is raised to 10 s, so a call that keeps the GIL
    keeps it to the end; the spinning thread sleeps 0.1 ms per turn, which
    releases the GIL, so this thread gets it back once the call returns.
    """
    turns = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            turns[0] += 1
            time.sleep(1e-4)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        time.sleep(0.01)  # let the spinner start spinning
        before = turns[0]
        call()
        return turns[0] - before
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(interval)


def released_gil(call, attempts=5) -> bool:
    """True once the spinner ran during the call (scheduling may delay it)."""
    return any(turns_of_another_thread_during(call) > 0 for _ in range(attempts))


BIG = read_only(RNG.normal(size=(20_000, 100)))
BIG_Y = read_only(RNG.integers(0, 100, 20_000))
BIG_P = read_only(fx.softmax(BIG, axis=-1))
LOSS_OUT = np.empty(20_000)
GRAD_OUT = np.empty_like(BIG)
ONES_C, ONES_S = np.ones(100), np.ones(20_000)

# The kernels themselves, called directly: the Python layer around them also
# runs numpy operations, some of which release the GIL on their own.
KERNELS = {
    "xent_hard": lambda: _kernels.categorical.xent_hard(
        BIG, BIG_Y, ONES_C, 100.0, ONES_S, 0.1, 1.0, 1.0, LOSS_OUT, GRAD_OUT, 1
    ),
    "xent_soft": lambda: _kernels.categorical.xent_soft(
        BIG, BIG_P, ONES_C, ONES_S, 0.0, 1.0, 1.0, LOSS_OUT, GRAD_OUT, 1
    ),
    "bce": lambda: _kernels.binary.bce(
        BIG,
        BIG_P,
        ONES_C,
        ONES_S,
        0.0,
        1.0,
        1.0,
        40,
        np.empty(500),
        None,
        GRAD_OUT,
        1,
    ),  # fmt: skip
    "logsumexp_rows": lambda: _kernels.logsumexp.logsumexp_rows(BIG, LOSS_OUT, 1),
    "softmax_rows": lambda: _kernels.logsumexp.softmax_rows(BIG, GRAD_OUT, 1),
    "log_softmax_rows": lambda: _kernels.logsumexp.log_softmax_rows(BIG, GRAD_OUT, 1),
    "entropy_rows": lambda: _kernels.information.entropy_rows(BIG_P, LOSS_OUT, 1),
    "kl_rows": lambda: _kernels.information.kl_rows(BIG_P, BIG_P, LOSS_OUT, 1),
}


# A free-threaded build has no GIL to hold or release.
needs_gil = pytest.mark.skipif(
    not getattr(sys, "_is_gil_enabled", lambda: True)(),
    reason="free-threaded Python has no GIL",
)


@needs_gil
def test_the_gil_probe_sees_a_call_that_holds_the_gil():
    """Control: a pure-Python loop of the kernels' duration keeps the GIL."""

    def python_loop():
        total = 0
        for k in range(300_000):
            total += k

    assert turns_of_another_thread_during(python_loop) == 0


@needs_gil
@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_releases_the_gil(name):
    """Another Python thread runs while the kernel computes.

    Eight calls in a row, so that the kernels' few milliseconds give the
    spinner time to be scheduled on a busy machine; the loop between them
    keeps the GIL, as the control's does.
    """
    kernel = KERNELS[name]
    assert released_gil(lambda: [kernel() for _ in range(8)])
