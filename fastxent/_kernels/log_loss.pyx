# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""One pass over predicted probabilities, for ``fastxent.metrics.log_loss``.

scikit-learn's ``log_loss`` reads its probability matrix several times: a
range check, the row sums behind its "do not sum to one" warning, and the
clipped log of every entry. Here one pass per row does the range test,
the row sum, and picks the probability of the row's class, clipped to
``[eps, 1 - eps]`` in the input's dtype as scikit-learn clips it. The caller
takes the log of the picked values with numpy, so each loss is bitwise
scikit-learn's.

Row sums are accumulated in double: they only feed the warning's test, whose
caller allows for the rounding of scikit-learn's own (dtype) sums.
"""
from cython cimport floating
from libc.math cimport INFINITY


def scan_rows(
    const floating[:, ::1] proba,
    const Py_ssize_t[::1] codes,
    floating[::1] picked,
):
    """Range test, row-sum extremes and clipped picks of a probability matrix.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes), float32 or float64
    codes : ndarray of intp of shape (n_samples,)
        The column of each row's class, in ``[0, n_classes)``.
    picked : ndarray of shape (n_samples,), dtype of ``proba``
        Output: ``clip(proba[i, codes[i]], eps, 1 - eps)``.

    Returns
    -------
    in_range : bool
        Every entry lies in [0, 1] (so none is NaN or infinite). When False,
        ``picked`` and the sums are meaningless.
    low, high : float
        The smallest and largest row sum.
    """
    cdef Py_ssize_t n_samples = proba.shape[0], n_classes = proba.shape[1]
    cdef Py_ssize_t i, k
    cdef floating eps = 2.220446049250313e-16 if floating is double else 1.1920929e-07
    cdef floating top = 1 - eps
    cdef floating value
    cdef double total, low = INFINITY, high = -INFINITY
    cdef bint in_range = True, codes_ok = True
    with nogil:
        for i in range(n_samples):
            total = 0.0
            for k in range(n_classes):
                value = proba[i, k]
                # False for NaN too: every comparison with it is false.
                in_range &= (value >= 0) & (value <= 1)
                total += value
            low = min(low, total)
            high = max(high, total)
            k = codes[i]
            if k < 0 or k >= n_classes:
                # Never read outside the row, whatever the caller passed.
                codes_ok = False
                break
            value = proba[i, k]
            picked[i] = eps if value < eps else (top if value > top else value)
    return bool(in_range), low, high, bool(codes_ok)


def scan_positive_column(
    const floating[::1] proba,
    const Py_ssize_t[::1] codes,
    floating[::1] picked,
):
    """:func:`scan_rows` for a vector of positive-class probabilities ``p``.

    scikit-learn expands it to the columns ``[1 - p, p]``, rounded in the
    dtype of ``p``; the row sums are those of the two columns.

    Parameters
    ----------
    proba : ndarray of shape (n_samples,), float32 or float64
    codes : ndarray of intp of shape (n_samples,)
        1 for the positive class, 0 for the negative (checked, as in
        :func:`scan_rows`).
    picked : ndarray of shape (n_samples,), dtype of ``proba``

    Returns
    -------
    in_range, low, high, codes_ok : as :func:`scan_rows`.
    """
    cdef Py_ssize_t n_samples = proba.shape[0], i
    cdef floating eps = 2.220446049250313e-16 if floating is double else 1.1920929e-07
    cdef floating top = 1 - eps
    cdef floating value, negative, total
    cdef double low = INFINITY, high = -INFINITY
    cdef bint in_range = True, codes_ok = True
    with nogil:
        for i in range(n_samples):
            value = proba[i]
            in_range &= (value >= 0) & (value <= 1)
            negative = 1 - value
            total = negative + value
            low = min(low, total)
            high = max(high, total)
            if codes[i] != 1:
                if codes[i] != 0:
                    codes_ok = False
                    break
                value = negative
            picked[i] = eps if value < eps else (top if value > top else value)
    return bool(in_range), low, high, bool(codes_ok)
