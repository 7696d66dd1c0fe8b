"""Binary (and multi-label) cross-entropy from logits and its gradient.

Validate, view the logits as (n_rows, n_labels) with ``pos_weight`` along the
labels and ``sample_weight`` along the rows, call the fused kernel, and sum
its fixed blocks in order.
"""

from __future__ import annotations

import numpy as np

from fastxent import _core, _kernels
from fastxent import _validation as validation
from fastxent._dispatch import dispatch_arrays
from fastxent._typing import ArrayLike, FloatArray, FloatResult, Reduction
from fastxent._validation import (
    as_real_array,
    check_loss_options,
    check_nonnegative_finite,
    check_out,
    check_total_weight,
    scale_for_mean,
)

# What weights the elements of a mean (each its row's sample weight), for the
# error when the weights sum to 0.
MEAN_WEIGHTED_BY = "sample_weight"


@dispatch_arrays("logits", "target", "pos_weight", "sample_weight")
def binary_cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    base: float | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """Binary cross-entropy between targets in [0, 1] and ``sigmoid(logits)``.

    Element loss ``-(pos_weight * y * log_sigmoid(z) + (1 - y) *
    log_sigmoid(-z))``, without overflow for any finite ``z`` and exact at
    ``z = +-inf`` (0 when right, ``+inf`` when wrong).

    Parameters
    ----------
    logits : array-like of shape (n_samples,) or (n_samples, n_labels)
        Logits of the positive class; ``+-inf`` allowed, NaN raises.
    target : array-like of the shape of ``logits``
        Values in [0, 1]: bool, {0, 1} integers or soft probabilities.
    pos_weight : float or array-like of shape (n_labels,), default=None
        Non-negative weight of the positive term, broadcast over the last
        axis of ``logits``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each row, broadcast along its labels.
    label_smoothing : float in [0, 1), default=0.0
        Replace each target ``y`` by ``(1 - e) y + e / 2``.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` is the ``sample_weight``-weighted mean over all elements;
        ``"none"`` returns the weighted element losses.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core. The result
        does not depend on it.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of the shape of ``logits``
    """
    loss, _ = _binary_cross_entropy(
        logits, target, pos_weight, sample_weight, label_smoothing, reduction,
        base, n_threads, want_grad=False, out=None,
    )  # fmt: skip
    return loss


@dispatch_arrays("logits", "target", "pos_weight", "sample_weight")
def binary_cross_entropy_with_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    base: float | None = None,
    n_threads: int | None = None,
    out: np.ndarray | None = None,
) -> tuple[FloatResult, FloatArray]:
    """Binary cross-entropy and its gradient with respect to ``logits``.

    Parameters are those of :func:`binary_cross_entropy`, plus:

    out : ndarray of the shape and dtype of ``logits``, default=None
        C-contiguous, writable buffer that receives the gradient.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of the shape of ``logits``
    grad : ndarray of the shape and dtype of ``logits``
        ``d loss / d logits`` for the chosen reduction; ``out`` when given.
    """
    return _binary_cross_entropy(
        logits, target, pos_weight, sample_weight, label_smoothing, reduction,
        base, n_threads, want_grad=True, out=out,
    )  # fmt: skip


def _binary_cross_entropy(
    logits,
    target,
    pos_weight,
    sample_weight,
    label_smoothing,
    reduction,
    base,
    n_threads,
    *,
    want_grad: bool,
    out,
):
    logits = as_real_array(logits, "logits")
    reduction, smoothing, nats_per_unit, n_threads = check_loss_options(
        reduction, label_smoothing, base, n_threads
    )
    if out is not None:
        check_out(out, logits.shape, logits.dtype)

    y = as_real_array(target, "target")
    check_target_shape(logits.shape, y.shape)
    if not _in_unit_interval(y, n_threads):
        raise ValueError(
            f"target must hold values in [0, 1], got min {y.min()} and max {y.max()}"
        )
    y = y.astype(logits.dtype, copy=False)

    n_rows = logits.shape[0] if logits.ndim else 1
    n_labels = logits.size // n_rows if n_rows else 0
    z2d = np.ascontiguousarray(logits).reshape(n_rows, n_labels)
    y2d = np.ascontiguousarray(y).reshape(n_rows, n_labels)
    weights_l = _pos_weight(pos_weight, logits.shape, n_labels)
    weights_r = validation.kernel_sample_weights(
        sample_weight, (n_rows,), "row of logits"
    )
    if reduction == "mean":  # finite total weight for any weights (see there)
        weights_r = scale_for_mean(weights_r)

    check_mean_defined(n_rows * n_labels, reduction)
    loss_scale = 1.0 / nats_per_unit
    grad_scale = loss_scale
    total_weight = 1.0
    if reduction == "mean":
        total_weight = element_weight_sum(weights_r, n_rows, n_labels)
        check_total_weight(total_weight, MEAN_WEIGHTED_BY)
        grad_scale /= total_weight

    grad = np.empty(logits.shape, logits.dtype) if out is None else out
    grad2d = grad.reshape(n_rows, n_labels) if want_grad else None
    elements = np.empty(logits.shape, logits.dtype) if reduction == "none" else None
    elements2d = None if elements is None else elements.reshape(n_rows, n_labels)
    total = _core.binary_cross_entropy(
        z2d, y2d, weights_l, weights_r, smoothing, loss_scale, grad_scale,
        elements2d, grad2d, n_threads,
    )  # fmt: skip
    if np.isnan(total):
        where = tuple(int(i) for i in np.argwhere(np.isnan(logits))[0])
        raise ValueError(f"logits holds NaN at index {where}; NaN has no loss")
    if reduction == "none":
        loss = elements
    else:
        value = total if reduction == "sum" else total / total_weight
        loss = _core.in_loss_dtype(value, logits.dtype)
    return loss, (grad if want_grad else None)


def check_target_shape(logits_shape: tuple, target_shape: tuple) -> None:
    """Raise unless the target has one value per logit."""
    if tuple(target_shape) != tuple(logits_shape):
        raise ValueError(
            f"target must have the shape of logits {tuple(logits_shape)}, got "
            f"{tuple(target_shape)}"
        )


def check_mean_defined(n_elements: int, reduction: str) -> None:
    """Raise for the mean of no elements."""
    validation.check_mean_defined(n_elements, reduction, "empty")


def element_weight_sum(row_weight: np.ndarray, n_rows: int, n_labels: int) -> float:
    """The denominator of the mean: each of a row's ``n_labels`` elements
    weighs its row's weight; one shared weight (none given) stands for every
    row."""
    rows_weighted = n_rows if row_weight.shape[0] == 1 else 1
    return float(row_weight.sum()) * rows_weighted * n_labels


def _in_unit_interval(values: np.ndarray, n_threads: int) -> bool:
    """Every value in [0, 1] (none NaN): one pass for contiguous float values."""
    if values.size == 0:
        return True
    if values.flags.c_contiguous:
        return _kernels.binary.all_in_unit_interval(values.reshape(-1), n_threads)
    return bool(values.min() >= 0.0 and values.max() <= 1.0)


def _pos_weight(pos_weight, shape, n_labels) -> np.ndarray:
    """pos_weight as one float64 weight per column of the (n_rows, n_labels) view."""
    if pos_weight is None:
        return np.ones(n_labels)
    weights = as_real_array(pos_weight, "pos_weight").astype(np.float64, copy=False)
    last = shape[-1] if len(shape) > 1 else 1
    if weights.ndim > 1 or (weights.ndim == 1 and weights.shape[0] not in (1, last)):
        raise ValueError(
            f"pos_weight must be a scalar or have shape ({last},) (the last axis "
            f"of logits), got shape {weights.shape}"
        )
    check_nonnegative_finite(weights, "pos_weight")
    per_last = np.broadcast_to(weights, (last,))
    return np.ascontiguousarray(np.tile(per_last, n_labels // last if last else 0))
