"""Information measures of probability rows: ``entropy`` and ``kl_divergence``."""

from __future__ import annotations

import numpy as np

from fastxent import _kernels
from fastxent._dispatch import dispatch_arrays
from fastxent._typing import ArrayLike, FloatResult
from fastxent._validation import (
    as_real_array,
    check_axis,
    check_n_threads,
    check_nonnegative_finite,
    log_of_base,
    rows_last,
)


def _probabilities(p, name, axis):
    p = as_real_array(p, name)
    return p, probability_axis(p.ndim, axis, name)


def probability_axis(ndim: int, axis, name: str) -> int:
    """``axis`` normalised for probabilities of ``ndim`` dimensions."""
    if ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    return check_axis(axis, ndim, name)


def check_same_shape(p_shape: tuple, q_shape: tuple) -> None:
    """Raise unless ``q`` has the shape of ``p``: the divergence is elementwise."""
    if tuple(q_shape) != tuple(p_shape):
        raise ValueError(
            f"q must have the shape of p {tuple(p_shape)}, got {tuple(q_shape)}"
        )


def _check_rows(values, named_inputs):
    """Raise for the input whose entries made a kernel flag a row.

    The kernels test their inputs in their own pass and mark a row holding a
    negative, NaN or infinite entry with a NaN value, which no valid row
    gives; only then are the inputs scanned again, for the message.
    """
    if not np.isnan(values).any():
        return
    for name, x in named_inputs:
        check_nonnegative_finite(x, name)
    raise AssertionError("a kernel flagged a row of valid probabilities")


def _finish(values, shape, dtype, nats_per_unit):
    result = (values / nats_per_unit).astype(dtype, copy=False).reshape(shape)
    return result[()] if result.ndim == 0 else result


@dispatch_arrays("p")
def entropy(
    p: ArrayLike,
    axis: int = -1,
    *,
    base: float | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """Shannon entropy ``-sum(p log p)`` along ``axis``, with ``0 log 0 = 0``.

    Rows are not normalised.

    Parameters
    ----------
    p : array-like
        Non-negative, finite probabilities.
    axis : int, default=-1
        Axis to reduce.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray or scalar
        ``p``'s shape without ``axis``.
    """
    nats_per_unit = log_of_base(base)
    n_threads = check_n_threads(n_threads)
    p, axis = _probabilities(p, "p", axis)
    rows = rows_last(p, axis, strided_rows=True)
    values = np.empty(rows.shape[0])
    _kernels.information.entropy_rows(rows, values, n_threads)
    _check_rows(values, [("p", p)])
    shape = p.shape[:axis] + p.shape[axis + 1 :]
    return _finish(values, shape, p.dtype, nats_per_unit)


@dispatch_arrays("p", "q")
def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    axis: int = -1,
    *,
    base: float | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """Kullback-Leibler divergence ``sum(p log(p / q))`` along ``axis``.

    The sum of ``scipy.special.rel_entr(p, q)``: ``+inf`` where ``q = 0 < p``.
    Rows are not normalised.

    Parameters
    ----------
    p, q : array-like of the same shape
        Non-negative, finite probabilities.
    axis : int, default=-1
        Axis to reduce.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core.

    Returns
    -------
    ndarray or scalar
        ``p``'s shape without ``axis``.
    """
    nats_per_unit = log_of_base(base)
    n_threads = check_n_threads(n_threads)
    p, axis = _probabilities(p, "p", axis)
    q, _ = _probabilities(q, "q", axis)
    check_same_shape(p.shape, q.shape)
    dtype = np.result_type(p.dtype, q.dtype)
    p_rows = rows_last(p.astype(dtype, copy=False), axis, strided_rows=True)
    q_rows = rows_last(q.astype(dtype, copy=False), axis, strided_rows=True)
    values = np.empty(p_rows.shape[0])
    _kernels.information.kl_rows(p_rows, q_rows, values, n_threads)
    _check_rows(values, [("p", p), ("q", q)])
    shape = p.shape[:axis] + p.shape[axis + 1 :]
    return _finish(values, shape, dtype, nats_per_unit)
