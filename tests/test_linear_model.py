"""Tests of ``fastxent.linear_model.LogisticRegression``.

- scikit-learn's estimator checks on several configurations;
- parity with scikit-learn: the same objective minimised to the same point
  (``lbfgs`` at ``tol=1e-10`` as the reference; ``newton-cholesky`` on digits,
  see ``reference_fit``), ``saga`` for l1 and elastic net;
- the solvers agree, the inputs (sparse, float32, pandas, labels) give the
  same model, and the fitted attributes, warnings and meta-estimators behave.

Parity fits use tight tolerances; the module runs in about a minute on two
cores, most of it in the digits fits.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits
from tracing import peak_bytes

import fastxent
from fastxent.linear_model import LogisticRegression
from fastxent.linear_model._datafit import BinomialCrossEntropy, MultinomialCrossEntropy
from fastxent.linear_model._design import StandardizedDesign
from fastxent.linear_model._solvers._lbfgs import _CurvaturePairs
from fastxent.linear_model._solvers._problem import _REFRESH_EVERY
from fastxent.metrics import neg_cross_entropy_scorer

# ---------------------------------------------------------------- helpers

_DATASETS = {}


def dataset(name):
    """Cached (X, y) of a scikit-learn toy data set; wine and breast_cancer
    standardised (scikit-learn's lbfgs does not converge on them raw: on raw
    wine it stops at max_iter=10000 15% away from the minimum at C=100)."""
    if name not in _DATASETS:
        loader = {
            "iris": datasets.load_iris,
            "wine": datasets.load_wine,
            "breast_cancer": datasets.load_breast_cancer,
            "digits": datasets.load_digits,
        }[name]
        X, y = loader(return_X_y=True)
        if name in ("wine", "breast_cancer"):
            X = StandardScaler().fit_transform(X)
        _DATASETS[name] = (X.astype(np.float64), y)
    return _DATASETS[name]


def objective(model, X, y, sample_weight=None):
    """scikit-learn's objective at a fitted model, computed independently.

    ``sum_i s_i loss_i + (l1_ratio |W|_1 + (1 - l1_ratio) |W|^2 / 2) / C``,
    with ``s_i`` the sample weight times the class weight.
    """
    logits = np.asarray(X @ model.coef_.T + model.intercept_, dtype=np.float64)
    if logits.shape[1] == 1:
        logits = np.column_stack([np.zeros(len(logits)), logits[:, 0]])
    codes = np.searchsorted(model.classes_, y)
    losses = -log_softmax(logits, axis=1)[np.arange(len(y)), codes]
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
    class_weight = getattr(model, "class_weight", None)
    if class_weight == "balanced":
        counts = np.bincount(codes, weights=weight)
        weight = weight * (weight.sum() / (len(counts) * counts))[codes]
    total = float(weight @ losses)
    if np.isfinite(model.C):
        W = np.asarray(model.coef_, dtype=np.float64)
        l1 = getattr(model, "l1_ratio", 0.0) or 0.0
        total += (l1 * np.abs(W).sum() + (1 - l1) * 0.5 * (W**2).sum()) / model.C
    return total


def stacked(model):
    """``coef_`` and ``intercept_`` side by side, as one array to compare."""
    return np.hstack([model.coef_, np.asarray(model.intercept_)[:, None]])


def relative_error(actual, reference):
    return np.linalg.norm(actual - reference) / np.linalg.norm(reference)


def sample_weights(n):
    """Deterministic, unequal sample weights."""
    return np.random.default_rng(0).uniform(0.2, 3.0, n)


# ----------------------------------------------------- estimator checks

CHECKED = [
    LogisticRegression(),
    LogisticRegression(solver="gd"),
    LogisticRegression(solver="lbfgs"),
    LogisticRegression(solver="sgd", max_iter=100, random_state=0),
    LogisticRegression(l1_ratio=1.0),
    LogisticRegression(l1_ratio=0.5, fit_intercept=False),
    LogisticRegression(C=np.inf),
]


def expected_failed_checks(estimator):
    if not estimator.fit_intercept:
        return {
            "check_class_weight_classifiers": (
                "needs 87% of noisy blobs put in class 0, which a boundary "
                "through the origin cannot do; scikit-learn's own "
                "LogisticRegression(fit_intercept=False) fails it the same way"
            )
        }
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    """scikit-learn's estimator checks pass (check_array_api_input is skipped
    by scikit-learn itself unless SCIPY_ARRAY_API=1 is set before scipy is
    imported; with it set, it passes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ------------------------------------------------------------- parity

# (data set, C, variant). Digits' variants run at C=1 only: each digits fit
# at these tolerances takes seconds, the toy sets milliseconds.
PARITY = (
    [
        (name, C, variant)
        for name in ("iris", "wine", "breast_cancer")
        for C in (0.01, 1.0, 100.0)
        for variant in ("plain", "no_intercept", "sample_weight", "class_weight")
    ]
    + [("digits", C, "plain") for C in (0.01, 1.0, 100.0)]
    + [
        ("digits", 1.0, variant)
        for variant in ("no_intercept", "sample_weight", "class_weight")
    ]
)


def variant_options(variant, n_samples):
    """(estimator kwargs, fit kwargs) of a parity variant."""
    if variant == "no_intercept":
        return {"fit_intercept": False}, {}
    if variant == "sample_weight":
        return {}, {"sample_weight": sample_weights(n_samples)}
    if variant == "class_weight":
        return {"class_weight": "balanced"}, {}
    return {}, {}


def reference_fit(name, C, options, fit_options):
    """scikit-learn's tightly converged fit.

    lbfgs at tol=1e-10, except on digits: there lbfgs stops on its ftol test
    with a gradient of ~3e-8, and its coef_ + intercept_ sit 8.8e-4 (C=1) and
    3.1e-3 (C=100) away, relatively, from newton-cholesky's (gradient 1e-15),
    more than the 1e-4 this test asks for; newton-cholesky is the reference.
    """
    X, y = dataset(name)
    solver = "newton-cholesky" if name == "digits" else "lbfgs"
    tol = 1e-12 if name == "digits" else 1e-10
    reference = SkLogisticRegression(
        C=C, solver=solver, tol=tol, max_iter=10000, **options
    )
    # One BLAS thread: newton-cholesky's small products are 40x slower on
    # two OpenBLAS threads when the other core is busy.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reference.fit(X, y, **fit_options)


@pytest.mark.parametrize(("name", "C", "variant"), PARITY)
def test_parity_with_sklearn(name, C, variant):
    """agd reaches scikit-learn's objective (1e-7 relative) and coefficients
    (1e-4 relative) for the same C, intercept, sample and class weights."""
    X, y = dataset(name)
    options, fit_options = variant_options(variant, len(y))
    reference = reference_fit(name, C, options, fit_options)
    # The coefficients' error is about gradient / strong convexity, and the
    # strong convexity is 1 / (C n): C=100 on digits needs the tighter tol.
    tol = 1e-9 if (name == "digits" and C == 100.0) else 1e-8
    model = LogisticRegression(C=C, tol=tol, max_iter=20000, **options)
    model.fit(X, y, **fit_options)
    weight = fit_options.get("sample_weight")
    ours = objective(model, X, y, weight)
    theirs = objective(reference, X, y, weight)
    assert abs(ours - theirs) <= 1e-7 * theirs
    assert relative_error(stacked(model), stacked(reference)) <= 1e-4
    assert model.coef_.shape == reference.coef_.shape


L1_PARITY = [
    (name, l1_ratio, C)
    for name in ("iris", "wine")
    for l1_ratio in (1.0, 0.5)
    for C in (0.1, 1.0)
] + [("breast_cancer", l1_ratio, 0.1) for l1_ratio in (1.0, 0.5)]


@pytest.mark.parametrize(("name", "l1_ratio", "C"), L1_PARITY)
def test_l1_parity_with_saga(name, l1_ratio, C):
    """l1 and elastic net match saga at tight tol, with the same exact zeros."""
    X, y = dataset(name)
    if name == "iris":
        X = StandardScaler().fit_transform(X)
    reference = SkLogisticRegression(
        solver="saga", l1_ratio=l1_ratio, C=C, tol=1e-10, max_iter=100000
    ).fit(X, y)
    model = LogisticRegression(l1_ratio=l1_ratio, C=C, tol=1e-9, max_iter=20000)
    model.fit(X, y)
    ours, theirs = objective(model, X, y), objective(reference, X, y)
    assert abs(ours - theirs) <= 1e-7 * theirs
    assert relative_error(stacked(model), stacked(reference)) <= 1e-4
    np.testing.assert_array_equal(model.coef_ == 0, reference.coef_ == 0)
    assert np.any(model.coef_ == 0)


def test_unpenalised_parity_with_sklearn():
    """C=np.inf minimises the plain weighted cross-entropy, like scikit-learn's.

    Full-rank X: with collinear columns the unpenalised minimiser is not
    unique, and the preconditioned path ends at another minimiser than
    scikit-learn's (which stays in the row space of X); the objective agrees.
    """
    X, y = datasets.make_classification(
        300, 6, n_informative=4, n_redundant=0, n_classes=3, flip_y=0.3, random_state=0
    )
    reference = SkLogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y)
    model = LogisticRegression(C=np.inf, tol=1e-9, max_iter=20000).fit(X, y)
    ours, theirs = objective(model, X, y), objective(reference, X, y)
    assert abs(ours - theirs) <= 1e-7 * theirs
    assert relative_error(stacked(model), stacked(reference)) <= 1e-4


# ------------------------------------------------------------ solvers


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
@pytest.mark.parametrize("solver", ["gd", "lbfgs", "sgd"])
def test_solvers_agree_with_agd(name, solver):
    """gd, lbfgs and sgd minimise the same objective as agd."""
    X, y = dataset(name)
    reference = LogisticRegression(solver="agd", tol=1e-9, max_iter=20000).fit(X, y)
    if solver == "sgd":
        # SGD only settles to a noise floor: compare objectives, loosely.
        model = LogisticRegression(
            solver="sgd", batch_size=32, max_iter=300, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        ours, theirs = objective(model, X, y), objective(reference, X, y)
        assert theirs <= ours <= theirs * 1.01
    else:
        model = LogisticRegression(solver=solver, tol=1e-8, max_iter=50000).fit(X, y)
        assert relative_error(stacked(model), stacked(reference)) <= 1e-5


@pytest.mark.parametrize(
    ("params", "runs"),
    [
        ({}, "lbfgs"),
        ({"C": np.inf, "l1_ratio": 1.0}, "lbfgs"),
        ({"l1_ratio": 0.5}, "agd"),
        ({"l1_ratio": 1.0, "C": 0.1}, "agd"),
    ],
)
def test_auto_solver_picks_lbfgs_for_smooth_objectives(params, runs):
    """solver="auto" (the default) fits exactly as the solver it names."""
    X, y = dataset("iris")
    auto = LogisticRegression(**params).fit(X, y)
    named = LogisticRegression(solver=runs, **params).fit(X, y)
    np.testing.assert_array_equal(auto.n_iter_, named.n_iter_)
    np.testing.assert_array_equal(auto.coef_, named.coef_)


def test_two_loop_kernel_is_the_lbfgs_recursion():
    """The ring of pairs and its C recursion give numpy's two-loop result,
    after the ring has wrapped around and after it was cleared."""
    rng = np.random.default_rng(3)
    shape = (7, 3)
    pairs = _CurvaturePairs(4, shape)
    kept = []
    for step in range(11):
        if step == 8:
            pairs.clear()
            kept.clear()
        s = rng.normal(size=shape)
        y = s * rng.uniform(0.5, 2.0, size=shape)
        pairs.append(s, y, np.vdot(s, y), np.vdot(y, y))
        kept = (kept + [(s, y)])[-4:]
        g = rng.normal(size=shape)
        np.testing.assert_allclose(
            pairs.direction(g), _numpy_two_loop(g, kept), rtol=1e-12, atol=1e-14
        )
    assert len(pairs) == 3


def _numpy_two_loop(g, pairs):
    """-H g by Nocedal & Wright's Algorithm 7.4 on (s, y) pairs, oldest first."""
    q = -g.copy()
    alphas = []
    for s, y in reversed(pairs):
        alpha = np.vdot(s, q) / np.vdot(s, y)
        q -= alpha * y
        alphas.append(alpha)
    s, y = pairs[-1]
    q *= np.vdot(s, y) / np.vdot(y, y)
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        q += (alpha - np.vdot(y, q) / np.vdot(s, y)) * s
    return q


@pytest.mark.parametrize("n_classes", [2, 3])
def test_fit_checks_labels_once_not_per_evaluation(monkeypatch, n_classes):
    """The datafits evaluate through fastxent's trusted core: a fit makes
    dozens of loss evaluations and no call of the public functions' checks."""
    import fastxent._binary
    import fastxent._categorical

    calls = []

    def counting(original):
        def wrapper(*args, **kwargs):
            calls.append(original.__name__)
            return original(*args, **kwargs)

        return wrapper

    for module, name in [
        (fastxent._categorical, "check_labels"),
        (fastxent._categorical, "_cross_entropy"),
        (fastxent._binary, "_binary_cross_entropy"),
    ]:
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    X, y = dataset("iris")
    X, y = X[y < n_classes], y[y < n_classes]
    model = LogisticRegression(tol=1e-8).fit(X, y, sample_weight=sample_weights(len(y)))
    assert model.n_iter_[0] > 5
    assert calls == []


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_datafit_equals_the_public_loss(n_classes, weighted):
    """A datafit's loss and gradient are bitwise those of the public function
    with the same weights and reduction="mean"."""
    rng = np.random.default_rng(5)
    n = 300
    X = rng.normal(size=(n, 6))
    labels = rng.integers(0, n_classes, size=n)
    weight = rng.uniform(0.0, 1e-300, n) if weighted else np.ones(n)
    design = StandardizedDesign(X, weight, fit_intercept=True)
    outputs = 1 if n_classes == 2 else n_classes
    Z = rng.normal(0.0, 3.0, size=(n, outputs))
    G = np.empty_like(Z)
    given = weight if weighted else None
    if n_classes == 2:
        target = labels.astype(np.float64)
        datafit = BinomialCrossEntropy(design, target, weight)
        loss, grad = fastxent.binary_cross_entropy_with_grad(
            Z[:, 0], target, sample_weight=given
        )
        grad = grad[:, None]
    else:
        datafit = MultinomialCrossEntropy(design, labels, weight, n_classes=n_classes)
        loss, grad = fastxent.cross_entropy_with_grad(Z, labels, sample_weight=given)
    assert datafit.value_grad(Z, G) == loss
    assert datafit.value(Z) == loss
    np.testing.assert_array_equal(G, grad)


@pytest.mark.parametrize(
    "shape", [(150, 4), (20, 150), (20, 500), (400, 90), (3000, 20)]
)
def test_spectral_norm_sq_is_the_largest_eigenvalue(shape):
    """The Lipschitz constant's eigenvalue, exact on small designs (Gram
    matrix) and from below on larger ones (power iteration, 12 steps),
    against numpy's eigvalsh of the explicit weighted standardised Gram."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=shape) * rng.uniform(0.1, 10.0, shape[1])
    X[:, 0] += 0.5 * X[:, 1]  # correlated, so the eigenvalue is not 1
    weight = rng.uniform(0.5, 2.0, shape[0])
    design = StandardizedDesign(X, weight, fit_intercept=True)
    explicit = np.hstack([(X - design.mean) * design.scale, np.ones((shape[0], 1))])
    gram = explicit.T @ (explicit * (weight / weight.sum())[:, None])
    exact = np.linalg.eigvalsh(gram)[-1]
    estimate = design.spectral_norm_sq()
    if max(shape[0], shape[1] + 1) * (shape[1] + 1) <= 32768:
        np.testing.assert_allclose(estimate, exact, rtol=1e-12)
    else:
        assert exact * 0.8 <= estimate <= exact * (1 + 1e-12)


@pytest.mark.parametrize("solver", ["lbfgs", "agd", "gd"])
@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_one_product_of_each_kind_per_iteration(monkeypatch, solver, name):
    """Each iteration costs one ``X~ @ D`` and one ``X~^T @ G`` (the line
    searches move along ``Z + t X~D`` without new products), plus one of each
    for the starting point and those of the Lipschitz estimate."""
    counts = {"matmul": 0, "rmatmul": 0, "in_estimate": False}

    def counting(kind):
        original = getattr(StandardizedDesign, kind)

        def wrapper(self, *args):
            if not counts["in_estimate"]:
                counts[kind] += 1
            return original(self, *args)

        return wrapper

    estimate = StandardizedDesign.spectral_norm_sq

    def uncounted_estimate(self, *args, **kwargs):
        counts["in_estimate"] = True
        try:
            return estimate(self, *args, **kwargs)
        finally:
            counts["in_estimate"] = False

    for kind in ("matmul", "rmatmul"):
        monkeypatch.setattr(StandardizedDesign, kind, counting(kind))
    monkeypatch.setattr(StandardizedDesign, "spectral_norm_sq", uncounted_estimate)
    X, y = dataset(name)
    model = LogisticRegression(solver=solver, max_iter=5000).fit(X, y)
    n_iter = int(np.ravel(model.n_iter_)[0])
    assert n_iter > 10
    # Every _REFRESH_EVERY iterations the logits are recomputed from the
    # coefficients, against drift of the updates Z + t X~D.
    refreshes = n_iter // _REFRESH_EVERY
    if solver == "gd":  # a refused trial step costs gd one more product
        assert n_iter + 1 <= counts["matmul"] <= n_iter + 3 + refreshes
        assert n_iter + 1 <= counts["rmatmul"] <= n_iter + 3
    else:
        assert n_iter + 1 <= counts["matmul"] <= n_iter + 1 + refreshes
        assert counts["rmatmul"] == n_iter + 1


@pytest.mark.parametrize("solver", ["agd", "gd", "sgd"])
def test_l1_solvers_give_exact_zeros(solver):
    """Every solver applying the l1 part by prox steps returns exact zeros."""
    X, y = dataset("breast_cancer")
    model = LogisticRegression(
        solver=solver, l1_ratio=1.0, C=0.05, max_iter=500, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert 0 < np.sum(model.coef_ == 0) < model.coef_.size


def test_lbfgs_rejects_l1():
    """solver='lbfgs' is for the smooth (l2) penalty only."""
    X, y = dataset("iris")
    with pytest.raises(ValueError, match="l1_ratio=0"):
        LogisticRegression(solver="lbfgs", l1_ratio=0.5).fit(X, y)


@pytest.mark.parametrize("solver", ["agd", "gd"])
def test_loss_curve_is_monotone(solver):
    """agd (monotone variant) and gd never let the objective go up."""
    X, y = dataset("digits")
    model = LogisticRegression(solver=solver, max_iter=200, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    curve = np.array(model.loss_curve_)
    assert len(curve) == 200
    assert model.n_iter_.tolist() == [200]
    assert np.all(np.diff(curve) <= 1e-12 * curve[:-1])


def test_loss_curve_holds_the_scaled_objective():
    """loss_curve_[-1] is the objective divided by the sum of sample weights."""
    X, y = dataset("iris")
    weight = sample_weights(len(y))
    model = LogisticRegression(tol=1e-8, max_iter=5000).fit(X, y, sample_weight=weight)
    expected = objective(model, X, y, weight) / weight.sum()
    assert model.loss_curve_[-1] == pytest.approx(expected, rel=1e-9)


def test_fixed_learning_rate():
    """A float learning_rate is used as is and still converges when small."""
    X, y = dataset("breast_cancer")
    reference = LogisticRegression(tol=1e-8).fit(X, y)
    for solver in ("agd", "gd"):
        model = LogisticRegression(
            solver=solver, learning_rate=0.5, tol=1e-8, max_iter=20000
        ).fit(X, y)
        assert relative_error(stacked(model), stacked(reference)) <= 1e-5


@pytest.mark.parametrize("solver", ["agd", "gd", "sgd"])
def test_diverging_fixed_step_is_reported(solver):
    """A learning_rate far too large fails with a message naming it."""
    X, y = dataset("iris")
    model = LogisticRegression(solver=solver, learning_rate=1e8, max_iter=50)
    with pytest.raises(ValueError, match="diverged.*learning_rate"):
        with np.errstate(over="ignore", invalid="ignore"):
            model.fit(X, y)


@pytest.mark.parametrize(
    ("params", "solver"),
    [
        ({}, "lbfgs"),
        ({"l1_ratio": 0.5}, "agd"),
        ({"solver": "gd"}, "gd"),
        ({"solver": "sgd", "random_state": 0}, "sgd"),
    ],
)
def test_convergence_warning_and_n_iter(params, solver):
    """max_iter ending the fit warns as scikit-learn's lbfgs does, naming the
    solver that ran; n_iter_ counts the iterations."""
    X, y = dataset("digits")
    expected = rf"^{solver} failed to converge after 3 iteration\(s\) \(max_iter=3\)"
    with pytest.warns(ConvergenceWarning, match=expected):
        model = LogisticRegression(max_iter=3, **params).fit(X, y)
    assert model.n_iter_.tolist() == [3]
    assert len(model.loss_curve_) == 3


@pytest.mark.parametrize("n_classes", [2, 3])
def test_n_iter_is_shaped_as_scikit_learns(n_classes):
    """n_iter_ is an int32 array of shape (1,), binary or multiclass, as
    scikit-learn's LogisticRegression's; partial_fit leaves [1]."""
    X, y = dataset("iris")
    X, y = X[y < n_classes], y[y < n_classes]
    ours = LogisticRegression().fit(X, y)
    theirs = SkLogisticRegression(max_iter=1000).fit(X, y)
    assert ours.n_iter_.shape == theirs.n_iter_.shape == (1,)
    assert ours.n_iter_.dtype == theirs.n_iter_.dtype
    assert ours.n_iter_[0] == len(ours.loss_curve_)
    ours.partial_fit(X, y)
    assert ours.n_iter_.tolist() == [1]


def test_verbose_prints_progress(capsys):
    """verbose=1 prints objective, optimality and step every few iterations."""
    X, y = dataset("iris")
    with pytest.warns(ConvergenceWarning):
        LogisticRegression(verbose=1, max_iter=40, tol=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert 10 <= len(lines) <= 41
    assert all("objective" in line and "optimality" in line for line in lines)


def test_tol_is_the_gradient_bound():
    """At a converged smooth fit the gradient's largest entry is below tol."""
    X, y = dataset("wine")
    tol = 1e-6
    model = LogisticRegression(C=1.0, tol=tol, max_iter=10000).fit(X, y)
    # Gradient of the per-sample objective in (W, b), by central differences.
    n = len(y)

    def scaled(coef, intercept):
        probe = clone(model)
        probe.coef_, probe.intercept_, probe.classes_ = coef, intercept, model.classes_
        return objective(probe, X, y) / n

    step = 1e-6
    worst = 0.0
    for index in np.ndindex(model.coef_.shape):
        plus, minus = model.coef_.copy(), model.coef_.copy()
        plus[index] += step
        minus[index] -= step
        grad = (scaled(plus, model.intercept_) - scaled(minus, model.intercept_)) / (
            2 * step
        )
        worst = max(worst, abs(grad))
    assert worst <= 1.5 * tol


# ------------------------------------------------------------- inputs


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_matches_dense(fmt, fit_intercept):
    """CSR and CSC X give the dense model (implicit centring, no densifying)."""
    X, y = dataset("wine")
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = LogisticRegression(fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    sparse = LogisticRegression(fit_intercept=fit_intercept, tol=1e-10).fit(
        sp.csr_matrix(X).asformat(fmt), y
    )
    # Both stop at a gradient (of the objective over n) below tol; the l2 term
    # makes that objective 1 / (C n)-strongly convex, so each model lies
    # within tol * C * n of the optimum, and of each other within twice that.
    coef_bound = 2 * 1e-10 * 1.0 * X.shape[0]
    np.testing.assert_allclose(stacked(sparse), stacked(dense), rtol=0, atol=coef_bound)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=1e-8
    )


def test_float32_keeps_float32():
    """float32 X gives float32 coef_ and predictions close to the float64 fit."""
    X, y = dataset("digits")
    model32 = LogisticRegression(tol=1e-5).fit(X.astype(np.float32), y)
    model64 = LogisticRegression(tol=1e-5).fit(X, y)
    assert model32.coef_.dtype == np.float32
    assert model32.intercept_.dtype == np.float32
    assert model32.decision_function(X.astype(np.float32)).dtype == np.float32
    # Both stop at a gradient below tol; on ill-conditioned digits that
    # leaves the coefficients ~1e-2 apart but the objectives within 1e-5.
    assert objective(model32, X, y) == pytest.approx(objective(model64, X, y), 1e-5)
    assert np.mean(model32.predict(X) == model64.predict(X)) > 0.995


def test_pandas_feature_names():
    """A DataFrame sets feature_names_in_; predicting on it works."""
    pd = pytest.importorskip("pandas")
    X, y = dataset("iris")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c", "d"])
    plain = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(model.predict(frame), plain.predict(X))
    assert not hasattr(plain, "feature_names_in_")


@pytest.mark.parametrize(
    "labels", [["setosa", "versicolor", "virginica"], [-7, 3, 10], [10.0, 20.0, 30.0]]
)
def test_any_label_type(labels):
    """Labels of any type give the model of the encoded labels."""
    X, y = dataset("iris")
    mapped = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)
    model = LogisticRegression(tol=1e-8).fit(X, mapped[y])
    encoded = LogisticRegression(tol=1e-8).fit(X, y)
    np.testing.assert_array_equal(model.classes_, np.asarray(labels))
    np.testing.assert_allclose(stacked(model), stacked(encoded), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), mapped[encoded.predict(X)])


def test_binary_has_one_logit():
    """Two classes: coef_ (1, d), a 1-D decision_function, sigmoid probabilities."""
    X, y = dataset("breast_cancer")
    model = LogisticRegression().fit(X, y)
    assert model.coef_.shape == (1, X.shape[1])
    assert model.intercept_.shape == (1,)
    z = model.decision_function(X)
    assert z.shape == (len(y),)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z)))


def test_predict_log_proba_finite_where_proba_underflows():
    """predict_log_proba comes from log-softmax: finite where proba is 0."""
    X, y = dataset("iris")
    model = LogisticRegression(C=100.0).fit(X, y)
    far = X[:5] * 300.0
    proba = model.predict_proba(far)
    log_proba = model.predict_log_proba(far)
    assert np.any(proba == 0.0)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(
        log_proba, log_softmax(model.decision_function(far), axis=1), rtol=1e-12
    )
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_threads_do_not_change_the_result():
    """n_threads=1 and 2 give bitwise the same model: the kernels reduce in a
    fixed order (logits of 200,000 entries, above the one-thread cut-off)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 5))
    y = np.arange(20_000) % 10
    models = [LogisticRegression(n_threads=k, max_iter=20, tol=0) for k in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in models:
            model.fit(X, y)
    np.testing.assert_array_equal(models[0].coef_, models[1].coef_)


@pytest.mark.parametrize("solver", ["agd", "gd", "lbfgs"])
def test_no_logits_sized_allocation_per_iteration(solver):
    """A fit allocates its (n_samples, n_classes) buffers once: the peak does
    not grow with iterations and stays below six such arrays (agd keeps five:
    the logits at x, y and the trial, X @ D, and the kernel's gradient)."""
    rng = np.random.default_rng(0)
    n_samples, n_classes = 20_000, 40
    X = rng.standard_normal((n_samples, 4))
    y = np.arange(n_samples) % n_classes
    matrix = n_samples * n_classes * 8

    def fit(max_iter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            LogisticRegression(solver=solver, max_iter=max_iter, tol=0).fit(X, y)

    short = peak_bytes(lambda: fit(2))
    long = peak_bytes(lambda: fit(20))
    assert long <= short + matrix // 10
    assert long < 6 * matrix


# ------------------------------------------------------- warm start, partial_fit


def test_warm_start_continues_from_the_last_fit():
    """warm_start starts from coef_: refitting a converged model is immediate,
    and a fit cut short resumes where it stopped."""
    X, y = dataset("digits")
    model = LogisticRegression(warm_start=True, tol=1e-5, max_iter=5000).fit(X, y)
    first = stacked(model).copy()
    model.fit(X, y)
    assert model.n_iter_[0] <= 1
    np.testing.assert_allclose(stacked(model), first, rtol=1e-6, atol=1e-8)

    model = LogisticRegression(warm_start=True, max_iter=25, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        after_one = objective(model, X, y)
        model.fit(X, y)
    assert objective(model, X, y) < after_one


def test_partial_fit_approaches_fit():
    """Epochs of partial_fit on one data set approach the full fit's objective."""
    X, y = dataset("breast_cancer")
    reference = LogisticRegression(tol=1e-8).fit(X, y)
    model = LogisticRegression(batch_size=32, random_state=0)
    model.partial_fit(X, y, classes=np.unique(y))
    first = objective(model, X, y)
    for _ in range(60):
        model.partial_fit(X, y)
    last = objective(model, X, y)
    assert last < first
    assert last <= objective(reference, X, y) * 1.02
    assert len(model.loss_curve_) == 61


def test_partial_fit_streams_chunks_with_weights():
    """partial_fit takes chunks missing classes, and sample weights."""
    X, y = dataset("iris")
    model = LogisticRegression(random_state=0)
    order = np.argsort(y, kind="stable")
    for chunk in np.array_split(order, 5):
        model.partial_fit(
            X[chunk], y[chunk], classes=[0, 1, 2], sample_weight=np.ones(len(chunk))
        )
    assert model.coef_.shape == (3, 4)
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])


def test_partial_fit_errors():
    """partial_fit needs classes first, refuses unknown labels and 'balanced'."""
    X, y = dataset("iris")
    with pytest.raises(ValueError, match="classes must be passed"):
        LogisticRegression().partial_fit(X, y)
    model = LogisticRegression().partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match="differs from classes_"):
        model.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="balanced"):
        LogisticRegression(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


# ---------------------------------------------------- scikit-learn tooling


def test_pipeline_grid_search_and_scorer():
    """Works in a Pipeline, a GridSearchCV over C and cross_val_score with
    fastxent's scorer; the grid picks a C and refits."""
    X, y = dataset("wine")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    grid = GridSearchCV(
        pipeline,
        {"logisticregression__C": [0.01, 1.0]},
        scoring=neg_cross_entropy_scorer,
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
        scores = cross_val_score(
            LogisticRegression(), X, y, cv=3, scoring=neg_cross_entropy_scorer
        )
    assert grid.best_params_["logisticregression__C"] in (0.01, 1.0)
    assert grid.score(X, y) < 0
    assert np.all(scores < 0) and np.all(np.isfinite(scores))


def test_clone_and_pickle_round_trip():
    """clone keeps the parameters; pickle keeps the fitted model."""
    X, y = dataset("wine")
    model = LogisticRegression(C=0.5, l1_ratio=0.3, random_state=1).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "coef_")
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("penalty", ["l1", "l2", "elasticnet", None])
def test_penalty_points_to_l1_ratio_and_C(penalty):
    """scikit-learn's deprecated penalty= raises an error naming l1_ratio and C,
    from the constructor, set_params and a grid over a pipeline's step."""
    X, y = dataset("iris")
    replacement = r"set l1_ratio and C instead.*got penalty="
    with pytest.raises(TypeError, match=replacement):
        LogisticRegression(penalty=penalty)
    with pytest.raises(ValueError, match=replacement):
        LogisticRegression().set_params(penalty=penalty)
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression()),
        {"logisticregression__penalty": [penalty]},
        cv=2,
        error_score="raise",
    )
    with pytest.raises(ValueError, match=replacement):
        grid.fit(X, y)


def test_parameters_are_unchanged_by_the_penalty_guard():
    """The signature, get_params and set_params are those of the parameters:
    no penalty, no catch-all keyword."""
    import inspect

    signature = inspect.signature(LogisticRegression)
    assert "penalty" not in signature.parameters
    assert all(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values())
    model = LogisticRegression(C=0.5, l1_ratio=0.25)
    assert sorted(model.get_params()) == sorted(signature.parameters)
    assert model.set_params(l1_ratio=1.0) is model
    assert model.get_params()["l1_ratio"] == 1.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpha'"):
        LogisticRegression(alpha=1.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": 0.0}, "C must be"),
        ({"C": -1.0}, "C must be"),
        ({"l1_ratio": 1.5}, "l1_ratio"),
        ({"solver": "newton"}, "solver must be"),
        ({"max_iter": -1}, "max_iter"),
        ({"tol": -1e-3}, "tol"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": "optimal"}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"class_weight": "uniform"}, "class_weight"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_invalid_parameters(params, match):
    """Out-of-range hyper-parameters raise ValueError naming the parameter."""
    X, y = dataset("iris")
    with pytest.raises(ValueError, match=match):
        LogisticRegression(**params).fit(X, y)
