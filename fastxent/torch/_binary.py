"""``fastxent::binary_cross_entropy_with_logits``: PyTorch's, fused.

PyTorch's semantics, where they differ from
:func:`fastxent.binary_cross_entropy`: ``weight`` broadcasts to the input's
shape (per element, per label, per row, or a scalar that scales without
normalising); ``pos_weight`` broadcasts with the target; ``"mean"`` divides
by the number of elements whatever the weights; targets are not
range-checked; weights of any sign are accepted.

The kernel weights rows and columns. A ``weight`` that varies along the
last dimension, or a ``pos_weight`` that varies along any other, takes a
general path: the kernel sees the tensor as one row with a positive weight
per element, and ``weight`` multiplies its element losses and gradient.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fastxent import _core
from fastxent._validation import check_reduction
from fastxent.torch import _layout
from fastxent.torch._autograd import (
    legacy_reduction,
    reference_grads,
    register_saved_grad_autograd,
    scale_saved,
)


@torch.library.custom_op("fastxent::binary_cross_entropy_with_logits", mutates_args=())
def binary_cross_entropy_op(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None,
    pos_weight: torch.Tensor | None,
    reduction: str,
    want_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss, and ``d loss / d input`` (empty unless ``want_grad``).

    For ``reduction="none"`` the gradient holds ``d loss_e / d input_e``.
    """
    _check_arguments(input, target, weight, pos_weight, reduction)
    shape = tuple(input.shape)
    dtype = _layout.compute_dtype(input.dtype)
    x = input.to(dtype).contiguous()
    y = target.to(dtype).contiguous()
    rows, pos, row_weight, element_weight = _weights(shape, weight, pos_weight)
    n_labels = x.numel() // rows if rows else 0
    grad = torch.empty(shape if want_grad else (0,), dtype=dtype)
    keep_elements = reduction == "none" or element_weight is not None
    elements = torch.empty(shape, dtype=dtype) if keep_elements else None
    scale = 1.0 / x.numel() if reduction == "mean" and x.numel() else 1.0
    total = _core.binary_cross_entropy(
        _rows(x, rows, n_labels), _rows(y, rows, n_labels), pos, row_weight, 0.0,
        1.0, scale, None if elements is None else _rows(elements, rows, n_labels),
        _rows(grad, rows, n_labels) if want_grad else None,
        torch.get_num_threads(),
    )  # fmt: skip
    if element_weight is not None:
        elements *= element_weight
        if want_grad:
            grad *= element_weight
        total = float(elements.sum(dtype=torch.float64))
    if reduction == "none":
        return elements.to(input.dtype), grad
    if reduction == "mean":
        total = total / x.numel() if x.numel() else float("nan")
    return torch.tensor(total, dtype=input.dtype), grad


@binary_cross_entropy_op.register_fake
def _(input, target, weight, pos_weight, reduction, want_grad):
    dtype = _layout.compute_dtype(input.dtype)
    shape = input.shape if reduction == "none" else ()
    grad_shape = input.shape if want_grad else (0,)
    return input.new_empty(shape), input.new_empty(grad_shape, dtype=dtype)


def _rows(tensor: torch.Tensor, rows: int, n_labels: int) -> np.ndarray:
    return _layout.as_numpy(tensor).reshape(rows, n_labels)


def _check_arguments(input, target, weight, pos_weight, reduction) -> None:
    _layout.check_floating(input, "input")
    check_reduction(reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"target must have the size of input {tuple(input.shape)}, got "
            f"{tuple(target.shape)}"
        )
    _layout.check_floating(target, "target")
    for tensor, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        if tensor is None:
            continue
        _layout.check_floating(tensor, name)
        try:
            broadcast = torch.broadcast_shapes(tensor.shape, input.shape)
        except RuntimeError:
            broadcast = None
        if broadcast != input.shape:
            raise ValueError(
                f"{name} of shape {tuple(tensor.shape)} does not broadcast to "
                f"the input's shape {tuple(input.shape)}"
            )


def _weights(shape, weight, pos_weight):
    """The kernel's view and weights: rows, per-column positive weights,
    per-row weights, and the element weights left to apply (or None)."""
    n_labels = shape[-1] if shape else 1
    rows = int(np.prod(shape[:-1])) if shape else 1
    row_shape = shape[:-1] + (1,) if shape else ()
    if _varies_along(pos_weight, shape, last=True) and _varies_along(
        weight, shape, last=False
    ):
        pos = (
            np.ones(n_labels)
            if pos_weight is None
            else _layout.float64_vector(pos_weight, (n_labels,))
        )
        row_weight = (
            np.ones(1) if weight is None else _layout.float64_vector(weight, row_shape)
        )
        return rows, pos, row_weight, None
    size = int(np.prod(shape))
    pos = (
        np.ones(size)
        if pos_weight is None
        else _layout.float64_vector(pos_weight, shape)
    )
    element_weight = None
    if weight is not None:
        element_weight = (
            weight.detach().expand(shape).to(_layout.compute_dtype(weight.dtype))
        )
    return 1, pos, np.ones(1), element_weight


def _varies_along(tensor, shape, *, last: bool) -> bool:
    """``tensor`` (broadcast to ``shape``) varies along the last dimension
    only (``last``), or along every dimension but the last (not ``last``)."""
    if tensor is None or tensor.ndim == 0:
        return True
    padded = (1,) * (len(shape) - tensor.ndim) + tuple(tensor.shape)
    if last:
        return all(size == 1 for size in padded[:-1])
    return padded[-1] == 1


def _setup_context(ctx, inputs, output):
    input, target, weight, pos_weight, reduction, _ = inputs
    ctx.save_for_backward(input, target, weight, pos_weight, output[1])
    ctx.reduction = reduction


def _backward(ctx, grad_loss):
    input, target, weight, pos_weight, grad = ctx.saved_tensors
    need = ctx.needs_input_grad[:4]
    if torch.is_grad_enabled() or any(need[1:]) or grad.numel() != input.numel():
        grads = reference_grads(
            F.binary_cross_entropy_with_logits,
            {"input": input, "target": target, "weight": weight,
             "pos_weight": pos_weight}, need, grad_loss,
            {"reduction": ctx.reduction},
        )  # fmt: skip
        return (*grads, None, None)
    grad = scale_saved(grad, grad_loss)
    return grad.to(input.dtype), None, None, None, None, None


register_saved_grad_autograd(binary_cross_entropy_op, _backward, _setup_context)


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``torch.nn.functional.binary_cross_entropy_with_logits``, fused.

    Parameters
    ----------
    input : Tensor of any shape
        Logits: float32, float64, or float16 / bfloat16 (computed in
        float32, returned in their dtype). CPU tensors only.
    target : Tensor of the shape of ``input``
        Targets, usually in [0, 1] (not checked, as in PyTorch).
    weight : Tensor broadcastable to ``input``'s shape, optional
        Weight of each element's loss.
    size_average, reduce : bool, optional
        Deprecated in PyTorch; they set ``reduction`` as there.
    reduction : {"mean", "sum", "none"}, default="mean"
        ``"mean"`` divides by the number of elements.
    pos_weight : Tensor broadcastable with ``target``, optional
        Weight of the positive term, usually one per class (last dimension).

    Returns
    -------
    Tensor
        0-d, or of ``input``'s shape for ``reduction="none"``.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    for tensor, name in (
        (input, "input"),
        (target, "target"),
        (weight, "weight"),
        (pos_weight, "pos_weight"),
    ):
        _layout.check_cpu(tensor, name)
    want_grad = torch.is_grad_enabled() and input.requires_grad
    loss, _ = binary_cross_entropy_op(
        input, target, weight, pos_weight, reduction, want_grad
    )
    return loss
