"""Estimator comparisons of ``python -m fastxent bench`` and ``benchmarks/``.

fastxent's ``LogisticRegression`` against scikit-learn's on the same
standardised training data, two questions:

- *Time to scikit-learn's objective*: scikit-learn's
  ``LogisticRegression(solver="lbfgs")`` is fitted at its defaults and its
  final objective ``F`` taken as the target. One exploratory fastxent fit
  finds the first iteration whose objective is within ``1e-6`` relative of
  ``F`` (its path does not depend on ``max_iter``), then
  ``fit(max_iter=that, tol=0)`` is timed against scikit-learn's fit.
- *Equal epochs of SGD*: ``SGDClassifier(loss="log_loss")`` (one-vs-rest)
  and fastxent's ``solver="sgd"`` (softmax), both for the same epochs with
  the same l2 strength.

Both report held-out accuracy and cross-entropy (fastxent's scorer: the
loss of the model's own distribution, from its logits where it has them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

import fastxent as fx
from fastxent._cli.timing import median_seconds, pinned_threads

FULL_PROBLEMS = ("digits", "synthetic")
QUICK_PROBLEMS = ("digits",)
SGD_EPOCHS = 5
RELATIVE_GAP = 1e-6
# Iteration caps of the exploratory fits, doubled up to from 10: beyond them
# a solver is reported as not reaching the target.
_ITERATION_CAP = {"agd": 5000, "lbfgs": 2000}
C = 1.0


@dataclass(frozen=True)
class Problem:
    """A train/test split, features standardised on the training part."""

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray

    @property
    def label(self) -> str:
        n_samples, n_features = self.X_train.shape
        n_classes = np.unique(self.y_train).size
        return f"{self.name} ({n_samples:,} x {n_features}, {n_classes} classes)"


def load_problem(name: str) -> Problem:
    """``"digits"`` (scikit-learn's bundled 8x8 digits) or ``"synthetic"``
    (``make_classification``: 60,000 x 50, 10 classes)."""
    from sklearn.datasets import load_digits, make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "digits":
        X, y = load_digits(return_X_y=True)
    elif name == "synthetic":
        X, y = make_classification(
            60_000, 50, n_informative=30, n_classes=10, random_state=0
        )
    else:
        raise ValueError(f"unknown problem {name!r}; expected 'digits' or 'synthetic'")
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float64), y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return Problem(
        name, scaler.transform(X_train), scaler.transform(X_test), y_train, y_test
    )


@dataclass(frozen=True)
class FitResult:
    """One fitted model's figures.

    ``objective`` is scikit-learn's ``LogisticRegression`` objective on the
    training data (None for SGDClassifier, which minimises another one).
    """

    model: str
    seconds: float
    n_iter: int
    objective: float | None
    accuracy: float
    cross_entropy: float


@dataclass(frozen=True)
class Comparison:
    """A peer and fastxent on one task; ``note`` flags a missed target."""

    problem: str
    task: str
    n_threads: int
    peer: FitResult
    ours: FitResult
    note: str = ""

    @property
    def ratio(self) -> float:
        """Peer seconds over fastxent seconds: above 1, fastxent is faster."""
        return self.peer.seconds / self.ours.seconds


def objective(model, X, y) -> float:
    """``sum_i loss_i + ||W||^2 / (2 C)`` of a fitted multinomial or binary model."""
    logits = model.decision_function(X)
    codes = np.searchsorted(model.classes_, y)
    if logits.ndim == 1:
        loss = fx.binary_cross_entropy(logits, codes.astype(float), reduction="sum")
    else:
        loss = fx.cross_entropy(logits, codes, reduction="sum")
    return float(loss) + 0.5 * float(np.sum(model.coef_**2)) / C


def _held_out(
    model, problem: Problem, name: str, seconds: float, n_iter, *, with_objective
) -> FitResult:
    """The figures of a fitted ``model``: held-out scores, training objective."""
    from fastxent.metrics import neg_cross_entropy_scorer

    return FitResult(
        model=name,
        seconds=seconds,
        n_iter=int(np.max(n_iter)),
        objective=(
            objective(model, problem.X_train, problem.y_train)
            if with_objective
            else None
        ),
        accuracy=float(model.score(problem.X_test, problem.y_test)),
        cross_entropy=-float(
            neg_cross_entropy_scorer(model, problem.X_test, problem.y_test)
        ),
    )


def _fit_quietly(model, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Fits stopped at a fixed iteration count on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _timed_fits(makers: dict, X, y, repeats: int) -> tuple[dict, dict]:
    """Median seconds of fitting a fresh model of each maker, interleaved,
    and the last fitted model of each.

    No untimed warm-up: the callers' reference or exploratory fits have run
    both libraries' code paths already, and a fit lasts long enough for
    first-call costs not to matter.
    """
    fitted = {}

    def fitter(key):
        def fit():
            fitted[key] = _fit_quietly(makers[key](), X, y)

        return fit

    seconds = median_seconds(
        {key: fitter(key) for key in makers}, repeats=repeats, warm_up=False
    )
    return seconds, fitted


def iterations_to_target(
    problem: Problem, solver: str, target: float, n_threads: int
) -> tuple[int, float | None]:
    """First iteration at which fastxent's objective is within RELATIVE_GAP of
    ``target``, or ``(cap, best relative gap)`` if it is not reached.

    Exploratory fits with ``max_iter`` doubling from 10, so that a solver
    that gets there early is not run to its cap.

    Returns
    -------
    n_iter : int
    gap : float or None
        None when the target was reached.
    """
    cap = _ITERATION_CAP[solver]
    max_iter = min(cap, 10)
    while True:
        model = fx.LogisticRegression(
            C=C, solver=solver, max_iter=max_iter, tol=0.0, n_threads=n_threads
        )
        _fit_quietly(model, problem.X_train, problem.y_train)
        # loss_curve_ is the objective divided by the sum of sample weights.
        curve = np.asarray(model.loss_curve_) * problem.X_train.shape[0]
        reached = np.flatnonzero(curve <= target * (1 + RELATIVE_GAP))
        if reached.size:
            return int(reached[0]) + 1, None
        if max_iter >= cap:
            return cap, float(curve.min() / target - 1)
        max_iter = min(cap, 2 * max_iter)


def compare_to_lbfgs(
    problem: Problem, solver: str, n_threads: int, repeats: int
) -> Comparison:
    """Seconds of fastxent's ``solver`` to scikit-learn lbfgs's objective."""
    from sklearn.linear_model import LogisticRegression

    X, y = problem.X_train, problem.y_train
    with pinned_threads(n_threads):
        reference = LogisticRegression(C=C, max_iter=1000).fit(X, y)
        n_iter, gap = iterations_to_target(
            problem, solver, objective(reference, X, y), n_threads
        )
        makers = {
            "peer": lambda: LogisticRegression(C=C, max_iter=1000),
            "ours": lambda: fx.LogisticRegression(
                C=C, solver=solver, max_iter=n_iter, tol=0.0, n_threads=n_threads
            ),
        }
        seconds, fitted = _timed_fits(makers, X, y, repeats)
    peer = _held_out(
        fitted["peer"], problem, "scikit-learn lbfgs", seconds["peer"],
        fitted["peer"].n_iter_, with_objective=True,
    )  # fmt: skip
    ours = _held_out(
        fitted["ours"], problem, f"fastxent {solver}", seconds["ours"],
        fitted["ours"].n_iter_, with_objective=True,
    )  # fmt: skip
    note = "" if gap is None else f"target missed by {gap:.1e} after {n_iter} it"
    return Comparison(
        problem.label, "time to lbfgs objective", n_threads, peer, ours, note
    )


def compare_sgd(problem: Problem, n_threads: int, repeats: int) -> Comparison:
    """SGDClassifier(log_loss) and fastxent's sgd after SGD_EPOCHS epochs.

    SGDClassifier's ``alpha`` multiplies ``||w||^2 / 2`` added to the *mean*
    loss, so ``alpha = 1 / (C n_samples)`` is the same l2 strength as ``C``.
    """
    from sklearn.linear_model import SGDClassifier

    X, y = problem.X_train, problem.y_train
    makers = {
        "peer": lambda: SGDClassifier(
            loss="log_loss", alpha=1.0 / (C * X.shape[0]), max_iter=SGD_EPOCHS,
            tol=None, random_state=0,
        ),
        "ours": lambda: fx.LogisticRegression(
            C=C, solver="sgd", max_iter=SGD_EPOCHS, tol=0.0, random_state=0,
            n_threads=n_threads,
        ),
    }  # fmt: skip
    with pinned_threads(n_threads):
        seconds, fitted = _timed_fits(makers, X, y, repeats)
    peer = _held_out(
        fitted["peer"], problem, "SGDClassifier", seconds["peer"], SGD_EPOCHS,
        with_objective=False,
    )  # fmt: skip
    ours = _held_out(
        fitted["ours"], problem, "fastxent sgd", seconds["ours"], SGD_EPOCHS,
        with_objective=True,
    )  # fmt: skip
    task = f"{SGD_EPOCHS} epochs of SGD"
    return Comparison(problem.label, task, n_threads, peer, ours)
