"""The functional API on dask arrays: lazy, chunk by chunk, same values.

Each function is its in-memory namesake's twin: the same parameters (its
signature is the in-memory one, and binds the call), the same checks in the
same order (the in-memory modules' own, on what is known without computing),
and a lazy dask array as the result. How the result matches the in-memory
one:

- Per-sample results (``reduction="none"``, ``softmax``, ``logsumexp``,
  ``entropy`` along an axis, gradients with ``"none"``) are bitwise equal:
  every block is one call of the in-memory function on the same rows, and
  the kernels treat rows independently.
- ``"sum"`` and ``"mean"`` add per-block sums in a tree and divide at the
  end, so they match to rounding (1e-12 relative in float64; in float32
  each block's sum is rounded to float32, so the mean is within two float32
  ulps); they compute to numpy scalars, as in memory.
  ``"mean"`` scales the sample weights of every block by the power of two
  ``scale_for_mean`` picks for all of them (their maximum is one small
  reduction), so per-row terms are bitwise the in-memory ones and the total
  weight stays finite; each block adds its rows' weights by the in-memory
  rule.

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
import inspect
import math
import types

import dask.array as da
import numpy as np

from fastxent import _binary, _categorical, _core, _information, _logsumexp
from fastxent._validation import (
    broadcast_shape,
    check_axes,
    check_loss_options,
    check_sample_weight,
    check_sample_weight_shape,
    check_total_weight,
    log_of_base,
    rows_last,
    scale_for_mean,
)
from fastxent.dask._arrays import (
    BLOCK_THREADS,
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


def _namesake(numpy_func, lazy_func, **fixed):
    """The dask function of ``numpy_func``'s name, called as it is.

    The call is bound by the in-memory signature (defaults filled in) and
    reaches ``lazy_func(call, numpy_func, **fixed)`` as one namespace,
    ``call``, so the names, kinds and defaults of the parameters are written
    once, in memory; ``lazy_func`` maps ``numpy_func`` over blocks.
    ``__wrapped__`` points there, so that ``inspect.signature`` and
    ``typing.get_type_hints`` give the in-memory ones.
    """
    signature = inspect.signature(numpy_func)
    in_memory = inspect.unwrap(numpy_func)
    name = numpy_func.__name__

    def backend(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            # Arguments the signature refuses: the in-memory function refuses
            # them too, in Python's own words, before its body runs.
            in_memory(*args, **kwargs)
            raise
        bound.apply_defaults()
        call = types.SimpleNamespace(**bound.arguments)
        if getattr(call, "out", None) is not None:
            raise TypeError(
                "out= is not supported for dask arrays: the result is a new lazy "
                "dask array; drop out="
            )
        return lazy_func(call, numpy_func, **fixed)

    functools.update_wrapper(backend, numpy_func)
    backend.__module__ = __name__
    backend.__doc__ = (
        f":func:`fastxent.{name}` on dask arrays, lazily: the same parameters, "
        f"a lazy result (see ``{__name__}``)."
    )
    return backend


def _pick(index, blocks):
    """Item ``index`` of the tuple a block computed (loss, grad, ...)."""
    while isinstance(blocks, list):  # blockwise hands contracted blocks in lists
        blocks = blocks[0]
    return blocks[index]


def _split_pairs(pairs, dtype):
    """The two lazy arrays of a lazy array whose blocks are pairs."""
    return tuple(
        pairs.map_blocks(functools.partial(_pick, i), dtype=dtype) for i in (0, 1)
    )


# ---------------------------------------------------------------------------
# Section 1: logsumexp, softmax, log_softmax


def _lse_block(numpy_func, a, b=None, **options):
    """One block: the in-memory ``logsumexp`` of its values (and weights)."""
    return numpy_func(a, b=b, **options)


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
        dtype = _logsumexp.weighted_dtype(a.dtype, np.asarray(b).dtype, b)
        return (a.reshape(1) if a.ndim == 0 else a), b, dtype
    b_array = as_dask(b, "b")
    dtype = _logsumexp.weighted_dtype(a.dtype, b_array.dtype, b)
    shape = broadcast_shape(a.shape, b_array.shape, "a", "b") or (1,)
    return da.broadcast_to(a, shape), da.broadcast_to(b_array, shape), dtype


def _lazy_logsumexp(call, numpy_func):
    """Each reduced axis in one chunk (``axis=None``: the whole array one
    block, which must fit in a worker's memory), reduced by the in-memory
    function; a pair of lazy arrays with ``return_sign``."""
    threads = resolve_threads(call.n_threads)
    a, b, dtype = _lse_inputs(call.a, call.b)
    axes = check_axes(call.axis, a.ndim, "a")
    a = whole_axes(a, axes)
    options = {"axis": axes, "keepdims": call.keepdims, "n_threads": threads}
    arrays = [a]
    if isinstance(b, da.Array):
        arrays.append(match_chunks(b, a.chunks))
    elif b is not None:
        options["b"] = b
    block = functools.partial(
        _lse_block, numpy_func, return_sign=call.return_sign, **options
    )
    if call.keepdims:
        chunks = tuple((1,) if i in axes else c for i, c in enumerate(a.chunks))
        shape = {"chunks": chunks}
    else:
        shape = {"drop_axis": list(axes)}
    if not call.return_sign:
        return da.map_blocks(block, *arrays, dtype=dtype, **shape)
    n_dims = a.ndim - (0 if call.keepdims else len(axes))
    pairs = da.map_blocks(block, *arrays, meta=np.empty((0,) * n_dims), **shape)
    return _split_pairs(pairs, dtype)


def _lazy_normalise(call, numpy_func):
    """``softmax`` or ``log_softmax``: each axis of ``axis`` in one chunk
    (``axis=None``: the whole array one block)."""
    threads = resolve_threads(call.n_threads)
    x = as_real_dask(call.x, "x")
    # As in memory, a 0-d input is one element and an axis of 0 or -1 is valid.
    axes = check_axes(call.axis, max(x.ndim, 1), "x")
    x = whole_axes(x, axes) if x.ndim else x
    func = functools.partial(numpy_func, axis=call.axis, n_threads=threads)
    return x.map_blocks(func, dtype=x.dtype)


# ---------------------------------------------------------------------------
# Section 4: entropy, kl_divergence


def _lazy_information(call, numpy_func):
    """``entropy`` of ``call.p``, or ``kl_divergence`` when ``call`` has a ``q``."""
    log_of_base(call.base)
    threads = resolve_threads(call.n_threads)
    p = as_real_dask(call.p, "p")
    axis = _information.probability_axis(p.ndim, call.axis, "p")
    arrays = [whole_axes(p, [axis])]
    if hasattr(call, "q"):
        q = as_real_dask(call.q, "q")
        _information.probability_axis(q.ndim, axis, "q")
        _information.check_same_shape(p.shape, q.shape)
        arrays.append(match_chunks(q, arrays[0].chunks))
    func = functools.partial(numpy_func, axis=axis, base=call.base, n_threads=threads)
    dtype = np.result_type(*(x.dtype for x in arrays))
    return da.map_blocks(func, *arrays, drop_axis=axis, dtype=dtype)


# ---------------------------------------------------------------------------
# Shared by the cross-entropies: a block's outputs, their tree sums, the mean


@locate_errors
def _loss_block(
    z, t, w, largest, *, loss, reduction, want_grad, mean_weight, per, sum_ndim,
    **options,
):  # fmt: skip
    """One block of a cross-entropy: the in-memory ``loss`` of its rows
    (errors located by :func:`locate_errors`, which takes ``n_starts``).

    Returns the loss (for ``"sum"`` and ``"mean"`` the block's sum, shaped
    by :func:`_block_sum` with ``sum_ndim`` axes), then with ``want_grad``
    the gradient of that, then for the mean ``mean_weight(z, t, w)``, the
    block's part of the denominator. ``largest`` is the maximum of all
    sample weights (``per`` what one stands for), given for the mean.
    """
    if largest is not None:  # scaled as scale_for_mean scales them all
        w = scale_for_mean(check_sample_weight(w, w.shape, per), float(largest))
    block_reduction = "none" if reduction == "none" else "sum"
    result = loss(z, t, sample_weight=w, reduction=block_reduction, **options)
    outputs = list(result) if want_grad else [result]
    if reduction != "none":
        outputs[0] = _block_sum(outputs[0], sum_ndim)
    if reduction == "mean":
        outputs.append(_block_sum(mean_weight(z, t, w), sum_ndim))
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _block_sum(value, ndim):
    """A block's sum as float64, shaped to sit in the array of per-block sums."""
    return np.asarray(value, dtype=np.float64).reshape((1,) * ndim)


def _tree_sum(partials):
    return partials.sum() if partials.ndim else partials


def _finish(total, weight, *, dtype, weighted_by):
    """The reduced loss from the tree sums (0-d arrays): a numpy scalar of
    ``dtype``, ``sum / weight`` for the mean, as in memory."""
    if weight is None:
        return _core.in_loss_dtype(float(total), dtype)
    check_total_weight(float(weight), weighted_by)
    return _core.in_loss_dtype(float(total) / float(weight), dtype)


def _scale_grad(grad, weight, *, weighted_by):
    """A block of the gradient of the sum, divided by the total weight."""
    check_total_weight(float(weight), weighted_by)
    return grad * grad.dtype.type(1.0 / float(weight))


def _loss_outputs(
    loss, inputs, *, index, loss_index, sample_index, reduction, want_grad,
    weighted_by, **options,
):  # fmt: skip
    """The lazy loss (and gradient) of ``loss``, one :func:`_loss_block` per
    block of the blockwise ``inputs`` (the logits along ``index`` first).

    ``sample_index`` are the sample axes, along which each block is told
    where it starts; ``loss_index`` the axes of the per-element losses;
    ``weighted_by`` what the in-memory function's error names when a mean's
    weights sum to 0; ``options`` the rest of :func:`_loss_block`'s keywords.
    """
    dtype = inputs[0].dtype
    chunks = dict(zip(index, inputs[0].chunks, strict=True))
    starts = block_indices([chunks[letter] for letter in sample_index])
    for indices, letter in zip(starts, sample_index, strict=True):
        inputs = [*inputs, indices, letter]
    block = functools.partial(
        _loss_block, n_starts=len(sample_index), loss=loss, reduction=reduction,
        want_grad=want_grad, sum_ndim=len(loss_index), **options,
    )  # fmt: skip
    n_outputs = 1 + want_grad + (reduction == "mean")
    adjust = {letter: 1 for letter in loss_index} if reduction != "none" else None
    part_dtype = dtype if reduction == "none" else np.float64
    if n_outputs == 1:
        parts = da.blockwise(
            block, loss_index, *inputs, dtype=part_dtype, concatenate=True,
            adjust_chunks=adjust,
        )  # fmt: skip
        outputs = None
    else:
        outputs = da.blockwise(
            block, index, *inputs, concatenate=True, meta=np.empty((0,) * len(index))
        )
        parts = _output(outputs, 0, index, loss_index, part_dtype, adjust)
    grad = _output(outputs, 1, index, index, dtype, None) if want_grad else None
    if reduction == "none":
        return parts if grad is None else (parts, grad)
    weight = None
    if reduction == "mean":
        weight = _tree_sum(
            _output(outputs, n_outputs - 1, index, loss_index, np.float64, adjust)
        )
    finish = functools.partial(_finish, dtype=dtype, weighted_by=weighted_by)
    loss = da.map_blocks(finish, _tree_sum(parts), weight, dtype=dtype)
    if grad is None:
        return loss
    if weight is not None:
        scale = functools.partial(_scale_grad, weighted_by=weighted_by)
        grad = da.blockwise(scale, index, grad, index, weight, "", dtype=dtype)
    return loss, grad


def _output(outputs, i, index, out_index, dtype, adjust):
    """Item ``i`` of the tuples of ``outputs`` (blocks along ``index``)."""
    return da.blockwise(
        functools.partial(_pick, i), out_index, outputs, index, dtype=dtype,
        concatenate=False, adjust_chunks=adjust,
    )  # fmt: skip


def _sample_weights(sample_weight, logits, index, sample_index, per, reduction):
    """blockwise arguments of the sample weights, one per entry of the axes
    ``sample_index`` of ``logits`` (whose axes are ``index``) in blocks
    matching them, and for the mean of their maximum (see
    :func:`_loss_block`)."""
    if sample_weight is None:
        return [None, None, None, None]
    axes = [index.index(letter) for letter in sample_index]
    weights = as_real_dask(sample_weight, "sample_weight")
    check_sample_weight_shape(weights.shape, [logits.shape[i] for i in axes], per)
    weights = match_chunks(weights, tuple(logits.chunks[i] for i in axes))
    largest = [weights.max(), ""] if reduction == "mean" else [None, None]
    return [weights, sample_index, *largest]


# ---------------------------------------------------------------------------
# Section 2: categorical cross-entropy


def _xent_weight(z, t, w, *, hard, axis, class_weight, ignore_index):
    """A block's total row weight, by the in-memory rules (``total_hard_weight``
    for labels, ``soft_row_weight`` for probabilities). The block's loss came
    first, so its target and weights are valid."""
    batch_shape = z.shape[:axis] + z.shape[axis + 1 :]
    weights_s = _core.UNIT_WEIGHT if w is None else w.reshape(-1)
    if hard:
        _, total = _categorical.hard_target(
            t, class_weight, weights_s, batch_shape, ignore_index
        )
        return total
    p = rows_last(t.astype(z.dtype, copy=False), axis)
    row_weight = _categorical.soft_row_weight(p, class_weight, weights_s, batch_shape)
    return float(row_weight.sum())


def _lazy_cross_entropy(call, loss, *, want_grad):
    """``cross_entropy`` or, with ``want_grad``, ``cross_entropy_with_grad``."""
    logits = as_real_dask(call.logits, "logits")
    axis, n_classes, batch_shape = _categorical.class_layout(logits.shape, call.axis)
    reduction, _, _, threads = check_loss_options(
        call.reduction, call.label_smoothing, call.base, call.n_threads,
        BLOCK_THREADS,
    )  # fmt: skip
    _categorical.check_mean_defined(math.prod(batch_shape), reduction)
    class_weight, _ = _categorical.resolve_weights(
        small_numpy(call.class_weight), None, n_classes, batch_shape, reduction
    )
    _categorical.check_class_weight_sum(class_weight)
    logits = whole_axes(logits, [axis])
    check_known_chunks(logits, "logits")
    index = _LETTERS[: logits.ndim]
    batch_index = index[:axis] + index[axis + 1 :]
    batch_chunks = logits.chunks[:axis] + logits.chunks[axis + 1 :]
    weights = _sample_weights(
        call.sample_weight, logits, index, batch_index, "sample", reduction
    )
    target = as_dask(call.target, "target")
    hard = _categorical.is_hard_target(
        target.shape, target.dtype, logits.shape, batch_shape
    )
    if hard:  # float labels are whole numbers or not: the blocks say
        _categorical.check_label_dtype(target.shape, target.dtype)
    target = match_chunks(target, batch_chunks if hard else logits.chunks)
    mean_weight = functools.partial(
        _xent_weight, hard=hard, axis=axis, class_weight=class_weight,
        ignore_index=call.ignore_index,
    )  # fmt: skip
    inputs = [logits, index, target, batch_index if hard else index, *weights]
    return _loss_outputs(
        loss, inputs, index=index, loss_index=batch_index, sample_index=batch_index,
        reduction=reduction, want_grad=want_grad,
        weighted_by=_categorical.MEAN_WEIGHTED_BY, mean_weight=mean_weight,
        per="sample", axis=axis, class_weight=class_weight,
        ignore_index=call.ignore_index, label_smoothing=call.label_smoothing,
        base=call.base, n_threads=threads,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Section 3: binary cross-entropy


def _bce_weight(z, t, w):
    """A block's total element weight, by the in-memory rule."""
    n_rows = z.shape[0]
    weights_r = _core.UNIT_WEIGHT if w is None else w
    return _binary.element_weight_sum(weights_r, n_rows, math.prod(z.shape[1:]))


def _lazy_binary_cross_entropy(call, loss, *, want_grad):
    """``binary_cross_entropy`` or, with ``want_grad``, its ``_with_grad``."""
    logits = as_real_dask(call.logits, "logits")
    reduction, _, _, threads = check_loss_options(
        call.reduction, call.label_smoothing, call.base, call.n_threads,
        BLOCK_THREADS,
    )  # fmt: skip
    target = as_real_dask(call.target, "target")
    _binary.check_target_shape(logits.shape, target.shape)
    options = {
        "pos_weight": small_numpy(call.pos_weight),
        "label_smoothing": call.label_smoothing, "base": call.base,
        "n_threads": threads,
    }  # fmt: skip
    if logits.ndim == 0:
        # One sample: nothing to split; the in-memory function on one block.
        one = functools.partial(
            loss, sample_weight=small_numpy(call.sample_weight),
            reduction=reduction, **options,
        )  # fmt: skip
        if not want_grad:
            return da.map_blocks(one, logits, target, dtype=logits.dtype)
        pair = da.map_blocks(one, logits, target, meta=np.empty(()))
        return _split_pairs(pair, logits.dtype)
    logits = whole_axes(logits, range(1, logits.ndim))
    check_known_chunks(logits, "logits")
    target = match_chunks(target, logits.chunks)
    index = _LETTERS[: logits.ndim]
    weights = _sample_weights(
        call.sample_weight, logits, index, index[0], "row of logits", reduction
    )
    _binary.check_mean_defined(math.prod(logits.shape), reduction)
    return _loss_outputs(
        loss, [logits, index, target, index, *weights], index=index,
        loss_index=index, sample_index=index[0], reduction=reduction,
        want_grad=want_grad, weighted_by=_binary.MEAN_WEIGHTED_BY,
        mean_weight=_bce_weight, per="row of logits", **options,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# The public names, each with the signature of its in-memory namesake

logsumexp = _namesake(_logsumexp.logsumexp, _lazy_logsumexp)
softmax = _namesake(_logsumexp.softmax, _lazy_normalise)
log_softmax = _namesake(_logsumexp.log_softmax, _lazy_normalise)
entropy = _namesake(_information.entropy, _lazy_information)
kl_divergence = _namesake(_information.kl_divergence, _lazy_information)
cross_entropy = _namesake(
    _categorical.cross_entropy, _lazy_cross_entropy, want_grad=False
)
cross_entropy_with_grad = _namesake(
    _categorical.cross_entropy_with_grad, _lazy_cross_entropy, want_grad=True
)
binary_cross_entropy = _namesake(
    _binary.binary_cross_entropy, _lazy_binary_cross_entropy, want_grad=False
)
binary_cross_entropy_with_grad = _namesake(
    _binary.binary_cross_entropy_with_grad, _lazy_binary_cross_entropy,
    want_grad=True,
)  # fmt: skip
