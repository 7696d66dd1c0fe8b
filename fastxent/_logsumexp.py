"""The log-sum-exp family: ``logsumexp``, ``softmax``, ``log_softmax``.

Drop-ins for ``scipy.special``'s: the same signatures and defaults
(``axis=None`` reduces the whole array; an int or a tuple of ints picks
axes), the same values (NaN and ``+inf`` propagate as there), numpy scalars
for results of no dimension, and ``b=`` and ``return_sign=`` as in scipy.

How each call is computed:

- The reduced axes are moved last and flattened, so the input becomes
  ``(n_rows, n)`` rows (a view when they are already last and contiguous),
  and each row is reduced in one pass by the kernels of
  ``_kernels/logsumexp.pyx``.
- ``logsumexp`` with weights ``b`` is computed in numpy, in float64, by
  :func:`_weighted_rows`, then rounded once to the result's dtype.

Differences from ``scipy.special`` that remain (also in the docstrings):
complex input raises ``TypeError``; float16 and longdouble are computed and
returned as float64; ``softmax`` and ``log_softmax`` of an empty array
return an empty array where scipy raises; the sign of an empty sum is 0
where scipy gives -1; an entry with ``b == 0`` is ignored even when no other
entry is finite (scipy then gives NaN); no floating-point warnings are
emitted.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np

from fastxent import _kernels
from fastxent._dispatch import dispatch_arrays
from fastxent._typing import ArrayLike, Axes, FloatResult
from fastxent._validation import (
    as_array,
    as_real_array,
    broadcast_shape,
    check_axes,
    check_n_threads,
    check_out,
    real_dtype,
    rows_last,
)


def _at_least_1d(a: np.ndarray, axis) -> tuple[np.ndarray, tuple[int, ...]]:
    """``a`` with a 0-d input as one element, and ``axis`` normalised.

    scipy's ``logsumexp`` also treats a 0-d input as shape ``(1,)``, so
    ``axis=0`` is valid there and ``keepdims`` gives shape ``(1,)``.
    """
    a = a.reshape(1) if a.ndim == 0 else a
    return a, check_axes(axis, a.ndim, "a")


def _reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """``shape`` without ``axes``, or with length 1 there if ``keepdims``."""
    if keepdims:
        return tuple(1 if i in axes else size for i, size in enumerate(shape))
    return tuple(size for i, size in enumerate(shape) if i not in axes)


def _as_result(values: np.ndarray, shape: tuple, dtype: np.dtype):
    """``values`` in ``shape`` and ``dtype``; a 0-d result as a numpy scalar."""
    result = values.astype(dtype, copy=False).reshape(shape)
    return result[()] if result.ndim == 0 else result


def weighted_dtype(a_dtype: np.dtype, b_dtype: np.dtype, b) -> np.dtype:
    """The dtype of ``logsumexp(a, b=b)``: float32 or float64.

    numpy's promotion of ``a`` and ``b``, as in scipy, so a float32 ``a``
    stays float32 with float32, bool or small integer weights, and a Python
    number ``b`` (a weak scalar in numpy) does not widen it; then the rule
    of :func:`real_dtype`. Raises ``TypeError`` for complex or non-numeric
    dtypes of either argument.
    """
    real_dtype(a_dtype, "a")
    real_dtype(b_dtype, "b")
    weak = type(b) in (bool, int, float)
    return real_dtype(np.result_type(a_dtype, b if weak else b_dtype), "b")


def _sign_of(lse: np.ndarray) -> np.ndarray:
    """The sign of ``sum(exp(a))`` from its log: 0 for -inf, NaN for NaN."""
    return np.where(np.isnan(lse), np.nan, (lse > -np.inf).astype(np.float64))


def _weighted_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log|sum_j b_j exp(a_j)|`` and the sign of the sum, row by row.

    Parameters
    ----------
    a, b : ndarray of shape (n_rows, n), float64

    Returns
    -------
    lse, sign : ndarray of shape (n_rows,), float64

    Notes
    -----
    With ``m`` the row's maximum over entries with ``b_j != 0`` (entries
    with ``b_j == 0`` add nothing, even where ``a_j`` is inf or NaN), the
    terms are ``t_j = b_j exp(a_j - m)``; the largest ``|t_p|``
    is factored out::

        lse = m + log|t_p| + log1p(r),    r = sum_{j != p} t_j / t_p.

    ``|r| <= n - 1`` keeps every step finite, and for unit weights ``t_p``
    is 1 and this is the kernels' ``m + log1p(s)``. scipy factors out the
    terms at ``m`` instead, which cancels when their weights are small and
    overflows (its ratio ``r``) when they are tiny beside the other terms.
    """
    n_rows, n = a.shape
    if n == 0:  # an empty sum is 0
        return np.full(n_rows, -np.inf), np.zeros(n_rows)
    # inf and NaN entries make NaN here silently; those rows are redone.
    with np.errstate(all="ignore"):
        masked = np.where(b == 0, -np.inf, a)
        shift = masked.max(axis=1, keepdims=True)
        terms = b * np.exp(masked - shift)
        top = np.abs(terms).argmax(axis=1)[:, None]
        pivot = np.take_along_axis(terms, top, axis=1)[:, 0]
        np.put_along_axis(terms, top, 0.0, axis=1)
        r = terms.sum(axis=1) / pivot
        sign = np.sign(pivot) * np.sign(1.0 + r)
        # |1 + r| = 1 + (-r - 2) for r < -1: log1p keeps a small sum's digits.
        tail = np.log1p(np.where(r < -1.0, -r - 2.0, r))
        lse = shift[:, 0] + (np.log(np.abs(pivot)) + tail)
        _sum_where_not_finite(lse, sign, masked, b)
    return lse, sign


def _sum_where_not_finite(lse, sign, masked, b) -> None:
    """Redo, from the plain sum, the rows whose factored ``lse`` is NaN or +inf.

    An infinite shift or weight, or a NaN, leaves no finite scale; the sum
    itself then gives scipy's value (an exact -inf from cancelling terms is
    kept). Unlike scipy's, that sum skips the entries with b == 0 too
    (``masked`` is -inf there): ``logsumexp([inf], b=[0])`` is -inf, not NaN.
    """
    redo = np.isnan(lse) | (lse == np.inf)
    if redo.any():
        total = (b[redo] * np.exp(masked[redo])).sum(axis=1)
        lse[redo] = np.log(np.abs(total))
        sign[redo] = np.sign(total)


def _weighted_logsumexp(a, b, axis, keepdims):
    """``logsumexp`` with weights: (lse, sign, shape, dtype) of the result."""
    a, b_array = as_array(a, "a"), as_array(b, "b")
    dtype = weighted_dtype(a.dtype, b_array.dtype, b)
    shape = broadcast_shape(a.shape, b_array.shape, "a", "b")
    a, axes = _at_least_1d(np.broadcast_to(a, shape), axis)
    b_array = np.broadcast_to(b_array, a.shape)
    lse, sign = _weighted_rows(
        rows_last(a, axes).astype(np.float64, copy=False),
        rows_last(b_array, axes).astype(np.float64, copy=False),
    )
    return lse, sign, _reduced_shape(a.shape, axes, keepdims), dtype


def _plain_logsumexp(a, axis, keepdims, n_threads):
    """``logsumexp`` by the kernel: (lse, shape, dtype) of the result."""
    a, axes = _at_least_1d(as_real_array(a, "a"), axis)
    rows = rows_last(a, axes)
    lse = np.empty(rows.shape[0])
    _kernels.logsumexp.logsumexp_rows(rows, lse, n_threads)
    return lse, _reduced_shape(a.shape, axes, keepdims), a.dtype


# One result, or with return_sign=True a pair: an overload for each, and one
# for a return_sign only known to be a bool.
@overload
def logsumexp(
    a: ArrayLike,
    axis: Axes = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: Literal[False] = False,
    *,
    n_threads: int | None = None,
) -> FloatResult: ...


@overload
def logsumexp(
    a: ArrayLike,
    axis: Axes = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    *,
    return_sign: Literal[True],
    n_threads: int | None = None,
) -> tuple[FloatResult, FloatResult]: ...


@overload
def logsumexp(
    a: ArrayLike,
    axis: Axes = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    *,
    return_sign: bool,
    n_threads: int | None = None,
) -> FloatResult | tuple[FloatResult, FloatResult]: ...


@dispatch_arrays("a", "b")
def logsumexp(
    a: ArrayLike,
    axis: Axes = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: bool = False,
    *,
    n_threads: int | None = None,
) -> FloatResult | tuple[FloatResult, FloatResult]:
    """``log(sum(b * exp(a)))`` over ``axis``, computed without overflow.

    Parameters
    ----------
    a : array-like of any shape
        Input values (float32 stays float32).
    axis : int, tuple of ints or None, default=None
        Axes to reduce; None reduces every element, as in scipy.
    b : array-like broadcasting against ``a``, optional
        Weights of ``exp(a)``; may be negative (then see ``return_sign``).
        Entries with ``b == 0`` contribute nothing, even where ``a`` is
        inf or NaN.
    keepdims : bool, default=False
        Keep the reduced axes with length 1.
    return_sign : bool, default=False
        Also return the sign of the sum; without it a negative sum gives
        NaN.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core. Weighted
        sums (``b`` given) are computed in numpy and do not use it.

    Returns
    -------
    lse : ndarray or numpy scalar
        Of the (broadcast) shape of ``a`` without ``axis``, or with length 1
        there if ``keepdims``; a numpy scalar when no axis is left. float32
        when ``a`` is float32 (and ``b``, if given, does not widen it under
        numpy's promotion), else float64. With ``return_sign``, the log of
        the absolute value of the sum.
    sign : ndarray or numpy scalar
        Only with ``return_sign``: +1, 0 or -1 (NaN for NaN), of the shape
        and dtype of ``lse``.

    Notes
    -----
    Unlike ``scipy.special.logsumexp``: complex input raises
    ``TypeError``; float16 and longdouble give float64; the sign of an empty
    sum is 0 (scipy: -1); ``logsumexp([inf], b=[0])`` is -inf (scipy: NaN);
    no floating-point warnings are emitted. Weighted sums are computed in
    float64 with their largest term ``|b_j exp(a_j)|`` factored out, so they
    stay finite and accurate where scipy's overflow or cancel; other values
    agree with scipy's to rounding.
    """
    n_threads = check_n_threads(n_threads)
    if b is None:
        lse, shape, dtype = _plain_logsumexp(a, axis, keepdims, n_threads)
        sign = _sign_of(lse) if return_sign else None
    else:
        lse, sign, shape, dtype = _weighted_logsumexp(a, b, axis, keepdims)
        if not return_sign:
            lse[sign < 0] = np.nan  # the log of a negative sum, as scipy
    if not return_sign:
        return _as_result(lse, shape, dtype)
    return _as_result(lse, shape, dtype), _as_result(sign, shape, dtype)


def _normalise(kernel, x, axis, out, n_threads):
    """Apply a row kernel that maps each row to a row of the same length."""
    n_threads = check_n_threads(n_threads)
    x = as_real_array(x, "x")
    if out is not None:
        check_out(out, x.shape, x.dtype)
    result = out if out is not None else np.empty(x.shape, x.dtype)
    # A 0-d input is one row of one element; its result keeps shape ().
    work = x.reshape(1) if x.ndim == 0 else x
    axes = check_axes(axis, work.ndim, "x")
    rows = rows_last(work, axes)
    last = tuple(range(work.ndim - len(axes), work.ndim))
    if axes == last:  # the rows are the result's own rows
        kernel(rows, result.reshape(rows.shape), n_threads)
    else:
        moved = np.empty(rows.shape, x.dtype)
        kernel(rows, moved, n_threads)
        moved_shape = np.moveaxis(work, axes, last).shape
        result.reshape(work.shape)[...] = np.moveaxis(
            moved.reshape(moved_shape), last, axes
        )
    return result[()] if out is None and result.ndim == 0 else result


@dispatch_arrays("x")
def softmax(
    x: ArrayLike,
    axis: Axes = None,
    *,
    out: np.ndarray | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """``exp(x) / sum(exp(x))`` over ``axis``.

    Parameters
    ----------
    x : array-like of any shape
        Input values (float32 stays float32).
    axis : int, tuple of ints or None, default=None
        Axes over which the result sums to 1; None normalises every
        element, as in scipy.
    out : ndarray of ``x``'s shape and dtype, optional
        C-contiguous, writable array that receives the result.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray or numpy scalar
        Of ``x``'s shape and dtype (``out`` itself if given); a numpy
        scalar for a 0-d ``x``, as scipy.

    Notes
    -----
    Unlike ``scipy.special.softmax``: complex input raises ``TypeError``,
    float16 and longdouble give float64, and an empty ``x`` gives an empty
    result where scipy raises ``ValueError``.
    """
    return _normalise(_kernels.logsumexp.softmax_rows, x, axis, out, n_threads)


@dispatch_arrays("x")
def log_softmax(
    x: ArrayLike,
    axis: Axes = None,
    *,
    out: np.ndarray | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """``x - logsumexp(x)`` over ``axis``, accurate for the top entry too.

    Parameters
    ----------
    x : array-like of any shape
        Input values (float32 stays float32).
    axis : int, tuple of ints or None, default=None
        Axes along which to normalise; None normalises every element, as in
        scipy.
    out : ndarray of ``x``'s shape and dtype, optional
        C-contiguous, writable array that receives the result.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray or numpy scalar
        Of ``x``'s shape and dtype (``out`` itself if given); a numpy
        scalar for a 0-d ``x``, as scipy.

    Notes
    -----
    Unlike ``scipy.special.log_softmax``: complex input raises
    ``TypeError``, float16 and longdouble give float64, and an empty ``x``
    gives an empty result where scipy raises ``ValueError``.
    """
    return _normalise(_kernels.logsumexp.log_softmax_rows, x, axis, out, n_threads)
