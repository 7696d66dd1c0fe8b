"""The functional API on dask arrays: lazy, chunk by chunk, same values.

Each function has the signature and semantics of its in-memory namesake and
returns a lazy dask array. How the result matches the in-memory one:

- Per-sample results (``reduction="none"``, ``softmax``, ``logsumexp``,
  ``entropy`` along an axis, gradients with ``"none"``) are bitwise equal:
  every block is one call of the in-memory function on the same rows, and
  the kernels treat rows independently.
- ``"sum"`` and ``"mean"`` add per-block sums in a tree and divide at the
  end, so they match to rounding (1e-12 relative in float64; in float32
  each block's sum is rounded to float32, so the mean is within two float32
  ulps).
  ``"mean"`` first scales the sample weights by the power of two the
  in-memory path uses (their maximum is one small reduction), so per-row
  terms are bitwise the in-memory ones and the total weight stays finite.

Chunking: arrays may be chunked along every sample axis. An axis the kernels
reduce over (the class axis, the label axes of the binary loss, every axis
of a tuple ``axis``) is rechunked into one chunk when it is split, which
copies data between blocks; ``axis=None``, the default of the log-sum-exp
family as in scipy, makes the whole array one block (pass ``axis=-1`` for
rows chunked along samples). Targets and weights are rechunked to the
blocks of the logits, and in-memory ones are split to match.

Checks that need only dtype and shape run at once, as in memory; checks of
values (NaN logits, labels out of range, negative weights) run in each
block at compute time and raise the in-memory error, plus where the block
starts. ``n_threads`` applies per block; None means 1, since dask already
runs blocks in parallel. ``out=`` is refused: the result is a new lazy
array.
"""

from __future__ import annotations

import functools
import math

import dask.array as da
import numpy as np

from fastxent._binary import binary_cross_entropy as _bce_numpy
from fastxent._binary import binary_cross_entropy_with_grad as _bce_grad_numpy
from fastxent._categorical import cross_entropy as _xent_numpy
from fastxent._categorical import cross_entropy_with_grad as _xent_grad_numpy
from fastxent._categorical import is_hard_target
from fastxent._information import entropy as _entropy_numpy
from fastxent._information import kl_divergence as _kl_numpy
from fastxent._logsumexp import log_softmax as _log_softmax_numpy
from fastxent._logsumexp import logsumexp as _logsumexp_numpy
from fastxent._logsumexp import softmax as _softmax_numpy
from fastxent._logsumexp import weighted_dtype
from fastxent._validation import (
    broadcast_shape,
    check_axes,
    check_axis,
    check_label_smoothing,
    check_n_threads,
    check_nonnegative_vector,
    check_reduction,
    log_of_base,
    scale_for_mean,
)
from fastxent.dask._arrays import (
    as_dask,
    as_real_dask,
    block_indices,
    check_known_chunks,
    locate_errors,
    match_chunks,
    resolve_threads,
    small_numpy,
    whole_axes,
)

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _refuse_out(out):
    if out is not None:
        raise TypeError(
            "out= is not supported for dask arrays: the result is a new lazy "
            "dask array; drop out="
        )


def _threads(n_threads):
    check_n_threads(n_threads)
    return resolve_threads(n_threads)


# ---------------------------------------------------------------------------
# Section 1: logsumexp, softmax, log_softmax


def _lse_block(a, b=None, **options):
    """One block: the in-memory ``logsumexp`` of its values (and weights)."""
    return _logsumexp_numpy(a, b=b, **options)


def _lse_inputs(a, b):
    """(a, b, dtype of the result): ``a`` a dask array of at least one
    dimension, ``b`` None, a Python number, or a dask array of ``a``'s shape.

    With weights, ``a`` and ``b`` keep their own dtypes, so that each block
    promotes them as the in-memory function does; a Python number ``b`` is
    handed to every block as it is (numpy does not let it widen float32).
    """
    if b is None:
        a = as_real_dask(a, "a")
        return (a.reshape(1) if a.ndim == 0 else a), None, a.dtype
    a = as_dask(a, "a")
    if type(b) in (bool, int, float):
        dtype = weighted_dtype(a.dtype, np.asarray(b).dtype, b)
        return (a.reshape(1) if a.ndim == 0 else a), b, dtype
    b_array = as_dask(b, "b")
    dtype = weighted_dtype(a.dtype, b_array.dtype, b)
    shape = broadcast_shape(a.shape, b_array.shape, "a", "b") or (1,)
    return da.broadcast_to(a, shape), da.broadcast_to(b_array, shape), dtype


def _reduce_blocks(block, arrays, axes, keepdims, return_sign, dtype):
    """``block`` mapped over ``arrays``, whose ``axes`` are whole in each block.

    With ``return_sign`` each block computes a (lse, sign) pair, split into
    two lazy arrays by two light tasks.
    """
    if keepdims:
        chunks = arrays[0].chunks
        shape = {
            "chunks": tuple((1,) if i in axes else c for i, c in enumerate(chunks))
        }
    else:
        shape = {"drop_axis": list(axes)}
    if not return_sign:
        return da.map_blocks(block, *arrays, dtype=dtype, **shape)
    n_dims = arrays[0].ndim - (0 if keepdims else len(axes))
    pairs = da.map_blocks(block, *arrays, meta=np.empty((0,) * n_dims), **shape)
    return tuple(
        pairs.map_blocks(functools.partial(_pick, i), dtype=dtype) for i in (0, 1)
    )


def logsumexp(
    a, axis=None, b=None, keepdims=False, return_sign=False, *, n_threads=None
):
    """:func:`fastxent.logsumexp` on dask arrays, block by block.

    Each reduced axis is rechunked into one chunk (``axis=None``: the whole
    array becomes one block, which must fit in a worker's memory), so every
    block is reduced by the in-memory function and the values are bitwise
    the in-memory ones. Returns a lazy array, or a pair of them with
    ``return_sign``.
    """
    threads = _threads(n_threads)
    a, b, dtype = _lse_inputs(a, b)
    axes = check_axes(axis, a.ndim, "a")
    a = whole_axes(a, axes)
    options = {"axis": axes, "keepdims": keepdims, "return_sign": return_sign}
    arrays = [a]
    if isinstance(b, da.Array):
        arrays.append(match_chunks(b, a.chunks))
    elif b is not None:
        options["b"] = b
    block = functools.partial(_lse_block, n_threads=threads, **options)
    return _reduce_blocks(block, arrays, axes, keepdims, return_sign, dtype)


def _normalise(numpy_func, x, axis, out, n_threads):
    _refuse_out(out)
    threads = _threads(n_threads)
    x = as_real_dask(x, "x")
    # As in memory, a 0-d input is one element and an axis of 0 or -1 is valid.
    axes = check_axes(axis, max(x.ndim, 1), "x")
    x = whole_axes(x, axes) if x.ndim else x
    func = functools.partial(numpy_func, axis=axis, n_threads=threads)
    return x.map_blocks(func, dtype=x.dtype)


def softmax(x, axis=None, *, out=None, n_threads=None):
    """:func:`fastxent.softmax` on a dask array, block by block.

    Each axis of ``axis`` is rechunked into one chunk (``axis=None``: the
    whole array becomes one block, which must fit in a worker's memory).
    """
    return _normalise(_softmax_numpy, x, axis, out, n_threads)


def log_softmax(x, axis=None, *, out=None, n_threads=None):
    """:func:`fastxent.log_softmax` on a dask array, block by block.

    Each axis of ``axis`` is rechunked into one chunk (``axis=None``: the
    whole array becomes one block, which must fit in a worker's memory).
    """
    return _normalise(_log_softmax_numpy, x, axis, out, n_threads)


# ---------------------------------------------------------------------------
# Section 4: entropy, kl_divergence


def _probability_rows(p, name, axis):
    p = as_real_dask(p, name)
    if p.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    axis = check_axis(axis, p.ndim, name)
    return whole_axes(p, [axis]), axis


def entropy(p, axis=-1, *, base=None, n_threads=None):
    """:func:`fastxent.entropy` on a dask array, block by block."""
    log_of_base(base)
    threads = _threads(n_threads)
    p, axis = _probability_rows(p, "p", axis)
    func = functools.partial(_entropy_numpy, axis=axis, base=base, n_threads=threads)
    return p.map_blocks(func, drop_axis=axis, dtype=p.dtype)


def kl_divergence(p, q, axis=-1, *, base=None, n_threads=None):
    """:func:`fastxent.kl_divergence` on dask arrays, block by block."""
    log_of_base(base)
    threads = _threads(n_threads)
    p, axis = _probability_rows(p, "p", axis)
    q = as_real_dask(q, "q")
    if q.shape != p.shape:
        raise ValueError(f"q must have the shape of p {p.shape}, got {q.shape}")
    q = match_chunks(q, p.chunks)
    func = functools.partial(_kl_numpy, axis=axis, base=base, n_threads=threads)
    dtype = np.result_type(p.dtype, q.dtype)
    return da.map_blocks(func, p, q, drop_axis=axis, dtype=dtype)


# ---------------------------------------------------------------------------
# Shared by the cross-entropies: per-block sums, their tree sum, the mean


def _pick(index, blocks):
    """Item ``index`` of the (loss, grad) pair computed by a block."""
    while isinstance(blocks, list):  # blockwise hands contracted blocks in lists
        blocks = blocks[0]
    return blocks[index]


def _mean_error():
    return ValueError(
        "the weights sum to 0 (every row ignored or weighted 0), so the mean "
        "is undefined; check sample_weight, class_weight and ignore_index, or "
        "use reduction='sum'"
    )


def _finish(total, weight, *, dtype):
    """The reduced loss from the tree sums (0-d arrays): ``dtype(sum / weight)``."""
    if weight is None:
        return np.asarray(dtype.type(float(total)))
    if not float(weight) > 0.0:
        raise _mean_error()
    return np.asarray(dtype.type(float(total) / float(weight)))


def _scale_grad(grad, weight):
    """A block of the gradient of the sum, divided by the total weight."""
    if not float(weight) > 0.0:
        raise _mean_error()
    return grad * grad.dtype.type(1.0 / float(weight))


def _scaled_weight(weight, weight_max):
    """Weights times the power of two ``scale_for_mean`` picks for the global max."""
    return np.ldexp(weight, -math.frexp(float(weight_max))[1])


def _block_sum(value, ndim):
    """A block's sum as float64, shaped to sit in the array of per-block sums."""
    return np.asarray(value, dtype=np.float64).reshape((1,) * ndim)


def _starts_args(chunks, index):
    """blockwise arguments giving each block its first index along ``index``."""
    args = []
    for indices, letter in zip(block_indices(chunks), index, strict=True):
        args += [indices, letter]
    return args


def _tree_sum(partials):
    return partials.sum() if partials.ndim else partials


def _loss_outputs(
    block, inputs, *, index, loss_index, dtype, reduction, want_grad, weight_sums
):
    """Assemble the lazy loss (and gradient) from one block function.

    ``block`` returns the in-memory result of its block: the per-sample loss
    for ``"none"``, else that block's sum shaped by :func:`_block_sum`;
    with ``want_grad`` a (loss, grad) pair, split by two light tasks.
    ``weight_sums`` holds each block's total weight for ``"mean"``.
    """
    partial = reduction != "none"
    adjust = {letter: 1 for letter in loss_index} if partial else None
    part_dtype = np.float64 if partial else dtype
    grad = None
    if want_grad:
        pairs = da.blockwise(
            block, index, *inputs, concatenate=True, meta=np.empty((0,) * len(index))
        )
        parts = da.blockwise(
            functools.partial(_pick, 0), loss_index, pairs, index,
            dtype=part_dtype, concatenate=False, adjust_chunks=adjust,
        )  # fmt: skip
        grad = da.blockwise(
            functools.partial(_pick, 1), index, pairs, index, dtype=dtype
        )
    else:
        parts = da.blockwise(
            block, loss_index, *inputs, dtype=part_dtype, concatenate=True,
            adjust_chunks=adjust,
        )  # fmt: skip
    if not partial:
        return parts if grad is None else (parts, grad)
    weight = _tree_sum(weight_sums) if reduction == "mean" else None
    loss = da.map_blocks(
        functools.partial(_finish, dtype=dtype), _tree_sum(parts), weight, dtype=dtype
    )
    if grad is None:
        return loss
    if weight is not None:
        grad = da.blockwise(_scale_grad, index, grad, index, weight, "", dtype=dtype)
    return loss, grad


def _sample_weights(sample_weight, shape, chunks, index, mean, what):
    """Sample weights as dask blocks matching ``chunks``; for the mean, scaled
    by the power of two of the in-memory code (one max reduction)."""
    if sample_weight is None:
        return None
    weights = as_real_dask(
        as_dask(sample_weight, "sample_weight", chunks=chunks), "sample_weight"
    )
    if weights.shape != shape:
        raise ValueError(
            f"sample_weight must have shape {shape} ({what}), got shape {weights.shape}"
        )
    weights = match_chunks(weights, chunks)
    if not mean:
        return weights
    return da.blockwise(
        _scaled_weight, index, weights, index, weights.max(), "", dtype=np.float64
    )


# ---------------------------------------------------------------------------
# Section 2: categorical cross-entropy


def cross_entropy(
    logits,
    target,
    *,
    axis=-1,
    class_weight=None,
    sample_weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
    n_threads=None,
):
    """:func:`fastxent.cross_entropy` on dask arrays, lazily."""
    return _cross_entropy(
        logits, target, axis, class_weight, sample_weight, ignore_index,
        label_smoothing, reduction, base, n_threads, want_grad=False,
    )  # fmt: skip


def cross_entropy_with_grad(
    logits,
    target,
    *,
    axis=-1,
    class_weight=None,
    sample_weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
    n_threads=None,
    out=None,
):
    """:func:`fastxent.cross_entropy_with_grad` on dask arrays, lazily."""
    _refuse_out(out)
    return _cross_entropy(
        logits, target, axis, class_weight, sample_weight, ignore_index,
        label_smoothing, reduction, base, n_threads, want_grad=True,
    )  # fmt: skip


def _xent_block(z, t, w, *, want_grad, partial, **options):
    """One block: the in-memory cross-entropy of its rows."""
    if want_grad:
        loss, grad = _xent_grad_numpy(z, t, sample_weight=w, **options)
    else:
        loss, grad = _xent_numpy(z, t, sample_weight=w, **options), None
    if partial:
        loss = _block_sum(loss, z.ndim - 1)
    return (loss, grad) if want_grad else loss


def _xent_weight_block(t, w, *, hard, class_weight, ignore_index, axis, dtype):
    """Total row weight of one block (the denominator of the mean).

    The in-memory rule: ``sample_weight_i * class_weight[y_i]`` (0 for an
    ignored row) for labels, ``sample_weight_i * sum_c class_weight_c p_ic``
    for probabilities. A bad label is clipped here rather than raised: the
    loss of the same block raises the in-memory error for it.
    """
    if hard:
        labels = np.asarray(t)
        ignored = np.zeros(labels.shape, bool)
        if ignore_index is not None:
            ignored = labels == ignore_index
        safe = np.clip(labels, 0, class_weight.shape[0] - 1).astype(np.intp)
        row_weight = np.where(ignored, 0.0, class_weight[safe])
    else:
        p = np.moveaxis(np.asarray(t, dtype=dtype), axis, -1)
        row_weight = np.einsum("...j,j->...", p, class_weight, dtype=np.float64)
    if w is not None:
        row_weight = row_weight * w
    return _block_sum(row_weight.sum(), row_weight.ndim)


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
    want_grad,
):
    reduction = check_reduction(reduction)
    check_label_smoothing(label_smoothing)
    log_of_base(base)
    threads = _threads(n_threads)
    logits = as_real_dask(logits, "logits")
    if logits.ndim == 0:
        raise ValueError(
            "logits must have a class axis: shape (n_samples, n_classes) or "
            "(n_classes,), got a scalar"
        )
    axis = check_axis(axis, logits.ndim, "logits")
    n_classes = logits.shape[axis]
    if n_classes == 0:
        raise ValueError("logits has 0 classes along its class axis; need >= 1")
    logits = whole_axes(logits, [axis])
    check_known_chunks(logits, "logits")
    index = _LETTERS[: logits.ndim]
    batch_index = index[:axis] + index[axis + 1 :]
    batch_chunks = logits.chunks[:axis] + logits.chunks[axis + 1 :]
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1 :]
    mean = reduction == "mean"
    if mean and math.prod(batch_shape) == 0:
        raise ValueError(
            "logits is an empty batch (0 samples): the mean is undefined; "
            "use reduction='sum' or 'none'"
        )

    target = as_dask(target, "target")
    hard = is_hard_target(target.shape, target.dtype, logits.shape, batch_shape)
    if hard and target.dtype.kind not in "biuf":
        # Float labels are checked block by block, by the in-memory rule.
        raise TypeError(
            f"target of shape {target.shape} must hold integer class labels, got "
            f"dtype {target.dtype}; pass integer class indices "
            "(target.astype(int)) or probabilities of the logits' shape"
        )
    target = match_chunks(target, batch_chunks if hard else logits.chunks)
    target_index = batch_index if hard else index
    weights = _sample_weights(
        sample_weight, batch_shape, batch_chunks, batch_index, mean, "one per sample"
    )
    class_weight = small_numpy(class_weight)
    if class_weight is not None:
        class_weight = check_nonnegative_vector(class_weight, "class_weight", n_classes)
    if mean:
        # The in-memory rescaling, done once here so every block sees the
        # same weights: each row's loss is then bitwise the in-memory one.
        class_weight = scale_for_mean(
            np.ones(n_classes) if class_weight is None else class_weight
        )

    block = functools.partial(
        locate_errors(_xent_block), want_grad=want_grad, partial=reduction != "none",
        n_starts=len(batch_index), axis=axis, class_weight=class_weight,
        ignore_index=ignore_index, label_smoothing=label_smoothing, base=base,
        n_threads=threads, reduction="none" if reduction == "none" else "sum",
    )  # fmt: skip
    weight_args = [None, None] if weights is None else [weights, batch_index]
    inputs = [logits, index, target, target_index, *weight_args]
    inputs += _starts_args(batch_chunks, batch_index)
    weight_sums = None
    if mean:
        weight_block = functools.partial(
            _xent_weight_block, hard=hard, class_weight=class_weight,
            ignore_index=ignore_index, axis=axis, dtype=logits.dtype,
        )  # fmt: skip
        weight_sums = da.blockwise(
            weight_block, batch_index, target, target_index, *weight_args,
            dtype=np.float64, concatenate=True,
            adjust_chunks={letter: 1 for letter in batch_index},
        )  # fmt: skip
    return _loss_outputs(
        block, inputs, index=index, loss_index=batch_index, dtype=logits.dtype,
        reduction=reduction, want_grad=want_grad, weight_sums=weight_sums,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Section 3: binary cross-entropy


def binary_cross_entropy(
    logits,
    target,
    *,
    pos_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
    n_threads=None,
):
    """:func:`fastxent.binary_cross_entropy` on dask arrays, lazily."""
    return _binary_cross_entropy(
        logits, target, pos_weight, sample_weight, label_smoothing, reduction,
        base, n_threads, want_grad=False,
    )  # fmt: skip


def binary_cross_entropy_with_grad(
    logits,
    target,
    *,
    pos_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
    n_threads=None,
    out=None,
):
    """:func:`fastxent.binary_cross_entropy_with_grad` on dask arrays, lazily."""
    _refuse_out(out)
    return _binary_cross_entropy(
        logits, target, pos_weight, sample_weight, label_smoothing, reduction,
        base, n_threads, want_grad=True,
    )  # fmt: skip


def _bce_block(z, t, w, *, want_grad, partial, **options):
    """One block: the in-memory binary cross-entropy of its rows."""
    if want_grad:
        loss, grad = _bce_grad_numpy(z, t, sample_weight=w, **options)
    else:
        loss, grad = _bce_numpy(z, t, sample_weight=w, **options), None
    if partial:
        loss = _block_sum(loss, z.ndim)
    return (loss, grad) if want_grad else loss


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
    want_grad,
):
    reduction = check_reduction(reduction)
    check_label_smoothing(label_smoothing)
    log_of_base(base)
    threads = _threads(n_threads)
    logits = as_real_dask(logits, "logits")
    target = as_real_dask(target, "target")
    if target.shape != logits.shape:
        raise ValueError(
            f"target must have the shape of logits {logits.shape}, got {target.shape}"
        )
    pos_weight = small_numpy(pos_weight)
    mean = reduction == "mean"
    options = {
        "pos_weight": pos_weight, "label_smoothing": label_smoothing, "base": base,
        "n_threads": threads,
    }  # fmt: skip
    if logits.ndim == 0:
        # One sample: nothing to split; the in-memory function on one block.
        func = _bce_grad_numpy if want_grad else _bce_numpy
        call = functools.partial(
            func, sample_weight=small_numpy(sample_weight),
            reduction=reduction, **options,
        )  # fmt: skip
        if not want_grad:
            return da.map_blocks(call, logits, target, dtype=logits.dtype)
        pair = da.map_blocks(call, logits, target, meta=np.empty(()))
        return tuple(
            pair.map_blocks(functools.partial(_pick, i), dtype=logits.dtype)
            for i in (0, 1)
        )
    logits = whole_axes(logits, range(1, logits.ndim))
    check_known_chunks(logits, "logits")
    target = match_chunks(target, logits.chunks)
    n_rows = logits.shape[0]
    n_labels = math.prod(logits.shape[1:])
    if mean and n_rows * n_labels == 0:
        raise ValueError(
            "logits is empty: the mean is undefined; use reduction='sum' or 'none'"
        )
    index = _LETTERS[: logits.ndim]
    weights = _sample_weights(
        sample_weight, (n_rows,), logits.chunks[:1], index[0], mean,
        "one per row of logits",
    )  # fmt: skip
    block = functools.partial(
        locate_errors(_bce_block), want_grad=want_grad, partial=reduction != "none",
        n_starts=1, reduction="none" if reduction == "none" else "sum", **options,
    )  # fmt: skip
    weight_args = [None, None] if weights is None else [weights, index[0]]
    inputs = [logits, index, target, index, *weight_args]
    inputs += _starts_args(logits.chunks[:1], index[0])
    weight_sums = None
    if mean:
        # As in memory: the weights' sum times the labels per row.
        weight_sums = (
            da.from_array(np.float64(n_rows * n_labels))
            if weights is None
            else weights.sum() * float(n_labels)
        )
    return _loss_outputs(
        block, inputs, index=index, loss_index=index, dtype=logits.dtype,
        reduction=reduction, want_grad=want_grad, weight_sums=weight_sums,
    )  # fmt: skip
