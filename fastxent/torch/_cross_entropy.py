"""``fastxent::cross_entropy``: PyTorch's categorical cross-entropy, fused.

The forward runs the fused kernel once for the loss and, when autograd will
ask for it, the gradient of the loss with respect to ``input``; the backward
only scales that gradient. What the fused pass does not give (gradients with
respect to a probability target or the class weights, and higher-order
gradients) comes from differentiating PyTorch's own formula on the saved
inputs, so every derivative autograd can ask for is there.

PyTorch's semantics, where they differ from :func:`fastxent.cross_entropy`:
negative class weights are accepted; ``"mean"`` over probability targets
divides by the number of samples; label smoothing of probability targets
mixes ``(1 - e) t + e / C`` whatever a row sums to; ``label_smoothing``
may be 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fastxent import _core
from fastxent._categorical import (
    check_ignore_index,
    hard_target,
    is_hard_target,
)
from fastxent._core import UNIT_WEIGHT
from fastxent._validation import check_reduction
from fastxent.torch import _layout
from fastxent.torch._autograd import (
    legacy_reduction,
    reference_grads,
    register_saved_grad_autograd,
    scale_saved,
)


@torch.library.custom_op("fastxent::cross_entropy", mutates_args=())
def cross_entropy_op(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    reduction: str,
    ignore_index: int,
    label_smoothing: float,
    want_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss, and ``d loss / d input`` as ``(n_samples, n_classes)`` rows.

    The gradient is empty (shape ``(0,)``) unless ``want_grad``; for
    ``reduction="none"`` row ``i`` holds ``d loss_i / d input_i``.
    """
    _check_arguments(input, target, weight, reduction, label_smoothing)
    dtype = _layout.compute_dtype(input.dtype)
    rows = _layout.rows_last(input, dtype)
    n_rows, n_classes = rows.shape
    class_weight = (
        np.ones(n_classes)
        if weight is None
        else _layout.float64_vector(weight, (n_classes,))
    )
    grad = torch.empty(rows.shape if want_grad else (0,), dtype=dtype)
    grad_rows = _layout.as_numpy(grad) if want_grad else None
    hard = is_hard_target(
        target.shape, _kind_of(target), tuple(input.shape), _batch(input)
    )
    solve = _hard if hard else _soft
    total, loss_rows, total_weight = solve(
        rows, target, class_weight, reduction, ignore_index, label_smoothing,
        grad_rows,
    )  # fmt: skip
    if reduction == "none":
        loss = torch.from_numpy(loss_rows).to(input.dtype).reshape(_batch(input))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.float64(total) / total_weight
        loss = torch.tensor(value, dtype=input.dtype)
    return loss, grad


@cross_entropy_op.register_fake
def _(input, target, weight, reduction, ignore_index, label_smoothing, want_grad):
    dtype = _layout.compute_dtype(input.dtype)
    shape = _batch(input) if reduction == "none" else ()
    n_classes = input.shape[_layout.class_dim(input.ndim)]
    grad_shape = (_layout.n_samples(input.shape), n_classes) if want_grad else (0,)
    return input.new_empty(shape), input.new_empty(grad_shape, dtype=dtype)


def _batch(input) -> tuple:
    return _layout.batch_shape(input.shape)


def _kind_of(target: torch.Tensor) -> np.dtype:
    """A numpy dtype of the target's kind, for the shared target rule."""
    if target.is_floating_point():
        return np.dtype(np.float64)
    return np.dtype(np.bool_) if target.dtype == torch.bool else np.dtype(np.int64)


def _check_arguments(input, target, weight, reduction, label_smoothing) -> None:
    _layout.check_floating(input, "input")
    if input.ndim == 0:
        raise ValueError(
            "input must have a class dimension: shape (C,), (N, C) or "
            "(N, C, d1, ...), got a 0-d tensor"
        )
    check_reduction(reduction)
    _layout.check_label_smoothing(label_smoothing)
    n_classes = input.shape[_layout.class_dim(input.ndim)]
    if weight is not None and tuple(weight.shape) != (n_classes,):
        raise ValueError(
            f"weight must have shape ({n_classes},), one weight per class, got "
            f"shape {tuple(weight.shape)}"
        )


def _hard(rows, target, class_weight, reduction, ignore_index, smoothing, grad):
    """Integer class labels: PyTorch's mean divides by the kept rows' weights."""
    n_rows = rows.shape[0]
    labels, total_weight = hard_target(
        _layout.as_numpy(target.reshape(-1)), class_weight, UNIT_WEIGHT, (n_rows,),
        ignore_index, torch.get_num_threads(), mean=reduction == "mean",
        float_labels=False,
    )  # fmt: skip
    with np.errstate(divide="ignore"):
        grad_scale = float(np.float64(1.0) / total_weight)

    def run(weights, grad_part):
        loss_rows = np.empty(n_rows) if reduction == "none" else None
        total = _core.hard_cross_entropy(
            _layout.as_numpy(rows), labels, weights, float(weights.sum()), UNIT_WEIGHT,
            smoothing, 1.0, grad_scale, loss_rows, grad_part,
            torch.get_num_threads(),
        )  # fmt: skip
        return total, loss_rows

    return (*_core.by_weight_sign(run, class_weight, grad), total_weight)


def _soft(rows, target, class_weight, reduction, ignore_index, smoothing, grad):
    """Class probabilities: PyTorch's mean divides by the number of samples."""
    n_rows, n_classes = rows.shape
    probabilities = _layout.rows_last(target, rows.dtype)
    if smoothing:
        probabilities = probabilities * (1.0 - smoothing) + smoothing / n_classes
    total_weight = float(n_rows) if reduction == "mean" else 1.0
    with np.errstate(divide="ignore"):
        grad_scale = float(np.float64(1.0) / total_weight)

    def run(weights, grad_part):
        loss_rows = np.empty(n_rows)
        total = _core.soft_cross_entropy(
            _layout.as_numpy(rows), _layout.as_numpy(probabilities), weights,
            np.ones(n_rows), 0.0, 1.0, grad_scale, loss_rows, grad_part,
            torch.get_num_threads(),
        )  # fmt: skip
        return total, loss_rows

    return (*_core.by_weight_sign(run, class_weight, grad), total_weight)


def _setup_context(ctx, inputs, output):
    input, target, weight, reduction, ignore_index, label_smoothing, _ = inputs
    ctx.save_for_backward(input, target, weight, output[1])
    ctx.options = {
        "reduction": reduction,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
    }


def _backward(ctx, grad_loss):
    input, target, weight, grad = ctx.saved_tensors
    need = ctx.needs_input_grad[:3]
    if torch.is_grad_enabled() or need[1] or need[2] or grad.numel() == 0:
        grads = reference_grads(
            F.cross_entropy,
            {"input": input, "target": target, "weight": weight}, need, grad_loss,
            ctx.options,
        )  # fmt: skip
        return (*grads, None, None, None, None)
    if ctx.options["reduction"] == "none":
        grad = scale_saved(grad, grad_loss.reshape(-1, 1))
    else:
        grad = scale_saved(grad, grad_loss)
    grad_input = _layout.from_rows(grad, input.shape).to(input.dtype)
    return grad_input, None, None, None, None, None, None


register_saved_grad_autograd(cross_entropy_op, _backward, _setup_context)


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``torch.nn.functional.cross_entropy``, computed by fastxent's kernel.

    Parameters
    ----------
    input : Tensor of shape (C,), (N, C) or (N, C, d1, ..., dK)
        Logits: float32, float64, or float16 / bfloat16 (computed in
        float32, returned in their dtype). CPU tensors only.
    target : Tensor of int of shape (), (N,) or (N, d1, ..., dK), or of \
float of the shape of ``input``
        Class indices in ``[0, C)`` (or ``ignore_index``), or class
        probabilities.
    weight : Tensor of shape (C,), optional
        Weight of each class (any sign, as in PyTorch).
    size_average, reduce : bool, optional
        Deprecated in PyTorch; they set ``reduction`` as there.
    ignore_index : int, default=-100
        A label that contributes nothing (class-index targets).
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides by the summed weights of the kept samples
        (class indices) or by the number of samples (probabilities).
    label_smoothing : float in [0, 1], default=0.0

    Returns
    -------
    Tensor
        0-d, or of shape ``target``'s batch shape for ``reduction="none"``.

    Notes
    -----
    NaN or ``+inf`` logits give NaN, as in PyTorch (mixed-precision
    training relies on it to skip a step). A label out of range raises
    ``ValueError`` before the kernel runs. Where PyTorch's formula
    multiplies 0 by ``-inf`` (a masked class with zero target mass, or label
    smoothing over a masked class) it returns NaN or ``inf``; the kernel
    returns the limit, the masked class contributing nothing.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    for tensor, name in ((input, "input"), (target, "target"), (weight, "weight")):
        _layout.check_cpu(tensor, name)
    ignore_index = check_ignore_index(ignore_index, none_allowed=False)
    want_grad = torch.is_grad_enabled() and input.requires_grad
    loss, _ = cross_entropy_op(
        input, target, weight, reduction, ignore_index, float(label_smoothing),
        want_grad,
    )  # fmt: skip
    return loss
