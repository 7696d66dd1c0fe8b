"""``LogisticRegression`` on degenerate data, and across processes.

- constant and duplicated features: the same model as scikit-learn's, the
  constant column weightless (it plays the intercept when there is none),
  the duplicated columns sharing their weight equally;
- perfectly separable data: finite coefficients under the l2 penalty, and a
  warning that says why when there is no penalty (``C=np.inf``) and only
  then;
- one sample per class, and a million classes (rejected with a message
  saying what it would cost, before anything of that size is allocated);
- NaN or infinity in X: scikit-learn's own error message, in fit and in
  every prediction method;
- a model pickled in one process predicts bitwise alike in another.

References are scikit-learn's ``LogisticRegression`` minimising the same
objective at a tight tolerance.
"""

import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from fastxent.linear_model import LogisticRegression

SEPARABLE = "perfectly separable"


def noisy_data(n_samples=300, n_classes=3, seed=0):
    """Four informative features, labels with noise (not separable)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    scores = X @ rng.normal(size=(4, n_classes)) + rng.gumbel(size=(n_samples, 1))
    scores += 1.5 * rng.gumbel(size=(n_samples, n_classes))
    return X, scores.argmax(axis=1)


def separable_data(n_classes, seed=1):
    """Classes cut by thresholds on feature 0, with a gap around each cut."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(240, 3))
    X[:, 0] = rng.uniform(0, n_classes, 240)
    X = X[np.abs(X[:, 0] - np.round(X[:, 0])) > 0.1]  # the gaps
    return X, np.floor(X[:, 0]).astype(int)


def fit_both(X, y, **params):
    """(ours, scikit-learn's), both at a tight tolerance.

    A gradient below tol puts the coefficients within tol / alpha of the
    optimum (alpha = 1 / 300 here, the penalty's curvature): 3e-8 at 1e-10.
    """
    ours = LogisticRegression(tol=1e-10, max_iter=20000, **params).fit(X, y)
    theirs = SkLogisticRegression(tol=1e-11, max_iter=20000, **params).fit(X, y)
    return ours, theirs


# ------------------------------------------------------------ degenerate X


@pytest.mark.parametrize("n_classes", [2, 3])
def test_constant_feature_gets_no_weight(n_classes):
    """A constant column changes nothing: its coefficient is 0, the rest agree
    with the fit without it and with scikit-learn's."""
    X, y = noisy_data(n_classes=n_classes)
    with_constant = np.column_stack([X, np.full(len(X), 3.0)])
    ours, theirs = fit_both(with_constant, y)
    without = LogisticRegression(tol=1e-10, max_iter=20000).fit(X, y)
    assert np.all(np.isfinite(ours.coef_))
    # The stopping rule bounds the gradient by tol=1e-10: in the constant's
    # coefficient w that is |alpha w + 3 g_intercept| with alpha = 1 / 300
    # and |g_intercept| <= tol, so |w| <= 4 tol / alpha = 1.2e-7.
    np.testing.assert_allclose(ours.coef_[:, -1], 0.0, atol=1.2e-7)
    np.testing.assert_allclose(ours.coef_[:, :-1], without.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, without.intercept_, atol=1e-5)
    # scikit-learn's lbfgs stops with 2e-6 in the constant's coefficient.
    np.testing.assert_allclose(ours.coef_[:, :-1], theirs.coef_[:, :-1], atol=1e-5)
    np.testing.assert_allclose(
        ours.predict_proba(with_constant), theirs.predict_proba(with_constant),
        atol=1e-7,
    )  # fmt: skip


def test_constant_feature_plays_the_intercept_without_one():
    """Unpenalised and without intercept, ``c * coef`` of a column of c equals
    the intercept of the fit that has one."""
    X, y = noisy_data()
    constant = np.column_stack([X, np.full(len(X), 3.0)])
    params = {"C": np.inf, "tol": 1e-9, "max_iter": 20000}
    no_intercept = LogisticRegression(fit_intercept=False, **params).fit(constant, y)
    with_intercept = LogisticRegression(**params).fit(X, y)
    # The unpenalised multinomial is defined up to a constant per feature
    # across classes: compare after centring over the classes.
    centred = no_intercept.coef_ - no_intercept.coef_.mean(axis=0)
    intercept = with_intercept.intercept_ - with_intercept.intercept_.mean()
    np.testing.assert_allclose(3.0 * centred[:, -1], intercept, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_duplicated_columns_share_their_weight(n_classes):
    """Under l2, two copies of a column get equal coefficients, the model of
    scikit-learn's; the data are the same problem either way."""
    X, y = noisy_data(n_classes=n_classes)
    duplicated = np.column_stack([X, X[:, 0], X[:, 0]])
    ours, theirs = fit_both(duplicated, y)
    np.testing.assert_allclose(ours.coef_[:, -1], ours.coef_[:, -2], atol=1e-9)
    np.testing.assert_allclose(ours.coef_[:, -1], ours.coef_[:, 0], atol=1e-7)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-6)


# ---------------------------------------------------------- separable data


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["agd", "lbfgs"])
def test_separable_data_finite_under_l2(n_classes, solver):
    """l2 keeps the coefficients finite, converged and silent, where
    scikit-learn puts them."""
    X, y = separable_data(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither separation nor convergence
        ours = LogisticRegression(solver=solver, tol=1e-9, max_iter=20000).fit(X, y)
    theirs = SkLogisticRegression(tol=1e-11, max_iter=20000).fit(X, y)
    assert np.all(np.isfinite(ours.coef_)) and np.all(np.isfinite(ours.intercept_))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["agd", "gd", "lbfgs", "sgd"])
def test_separable_data_without_penalty_warns(n_classes, solver):
    """C=np.inf on separable data: a warning says the optimum is at infinity."""
    X, y = separable_data(n_classes)
    model = LogisticRegression(C=np.inf, solver=solver, max_iter=300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    messages = [str(w.message) for w in caught if SEPARABLE in str(w.message)]
    assert len(messages) == 1
    assert "C=np.inf" in messages[0] and "finite C" in messages[0]
    assert np.all(np.isfinite(model.coef_))


def test_separation_warning_counts_only_weighted_samples():
    """Not separable as given; separable once the misfit rows weigh 0."""
    X, y = separable_data(2)
    y_flipped = y.copy()
    y_flipped[:5] = 1 - y[:5]
    weights = np.ones(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # not separable: silent
        LogisticRegression(C=np.inf, max_iter=300).fit(X, y_flipped)
    weights[:5] = 0.0
    with pytest.warns(UserWarning, match=SEPARABLE):
        LogisticRegression(C=np.inf, max_iter=300).fit(
            X, y_flipped, sample_weight=weights
        )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_no_separation_warning_on_overlapping_classes(n_classes):
    """The control: unpenalised fits of noisy data do not warn at all."""
    X, y = noisy_data(n_classes=n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression(C=np.inf, tol=1e-8, max_iter=20000).fit(X, y)


# ------------------------------------------------------------ class counts


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_one_sample_per_class(n_classes):
    """A sample per class: scikit-learn's model, each sample predicted as its
    own class (under l2; an unpenalised fit warns that this separates)."""
    rng = np.random.default_rng(n_classes)
    X = rng.normal(size=(n_classes, 5))
    y = np.array([f"class {k}" for k in range(n_classes)])
    ours, theirs = fit_both(X, y)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), atol=1e-7
    )
    np.testing.assert_array_equal(ours.predict(X), y)
    with pytest.warns(UserWarning, match=SEPARABLE):
        LogisticRegression(C=np.inf, max_iter=100).fit(X, y)


def test_a_million_classes_rejected_with_a_clear_message():
    """10**6 classes (one sample each) would need 10**12-entry logits: the fit
    says so, naming the class count, before allocating anything that large."""
    n = 10**6
    X = np.linspace(-1.0, 1.0, n).reshape(-1, 1)
    y = np.arange(n)
    with warnings.catch_warnings():
        # scikit-learn's hint that y may be a regression target.
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=r"y has 1000000 classes.*GiB of memory"):
            LogisticRegression().fit(X, y)


def test_many_classes_that_fit_in_memory_are_fitted():
    """The check is about memory, not a cap on classes: 1,000 classes fit."""
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(1000), 2)
    X = rng.normal(size=(len(y), 3))
    X[:, 0] += y / 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # class-count hint, max_iter reached
        model = LogisticRegression(max_iter=5).fit(X, y)
    assert model.coef_.shape == (1000, 3)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)


# ---------------------------------------------------------------- NaN in X


def sklearn_error(method, X, fitted_on):
    """The exception scikit-learn's LogisticRegression raises for ``X``."""
    model = SkLogisticRegression()
    if method != "fit":
        model.fit(*fitted_on)
    with pytest.raises(ValueError) as info:
        call(model, method, X, fitted_on[1])
    return info.value


def call(model, method, X, y):
    return model.fit(X, y) if method == "fit" else getattr(model, method)(X)


@pytest.mark.parametrize(
    "method",
    ["fit", "predict", "predict_proba", "predict_log_proba", "decision_function"],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["dense", "float32", "csr"])
def test_non_finite_X_gets_sklearns_message(method, bad, layout):
    """NaN or +-inf in X: scikit-learn's ValueError, word for word."""
    X, y = noisy_data()
    spoilt = X.copy()
    spoilt[7, 2] = bad
    if layout == "float32":
        spoilt = spoilt.astype(np.float32)
    elif layout == "csr":
        spoilt = sp.csr_matrix(spoilt)
    expected = sklearn_error(method, spoilt, (X, y))
    model = LogisticRegression()
    if method != "fit":
        model.fit(X, y)
    with pytest.raises(ValueError) as info:
        call(model, method, spoilt, y)
    assert str(info.value) == str(expected)


# --------------------------------------------------------- across processes

CHILD = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np
    from fastxent.linear_model import LogisticRegression

    model, X = pickle.load(sys.stdin.buffer)
    fresh = LogisticRegression(C=0.5, l1_ratio=0.5).fit(X, model.predict(X))
    pickle.dump(
        (model.predict_proba(X), model.predict(X), fresh, fresh.predict_proba(X)),
        sys.stdout.buffer,
    )
    """
)


@pytest.mark.parametrize("sparse", [False, True])
def test_pickle_across_processes(sparse):
    """A model pickled here predicts bitwise alike in a new interpreter, and a
    model fitted there predicts bitwise alike here."""
    X, y = noisy_data()
    X = sp.csr_matrix(X) if sparse else X
    labels = np.array(["ant", "bee", "cat"])[y]
    model = LogisticRegression().fit(X, labels)
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps((model, X)),
        capture_output=True,
        timeout=300,
        check=True,
    )
    proba, predicted, fresh, fresh_proba = pickle.loads(child.stdout)
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    np.testing.assert_array_equal(predicted, model.predict(X))
    np.testing.assert_array_equal(fresh.classes_, model.classes_)
    np.testing.assert_array_equal(fresh.predict_proba(X), fresh_proba)
    # The child's fit is the fit this process makes of the same data.
    here = LogisticRegression(C=0.5, l1_ratio=0.5).fit(X, model.predict(X))
    np.testing.assert_array_equal(here.coef_, fresh.coef_)
