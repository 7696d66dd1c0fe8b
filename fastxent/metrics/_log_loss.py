"""``log_loss``: scikit-learn's metric without its one-hot matrix.

``sklearn.metrics.log_loss`` one-hot encodes ``y_true`` into an
(n_samples, n_classes) matrix, clips every probability and takes the log of
every entry, though each row uses one of them. Here each row's class becomes
one integer code, and only the n_samples probabilities the codes select are
clipped and logged: the per-row losses are bitwise scikit-learn's, so the
mean is too.

Every check runs in scikit-learn's order, with scikit-learn's own helpers
where they carry the rule (parameter validation, ``check_array``,
``LabelBinarizer``), so the same bad input raises the same exception and the
same warnings are emitted. The reference is the installed scikit-learn
(written against 1.9.1).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import assert_all_finite, check_array, check_consistent_length

# Private helpers of scikit-learn, used because they define the behaviour a
# drop-in must reproduce: the InvalidParameterError of a bad argument, and
# the sample_weight checks of log_loss.
from sklearn.utils._param_validation import Hidden, validate_params
from sklearn.utils.validation import _check_sample_weight

from fastxent import _kernels
from fastxent._label_codes import encode_labels, fits_table, label_offsets
from fastxent._typing import ArrayLike

# The dtypes check_array keeps for y_pred (numpy's real floating types in
# scikit-learn's order); anything else becomes float64.
_FLOAT_DTYPES = (np.float64, np.float32, np.float16)

# Rows per block where rows may hold several classes (multilabel y_true):
# the block's dense indicator is the only (block x n_classes) temporary.
_BLOCK_ROWS = 4096


@validate_params(
    {
        "y_true": ["array-like"],
        # None passes, as in scikit-learn (check_array then rejects it).
        "y_pred": ["array-like", Hidden(None)],
        "normalize": ["boolean"],
        "sample_weight": ["array-like", None],
        "labels": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def log_loss(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
) -> float:
    """Log loss (cross-entropy) of predicted probabilities, as scikit-learn's.

    A drop-in for ``sklearn.metrics.log_loss``: the same value, the same
    clipping of probabilities to ``[eps, 1 - eps]`` (``eps`` of their dtype),
    the same warnings and exceptions, without building the one-hot matrix of
    ``y_true`` or any other (n_samples, n_classes) temporary.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,), or label indicator matrix of \
shape (n_samples, n_classes)
        True labels, of any type ``LabelBinarizer`` accepts.
    y_pred : array-like of float of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, columns in the sorted order of the classes;
        a vector holds the probability of the positive (second) class.
    normalize : bool, default=True
        Return the (weighted) mean loss per sample; otherwise the sum.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    labels : array-like of shape (n_classes,), default=None
        All the classes; by default those found in ``y_true``.

    Returns
    -------
    loss : float
        In nats.

    Raises
    ------
    ValueError
        For probabilities outside [0, 1] or not finite, mismatched lengths,
        a single class without ``labels``, labels of ``y_true`` missing from
        ``labels``, or a class count that differs from ``y_pred``'s columns.
    """
    y_pred = _as_probabilities(y_pred)
    binary_column = y_pred.ndim == 1 or y_pred.shape[1] == 1
    n_columns = 2 if binary_column else y_pred.shape[1]

    # scikit-learn checks the range of y_pred first; here the range test
    # shares the pass that picks each row's probability, which needs the
    # labels, so their checks run first and surface after the range's.
    codes, indicator, classes, label_error, held = _held_label_checks(
        y_true, y_pred, sample_weight, labels
    )
    scan = None
    if codes is not None and classes.shape[0] == n_columns:
        scan = _scan(y_pred, codes, binary_column)
    if scan is None or not scan[0]:
        _check_probability_range(y_pred)
    for caught in held:
        warnings.warn_explicit(
            caught.message, caught.category, caught.filename, caught.lineno
        )
    if label_error is not None:
        raise label_error

    if binary_column:
        y_pred = y_pred.reshape(-1)
    if scan is None:
        losses = _losses_without_scan(
            y_pred, codes, indicator, classes, labels, binary_column, n_columns
        )
    else:
        _, low, high, picked = scan
        _warn_unless_sums_near_one(y_pred, binary_column, low, high)
        np.log(picked, out=picked)
        losses = np.negative(picked, out=picked)
    return _average(losses, sample_weight, normalize)


def _average(losses, sample_weight, normalize) -> float:
    """scikit-learn's ``_average`` on numpy arrays, call for call, so that the
    reduction order (numpy's pairwise sum, or BLAS dot) is the same."""
    if normalize:
        return float(np.average(losses, weights=sample_weight))
    if sample_weight is not None:
        return float(np.dot(losses, sample_weight))
    return float(np.sum(losses))


def _held_label_checks(y_true, y_pred, sample_weight, labels):
    """``(codes, indicator, classes, error, warnings)`` of the label and
    weight checks, their error and warnings caught for the caller to raise
    and re-issue after the range check (codes None after an error)."""
    codes = indicator = classes = label_error = None
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always")
        try:
            check_consistent_length(y_pred, y_true, sample_weight)
            if sample_weight is not None:
                _check_sample_weight(sample_weight, y_pred, force_float_dtype=False)
            codes, indicator, classes = _encode_labels(y_true, labels)
        except Exception as err:  # re-raised by the caller, after the range check
            label_error = err
            codes = None
    return codes, indicator, classes, label_error, held


def _as_probabilities(y_pred) -> np.ndarray:
    """``y_pred`` checked as scikit-learn's ``check_array`` does, but for
    finiteness, which the range check tests in the pass that picks each
    row's probability."""
    try:
        return check_array(
            y_pred, ensure_2d=False, dtype=_FLOAT_DTYPES, ensure_all_finite=False
        )
    except TypeError:
        # A 0-d y_pred: scikit-learn's check_array tests finiteness before
        # the dimension, so its call decides which exception is raised.
        check_array(y_pred, ensure_2d=False, dtype=_FLOAT_DTYPES)
        raise


def _losses_without_scan(
    y_pred, codes, indicator, classes, labels, binary_column, n_columns
):  # fmt: skip
    """Row losses where the one-pass scan did not apply (an indicator
    ``y_true``, or a class count to report as scikit-learn does)."""
    low, high = _row_sum_extremes(y_pred, binary_column)
    _warn_unless_sums_near_one(y_pred, binary_column, low, high)
    _check_class_count(classes, n_columns, labels)
    if codes is not None:
        return _gathered_losses(y_pred, codes, binary_column)
    return _indicator_losses(y_pred, indicator, binary_column)


def _check_probability_range(y_pred: np.ndarray) -> None:
    """Raise as scikit-learn does for non-finite values or values outside [0, 1].

    One pass in the common case: read as unsigned integers of the same width,
    the floats in [+0, 1] are exactly the bit patterns up to that of 1.0
    (negative values carry the sign bit, NaN and inf have larger exponents).
    Only when that fails are the three checks run one by one, in
    scikit-learn's order and with its messages.
    """
    unsigned = y_pred.dtype.str.replace("f", "u")  # same width and byte order
    one_bits = np.array(1, dtype=y_pred.dtype).view(unsigned)
    if y_pred.view(unsigned).max() <= one_bits:
        return
    assert_all_finite(y_pred)
    if y_pred.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {y_pred.max()}")
    if y_pred.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {y_pred.min()}")


def _encode_labels(y_true, labels):
    """Each row's class as scikit-learn's ``LabelBinarizer`` assigns it.

    Returns
    -------
    codes : ndarray of intp of shape (n_samples,), or None
        The index of each row's class in ``classes``; None when some row has
        no class or several (a multilabel ``y_true``).
    indicator : sparse matrix of shape (n_samples, n_classes), or None
        The binarized labels when ``codes`` is None.
    classes : ndarray of shape (n_classes,)
        The sorted classes.
    """
    coded = _integer_codes(y_true) if labels is None else _codes_in(y_true, labels)
    if coded is not None:
        return coded[0], None, coded[1]

    # The steps of scikit-learn's _one_hot_encoding_multiclass_target, with a
    # sparse binarizer: the same checks and warnings, one stored entry per
    # class present in a row instead of a dense row.
    binarizer = LabelBinarizer(sparse_output=True)
    if labels is not None:
        binarizer.fit(labels)
        if not np.all(binarizer.classes_ == labels):
            warnings.warn(
                f"Labels passed were {labels}. But this function "
                "assumes labels are ordered lexicographically. "
                f"Pass the ordered labels={binarizer.classes_.tolist()} and ensure "
                "that the columns of y_prob correspond to this ordering.",
                UserWarning,
                stacklevel=4,
            )
        if not np.all(np.isin(y_true, labels)):
            undeclared_labels = set(y_true) - set(labels)
            raise ValueError(
                f"y_true contains values {undeclared_labels} not belonging "
                f"to the passed labels {labels}."
            )
    else:
        binarizer.fit(y_true)
    classes = binarizer.classes_
    _check_several_classes(classes, labels)

    indicator = binarizer.transform(y_true).tocsr()
    if indicator.shape[1] == 1:
        # Binary: one column that holds the positive class (classes[1]).
        return np.diff(indicator.indptr).astype(np.intp), None, classes
    if np.all(np.diff(indicator.indptr) == 1) and np.all(indicator.data == 1):
        return indicator.indices.astype(np.intp), None, classes
    return None, indicator, classes


def _integer_codes(y_true):
    """Codes and classes of a 1-D integer array, by ``encode_labels``.

    For such labels scikit-learn's binarizer cannot fail or warn, and its
    classes are the sorted distinct values, which a count over the value
    range finds in one pass instead of sorting. Returns None for any other
    input (the binarizer then handles it).
    """
    y = _integer_vector(y_true)
    if y is None:
        return None
    classes, codes = encode_labels(y)
    _check_several_classes(classes, None)
    return codes, classes


def _codes_in(y_true, labels):
    """Codes of 1-D integer labels in sorted, distinct integer ``labels``.

    Where ``labels`` is already sorted and free of duplicates, scikit-learn's
    binarizer neither warns nor reorders, so each row's code is the position
    of its label in ``labels``. Returns None (the binarizer then decides,
    with scikit-learn's messages) for other inputs, a single class, or a
    label of ``y_true`` missing from ``labels``.
    """
    y = _integer_vector(y_true)
    if y is None:
        return None
    classes = np.asarray(labels)
    if (
        classes.ndim != 1
        or classes.dtype.kind not in "iu"
        or classes.size < 2
        or np.any(classes[1:] <= classes[:-1])
    ):
        return None
    low, high = int(classes[0]), int(classes[-1])
    if int(y.min()) < low or int(y.max()) > high:
        return None
    offsets = None
    if fits_table(high - low + 1, y.size):
        offsets = label_offsets(y, low, high)
    if offsets is not None:
        # A table from offset to code; -1 marks values that are no class.
        code_of_offset = np.full(high - low + 1, -1, dtype=np.intp)
        code_of_offset[[int(c) - low for c in classes]] = np.arange(classes.size)
        codes = code_of_offset[offsets]
        if codes.min() < 0:
            return None
    else:
        codes = np.searchsorted(classes, y)
        if np.any(classes[codes] != y):
            return None
    return codes, classes


def _integer_vector(y_true):
    """``y_true`` as a non-empty 1-D integer ndarray, or None if it is not one."""
    dtype = getattr(y_true, "dtype", None)
    if not (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return None
    y = np.asarray(y_true)
    return y if y.ndim == 1 and y.size else None


def _check_several_classes(classes: np.ndarray, labels) -> None:
    """scikit-learn's errors for a single class, with or without ``labels``."""
    if classes.shape[0] != 1:
        return
    if labels is None:
        raise ValueError(
            f"y_true contains only one label ({classes[0]}). Please "
            "provide the list of all expected class labels explicitly through the "
            "labels argument."
        )
    raise ValueError(
        f"The labels array needs to contain at least two labels, got {classes}."
    )


def _scan(y_pred, codes, binary_column):
    """The one-pass kernel's results, or None where it does not apply.

    Returns
    -------
    (in_range, low, high, picked) or None
        As ``_kernels.log_loss.scan_rows``, with ``picked`` each row's clipped
        probability of its class. None for float16 or non-contiguous
        ``y_pred``, which take the numpy path.
    """
    if y_pred.dtype not in (np.float32, np.float64) or not y_pred.flags.c_contiguous:
        return None
    picked = np.empty(codes.shape[0], dtype=y_pred.dtype)
    codes = np.ascontiguousarray(codes, dtype=np.intp)
    if binary_column:
        result = _kernels.log_loss.scan_positive_column(
            y_pred.reshape(-1), codes, picked
        )
    else:
        result = _kernels.log_loss.scan_rows(y_pred, codes, picked)
    in_range, low, high, codes_ok = result
    if not codes_ok:  # cannot happen with codes from _encode_labels
        return None
    return in_range, low, high, picked


def _row_sum_extremes(y_pred: np.ndarray, binary_column: bool):
    """The smallest and largest row sum, for :func:`_warn_unless_sums_near_one`.

    Row sums come from ``einsum``, faster than ``sum(axis=1)`` on short
    rows but adding in another order, which the warning's test allows for.
    """
    if binary_column:
        # scikit-learn's two columns are [1 - p, p]; a two-term sum has one order.
        row_sums = (1 - y_pred) + y_pred
    else:
        row_sums = np.einsum("ij->i", y_pred)
    return float(row_sums.min()), float(row_sums.max())


def _warn_unless_sums_near_one(y_pred, binary_column, low, high) -> None:
    """Warn as scikit-learn does, given the extremes of the rows' sums.

    Its test is ``all(isclose(row_sums, 1, rtol=sqrt(eps)))``, i.e. the
    largest deviation ``|row_sum - 1|`` against ``1e-8 + rtol``, on sums in
    the dtype of ``y_pred``. ``low`` and ``high`` may come from sums in
    another order or precision: only when the largest deviation lies within
    the rounding of both sums of the threshold are the rows summed and tested
    again exactly as scikit-learn does, so the decision is always its own.
    """
    eps = float(np.finfo(y_pred.dtype).eps)
    rtol = math.sqrt(eps)
    n_terms = 2 if binary_column else y_pred.shape[1]
    # Rounding is monotonic, so these are the extremes of |row_sum - 1|.
    deviation = max(high - 1.0, 1.0 - low)
    threshold = 1e-8 + rtol
    # Each sum of non-negative terms errs by at most (k - 1) eps row_sum.
    slack = 2 * n_terms * eps * (1 + deviation)
    if abs(deviation - threshold) <= slack:
        if binary_column:
            row_sums = (1 - y_pred) + y_pred
        else:
            row_sums = np.sum(y_pred, axis=1)
        one = np.asarray(1, dtype=y_pred.dtype)
        close = bool(np.all(np.isclose(row_sums, one, rtol=rtol)))
    else:
        close = deviation <= threshold
    if not close:
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=4,
        )


def _check_class_count(classes: np.ndarray, n_columns: int, labels) -> None:
    """scikit-learn's errors when the classes do not match y_pred's columns."""
    if classes.shape[0] == n_columns:
        return
    if labels is None:
        raise ValueError(
            "y_true and y_prob contain different number of "
            f"classes: {classes.shape[0]} vs {n_columns}. Please provide the true "
            "labels explicitly through the labels argument. "
            f"Classes found in y_true: {classes}"
        )
    raise ValueError(
        "The number of classes in labels is different "
        f"from that in y_prob. Classes found in labels: {classes}"
    )


def _gathered_losses(y_pred, codes, binary_column):
    """``-log(clip(p[i, codes[i]]))`` per row, in the dtype of ``y_pred``.

    The same operations as scikit-learn's on the one entry per row that its
    ``xlogy(one_hot, clipped)`` does not zero out, so each loss is bitwise its
    row sum.
    """
    if binary_column:
        # scikit-learn's first column is 1 - p, rounded in p's dtype.
        picked = np.where(codes == 1, y_pred, 1 - y_pred)
    elif y_pred.flags.c_contiguous:
        # A take from the flat view: a fifth faster than take_along_axis.
        n_classes = y_pred.shape[1]
        flat_index = np.arange(0, codes.size * n_classes, n_classes)
        flat_index += codes
        picked = np.take(y_pred.reshape(-1), flat_index)
    else:
        picked = np.take_along_axis(y_pred, codes[:, np.newaxis], axis=1)[:, 0]
    eps = np.finfo(y_pred.dtype).eps
    np.clip(picked, eps, 1 - eps, out=picked)
    np.log(picked, out=picked)
    return np.negative(picked, out=picked)


def _indicator_losses(y_pred, indicator, binary_column):
    """Row losses when rows may hold several classes, block by block.

    scikit-learn's expression ``-sum(xlogy(t, clip(p)), axis=1)`` on blocks of
    rows, so the sum over each row's classes adds in its order.
    """
    n_samples = indicator.shape[0]
    eps = np.finfo(y_pred.dtype).eps
    zero = np.asarray(0, dtype=y_pred.dtype)
    losses = np.empty(n_samples, dtype=y_pred.dtype)
    for start in range(0, n_samples, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n_samples)
        probs = y_pred[start:stop]
        if binary_column:
            probs = np.stack([1 - probs, probs], axis=1)
        targets = indicator[start:stop].toarray().astype(y_pred.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = targets * np.log(np.clip(probs, eps, 1 - eps))
        losses[start:stop] = -np.sum(np.where(targets == 0, zero, terms), axis=1)
    return losses
