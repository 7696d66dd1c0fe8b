"""fastxent's LogisticRegression against scikit-learn's lbfgs and SGDClassifier.

Run with ``pytest benchmarks/bench_estimators.py --benchmark-only -s``. Each
test runs one comparison of ``fastxent._cli.estimators`` (interleaved,
medians): the time of fastxent's solver to scikit-learn lbfgs's final
objective, or equal epochs of SGD. The benchmark's own time is the whole
comparison; the figures to read are in ``extra_info`` (seconds of both,
their ratio, held-out accuracy and cross-entropy) and in the printed line.
"""

import functools

import pytest

pytest.importorskip("sklearn")

from fastxent._cli import estimators  # noqa: E402

REPEATS = 3


@functools.cache
def problem(name):
    return estimators.load_problem(name)


def _record(benchmark, comparison):
    benchmark.extra_info.update(
        task=comparison.task,
        ratio=comparison.ratio,
        note=comparison.note,
        **{f"peer_{k}": v for k, v in vars(comparison.peer).items()},
        **{f"fastxent_{k}": v for k, v in vars(comparison.ours).items()},
    )
    print(
        f"\n{comparison.problem}, {comparison.task}, {comparison.n_threads} thr: "
        f"{comparison.peer.model} {comparison.peer.seconds:.3g} s, "
        f"{comparison.ours.model} {comparison.ours.seconds:.3g} s, "
        f"ratio {comparison.ratio:.2f} {comparison.note}"
    )


@pytest.mark.parametrize("solver", ["agd", "lbfgs"])
@pytest.mark.parametrize("name", estimators.FULL_PROBLEMS)
def test_time_to_lbfgs_objective(benchmark, name, solver, n_threads):
    """fastxent's solver stopped at scikit-learn lbfgs's objective."""
    comparison = benchmark.pedantic(
        estimators.compare_to_lbfgs,
        args=(problem(name), solver, n_threads, REPEATS),
        rounds=1,
        iterations=1,
    )
    _record(benchmark, comparison)


@pytest.mark.parametrize("name", estimators.FULL_PROBLEMS)
def test_sgd_against_sgdclassifier(benchmark, name, n_threads):
    """Equal epochs of fastxent's sgd and SGDClassifier(loss="log_loss")."""
    comparison = benchmark.pedantic(
        estimators.compare_sgd,
        args=(problem(name), n_threads, REPEATS),
        rounds=1,
        iterations=1,
    )
    _record(benchmark, comparison)
