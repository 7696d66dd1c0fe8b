"""Throughput of the kernels on one thread against two, on a two-core machine.

Two ways to use two cores, each compared with one thread doing the same
work:

- ``python-threads``: two Python threads call the function at once, each
  with ``n_threads=1``. They run in parallel only because the kernels
  release the GIL.
- ``n_threads``: one call with ``n_threads=2`` against ``n_threads=1``
  (OpenMP inside the kernel).

The figure is the throughput ratio, ``time(one thread) / time(two)`` for
the same number of calls: 2.0 is perfect scaling. On a shared machine any
other process steals from the two-thread runs more than from the one-thread
runs, so the two are interleaved round by round (in a random order), each
round yields one ratio, and the median and the best round are printed with
the load average before and after. Run it on an otherwise idle machine::

    python benchmarks/thread_scaling.py                 # about two minutes
    python benchmarks/thread_scaling.py --rounds 60 --shape 20000 100

BLAS is pinned to one thread (nothing here uses it, but numpy's helpers
must not add threads of their own).
"""

import argparse
import os
import random
import statistics
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastxent as fx


def workloads(n_samples, n_classes):
    """name -> function(n_threads) running one call on shared inputs."""
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(n_samples, n_classes))
    labels = rng.integers(0, n_classes, n_samples)
    proba = fx.softmax(rng.normal(size=(n_samples, n_classes)), axis=-1)
    multilabel = (rng.uniform(size=(n_samples, n_classes)) < 0.3).astype(float)
    # One output buffer per Python thread: the threads share the inputs only.
    outs = [np.empty_like(logits) for _ in range(2)]

    return {
        "cross_entropy": lambda n, k: fx.cross_entropy(logits, labels, n_threads=n),
        "cross_entropy_with_grad": lambda n, k: fx.cross_entropy_with_grad(
            logits, labels, out=outs[k], n_threads=n
        ),
        "binary_cross_entropy_with_grad": lambda n, k: (
            fx.binary_cross_entropy_with_grad(
                logits, multilabel, out=outs[k], n_threads=n
            )
        ),
        "log_softmax": lambda n, k: fx.log_softmax(
            logits, axis=-1, out=outs[k], n_threads=n
        ),
        "kl_divergence": lambda n, k: fx.kl_divergence(proba, proba[::-1], n_threads=n),
    }


def run_serial(call, n_calls, n_threads):
    """Seconds for ``n_calls`` calls in this thread."""
    start = time.perf_counter()
    for _ in range(n_calls):
        call(n_threads, 0)
    return time.perf_counter() - start


def run_two_python_threads(call, n_calls):
    """Seconds for ``n_calls`` calls split over two Python threads."""
    barrier = threading.Barrier(3)

    def worker(k):
        barrier.wait()
        for _ in range(n_calls // 2):
            call(1, k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def measure(call, mode, n_calls, rounds):
    """Per-round throughput ratios (one thread's time / two threads' time)."""
    two = {
        "python-threads": lambda: run_two_python_threads(call, n_calls),
        "n_threads": lambda: run_serial(call, n_calls, 2),
    }[mode]
    one = lambda: run_serial(call, n_calls, 1)  # noqa: E731
    one(), two()  # warm up: caches, the OpenMP team, page faults
    ratios = []
    for _ in range(rounds):
        if random.random() < 0.5:
            t_one, t_two = one(), two()
        else:
            t_two, t_one = two(), one()
        ratios.append(t_one / t_two)
    return ratios


def calls_per_round(call, target_seconds=0.25):
    """Calls that keep one thread busy for about ``target_seconds``."""
    start = time.perf_counter()
    call(1, 0)
    once = time.perf_counter() - start
    return max(2, 2 * round(target_seconds / once / 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--shape", type=int, nargs=2, default=(20_000, 100))
    parser.add_argument("--only", nargs="*", help="function names to run")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    print(f"cores available: {cores}; load average before: {os.getloadavg()}")
    print(f"logits {args.shape[0]} x {args.shape[1]} float64, {args.rounds} rounds")
    print(f"{'function':32s} {'mode':15s} {'median':>7s} {'best':>6s} {'worst':>6s}")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, call in workloads(*args.shape).items():
            if args.only and name not in args.only:
                continue
            n_calls = calls_per_round(call)
            for mode in ("python-threads", "n_threads"):
                ratios = measure(call, mode, n_calls, args.rounds)
                print(
                    f"{name:32s} {mode:15s} {statistics.median(ratios):7.2f} "
                    f"{max(ratios):6.2f} {min(ratios):6.2f}",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
