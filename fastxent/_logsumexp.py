"""The log-sum-exp family: ``logsumexp``, ``softmax``, ``log_softmax``.

Same values as ``scipy.special`` (NaN and ``+inf`` propagate as there), each
row reduced in one pass by the kernels in ``_kernels/_logsumexp.pyx``.
"""

from __future__ import annotations

import numpy as np

from fastxent._dispatch import dispatch_arrays
from fastxent._kernels import _logsumexp
from fastxent._validation import (
    as_real_array,
    check_axis,
    check_n_threads,
    check_out,
    rows_last,
)


def _rows(a, axis):
    """(array, normalised axis or None, C-contiguous (n_rows, n) view)."""
    a = as_real_array(a, "a")
    if axis is None:
        return a, None, np.ascontiguousarray(a).reshape(1, -1)
    if a.ndim == 0:
        a = a.reshape(1)
    axis = check_axis(axis, a.ndim, "a")
    return a, axis, rows_last(a, axis)


@dispatch_arrays("a")
def logsumexp(a, axis: int | None = -1, *, keepdims: bool = False, n_threads=None):
    """``log(sum(exp(a)))`` along ``axis``, computed without overflow.

    Parameters
    ----------
    a : array-like
        Input values (float32 stays float32).
    axis : int or None, default=-1
        Axis to reduce; None reduces over all elements.
    keepdims : bool, default=False
        Keep the reduced axis with length 1.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray or scalar
        ``a``'s shape without ``axis`` (or with length 1 there if
        ``keepdims``), in ``a``'s dtype.
    """
    n_threads = check_n_threads(n_threads)
    a, axis, rows = _rows(a, axis)
    out = np.empty(rows.shape[0])
    _logsumexp.logsumexp_rows(rows, out, n_threads)
    out = out.astype(a.dtype, copy=False)
    if axis is None:
        shape = (1,) * a.ndim if keepdims else ()
    else:
        shape = list(a.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
    result = out.reshape(shape)
    return result[()] if result.ndim == 0 else result


def _elementwise(kernel, a, axis, out, n_threads):
    """Apply a row kernel that maps each row to a row of the same length."""
    n_threads = check_n_threads(n_threads)
    shape = as_real_array(a, "a").shape  # kept by the result, 0-d included
    a, axis, rows = _rows(a, axis)
    if out is not None:
        check_out(out, shape, a.dtype)
    result = out if out is not None else np.empty(shape, a.dtype)
    if axis is None or axis == a.ndim - 1:
        kernel(rows, result.reshape(rows.shape), n_threads)
    else:
        moved = np.empty(rows.shape, a.dtype)
        kernel(rows, moved, n_threads)
        result[...] = np.moveaxis(
            moved.reshape(np.moveaxis(a, axis, -1).shape), -1, axis
        )
    return result


@dispatch_arrays("a")
def softmax(a, axis: int | None = -1, *, out=None, n_threads=None):
    """``exp(a) / sum(exp(a))`` along ``axis``.

    Parameters
    ----------
    a : array-like
        Input values (float32 stays float32).
    axis : int or None, default=-1
        Axis along which the result sums to 1; None normalises all elements.
    out : ndarray, optional
        C-contiguous, writable array of ``a``'s shape and dtype for the result.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray of ``a``'s shape and dtype
    """
    return _elementwise(_logsumexp.softmax_rows, a, axis, out, n_threads)


@dispatch_arrays("a")
def log_softmax(a, axis: int | None = -1, *, out=None, n_threads=None):
    """``a - logsumexp(a)`` along ``axis``, accurate for the top class too.

    Parameters
    ----------
    a : array-like
        Input values (float32 stays float32).
    axis : int or None, default=-1
        Axis along which to normalise; None normalises all elements.
    out : ndarray, optional
        C-contiguous, writable array of ``a``'s shape and dtype for the result.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray of ``a``'s shape and dtype
    """
    return _elementwise(_logsumexp.log_softmax_rows, a, axis, out, n_threads)
