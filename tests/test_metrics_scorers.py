"""The cross-entropy scorers in scikit-learn's own workflows.

Every score is checked against an independent computation: scipy's
``log_softmax`` of the response the scorer should have chosen, averaged with
the fold's weights. Small datasets and few folds keep the module fast.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy.special import log_softmax
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
    cross_validate,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

import fastxent as fx
from fastxent.metrics import make_cross_entropy_scorer, neg_cross_entropy_scorer

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X = StandardScaler().fit_transform(IRIS_X)
BINARY_X, BINARY_Y = make_classification(
    n_samples=120, n_features=5, flip_y=0.1, random_state=0
)
CV = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
WEIGHTS = np.random.default_rng(0).uniform(0.1, 3.0, IRIS_Y.size)


def logistic():
    return LogisticRegression(max_iter=1000)


# estimator factory -> the response "auto" must choose for it on iris
ESTIMATORS = {
    "logistic": (logistic, "decision_function"),
    "sgd-log-loss": (
        lambda: SGDClassifier(loss="log_loss", random_state=0),
        "predict_log_proba",  # one-vs-rest: normalised sigmoids, not a softmax
    ),
    "random-forest": (
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
        "predict_log_proba",
    ),
    "gaussian-nb": (GaussianNB, "predict_log_proba"),
}


def exact_cross_entropy(estimator, X, y, method, sample_weight=None):
    """Weighted mean of -log_softmax(response)[y], computed with scipy."""
    classes = list(estimator.classes_)
    codes = np.array([classes.index(label) for label in y])
    with np.errstate(divide="ignore"):
        response = getattr(estimator, method)(X)
        if method == "predict_proba":
            response = np.log(response)
    if response.ndim == 1:  # binary logit z: the logits of the classes are [0, z]
        response = np.column_stack([np.zeros_like(response), response])
    losses = -log_softmax(response, axis=1)[np.arange(codes.size), codes]
    return np.average(losses, weights=sample_weight)


def fold_cross_entropies(results, X, y, method, sample_weight=None):
    """exact_cross_entropy of each fitted fold of a cross_validate result."""
    scores = []
    folds = zip(results["estimator"], results["indices"]["test"], strict=True)
    for estimator, test in folds:
        weights = None if sample_weight is None else sample_weight[test]
        scores.append(exact_cross_entropy(estimator, X[test], y[test], method, weights))
    return np.array(scores)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_cross_val_score_scores_the_chosen_response(name):
    """cross_val_score gives each fold's exact cross-entropy, negated."""
    make, method = ESTIMATORS[name]
    scores = cross_val_score(
        make(), IRIS_X, IRIS_Y, cv=CV, scoring=neg_cross_entropy_scorer
    )
    results = cross_validate(
        make(), IRIS_X, IRIS_Y, cv=CV, return_estimator=True, return_indices=True
    )
    expected = fold_cross_entropies(results, IRIS_X, IRIS_Y, method)
    np.testing.assert_allclose(scores, -expected, rtol=1e-12)


@pytest.mark.parametrize(
    "name, X, y",
    [("logistic", IRIS_X, IRIS_Y), ("gaussian-nb", BINARY_X, BINARY_Y)],
    ids=["logistic-iris", "gaussian-nb-binary"],
)
def test_cross_validate_equals_neg_log_loss_without_clipping(name, X, y):
    """Where no probability is clipped, the score is scikit-learn's neg_log_loss."""
    make, _ = ESTIMATORS[name]
    results = cross_validate(
        make(),
        X,
        y,
        cv=CV,
        scoring={"xent": neg_cross_entropy_scorer, "nll": "neg_log_loss"},
        return_estimator=True,
        return_indices=True,
    )
    eps = np.finfo(np.float64).eps
    folds = zip(results["estimator"], results["indices"]["test"], strict=True)
    for estimator, test in folds:
        # log_loss reads (and clips) the true class's probability only.
        proba = estimator.predict_proba(X[test])[np.arange(test.size), y[test]]
        assert np.all((eps <= proba) & (proba <= 1 - eps)), "clipping would occur"
    np.testing.assert_allclose(results["test_xent"], results["test_nll"], rtol=1e-10)


def test_grid_search_selects_by_cross_entropy():
    """GridSearchCV ranks by the scorer, alone and as a refit metric."""
    grid = {"C": [0.01, 0.1, 1.0]}
    single = GridSearchCV(logistic(), grid, cv=CV, scoring=neg_cross_entropy_scorer)
    single.fit(IRIS_X, IRIS_Y)
    reference = GridSearchCV(logistic(), grid, cv=CV, scoring="neg_log_loss")
    reference.fit(IRIS_X, IRIS_Y)
    np.testing.assert_allclose(
        single.cv_results_["mean_test_score"],
        reference.cv_results_["mean_test_score"],
        rtol=1e-10,
    )
    assert single.best_params_ == reference.best_params_
    multi = GridSearchCV(
        logistic(),
        grid,
        cv=CV,
        scoring={"xent": neg_cross_entropy_scorer, "accuracy": "accuracy"},
        refit="xent",
    ).fit(IRIS_X, IRIS_Y)
    assert multi.best_params_ == single.best_params_
    assert multi.best_score_ == single.best_score_


def test_test_fold_lacking_a_class_still_scores():
    """A test fold without class 2: neg_log_loss raises, this scorer scores."""
    test = np.flatnonzero(IRIS_Y != 2)[::5]
    train = np.setdiff1d(np.arange(IRIS_Y.size), test)
    split = [(train, test)]
    with pytest.raises(ValueError, match="different number of classes"):
        cross_val_score(
            logistic(),
            IRIS_X,
            IRIS_Y,
            cv=split,
            scoring="neg_log_loss",
            error_score="raise",
        )
    score = cross_val_score(
        logistic(), IRIS_X, IRIS_Y, cv=split, scoring=neg_cross_entropy_scorer
    )
    model = logistic().fit(IRIS_X[train], IRIS_Y[train])
    expected = exact_cross_entropy(
        model, IRIS_X[test], IRIS_Y[test], "decision_function"
    )
    np.testing.assert_allclose(score, [-expected], rtol=1e-12)


def test_sample_weight_is_routed():
    """With metadata routing, the requested sample_weight weights each fold."""
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_cross_entropy_scorer().set_score_request(sample_weight=True)
        model = logistic().set_fit_request(sample_weight=False)
        results = cross_validate(
            model,
            IRIS_X,
            IRIS_Y,
            cv=CV,
            scoring={
                "weighted": scorer,
                "plain": make_cross_entropy_scorer().set_score_request(
                    sample_weight=False
                ),
            },
            params={"sample_weight": WEIGHTS},
            return_estimator=True,
            return_indices=True,
        )
        search = GridSearchCV(model, {"C": [0.1, 1.0]}, cv=CV, scoring=scorer)
        search.fit(IRIS_X, IRIS_Y, sample_weight=WEIGHTS)
        with pytest.raises(ValueError, match="sample_weight"):
            unrequested = make_cross_entropy_scorer()
            cross_validate(
                model,
                IRIS_X,
                IRIS_Y,
                cv=CV,
                scoring=unrequested,
                params={"sample_weight": WEIGHTS},
            )
    method = "decision_function"
    weighted = fold_cross_entropies(results, IRIS_X, IRIS_Y, method, WEIGHTS)
    plain = fold_cross_entropies(results, IRIS_X, IRIS_Y, method)
    np.testing.assert_allclose(results["test_weighted"], -weighted, rtol=1e-12)
    np.testing.assert_allclose(results["test_plain"], -plain, rtol=1e-12)
    assert not np.allclose(weighted, plain)
    assert search.best_score_ == search.cv_results_["mean_test_score"].max()


def overconfident_logistic(X, y, scale=1e3):
    """A logistic model whose logits are scaled up: confident, often wrong."""
    model = logistic().fit(X, y)
    model.coef_ *= scale
    model.intercept_ *= scale
    return model


def clipping_cap():
    """The most a row can cost in log_loss: -log(eps) = 36.04 nats."""
    return -np.log(np.finfo(np.float64).eps)


@pytest.mark.parametrize("problem", ["binary", "multiclass"])
def test_overconfident_model_gets_its_true_cross_entropy(problem):
    """Logits of magnitude 1e3: the exact loss, where clipping caps rows at 36."""
    X, y = (BINARY_X, BINARY_Y) if problem == "binary" else (IRIS_X, IRIS_Y)
    model = overconfident_logistic(X, y)
    logits = model.decision_function(X)
    if logits.ndim == 1:
        logits = np.column_stack([np.zeros_like(logits), logits])
    row_losses = -log_softmax(logits, axis=1)[np.arange(y.size), y]
    assert row_losses.max() > 2 * clipping_cap()
    score = neg_cross_entropy_scorer(model, X, y)
    np.testing.assert_allclose(score, -row_losses.mean(), rtol=1e-12)
    clipped = -log_loss(y, model.predict_proba(X))
    capped = np.minimum(row_losses, clipping_cap()).mean()
    np.testing.assert_allclose(-clipped, capped, rtol=1e-6)
    assert score < clipped


def test_overconfident_model_without_logits_uses_log_proba():
    """GaussianNB's predict_log_proba keeps losses its probabilities underflow."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-3, 0.5, 20), rng.normal(3, 0.5, 20)])[:, None]
    y = np.repeat([0, 1], 20)
    model = GaussianNB().fit(X, y)
    wrong = 1 - y  # every label flipped: confidently wrong on each row
    log_proba = model.predict_log_proba(X)
    row_losses = -log_proba[np.arange(y.size), wrong]
    assert row_losses.max() > 2 * clipping_cap()
    score = neg_cross_entropy_scorer(model, X, wrong)
    np.testing.assert_allclose(score, -row_losses.mean(), rtol=1e-12)
    assert score < -log_loss(wrong, model.predict_proba(X))


# SVC(probability=True) is the margin model API.md names; scikit-learn 1.9
# deprecates the parameter in favour of CalibratedClassifierCV.
@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
@pytest.mark.parametrize(
    "make, method",
    [
        (lambda: SGDClassifier(loss="log_loss", random_state=0), "predict_log_proba"),
        (lambda: OneVsRestClassifier(logistic()), "predict_proba"),
        (lambda: SVC(probability=True, random_state=0), "predict_log_proba"),
    ],
    ids=["sgd-one-vs-rest", "one-vs-rest-wrapper", "svc-platt"],
)
def test_margins_are_never_scored_as_logits(make, method):
    """One-vs-rest and margin models are scored on their probabilities."""
    model = make().fit(IRIS_X, IRIS_Y)
    score = neg_cross_entropy_scorer(model, IRIS_X, IRIS_Y)
    np.testing.assert_allclose(
        score, -exact_cross_entropy(model, IRIS_X, IRIS_Y, method), rtol=1e-12
    )
    softmax_of_margins = exact_cross_entropy(model, IRIS_X, IRIS_Y, "decision_function")
    assert not np.isclose(score, -softmax_of_margins, rtol=1e-3)


@pytest.mark.parametrize(
    "make",
    [logistic, lambda: SGDClassifier(loss="log_loss", random_state=0)],
    ids=["logistic", "sgd-log-loss"],
)
def test_binary_models_are_scored_from_their_logit(make):
    """A binary sigmoid model is scored from its (n,) decision values."""
    model = make().fit(BINARY_X, BINARY_Y)
    expected = exact_cross_entropy(model, BINARY_X, BINARY_Y, "decision_function")
    score = neg_cross_entropy_scorer(model, BINARY_X, BINARY_Y)
    np.testing.assert_allclose(score, -expected, rtol=1e-12)


def test_model_without_probabilities_raises():
    """A margin classifier with no predict_proba has no distribution to score."""
    model = LinearSVC().fit(IRIS_X, IRIS_Y)
    with pytest.raises(AttributeError, match="predict_proba"):
        neg_cross_entropy_scorer(model, IRIS_X, IRIS_Y)


OPTIONS = {
    "class-weight": {"class_weight": [2.0, 0.5]},
    "zero-weight-on-class-0": {"class_weight": [0.0, 1.5]},
    "label-smoothing": {"label_smoothing": 0.2},
    "bits": {"base": 2},
    "everything": {"class_weight": [0.3, 4.0], "label_smoothing": 0.1, "base": 10},
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_binary_kernel_agrees_with_categorical(name):
    """Binary logits on the binary kernel equal softmax([0, z]) for every option."""
    options = OPTIONS[name]
    model = logistic().fit(BINARY_X, BINARY_Y)
    weights = WEIGHTS[: BINARY_Y.size]
    scorer = make_cross_entropy_scorer(**options)
    logits = model.decision_function(BINARY_X)
    two_logits = np.column_stack([np.zeros_like(logits), logits])
    expected = fx.cross_entropy(two_logits, BINARY_Y, sample_weight=weights, **options)
    score = scorer(model, BINARY_X, BINARY_Y, sample_weight=weights)
    np.testing.assert_allclose(score, -expected, rtol=1e-12)


def test_class_weight_by_label():
    """A class_weight dict names classes; absent ones weigh 1."""
    y = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    model = logistic().fit(IRIS_X, y)
    by_label = make_cross_entropy_scorer(class_weight={"virginica": 3.0})
    by_index = make_cross_entropy_scorer(class_weight=[1.0, 1.0, 3.0])
    assert by_label(model, IRIS_X, y) == by_index(model, IRIS_X, y)
    with pytest.raises(ValueError, match="not among"):
        make_cross_entropy_scorer(class_weight={"rose": 1.0})(model, IRIS_X, y)


def test_forced_response_methods():
    """response_method forces a method; they agree on a well-behaved model."""
    model = logistic().fit(IRIS_X, IRIS_Y)
    scores = [
        make_cross_entropy_scorer(response_method=method)(model, IRIS_X, IRIS_Y)
        for method in ("decision_function", "predict_log_proba", "predict_proba")
    ]
    np.testing.assert_allclose(scores, scores[0], rtol=1e-10)
    with pytest.raises(AttributeError):
        make_cross_entropy_scorer(response_method="decision_function")(
            GaussianNB().fit(IRIS_X, IRIS_Y), IRIS_X, IRIS_Y
        )


def test_pipeline_with_pandas_and_string_labels():
    """A pipeline on a DataFrame with string labels in a Series scores."""
    X = pd.DataFrame(load_iris().data, columns=load_iris().feature_names)
    y = pd.Series(np.array(["setosa", "versicolor", "virginica"])[IRIS_Y])
    model = make_pipeline(StandardScaler(), logistic())
    scores = cross_val_score(model, X, y, cv=CV, scoring=neg_cross_entropy_scorer)
    reference = cross_val_score(model, X, y, cv=CV, scoring="neg_log_loss")
    np.testing.assert_allclose(scores, reference, rtol=1e-10)


def test_unknown_label_raises():
    """A label the estimator was not fitted on is an error, named."""
    model = logistic().fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="label 7"):
        neg_cross_entropy_scorer(model, IRIS_X[:3], [0, 7, 1])


def test_invalid_arguments():
    """Unknown options and response methods fail at construction, bad values at use."""
    with pytest.raises(TypeError, match="metadata routing"):
        make_cross_entropy_scorer(sample_weight=np.ones(3))
    with pytest.raises(TypeError, match="reduction"):
        make_cross_entropy_scorer(reduction="sum")
    with pytest.raises(ValueError, match="response_method"):
        make_cross_entropy_scorer(response_method="predict")
    model = logistic().fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="label_smoothing"):
        make_cross_entropy_scorer(label_smoothing=1.5)(model, IRIS_X, IRIS_Y)


def test_repr_and_pickle_round_trip():
    """The scorer names its options and survives pickling (joblib workers)."""
    scorer = make_cross_entropy_scorer(label_smoothing=0.1, base=2)
    assert repr(scorer) == (
        "make_cross_entropy_scorer(response_method='auto', label_smoothing=0.1, base=2)"
    )
    model = logistic().fit(IRIS_X, IRIS_Y)
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored(model, IRIS_X, IRIS_Y) == scorer(model, IRIS_X, IRIS_Y)


def test_only_sample_weight_is_routable():
    """The options are fixed at construction; routing offers sample_weight alone."""
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_cross_entropy_scorer(class_weight=[1, 2, 3], base=2)
        assert scorer.get_metadata_routing().score.requests == {"sample_weight": None}
