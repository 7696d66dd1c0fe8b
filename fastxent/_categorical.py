"""Categorical cross-entropy from logits: ``cross_entropy`` and its gradient.

Validate, resolve every weight into two vectors (class weights, sample
weights) and a scale, call one fused kernel, reduce the per-row losses in a
fixed order (numpy's pairwise sum over a contiguous vector, the same for any
thread count).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from fastxent import _core
from fastxent import _validation as validation
from fastxent._dispatch import dispatch_arrays
from fastxent._typing import ArrayLike, FloatArray, FloatResult, Reduction
from fastxent._validation import (
    as_array,
    as_real_array,
    check_axis,
    check_loss_options,
    check_nonnegative_finite,
    check_nonnegative_vector,
    check_out,
    check_total_weight,
    describe_row,
    first_bad_label,
    rows_last,
    scale_for_mean,
)

# What weights the rows of a mean, for the error when the weights sum to 0.
MEAN_WEIGHTED_BY = "sample_weight, class_weight and ignore_index"


@dispatch_arrays("logits", "target", "class_weight", "sample_weight")
def cross_entropy(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    base: float | None = None,
    n_threads: int | None = None,
) -> FloatResult:
    """Cross-entropy between a target and the softmax of ``logits``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        Unnormalised log-probabilities; ``(n_classes,)`` for one sample, or
        any shape with the classes along ``axis``. ``-inf`` masks a class;
        NaN and ``+inf`` raise ``ValueError``.
    target : array-like of int of shape (n_samples,), or of float of shape \
(n_samples, n_classes)
        Class indices in ``[0, n_classes)`` (hard targets; floats that are
        whole numbers, such as ``2.0``, count as indices, as in
        scikit-learn), or non-negative class probabilities with the shape
        of ``logits`` (soft targets; a row's sum scales its loss).
        Probabilities must be floating point:
        an integer or bool target of the logits' shape raises ``TypeError``
        (for binary labels of 1-D logits, see :func:`binary_cross_entropy`).
    axis : int, default=-1
        The class axis of ``logits``.
    class_weight : array-like of shape (n_classes,), default=None
        Non-negative weight of each class.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample.
    ignore_index : int, default=None
        Rows whose label equals it contribute 0 and have weight 0 (hard
        targets only).
    label_smoothing : float in [0, 1), default=0.0
        Replace each target row ``p`` by ``(1 - e) p + e sum(p) / n_classes``.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` is ``sum_i l_i / sum_i w_i`` with row weight
        ``w_i = sample_weight_i * class_weight[y_i]`` (soft targets:
        ``sample_weight_i * sum_c class_weight_c p_ic``); ``"none"`` returns
        ``l_i`` for every sample.
    base : float, default=None
        Logarithm base: None for nats, 2 for bits.
    n_threads : int, default=None
        Threads of the kernel; None uses every available core. The result
        does not depend on it.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of shape (n_samples,)
        In the dtype of ``logits`` (float64 for integer logits).
    """
    loss, _ = _cross_entropy(
        logits, target, axis, class_weight, sample_weight, ignore_index,
        label_smoothing, reduction, base, n_threads, want_grad=False, out=None,
    )  # fmt: skip
    return loss


@dispatch_arrays("logits", "target", "class_weight", "sample_weight")
def cross_entropy_with_grad(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    axis: int = -1,
    class_weight: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    base: float | None = None,
    n_threads: int | None = None,
    out: np.ndarray | None = None,
) -> tuple[FloatResult, FloatArray]:
    """Cross-entropy and its gradient with respect to ``logits``, in one pass.

    Parameters are those of :func:`cross_entropy`, plus:

    out : ndarray of the shape and dtype of ``logits``, default=None
        C-contiguous, writable buffer that receives the gradient, so a
        training loop allocates nothing per call.

    Returns
    -------
    loss : float32 or float64 scalar, or ndarray of shape (n_samples,)
        As :func:`cross_entropy` returns it.
    grad : ndarray of the shape and dtype of ``logits``
        ``d loss / d logits`` for the chosen reduction (``"mean"`` divides by
        the total weight); with ``reduction="none"`` row ``i`` is
        ``d l_i / d logits_i``. ``out`` itself when it was given.
    """
    return _cross_entropy(
        logits, target, axis, class_weight, sample_weight, ignore_index,
        label_smoothing, reduction, base, n_threads, want_grad=True, out=out,
    )  # fmt: skip


def _cross_entropy(
    logits,
    target,
    axis,
    class_weight,
    sample_weight,
    ignore_index,
    label_smoothing,
    reduction,
    base,
    n_threads,
    *,
    want_grad: bool,
    out,
):
    logits = as_real_array(logits, "logits")
    axis, n_classes, batch_shape = class_layout(logits.shape, axis)
    reduction, smoothing, nats_per_unit, n_threads = check_loss_options(
        reduction, label_smoothing, base, n_threads
    )
    if out is not None and not want_grad:
        raise TypeError("out is only accepted by the _with_grad functions")
    if out is not None:
        check_out(out, logits.shape, logits.dtype)

    z = rows_last(logits, axis)
    n_samples = z.shape[0]
    check_mean_defined(n_samples, reduction)
    weights_c, weights_s = resolve_weights(
        class_weight, sample_weight, n_classes, batch_shape, reduction
    )
    class_weight_sum = check_class_weight_sum(weights_c)
    hard, resolved, weights_s, total_weight = _resolve_target(
        target, logits, axis, batch_shape, ignore_index, weights_c, weights_s,
        reduction, n_threads,
    )  # fmt: skip
    loss_scale = 1.0 / nats_per_unit
    grad_scale = loss_scale / total_weight
    grad, grad2d = _gradient_buffers(logits, z, axis, out, want_grad)

    # Hard targets: the kernel sums its blocks of rows, and the row losses
    # are only kept when asked for.
    loss_rows = np.empty(n_samples) if reduction == "none" or not hard else None
    if hard:
        run_hard = functools.partial(
            _core.hard_cross_entropy, z, resolved, weights_c, class_weight_sum,
            weights_s, smoothing, loss_scale, grad_scale,
        )  # fmt: skip
        total = run_hard(loss_rows, grad2d, n_threads)
    else:
        total = _core.soft_cross_entropy(
            z, resolved, weights_c, weights_s, smoothing, loss_scale, grad_scale,
            loss_rows, grad2d, n_threads,
        )  # fmt: skip
    if np.isnan(total):
        if loss_rows is None:  # find the row: the losses again, kept
            loss_rows = np.empty(n_samples)
            run_hard(loss_rows, None, n_threads)
        _raise_for_nan_row(loss_rows, batch_shape)
    if want_grad and axis != logits.ndim - 1:
        moved_shape = np.moveaxis(logits, axis, -1).shape
        grad[...] = np.moveaxis(grad2d.reshape(moved_shape), -1, axis)
    loss = _reduced_loss(total, total_weight, loss_rows, logits, batch_shape, reduction)
    return loss, grad


def _resolve_target(
    target, logits, axis, batch_shape, ignore_index, weights_c, weights_s,
    reduction, n_threads,
):  # fmt: skip
    """``(hard, labels or probabilities, sample weights, total weight)``.

    The total weight divides a mean (1 for the other reductions); the soft
    kernel reads one sample weight per row, so a shared one is spread.
    """
    target = as_array(target, "target")
    hard = is_hard_target(target.shape, target.dtype, logits.shape, batch_shape)
    if hard:
        resolved, total_weight = hard_target(
            target, weights_c, weights_s, batch_shape, ignore_index, n_threads,
            mean=reduction == "mean",
        )  # fmt: skip
    else:
        resolved = check_soft_target(target, logits.dtype, axis, ignore_index)
        row_weight = soft_row_weight(resolved, weights_c, weights_s, batch_shape)
        if weights_s.shape != row_weight.shape:
            weights_s = np.full(row_weight.shape, weights_s[0])
        total_weight = float(row_weight.sum()) if reduction == "mean" else 1.0
    if reduction == "mean":
        check_total_weight(total_weight, MEAN_WEIGHTED_BY)
    return hard, resolved, weights_s, total_weight


def _gradient_buffers(logits, z, axis, out, want_grad):
    """``(grad, grad2d)``: the gradient as returned, and the (n_samples,
    n_classes) rows the kernel writes (a view of it when the classes are
    last, else a buffer moved into it afterwards); ``(None, None)``."""
    if not want_grad:
        return None, None
    grad = out if out is not None else np.empty(logits.shape, logits.dtype)
    if axis == logits.ndim - 1:
        return grad, grad.reshape(z.shape)
    return grad, np.empty(z.shape, z.dtype)


def _raise_for_nan_row(loss_rows, batch_shape):
    row = int(np.flatnonzero(np.isnan(loss_rows))[0])
    raise ValueError(
        f"logits holds NaN or +inf at {describe_row(row, batch_shape)}; the "
        "cross-entropy accepts finite logits and -inf (a masked class)"
    )


def _reduced_loss(total, total_weight, loss_rows, logits, batch_shape, reduction):
    """The loss as returned: row losses, their sum or their weighted mean."""
    if reduction == "none":
        return _core.in_loss_dtype(loss_rows, logits.dtype).reshape(batch_shape)
    value = total if reduction == "sum" else total / total_weight
    return _core.in_loss_dtype(value, logits.dtype)


def class_layout(shape: tuple, axis) -> tuple[int, int, tuple]:
    """The class axis of logits of ``shape``: (axis, n_classes, batch shape).

    Raises for logits without a class axis (a scalar) or without classes.
    """
    if len(shape) == 0:
        raise ValueError(
            "logits must have a class axis: shape (n_samples, n_classes) or "
            "(n_classes,), got a scalar"
        )
    axis = check_axis(axis, len(shape), "logits")
    n_classes = shape[axis]
    if n_classes == 0:
        raise ValueError("logits has 0 classes along its class axis; need >= 1")
    return axis, n_classes, tuple(shape[:axis] + shape[axis + 1 :])


def check_mean_defined(n_samples: int, reduction: str) -> None:
    """Raise for the mean of an empty batch."""
    validation.check_mean_defined(n_samples, reduction, "an empty batch (0 samples)")


def check_class_weight_sum(class_weight: np.ndarray) -> float:
    """The sum of the class weights, which the kernels take; raise when it
    is not finite."""
    total = float(class_weight.sum())
    if not np.isfinite(total):
        # Every row's target mass includes it (label smoothing spreads over
        # all classes): an infinite sum would turn 0 * inf into NaN there.
        raise ValueError(
            "class_weight sums past the float64 range; scale it down (only "
            "ratios of class weights matter to reduction='mean')"
        )
    return total


def is_hard_target(target_shape, target_dtype, logits_shape, batch_shape) -> bool:
    """Hard (labels) or soft (probabilities) target, from its shape and dtype.

    Shared by the in-memory and the Dask functions. Integer targets never
    mean probabilities: an integer array of the logits' shape is refused,
    and 1-D logits with integer labels (binary logits, most often) are
    pointed to ``binary_cross_entropy``.
    """
    shape, logits_shape = tuple(target_shape), tuple(logits_shape)
    if shape == tuple(batch_shape):
        return True
    if shape != logits_shape:
        raise ValueError(
            f"target must have shape {tuple(batch_shape)} (class labels) or "
            f"{logits_shape} (class probabilities) for logits of shape "
            f"{logits_shape}, got shape {shape}"
        )
    if np.dtype(target_dtype).kind in "biu":
        if len(logits_shape) == 1:
            raise TypeError(
                f"target holds integers and has the shape {logits_shape} of 1-D "
                "logits, which are one sample's class scores: for one logit per "
                "sample (binary labels) use fastxent.binary_cross_entropy; for "
                "one sample pass its label as a scalar; for probabilities pass "
                "a float target"
            )
        raise TypeError(
            f"target of the logits' shape {logits_shape} holds class "
            f"probabilities and must be floating point, got dtype "
            f"{np.dtype(target_dtype)}; pass target.astype(float), or integer "
            f"class labels of shape {tuple(batch_shape)}"
        )
    return False


def soft_mass(p: np.ndarray, class_weight: np.ndarray, batch_shape) -> np.ndarray:
    """``sum_c class_weight_c p_ic`` per row, in float64; raise where it overflows.

    Without a float64 copy of ``p`` (einsum casts in small buffers); in
    float64 because a float32 product overflows for class weights past 3e38.
    """
    mass = np.einsum("ij,j->i", p, class_weight, dtype=np.float64)
    if not np.isfinite(mass).all():
        # Else the kernel meets inf * 0 and the row reads as NaN logits.
        row = int(np.flatnonzero(~np.isfinite(mass))[0])
        raise ValueError(
            f"target times class_weight overflows float64 at "
            f"{describe_row(row, batch_shape)}; scale the target rows down"
        )
    return mass


def soft_row_weight(p, class_weight, sample_weight, batch_shape) -> np.ndarray:
    """Each row's weight for probability targets, the mean's terms:
    ``sample_weight_i * sum_c class_weight_c p_ic``."""
    return sample_weight * soft_mass(p, class_weight, batch_shape)


def resolve_weights(class_weight, sample_weight, n_classes, batch_shape, reduction):
    """Checked float64 class and sample weights, scaled for a mean.

    Returns
    -------
    class_weight : ndarray of shape (n_classes,)
    sample_weight : ndarray of shape (n_samples,), or (1,) when None
    """
    weights_c = (
        np.ones(n_classes)
        if class_weight is None
        else check_nonnegative_vector(class_weight, "class_weight", n_classes)
    )
    weights_s = sample_weights(sample_weight, batch_shape)
    if reduction == "mean":  # finite total weight for any weights (see there)
        weights_c = scale_for_mean(weights_c)
        weights_s = scale_for_mean(weights_s)
    return weights_c, weights_s


def sample_weights(sample_weight, batch_shape) -> np.ndarray:
    """Flattened float64 sample weights, or a single 1 for None."""
    return validation.kernel_sample_weights(sample_weight, batch_shape, "sample")


def total_hard_weight(labels, class_weight, sample_weight, may_ignore) -> float:
    """``sum_i sample_weight[i] * class_weight[labels[i]]`` over rows kept (>= 0).

    ``sample_weight`` of one entry weights every row. Without the per-row
    weights as a temporary (a gather, a select and a product over the rows):
    equal class weights and no ignored row give the sample weights' sum times
    the class weight; otherwise the sample weights are summed per class in one pass
    (np.bincount) and meet the class weights there.
    """
    shared = sample_weight.shape[0] == 1
    kept = labels >= 0 if may_ignore else None
    if (kept is None or kept.all()) and (class_weight == class_weight[0]).all():
        weight_sum = (
            sample_weight[0] * labels.shape[0] if shared else sample_weight.sum()
        )
        return float(class_weight[0] * weight_sum)
    if kept is not None:
        labels = labels[kept]
        sample_weight = sample_weight if shared else sample_weight[kept]
    if shared:
        per_class = np.bincount(labels, minlength=len(class_weight)) * sample_weight[0]
    else:
        per_class = np.bincount(
            labels, weights=sample_weight, minlength=len(class_weight)
        )
    return float(per_class @ class_weight)


def check_ignore_index(ignore_index, none_allowed: bool = True) -> int:
    """``ignore_index`` as an int; raise ``TypeError`` for anything else
    (None is the caller's to handle; ``none_allowed`` says so in the message)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        allowed = "an int or None" if none_allowed else "an int"
        raise TypeError(f"ignore_index must be {allowed}, got {ignore_index!r}")
    return int(ignore_index)


def hard_target(
    target, class_weight, sample_weight, batch_shape, ignore_index, n_threads=1, *,
    mean=True, float_labels=True,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """Class labels checked by :func:`check_labels`, and the total weight of
    their mean by :func:`total_hard_weight` (1.0 unless ``mean``).

    Every reader of class labels (the in-memory losses, the dask blocks'
    mean weight, PyTorch's ops with ``float_labels=False``) resolves them
    here, so ignored rows and float labels weigh in the mean by one rule.

    Returns
    -------
    labels : ndarray of intp of shape (n_samples,)
        Class indices, -1 for an ignored row.
    total_weight : float
    """
    labels = check_labels(
        target, class_weight.shape[0], batch_shape, ignore_index, n_threads,
        float_labels=float_labels,
    )  # fmt: skip
    if not mean:
        return labels, 1.0
    may_ignore = ignore_index is not None
    return labels, total_hard_weight(labels, class_weight, sample_weight, may_ignore)


def check_labels(
    target, n_classes, batch_shape, ignore_index, n_threads=1, *, float_labels=True
) -> np.ndarray:
    """Integer labels as a C-contiguous intp vector, ignored rows set to -1.

    Every label is checked here: a label outside [0, n_classes) would index
    past the class weights and the logits row inside the kernel. The target
    itself is returned when it already is such a vector (the kernels only
    read it); a copy is made when ignored rows must be marked. Float labels
    of whole numbers (``1.0``) are read as integers, scikit-learn's rule,
    unless ``float_labels`` is false (PyTorch's rule: labels are integers).
    """
    raw = np.asarray(target)
    check_label_dtype(raw.shape, raw.dtype, float_labels)
    if raw.dtype.kind == "f" and float_labels:
        raw = whole_number_labels(raw, n_classes, batch_shape)
    if ignore_index is not None:
        check_ignore_index(ignore_index)
    if raw.dtype.kind == "u" and raw.size and raw.max() > np.iinfo(np.intp).max:
        pos = int(np.flatnonzero(raw.reshape(-1) > np.iinfo(np.intp).max)[0])
        raise ValueError(
            f"target has label {raw.reshape(-1)[pos]} at "
            f"{describe_row(pos, batch_shape)}, outside [0, {n_classes})"
        )
    if ignore_index is None:
        labels = np.ascontiguousarray(raw, dtype=np.intp).reshape(-1)
    else:
        labels = np.array(raw, dtype=np.intp).reshape(-1)
    bad = first_bad_label(labels, n_classes, ignore_index, n_threads)
    if bad is not None:
        allowed = f"[0, {n_classes})"
        if ignore_index is not None:
            allowed += f" or ignore_index={ignore_index}"
        raise ValueError(
            f"target has label {labels[bad]} at {describe_row(bad, batch_shape)}, "
            f"outside {allowed}: labels are class indices into the logits"
        )
    if ignore_index is not None:
        labels[labels == ignore_index] = -1
    return labels


def check_label_dtype(shape: tuple, dtype, float_labels: bool = True) -> None:
    """Raise ``TypeError`` unless labels of ``dtype`` can be class indices:
    integers and bools, and floats with ``float_labels`` (whether each is a
    whole number is a question of values, see :func:`whole_number_labels`)."""
    kind = np.dtype(dtype).kind
    if kind in "biu" or (kind == "f" and float_labels):
        return
    raise TypeError(
        f"target of shape {tuple(shape)} must hold integer class labels, got "
        f"dtype {np.dtype(dtype)}; pass integer class indices or probabilities "
        "of the logits' shape"
    )


def whole_number_labels(raw, n_classes, batch_shape) -> np.ndarray:
    """Float labels as intp when each is a whole number; ``ValueError``
    naming the first that is not (a fraction, NaN, inf) or that no intp
    holds."""
    flat = raw.reshape(-1)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(flat) & (flat == np.trunc(flat))
        bad = np.flatnonzero(~whole | (np.abs(flat) >= 2.0**62))
    if bad.size:
        pos = int(bad[0])
        where = f"target has label {flat[pos]} at {describe_row(pos, batch_shape)}"
        if whole[pos]:
            raise ValueError(f"{where}, outside [0, {n_classes})")
        raise ValueError(
            f"{where}, not a whole number: float labels must be whole numbers "
            f"(such as 2.0), class indices in [0, {n_classes})"
        )
    return flat.astype(np.intp).reshape(raw.shape)


def check_soft_target(target, dtype, axis: int, ignore_index) -> np.ndarray:
    """Probability targets as a C-contiguous (n_samples, n_classes) array of
    ``dtype`` (the logits')."""
    if ignore_index is not None:
        raise ValueError(
            "ignore_index applies to integer class labels only; with "
            "probability targets, give a row zero mass or zero sample_weight"
        )
    p = as_real_array(target, "target")
    if p.dtype != dtype:
        p = p.astype(dtype)
    check_nonnegative_finite(p, "target")
    return rows_last(p, axis)
