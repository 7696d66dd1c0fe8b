"""Labels of any type as codes into their sorted distinct values.

One rule for every caller that encodes labels (the estimator's fit, in
memory and per dask chunk, and ``log_loss``): integer and bool labels whose
values span few enough integers go through a counting table, one pass over
the labels plus one over the table; any other labels through
``np.unique``'s sort. Both give the same classes and codes.
"""

from __future__ import annotations

import numpy as np

# A counting table is used while it is no longer than this, or than the
# labels themselves: its length then bounds its cost by the pass over the
# labels, and a sort costs more than both.
TABLE_MIN_LENGTH = 1 << 16


def fits_table(span: int, n_labels: int) -> bool:
    """Whether labels spanning ``span`` integer values are coded by a table."""
    return span <= max(TABLE_MIN_LENGTH, n_labels)


def label_offsets(y: np.ndarray, low: int, high: int) -> np.ndarray | None:
    """``y - low`` as intp, for integer ``y`` with values in ``[low, high]``; or None.

    Taken in intp, not in y's dtype, where it could wrap (int8 labels from
    -100 to 100 span 201 values). None when the values do not fit intp
    (uint64 past 2**63); the caller then takes the sorting path.
    """
    if y.dtype == np.intp and low == 0:
        return y
    if high > np.iinfo(np.intp).max:
        return None
    return y.astype(np.intp) - np.intp(low)


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels of ``y`` and the code of each label into them.

    Parameters
    ----------
    y : ndarray of shape (n_labels,)
        Labels of any dtype ``np.unique`` sorts.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The distinct labels, sorted, in the dtype of ``y``.
    codes : ndarray of intp of shape (n_labels,)
        ``classes[codes]`` equals ``y``; may be ``y`` itself when ``y`` is
        already such codes.
    """
    values = y.view(np.uint8) if y.dtype.kind == "b" else y
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        span = high - low + 1
        offsets = None
        if fits_table(span, values.size):
            offsets = label_offsets(values, low, high)
        if offsets is not None:
            present = np.bincount(offsets, minlength=span) > 0
            classes = (np.flatnonzero(present) + low).astype(y.dtype)
            if classes.size == span:
                return classes, offsets
            return classes, (np.cumsum(present, dtype=np.intp) - 1)[offsets]
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.reshape(-1).astype(np.intp, copy=False)
