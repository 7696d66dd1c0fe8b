"""Cross-entropy of a linear layer's output, in chunks of rows.

``logits = input @ linear_weight.T + linear_bias`` for a large number of
classes (a vocabulary) is the largest array of a training step, and
nothing but the loss and three gradients is wanted from it. Here it never
exists whole: each chunk of rows has its logits made by one matrix product
into a reused buffer, turned into their gradient by the fused kernel, and
consumed by the two backward products (``grad_input`` rows, and a
``grad_linear_weight`` accumulated over the chunks). The memory beyond
inputs and gradients is two chunk buffers, whatever the number of rows.

The chunk loop (:func:`run_chunks`) takes resolved arrays and a
:class:`Products` for the matrix products, so that ``fastxent.torch`` runs
the same loop with PyTorch's products under PyTorch's semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastxent import _core
from fastxent._categorical import (
    MEAN_WEIGHTED_BY,
    check_soft_target,
    hard_target,
    is_hard_target,
    resolve_weights,
    soft_row_weight,
)
from fastxent._typing import ArrayLike, FloatArray, FloatResult, Reduction
from fastxent._validation import (
    as_array,
    as_real_array,
    check_label_smoothing,
    check_n_threads,
    check_reduction,
    check_total_weight,
)

# Bytes of one chunk buffer (logits, or their gradient) when chunk_size is
# None: small beside the whole logits of a vocabulary (4096 x 32000 float32
# logits take 500 MiB), yet over a hundred rows of such a vocabulary, enough
# for the matrix products to run at their full rate.
_CHUNK_BYTES = 16 << 20


@dataclass
class ChunkTarget:
    """What the kernel needs of the target, resolved for every row.

    Attributes
    ----------
    labels : ndarray of intp of shape (n_samples,) or None
        Class indices, -1 for an ignored row (hard targets).
    probabilities : ndarray of shape (n_samples, n_classes) or None
        Class probabilities in the logits' dtype (soft targets).
    class_weight : ndarray of float64 of shape (n_classes,)
        Of any sign.
    sample_weight : ndarray of float64 of shape (n_samples,) or (1,)
    smoothing : float
    uniform_smoothing : bool
        Soft targets: smooth as ``(1 - e) p + e / n_classes`` (PyTorch)
        instead of the kernel's ``(1 - e) p + e sum(p) / n_classes``.
    """

    labels: np.ndarray | None
    probabilities: np.ndarray | None
    class_weight: np.ndarray
    sample_weight: np.ndarray
    smoothing: float
    uniform_smoothing: bool = False


class Products:
    """The matrix products of the chunk loop, on numpy arrays (numpy's BLAS)."""

    def logits(self, x, weight, bias, out) -> None:
        """``out = x @ weight.T + bias``."""
        # An overflow is reported by the caller, naming the inputs.
        with np.errstate(over="ignore", invalid="ignore"):
            np.matmul(x, weight.T, out=out)
            if bias is not None:
                out += bias

    def backward(self, grad, x, weight, grad_x, grad_weight, grad_bias, first):
        """``grad_x = grad @ weight``; add ``grad.T @ x`` and ``grad.sum(0)``
        into ``grad_weight`` and ``grad_bias`` (set them if ``first``)."""
        np.matmul(grad, weight, out=grad_x)
        if first:
            np.matmul(grad.T, x, out=grad_weight)
        else:
            grad_weight += grad.T @ x
        if grad_bias is not None:
            if first:
                np.sum(grad, axis=0, out=grad_bias)
            else:
                grad_bias += grad.sum(axis=0)


def default_chunk_size(n_classes: int, itemsize: int) -> int:
    """Rows per chunk when the caller does not say."""
    return max(1, _CHUNK_BYTES // max(1, n_classes * itemsize))


def run_chunks(
    x,
    weight,
    bias,
    target: ChunkTarget,
    grad_scale: float,
    loss_rows,
    grads,
    chunk_size: int,
    n_threads: int,
    products: Products,
    grad_row_scale=None,
) -> float:
    """Summed loss of ``x @ weight.T + bias``; gradients into ``grads``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features), C-contiguous
    weight : ndarray of shape (n_classes, n_features), C-contiguous
    bias : ndarray of shape (n_classes,) or None
    target : ChunkTarget
    grad_scale : float
        Factor of every gradient (``1 / total weight`` for a mean).
    loss_rows : ndarray of float64 of shape (n_samples,) or None
        Receives each row's loss when given.
    grads : tuple of (grad_x, grad_weight, grad_bias) or None
        Arrays of the shapes of ``x``, ``weight``, ``bias`` (``grad_bias``
        None without a bias) that receive the gradients.
    chunk_size : int
    n_threads : int
        Threads of the kernel (the products use their library's own).
    products : Products
    grad_row_scale : ndarray of shape (n_samples,), optional
        Factor of each row's gradient, of any sign (a backward pass through
        ``reduction="none"`` scales row ``i`` by the incoming gradient).

    Returns
    -------
    float
        The sum of the row losses; NaN when a logit is NaN or ``+inf``.
    """
    n_samples, n_classes = x.shape[0], weight.shape[0]
    rows = min(chunk_size, max(n_samples, 1))
    logits = np.empty((rows, n_classes), x.dtype)
    grad = np.empty_like(logits) if grads is not None else None
    scratch = (
        np.empty_like(logits)
        if target.probabilities is not None and target.uniform_smoothing
        else None
    )
    total = 0.0
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        z = logits[: stop - start]
        products.logits(x[start:stop], weight, bias, z)
        g = None if grad is None else grad[: stop - start]
        chunk_total, chunk_rows = _chunk_loss(
            z, target, start, stop, grad_scale, loss_rows is not None, g, scratch,
            n_threads,
        )  # fmt: skip
        total += chunk_total
        if loss_rows is not None:
            loss_rows[start:stop] = chunk_rows
        if grads is not None:
            if grad_row_scale is not None:
                g *= grad_row_scale[start:stop, None]
            grad_x, grad_weight, grad_bias = grads
            products.backward(
                g, x[start:stop], weight, grad_x[start:stop], grad_weight,
                grad_bias, start == 0,
            )  # fmt: skip
    if grads is not None and n_samples == 0:
        grads[1][...] = 0.0
        if grads[2] is not None:
            grads[2][...] = 0.0
    return total


def _chunk_loss(
    z, target, start, stop, grad_scale, keep_rows, grad, scratch, n_threads
):
    """One chunk through the fused kernel: (its loss sum, its row losses)."""
    rows = stop - start
    weights_s = target.sample_weight
    if weights_s.shape[0] != 1:
        weights_s = weights_s[start:stop]
    smoothing = target.smoothing
    if target.labels is not None:
        labels = target.labels[start:stop]

        def run(weights_c, grad_part):
            loss_rows = np.empty(rows) if keep_rows else None
            total = _core.hard_cross_entropy(
                z, labels, weights_c, float(weights_c.sum()), weights_s, smoothing,
                1.0, grad_scale, loss_rows, grad_part, n_threads,
            )  # fmt: skip
            return total, loss_rows

        return _core.by_weight_sign(run, target.class_weight, grad)
    p = target.probabilities[start:stop]
    if scratch is not None and smoothing:
        p = scratch[:rows]
        np.multiply(target.probabilities[start:stop], 1.0 - smoothing, out=p)
        p += smoothing / z.shape[1]
        smoothing = 0.0
    if weights_s.shape[0] != rows:
        weights_s = np.full(rows, weights_s[0])

    def run(weights_c, grad_part):
        loss_rows = np.empty(rows)
        _core.soft_cross_entropy(
            z, p, weights_c, weights_s, smoothing, 1.0, grad_scale, loss_rows,
            grad_part, n_threads,
        )  # fmt: skip
        return float(loss_rows.sum()), loss_rows

    return _core.by_weight_sign(run, target.class_weight, grad)


def linear_cross_entropy(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """Cross-entropy of ``input @ linear_weight.T + linear_bias``, never held whole.

    The same value as ``cross_entropy(input @ linear_weight.T + linear_bias,
    target, ...)``, with memory for two chunks of logits instead of all of
    them.

    Parameters
    ----------
    input : array-like of shape (n_samples, n_features)
        Finite float32 or float64 features (the last hidden layer).
    linear_weight : array-like of shape (n_classes, n_features)
        The output layer's weights, one row per class.
    target : array-like of int of shape (n_samples,), or of float of shape \
(n_samples, n_classes)
        Class indices, or class probabilities, as for
        :func:`fastxent.cross_entropy`.
    linear_bias : array-like of shape (n_classes,), default=None
    class_weight, sample_weight, ignore_index, label_smoothing, reduction
        As for :func:`fastxent.cross_entropy`.
    chunk_size : int, default=None
        Rows per chunk; None sizes a chunk buffer at 16 MiB.
    n_threads : int, default=None
        Threads of the kernel; the products use numpy's BLAS threads.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of shape (n_samples,)
    """
    loss, _ = _linear_cross_entropy(
        input, linear_weight, target, linear_bias, class_weight, sample_weight,
        ignore_index, label_smoothing, reduction, chunk_size, n_threads,
        want_grad=False,
    )  # fmt: skip
    return loss


def linear_cross_entropy_with_grad(
    input: ArrayLike,
    linear_weight: ArrayLike,
    target: ArrayLike,
    *,
    linear_bias: ArrayLike | None = None,
    class_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
    n_threads: int | None = None,
) -> tuple[FloatResult, FloatArray, FloatArray, FloatArray | None]:
    """:func:`linear_cross_entropy` and its gradients, in one pass over the rows.

    Parameters are those of :func:`linear_cross_entropy`.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of shape (n_samples,)
    grad_input : ndarray of shape (n_samples, n_features)
    grad_linear_weight : ndarray of shape (n_classes, n_features)
    grad_linear_bias : ndarray of shape (n_classes,), or None without a bias
        Gradients of the loss (of the summed row losses for
        ``reduction="none"``).
    """
    loss, grads = _linear_cross_entropy(
        input, linear_weight, target, linear_bias, class_weight, sample_weight,
        ignore_index, label_smoothing, reduction, chunk_size, n_threads,
        want_grad=True,
    )  # fmt: skip
    return (loss, *grads)


def _linear_cross_entropy(
    input,
    linear_weight,
    target,
    linear_bias,
    class_weight,
    sample_weight,
    ignore_index,
    label_smoothing,
    reduction,
    chunk_size,
    n_threads,
    *,
    want_grad: bool,
):
    reduction = check_reduction(reduction)
    smoothing = check_label_smoothing(label_smoothing)
    n_threads = check_n_threads(n_threads)
    x, weight, bias = check_linear(input, linear_weight, linear_bias)
    n_samples, n_classes = x.shape[0], weight.shape[0]
    chunk_size = check_chunk_size(chunk_size, n_classes, x.dtype.itemsize)
    if n_samples == 0 and reduction == "mean":
        raise ValueError(
            "input is an empty batch (0 samples): the mean is undefined; use "
            "reduction='sum' or 'none'"
        )
    weights_c, weights_s = resolve_weights(
        class_weight, sample_weight, n_classes, (n_samples,), reduction
    )
    chunk_target, total_weight = _resolve_target(
        target, x.dtype, n_samples, n_classes, weights_c, weights_s, ignore_index,
        smoothing, n_threads,
    )  # fmt: skip
    if reduction != "mean":
        total_weight = 1.0
    check_total_weight(total_weight, MEAN_WEIGHTED_BY)
    grads = None
    if want_grad:
        grads = (
            np.empty_like(x),
            np.empty_like(weight),
            None if bias is None else np.empty_like(bias),
        )
    loss_rows = np.empty(n_samples) if reduction == "none" else None
    total = run_chunks(
        x, weight, bias, chunk_target, 1.0 / total_weight, loss_rows, grads,
        chunk_size, n_threads, Products(),
    )  # fmt: skip
    if np.isnan(total):
        raise ValueError(
            "input @ linear_weight.T overflows to inf; scale input or "
            "linear_weight down"
        )
    if reduction == "none":
        loss = _core.in_loss_dtype(loss_rows, x.dtype)
    else:
        loss = _core.in_loss_dtype(total / total_weight, x.dtype)
    return loss, (grads if want_grad else None)


def check_linear(input, linear_weight, linear_bias):
    """``input``, ``linear_weight``, ``linear_bias`` as finite C-contiguous
    arrays of one dtype (float64 if either of the first two is)."""
    x = as_real_array(input, "input")
    weight = as_real_array(linear_weight, "linear_weight")
    if x.ndim != 2:
        raise ValueError(
            f"input must have shape (n_samples, n_features), got shape {x.shape}"
        )
    if weight.ndim != 2 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"linear_weight must have shape (n_classes, {x.shape[1]}) for input "
            f"of shape {x.shape}, got shape {weight.shape}"
        )
    if weight.shape[0] == 0:
        raise ValueError("linear_weight has 0 rows (classes); need >= 1")
    dtype = np.result_type(x.dtype, weight.dtype)
    arrays = {"input": x, "linear_weight": weight}
    if linear_bias is not None:
        bias = as_real_array(linear_bias, "linear_bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear_bias must have shape ({weight.shape[0]},), one per "
                f"class, got shape {bias.shape}"
            )
        arrays["linear_bias"] = bias
    for name, array in arrays.items():
        arrays[name] = np.ascontiguousarray(array, dtype=dtype)
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"{name} holds NaN or inf; it must be finite")
    return arrays["input"], arrays["linear_weight"], arrays.get("linear_bias")


def check_chunk_size(chunk_size, n_classes: int, itemsize: int) -> int:
    """Rows per chunk: ``chunk_size``, or the default for None."""
    if chunk_size is None:
        return default_chunk_size(n_classes, itemsize)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise TypeError(
            f"chunk_size must be a positive int or None, got {chunk_size!r}"
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def _resolve_target(
    target, dtype, n_samples, n_classes, weights_c, weights_s, ignore_index,
    smoothing, n_threads,
):  # fmt: skip
    """The target as a :class:`ChunkTarget`, and the total weight of a mean."""
    target = as_array(target, "target")
    shape = (n_samples, n_classes)
    if is_hard_target(target.shape, target.dtype, shape, (n_samples,)):
        labels, total = hard_target(
            target, weights_c, weights_s, (n_samples,), ignore_index, n_threads
        )
        return ChunkTarget(labels, None, weights_c, weights_s, smoothing), total
    p = check_soft_target(target, dtype, -1, ignore_index)
    total = float(soft_row_weight(p, weights_c, weights_s, (n_samples,)).sum())
    return ChunkTarget(None, p, weights_c, weights_s, smoothing), total
