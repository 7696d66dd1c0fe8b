"""A fit's encoded targets: its classes, each sample's code and row weight.

Both estimator backends (in memory, ``_in_memory.py``; dask,
``fastxent/dask/_estimator.py``) encode the labels and weights of a fit, and
apply the same rules, each written here once with its message: the labels
are classes, at least two of them; sample weights are one non-negative
number per sample; class weights (a dict, or "balanced" from the weighted
class counts) multiply them; and the products do not sum to zero.

The estimator reads the result through the ``FitTargets`` interface
(``_backend.py``); :class:`EncodedTargets` is the in-memory one.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_array, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets


def check_class_labels(y):
    """scikit-learn's check that ``y`` holds classes, not continuous values.

    ``y`` is 1-D; integer and bool labels are classes whatever their values,
    so only other dtypes need ``check_classification_targets``, whose scan
    costs a tiny fit more than its solver.
    """
    if y.dtype.kind not in "biu":
        check_classification_targets(y)


def check_two_classes(classes):
    """Raise ``ValueError`` unless the data hold at least two classes."""
    if len(classes) < 2:
        raise ValueError(
            "LogisticRegression needs samples of at least 2 classes in the "
            f"data, but the data contains only one class: {classes[0]!r}"
        )


def check_weight_shape(shape, n_samples):
    """Raise ``ValueError`` unless sample weights have shape ``(n_samples,)``."""
    if tuple(shape) != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {tuple(shape)}, expected ({n_samples},)"
        )


def check_weight_low(low):
    """Raise ``ValueError`` when the smallest sample weight ``low`` is negative."""
    if low < 0:
        raise ValueError("Negative values in data passed to sample_weight")


def check_sample_weight(sample_weight, n_samples):
    """Sample weights as a fresh float64 vector: ones for None, checked otherwise."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        weight = np.full(n_samples, float(sample_weight))
    else:
        weight = check_array(
            sample_weight,
            ensure_2d=False,
            dtype=np.float64,
            copy=True,
            input_name="sample_weight",
        )
        check_weight_shape(weight.shape, n_samples)
    check_weight_low(weight.min())
    return weight


def class_weight_factors(class_weight, classes, weighted_counts):
    """The factor of each class's sample weights, or None without class weights.

    "balanced" is ``sum(s) / (n_classes * sum_{i in class} s_i)`` from the
    sample-weighted class counts (scikit-learn 1.6+'s rule), computed here
    so it does not depend on ``compute_class_weight``'s signature; a dict
    goes through ``compute_class_weight``.

    Parameters
    ----------
    class_weight : dict, "balanced" or None
    classes : ndarray of shape (n_classes,)
    weighted_counts : ndarray of shape (n_classes,)
        Sum of the sample weights of each class.

    Returns
    -------
    ndarray of shape (n_classes,) or None
    """
    if class_weight is None:
        return None
    if class_weight == "balanced":
        with np.errstate(divide="ignore"):
            return weighted_counts.sum() / (len(classes) * weighted_counts)
    # Every label of the data is in classes, so classes stand for y.
    return compute_class_weight(class_weight, classes=classes, y=classes)


def check_weight_sum(total):
    """Raise ``ValueError`` unless the row weights' sum ``total`` is positive."""
    if not total > 0:
        raise ValueError(
            "Sample weights must contain at least one non-zero number "
            "(after multiplying by class_weight)"
        )


class EncodedTargets:
    """The encoded targets of an in-memory fit, as arrays.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The sorted classes.
    codes : ndarray of intp of shape (n_samples,)
        Each sample's class, as an index into ``classes``.
    weights : ndarray of float64 of shape (n_samples,)
        Sample weights times class weights.
    """

    def __init__(self, classes, codes, weights):
        self.classes = classes
        self.codes = codes
        self.weights = weights

    @classmethod
    def weighted(cls, classes, codes, sample_weight, class_weight):
        """The targets with each sample's weight times its class's weight,
        checked to sum to a positive number."""
        if class_weight is not None:
            counts = np.bincount(codes, weights=sample_weight, minlength=len(classes))
            factors = class_weight_factors(class_weight, classes, counts)
            sample_weight = sample_weight * factors[codes]
        check_weight_sum(sample_weight.sum())
        return cls(classes, codes, sample_weight)

    def total_weight(self):
        """Sum of the row weights."""
        return float(self.weights.sum())

    def binary_targets(self):
        """The binomial datafit's targets: 1.0 for ``classes[1]``, else 0.0."""
        return (self.codes == 1).astype(np.float64)

    def class_codes(self):
        """The multinomial datafit's targets: the class codes, as intp."""
        return self.codes.astype(np.intp)

    def row_weights(self):
        """The design's and the datafits' row weights."""
        return self.weights
