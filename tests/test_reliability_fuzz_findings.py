"""What the fuzzer found, pinned as plain tests.

Each test is a bug that ``tests/fuzz`` found (and whose fix it checks on
every run), restated on a readable input so it stays covered whatever the
fuzzer draws.
"""

import numpy as np
from sklearn.linear_model import LogisticRegression, SGDClassifier

import fastxent as fx
from fastxent.metrics import make_cross_entropy_scorer, neg_cross_entropy_scorer


def test_one_vs_rest_model_on_confident_rows_scored_from_its_probabilities():
    """A one-vs-rest model whose rows are all confident was scored from the
    softmax of its decision values (both ~one-hot, indistinguishable under
    an absolute tolerance of 1e-9): 10 nats off on a wrong row."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    y = np.array(["ant", "bee", "cat"])[(X @ rng.normal(size=(4, 3))).argmax(axis=1)]
    model = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    pool = 6.0 * rng.normal(size=(400, 4))
    proba = model.predict_proba(pool)
    # Rows whose every probability is within 1e-9 of 0 or 1, but not 0.
    confident = pool[(proba.max(axis=1) > 1 - 1e-9) & (proba.min(axis=1) > 1e-200)]
    confident = confident[:7]
    assert len(confident) == 7
    labels = np.roll(model.predict(confident), 1)  # some rows wrong
    own = model.predict_log_proba(confident)
    codes = np.searchsorted(model.classes_, labels)
    expected = own[np.arange(7), codes].mean()
    got = neg_cross_entropy_scorer(model, confident, labels)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_binary_scorer_with_class_weight_and_huge_sample_weights():
    """Sample weights near 1e308 made the binary path's total overflow: NaN."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] + rng.normal(size=50) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    scorer = make_cross_entropy_scorer(class_weight=[0.5, 2.0])
    unit = scorer(model, X, y, sample_weight=np.ones(50))
    huge = scorer(model, X, y, sample_weight=np.full(50, 1e308))
    assert np.isfinite(huge)
    np.testing.assert_allclose(huge, unit, rtol=1e-13)


def test_weighted_mean_of_losses_near_the_double_maximum_stays_finite():
    """Weights were kept as they were when their maximum looked safe for the
    total (up to 2**500), so a weight of 2 on a loss of 1.27e308 overflowed
    the weighted sum and the mean came out +inf. A weighted mean of finite
    losses lies between them."""
    logits = np.array([[-3.5e307, 9.2e307, -5.7e307]])
    labels = np.array([0])
    loss = logits[0, 1] - logits[0, 0]
    for weight in (2.0, 1e300, 0.75):
        got = fx.cross_entropy(logits, labels, sample_weight=[weight])
        np.testing.assert_allclose(got, loss, rtol=1e-15)
        got = fx.cross_entropy(logits, labels, class_weight=[weight, 1.0, 1.0])
        np.testing.assert_allclose(got, loss, rtol=1e-15)
    binary = fx.binary_cross_entropy(np.array([-1.5e308]), np.array([1.0]))
    np.testing.assert_allclose(
        fx.binary_cross_entropy(
            np.array([-1.5e308]), np.array([1.0]), sample_weight=[3.0]
        ),
        binary,
        rtol=1e-15,
    )
    assert np.isfinite(binary)
