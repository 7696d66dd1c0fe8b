"""``LogisticRegression`` on dask arrays: validation, encoding, predictions.

The estimator backend (``fastxent/linear_model/_backend.py``) of dask
arrays: ``LogisticRegression`` gets this module from the dispatch registry
when X or y is a dask array, before scikit-learn's ``validate_data`` (which
would pull the data into memory). What it gets:

- :func:`prepare_fit`: the checks of ``validate_data`` on metadata (2-D,
  known chunks, dtype, matching lengths), then the set-up round
  (``_setup.py``), one reduction for the classes, their weighted counts,
  the weights' range and the column statistics, which also keeps X, the
  labels and the weights in the cluster's memory for the length of the
  fit; then the checks of values on its results, with the in-memory
  estimator's rules and messages (``fastxent/linear_model/_targets.py``).
- :func:`datafit_classes`: the distributed design and datafits
  (``_datafit.py``) the estimator builds instead of the in-memory ones;
  its solvers then run unchanged.
- predictions: each block is the in-memory method on its rows, so they are
  lazy dask arrays equal, row by row, to the in-memory results.

``partial_fit`` and ``solver="sgd"`` take in-memory data only: mini-batches
drawn across chunks would gather rows.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from sklearn.utils.validation import check_is_fitted

from fastxent.dask._arrays import as_dask, as_real_dask, check_known_chunks
from fastxent.dask._datafit import (
    DistributedBinomialCrossEntropy,
    DistributedDesign,
    DistributedMultinomialCrossEntropy,
)
from fastxent.dask._setup import GRAM_MAX_ROWS, run_setup
from fastxent.linear_model._targets import (
    check_class_labels,
    check_two_classes,
    check_weight_low,
    check_weight_shape,
    check_weight_sum,
    class_weight_factors,
)


def datafit_classes():
    """(design, binomial datafit, multinomial datafit) classes for dask data."""
    return (
        DistributedDesign,
        DistributedBinomialCrossEntropy,
        DistributedMultinomialCrossEntropy,
    )


def _check_X(estimator, X, *, reset, chunks=None):
    """X as a float32/float64 dask array of one column chunk, checked."""
    X = as_dask(X, "X", chunks=chunks)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array of shape {X.shape}; "
            "reshape your data"
        )
    if not isinstance(X._meta, np.ndarray):
        raise TypeError(
            f"X must be a dask array of numpy blocks, got blocks of type "
            f"{type(X._meta).__name__}"
        )
    X = as_real_dask(X, "X")  # the in-memory rule of dtypes, lazily
    check_known_chunks(X, "X")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    n_features = X.shape[1]
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    return X


def _check_y(y, rows):
    """y as a 1-D dask array with the row chunks ``rows`` of X."""
    y = as_dask(y, "y", chunks=(rows,))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    n_samples = sum(rows)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(
            f"y must have shape ({n_samples},) (one label per row of X), got "
            f"shape {y.shape}"
        )
    return y.rechunk((rows,))


def _check_weights(sample_weight, rows):
    """Sample weights as a float64 dask array with the row chunks ``rows``, or
    None for unit weights."""
    if sample_weight is None:
        return None
    weights = as_real_dask(sample_weight, "sample_weight", chunks=(rows,))
    check_weight_shape(weights.shape, sum(rows))
    return weights.astype(np.float64).rechunk((rows,))


def prepare_fit(estimator, X, y, sample_weight):
    """Check dask training data and run the fit's set-up round.

    Parameters
    ----------
    estimator : LogisticRegression
    X : dask array of shape (n_samples, n_features)
    y : dask array of shape (n_samples,)
    sample_weight : dask array, array-like of shape (n_samples,) or None

    Returns
    -------
    X : dask array
        float32 or float64, one column chunk (its metadata; the data are
        kept on the workers by the set-up round).
    targets : TrainingData
        The codes into the classes, and the sample weights times the class
        weights, kept on the workers.
    """
    if estimator.solver == "sgd":
        raise ValueError(
            "solver='sgd' takes in-memory data; for dask arrays use 'agd', 'gd' "
            "or 'lbfgs'"
        )
    y_chunks = y.chunks if isinstance(y, da.Array) else None
    X = _check_X(estimator, X, reset=True, chunks=y_chunks)
    rows = X.chunks[0]
    y = _check_y(y, rows)
    weights = _check_weights(sample_weight, rows)
    by_class = estimator.class_weight is not None
    n_rows = X.shape[1] + int(estimator.fit_intercept)
    data = run_setup(
        X, y, weights, by_class=by_class, gram=not by_class and n_rows <= GRAM_MAX_ROWS
    )
    if not data.x_finite:
        raise ValueError(
            "Input X contains NaN or infinity (or values whose squares "
            "overflow float64)"
        )
    if not data.weights_finite:
        raise ValueError("sample_weight contains NaN or infinity")
    check_weight_low(data.weight_low)
    check_class_labels(data.classes)
    check_two_classes(data.classes)
    class_weight = class_weight_factors(
        estimator.class_weight, data.classes, data.class_counts
    )
    data.weigh(class_weight)
    check_weight_sum(data.total_weight())
    return X, data


def prepare_partial_fit(estimator, X, y, classes, sample_weight):
    """Refused: ``partial_fit`` draws mini-batches, which dask arrays cannot give
    without gathering rows."""
    raise TypeError(
        "partial_fit takes in-memory arrays; for dask arrays use fit (full-batch "
        "solvers), or call partial_fit on each computed chunk"
    )


def warn_if_separated(estimator, X, targets):
    """Nothing: the test needs every sample's logits at hand, which a dask fit
    keeps on the workers."""


def _predict_blocks(estimator, method, X, *, per_class):
    """``estimator.<method>`` applied to each row block of X, lazily."""
    check_is_fitted(estimator)
    X = _check_X(estimator, X, reset=False)
    func = getattr(estimator, method)
    # The dtype of X @ coef_.T, which the probabilities keep.
    dtype = np.result_type(X.dtype, estimator.coef_.dtype)
    if per_class:
        n_outputs = len(estimator.classes_)
        return X.map_blocks(func, chunks=(X.chunks[0], (n_outputs,)), dtype=dtype)
    if method == "predict":
        dtype = estimator.classes_.dtype
    return X.map_blocks(func, drop_axis=1, dtype=dtype)


def decision_function(estimator, X):
    """Lazy decision values: ``(n_samples,)`` for two classes, else per class."""
    check_is_fitted(estimator)  # before coef_ is read
    binary = estimator.coef_.shape[0] == 1
    return _predict_blocks(estimator, "decision_function", X, per_class=not binary)


def predict(estimator, X):
    """Lazy predicted labels, one per row."""
    return _predict_blocks(estimator, "predict", X, per_class=False)


def predict_proba(estimator, X):
    """Lazy class probabilities, ``(n_samples, n_classes)``."""
    return _predict_blocks(estimator, "predict_proba", X, per_class=True)


def predict_log_proba(estimator, X):
    """Lazy log-probabilities, ``(n_samples, n_classes)``."""
    return _predict_blocks(estimator, "predict_log_proba", X, per_class=True)
