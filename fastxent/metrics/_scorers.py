"""Scorers of the cross-entropy of a classifier's own predicted distribution.

scikit-learn's ``neg_log_loss`` scores ``predict_proba`` against the classes
found in the test fold (a fold that lacks a class raises), clips every
probability to ``[eps, 1 - eps]`` (an over-confident mistake costs at most
``-log(eps) = 36.04`` nats) and takes ``log(p)`` of probabilities that have
underflowed to 0 or rounded to 1. These scorers take the classes from
the fitted estimator and, where its probabilities are the softmax (sigmoid
for one binary column) of its decision function, score those logits with
fastxent's kernels: exact, unclipped, finite for any finite logit.

Which response is used, per call:

1. ``decision_function``, if the estimator's ``predict_proba`` equals its
   softmax / sigmoid on a few rows (logistic and multinomial models);
2. else ``predict_log_proba`` (a one-vs-rest or margin model, or one without
   a decision function);
3. else ``predict_proba``, through its log.

The scorer is one of scikit-learn's (a ``_BaseScorer``), so
``cross_val_score``, ``cross_validate``, ``GridSearchCV`` and metadata
routing (``set_score_request(sample_weight=True)``) treat it as their own.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from sklearn.metrics._scorer import _BaseScorer
from sklearn.utils import _safe_indexing

from fastxent._binary import binary_cross_entropy
from fastxent._categorical import cross_entropy
from fastxent._logsumexp import softmax
from fastxent._typing import ResponseMethod
from fastxent._validation import check_nonnegative_vector, scale_for_mean

# In the order "auto" tries them.
_RESPONSE_METHODS = get_args(ResponseMethod)

# The options of cross_entropy a scorer takes. sample_weight arrives through
# metadata routing; reduction, axis and ignore_index do not apply to a score
# of class labels.
_OPTIONS = ("class_weight", "label_smoothing", "base", "n_threads")

# Rows on which predict_proba is compared with the softmax of the decision
# function: the batch's least confident ones (smallest gap between the top
# two logits), where a softmax and normalised one-vs-rest sigmoids differ
# most. On confident rows both put ~1 on one class and nearly 0 elsewhere,
# and the comparison could not tell them apart.
_N_CHECK_ROWS = 5

# Tolerance of that comparison: far above the rounding of a softmax computed
# in float32, far below the gap between a softmax and the normalised
# one-vs-rest sigmoids or Platt scaling it must tell apart. The absolute part
# is a few ulps of 1 in the probabilities' dtype: a two-class predict_proba
# computes one column as 1 - p, whose rounding error is absolute.
_CHECK_RTOL = 1e-5
_CHECK_ULPS = 8


def make_cross_entropy_scorer(
    *,
    response_method: Literal["auto"] | ResponseMethod = "auto",
    **cross_entropy_options: Any,
) -> _CrossEntropyScorer:
    """A scorer of the negated mean cross-entropy of a classifier's predictions.

    Parameters
    ----------
    response_method : {"auto", "decision_function", "predict_log_proba", \
"predict_proba"}, default="auto"
        What to score. ``"auto"`` uses ``decision_function`` where the
        model's probabilities are its softmax (sigmoid for a binary
        ``(n_samples,)`` decision), checked on a few rows per call, else
        ``predict_log_proba``, else ``predict_proba``. Any other value
        forces that method (for ``"decision_function"``, unchecked).
    **cross_entropy_options
        ``class_weight`` (array-like of shape (n_classes,) in the order of
        the estimator's ``classes_``, or a dict ``{label: weight}``, absent
        labels weighing 1), ``label_smoothing``, ``base`` and ``n_threads``,
        as in :func:`fastxent.cross_entropy`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true)`` returns ``-cross_entropy``, greater
        is better; ``sample_weight`` is routed to it by
        ``scorer.set_score_request(sample_weight=True)`` when scikit-learn's
        metadata routing is enabled.
    """
    if response_method != "auto" and response_method not in _RESPONSE_METHODS:
        raise ValueError(
            f"response_method must be 'auto' or one of {_RESPONSE_METHODS}, got "
            f"{response_method!r}"
        )
    unknown = sorted(set(cross_entropy_options) - set(_OPTIONS))
    if unknown:
        raise TypeError(
            f"make_cross_entropy_scorer got unexpected option(s) {unknown}; it "
            f"takes {_OPTIONS}. sample_weight is passed through metadata "
            "routing (scorer.set_score_request(sample_weight=True))"
        )
    return _CrossEntropyScorer(response_method, cross_entropy_options)


class _CrossEntropyScorer(_BaseScorer):
    """scikit-learn scorer whose response is chosen per call (see module doc)."""

    def __init__(self, response_method, options):
        # scikit-learn reads _response_method to plan its prediction cache:
        # the methods that may be called, in order of preference.
        methods = _RESPONSE_METHODS if response_method == "auto" else response_method
        super().__init__(_mean_cross_entropy, -1, options, methods)
        self._requested_method = response_method

    def __repr__(self):
        options = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        return (
            f"make_cross_entropy_scorer(response_method={self._requested_method!r}"
            f"{options})"
        )

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        """Negated cross-entropy of ``estimator``'s predictions on ``X``.

        ``method_caller`` (scikit-learn's prediction cache) is not used: it
        keeps one column of a binary ``predict_proba``, and the scorer needs
        every column and the raw decision values. ``kwargs`` holds the routed
        metadata: ``sample_weight`` only, which no option can overlap.

        Returns
        -------
        score : float
        """
        classes = _fitted_classes(estimator)
        method, values = _response(estimator, X, self._requested_method, classes)
        response = (method, values, classes)
        return self._sign * self._score_func(
            y_true, response, **{**self._kwargs, **kwargs}
        )


def _mean_cross_entropy(y_true, y_pred, *, sample_weight=None, **options):
    """Mean cross-entropy of the distribution a response describes.

    Only ``sample_weight`` is a named parameter: scikit-learn offers the
    named parameters of a scorer's function for metadata routing.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Class labels, each one of ``classes``.
    y_pred : tuple (method, values, classes)
        ``values`` is the output of the estimator's ``method``: logits of
        shape (n_samples, n_classes) or (n_samples,) (the positive class's,
        for two classes), log-probabilities or probabilities of shape
        (n_samples, n_classes).
    sample_weight : array-like of shape (n_samples,), default=None
    **options
        ``class_weight``, ``label_smoothing``, ``base``, ``n_threads`` as in
        :func:`fastxent.cross_entropy`; ``class_weight`` may also be a dict
        ``{label: weight}``.

    Returns
    -------
    loss : float
    """
    method, values, classes = y_pred
    index_of = {label: i for i, label in enumerate(classes.tolist())}
    codes = _class_codes(y_true, index_of)
    options["class_weight"] = _class_weight_vector(
        options.get("class_weight"), index_of
    )
    if method == "decision_function" and np.ndim(values) == 1:
        return float(_binary_mean(values, codes, sample_weight, **options))
    if method == "predict_proba":
        # A probability of 0 becomes a -inf logit: a masked class, and an
        # infinite loss where it is the true one.
        with np.errstate(divide="ignore"):
            values = np.log(values)
    # Log-probabilities are logits whose log-sum-exp is 0; the kernel's
    # normalisation only absorbs the rounding of rows that sum to 1.
    return float(cross_entropy(values, codes, sample_weight=sample_weight, **options))


def _binary_mean(logit, codes, sample_weight, *, class_weight=None, **options):
    """Mean two-class cross-entropy of ``sigmoid(logit)``, on the binary kernel.

    The two-class row loss ``-(w1 t1 log sigmoid(z) + w0 t0 log sigmoid(-z))``
    is ``w0`` times the binary kernel's element loss with
    ``pos_weight = w1 / w0``; when ``w0`` is 0 the classes swap roles
    (``z -> -z``). The mean divides by the categorical row weights
    ``sample_weight_i * w[y_i]``, so both kernels agree on every option
    (``options``: ``label_smoothing``, ``base``, ``n_threads``).
    """
    target = codes.astype(np.float64)
    if class_weight is None:
        return binary_cross_entropy(
            logit, target, sample_weight=sample_weight, **options
        )
    # The mean only sees ratios of weights: scaled to a maximum below 1,
    # weights near 1e308 do not overflow its sums.
    weights = scale_for_mean(check_nonnegative_vector(class_weight, "class_weight", 2))
    row_weights = weights[codes]
    if sample_weight is not None:
        sample_weight = scale_for_mean(
            check_nonnegative_vector(sample_weight, "sample_weight", codes.size)
        )
        row_weights = row_weights * sample_weight
    total_weight = row_weights.sum()
    if not total_weight > 0.0:
        raise ValueError(
            "the rows' weights sum to 0 (sample_weight times class_weight of the "
            "true class), so the mean is undefined"
        )
    if weights[0] == 0.0:
        logit, target, weights = -np.asarray(logit), 1.0 - target, weights[::-1]
    total = binary_cross_entropy(
        logit, target, pos_weight=weights[1] / weights[0],
        sample_weight=sample_weight, reduction="sum", **options,
    )  # fmt: skip
    return weights[0] * total / total_weight


def _fitted_classes(estimator) -> np.ndarray:
    """The fitted estimator's ``classes_``, for single-output classifiers."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise AttributeError(
            f"{type(estimator).__name__} has no classes_: the cross-entropy "
            "scorer needs a fitted classifier"
        )
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(
            "the cross-entropy scorer supports single-output classifiers; "
            f"classes_ has shape {classes.shape}"
        )
    return classes


def _response(estimator, X, requested, classes):
    """The method to score and its output on ``X`` (see module docstring)."""
    if requested != "auto":
        return requested, getattr(estimator, requested)(X)
    if hasattr(estimator, "decision_function") and hasattr(estimator, "predict_proba"):
        logits = estimator.decision_function(X)
        if _is_softmax_of(logits, estimator, X, classes.size):
            return "decision_function", logits
    for method in _RESPONSE_METHODS[1:]:
        if hasattr(estimator, method):
            # Many predict_log_proba are log(predict_proba): a probability of 0
            # is a legitimate -inf here, not worth numpy's divide warning.
            with np.errstate(divide="ignore"):
                return method, getattr(estimator, method)(X)
    raise AttributeError(
        f"{type(estimator).__name__} has neither predict_log_proba nor "
        "predict_proba: its predictions are no distribution to score"
    )


def _is_softmax_of(logits, estimator, X, n_classes) -> bool:
    """Whether ``predict_proba`` is the softmax (sigmoid) of ``logits``.

    Compared on a few rows spread over ``X``: a model that normalises
    one-vs-rest sigmoids or calibrates its margins differs by far more than
    the tolerance on any row.
    """
    logits = np.asarray(logits)
    n_samples = logits.shape[0]
    if n_samples == 0:
        return False
    if logits.ndim == 1 and n_classes == 2:
        # sigmoid(z) = softmax([0, z])[1]: compare both columns at once.
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    elif logits.ndim != 2 or logits.shape[1] != n_classes:
        return False
    with np.errstate(invalid="ignore"):
        top_two = -np.partition(-logits.astype(np.float64), 1, axis=1)[:, :2]
        gap = np.nan_to_num(top_two[:, 0] - top_two[:, 1], nan=np.inf)
    rows = np.sort(np.argsort(gap, kind="stable")[:_N_CHECK_ROWS])
    proba = np.asarray(estimator.predict_proba(_safe_indexing(X, rows)))
    if proba.shape != (rows.size, n_classes):
        return False
    expected = softmax(logits[rows].astype(np.float64), axis=1)
    dtype = proba.dtype if proba.dtype.kind == "f" else np.dtype(np.float64)
    atol = _CHECK_ULPS * float(np.finfo(dtype).eps)
    return bool(np.allclose(proba, expected, rtol=_CHECK_RTOL, atol=atol))


def _class_codes(y_true, index_of: dict) -> np.ndarray:
    """Index of each label of ``y_true`` among the classes, as an intp vector.

    ``index_of`` maps each class to its column; labels compare as Python
    values, so 1, 1.0 and np.int64(1) are one class, as in scikit-learn.
    """
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(
            f"y_true must be a vector of class labels, got shape {y.shape}"
        )
    labels, inverse = np.unique(y, return_inverse=True)
    try:
        codes = [index_of[label] for label in labels.tolist()]
    except KeyError as unknown:
        raise ValueError(
            f"y_true holds the label {unknown.args[0]!r}, which is not among the "
            f"estimator's classes_ {list(index_of)}"
        ) from None
    return np.asarray(codes, dtype=np.intp)[inverse.reshape(-1)]


def _class_weight_vector(class_weight, index_of: dict):
    """A ``class_weight`` dict as a vector in the classes' order; else as given."""
    if not isinstance(class_weight, dict):
        return class_weight
    unknown = [label for label in class_weight if label not in index_of]
    if unknown:
        raise ValueError(
            f"class_weight names label(s) {unknown} that are not among the "
            f"estimator's classes_ {list(index_of)}"
        )
    weights = np.ones(len(index_of))
    for label, weight in class_weight.items():
        weights[index_of[label]] = weight
    return weights


# The default scorer, shared by everyone who imports it: call
# make_cross_entropy_scorer() for one to set_score_request on.
neg_cross_entropy_scorer = make_cross_entropy_scorer()
