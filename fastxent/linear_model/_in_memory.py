"""The estimator's backend for in-memory data (see ``_backend.py``).

Numpy arrays, scipy sparse matrices and anything else scikit-learn's
``validate_data`` accepts: checked by it, encoded here (``_targets.py``
holds the rules shared with the dask backend), fitted on the in-memory
design and datafits, predicted with fastxent's ``softmax`` and
``log_softmax``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted, validate_data

from fastxent._label_codes import encode_labels
from fastxent._logsumexp import log_softmax, softmax
from fastxent.linear_model._datafit import (
    BinomialCrossEntropy,
    MultinomialCrossEntropy,
)
from fastxent.linear_model._design import StandardizedDesign
from fastxent.linear_model._memory import check_logits_fit_in_memory
from fastxent.linear_model._separation import warn_if_separated
from fastxent.linear_model._targets import (
    EncodedTargets,
    check_class_labels,
    check_sample_weight,
    check_two_classes,
)

__all__ = [
    "datafit_classes",
    "decision_function",
    "predict",
    "predict_log_proba",
    "predict_proba",
    "prepare_fit",
    "prepare_partial_fit",
    "warn_if_separated",
]


def datafit_classes():
    """(design, binomial datafit, multinomial datafit) classes for in-memory X."""
    return StandardizedDesign, BinomialCrossEntropy, MultinomialCrossEntropy


def _validate_X_y(estimator, X, y, *, reset):
    X, y = validate_data(
        estimator,
        X,
        y,
        accept_sparse=["csr", "csc"],
        dtype=[np.float64, np.float32],
        order="C",
        reset=reset,
    )
    if sp.issparse(X):
        X = X.tocsr()
    return X, y


def _weighted_targets(estimator, X, classes, codes, sample_weight):
    """The targets of a fit on ``X``, refused if its logits cannot fit in memory."""
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    targets = EncodedTargets.weighted(
        classes, codes, sample_weight, estimator.class_weight
    )
    n_classes = len(classes)
    check_logits_fit_in_memory(X.shape[0], 1 if n_classes == 2 else n_classes)
    return targets


def prepare_fit(estimator, X, y, sample_weight):
    """Validate in-memory training data; encode labels, apply class weights."""
    X, y = _validate_X_y(estimator, X, y, reset=True)
    check_class_labels(y)
    classes, codes = encode_labels(y)
    check_two_classes(classes)
    return X, _weighted_targets(estimator, X, classes, codes, sample_weight)


def prepare_partial_fit(estimator, X, y, classes, sample_weight):
    """As :func:`prepare_fit` for one call of ``partial_fit``: the classes are
    those of the first call, which must name them."""
    first_call = not hasattr(estimator, "classes_")
    classes = _stream_classes(estimator, classes, first_call)
    if estimator.class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' needs the whole y and cannot be used in "
            "partial_fit; pass a dict, e.g. from "
            "sklearn.utils.compute_class_weight('balanced', classes=classes, y=y)"
        )
    X, y = _validate_X_y(estimator, X, y, reset=first_call)
    check_class_labels(y)
    labels, local = encode_labels(y)
    unknown = np.setdiff1d(labels, classes, assume_unique=True)
    if unknown.size:
        raise ValueError(
            f"y holds labels {unknown.tolist()!r} not in classes {classes.tolist()!r}"
        )
    codes = np.searchsorted(classes, labels)[local]
    return X, _weighted_targets(estimator, X, classes, codes, sample_weight)


def _stream_classes(estimator, classes, first_call):
    """The classes of a ``partial_fit`` call, checked against earlier calls."""
    if first_call:
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        classes = np.unique(np.asarray(classes))
        if len(classes) < 2:
            raise ValueError(
                f"classes must hold at least 2 labels, got {classes.tolist()!r}"
            )
        return classes
    if classes is not None and not np.array_equal(
        estimator.classes_, np.unique(np.asarray(classes))
    ):
        raise ValueError(
            f"classes={np.asarray(classes).tolist()!r} differs from classes_ "
            f"{estimator.classes_.tolist()!r} of the previous partial_fit calls"
        )
    return estimator.classes_


def decision_function(estimator, X):
    """Logits ``X @ coef_.T + intercept_``, flattened for two classes."""
    check_is_fitted(estimator)
    X = validate_data(
        estimator,
        X,
        accept_sparse=["csr", "csc"],
        dtype=[np.float64, np.float32],
        reset=False,
    )
    scores = np.asarray(X @ estimator.coef_.T + estimator.intercept_)
    return scores.ravel() if scores.shape[1] == 1 else scores


def _logits_all_classes(estimator, X):
    """Decision values with one column per class (binary: ``[0, z]``)."""
    scores = decision_function(estimator, X)
    if scores.ndim == 1:
        scores = np.column_stack([np.zeros_like(scores), scores])
    return np.ascontiguousarray(scores)


def predict(estimator, X):
    """The class of the largest logit (of a positive one for two classes)."""
    scores = decision_function(estimator, X)
    if scores.ndim == 1:
        index = (scores > 0).astype(np.intp)
    else:
        index = scores.argmax(axis=1)
    return estimator.classes_[index]


def predict_proba(estimator, X):
    """Softmax of the logits of every class."""
    return softmax(_logits_all_classes(estimator, X), axis=1)


def predict_log_proba(estimator, X):
    """Log-softmax of the logits of every class."""
    return log_softmax(_logits_all_classes(estimator, X), axis=1)
