"""``python -m fastxent demo`` (the default): fastxent's estimator and scorer at work.

On the datasets bundled with scikit-learn (no download), 5-fold
cross-validation of a standardising pipeline ending in scikit-learn's
``LogisticRegression`` and in fastxent's, both scored by accuracy and by
fastxent's ``neg_cross_entropy_scorer``. Fit times are medians over
interleaved repeats of the cross-validation, on one thread: on problems this
small threads only add waiting, and on a busy machine an OpenBLAS pool of two
made scikit-learn's fits on digits 20 to 50 times slower than one thread.
"""

from __future__ import annotations

import sys

import numpy as np

from fastxent._optional import require

DATASETS = ("iris", "wine", "breast_cancer", "digits")
N_FOLDS = 5
# Each model's cross-validation is repeated this often, alternating models;
# the fits take milliseconds, so a single run would be mostly noise.
_REPEATS = 3


def _load(name: str):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def _cross_validate(model, X, y) -> dict[str, float]:
    """Mean fit seconds (per fold), accuracy and cross-entropy over the folds."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from fastxent.metrics import neg_cross_entropy_scorer

    folds = StratifiedKFold(N_FOLDS, shuffle=True, random_state=0)
    scores = cross_validate(
        model,
        X,
        y,
        cv=folds,
        scoring={"accuracy": "accuracy", "cross_entropy": neg_cross_entropy_scorer},
    )
    return {
        "fit_seconds": float(np.mean(scores["fit_time"])),
        "accuracy": float(np.mean(scores["test_accuracy"])),
        "cross_entropy": -float(np.mean(scores["test_cross_entropy"])),
    }


def compare(name: str) -> dict:
    """Cross-validated figures of both pipelines on dataset ``name``.

    Returns
    -------
    row : dict
        ``dataset``, ``shape`` (n_samples, n_features, n_classes), and for
        ``"scikit-learn"`` and ``"fastxent"`` the dicts of
        :func:`_cross_validate`, fit seconds as the median over repeats.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    import fastxent

    X, y = _load(name)
    models = {
        "scikit-learn": lambda: LogisticRegression(max_iter=1000),
        "fastxent": lambda: fastxent.LogisticRegression(n_threads=1),
    }
    runs = {label: [] for label in models}
    with threadpool_limits(limits=1):
        for _ in range(_REPEATS):
            for label, make in models.items():
                pipeline = make_pipeline(StandardScaler(), make())
                runs[label].append(_cross_validate(pipeline, X, y))
    row = {"dataset": name, "shape": (*X.shape, np.unique(y).size)}
    for label, results in runs.items():
        summary = dict(results[-1])
        summary["fit_seconds"] = float(np.median([r["fit_seconds"] for r in results]))
        row[label] = summary
    return row


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`compare` rows, scikit-learn / fastxent."""
    header = (
        f"{'dataset':<14}{'samples x features, classes':<28}"
        f"{'fit ms':>13}{'ratio':>7}{'accuracy':>19}{'cross-entropy':>19}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ours, theirs = row["fastxent"], row["scikit-learn"]
        n_samples, n_features, n_classes = row["shape"]
        fit_ms = f"{1e3 * theirs['fit_seconds']:.1f} / {1e3 * ours['fit_seconds']:.1f}"
        lines.append(
            f"{row['dataset']:<14}{f'{n_samples} x {n_features}, {n_classes}':<28}"
            f"{fit_ms:>13}{theirs['fit_seconds'] / ours['fit_seconds']:>7.2f}"
            f"{theirs['accuracy']:>10.4f} / {ours['accuracy']:.4f}"
            f"{theirs['cross_entropy']:>10.4f} / {ours['cross_entropy']:.4f}"
        )
    return "\n".join(lines)


def run(datasets=DATASETS, stream=None) -> int:
    """Print the comparison on ``datasets``.

    Returns
    -------
    exit_code : int
    """
    require("sklearn", "python -m fastxent demo")
    stream = sys.stdout if stream is None else stream
    stream.write(
        "LogisticRegression after StandardScaler, scikit-learn's (lbfgs) vs "
        "fastxent's (solver='auto': lbfgs here):\n"
        f"{N_FOLDS}-fold stratified cross-validation on scikit-learn's bundled "
        "datasets, one thread.\n"
        "Pairs are scikit-learn / fastxent; ratio = scikit-learn fit time / "
        "fastxent fit time.\n"
        "Cross-entropy in nats, by fastxent.metrics.neg_cross_entropy_scorer "
        "(unclipped).\n\n"
    )
    rows = [compare(name) for name in datasets]
    stream.write(format_table(rows) + "\n")
    stream.flush()
    return 0
