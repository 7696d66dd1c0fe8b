"""``fastxent::linear_cross_entropy``: a linear layer and its loss, in chunks.

PyTorch's ``linear_cross_entropy(input, linear_weight, target, ...)`` with
the chunk loop of ``fastxent._linear_xent``: no array of all the logits
ever exists. For ``"mean"`` and ``"sum"`` the forward computes the loss and
the three gradients in its one pass over the rows (three matrix products
per chunk) and the backward scales them. For ``"none"`` the incoming
gradient weights each row, so the backward makes a second pass.

PyTorch's semantics, as in :func:`fastxent.torch.cross_entropy` (negative
class weights, the mean over probability targets divides by the number of
samples). Gradients with respect to the target or the class weights, and
higher-order gradients, differentiate PyTorch's own reference
``linear_cross_entropy``, which holds the logits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fastxent._categorical import (
    check_ignore_index,
    hard_target,
    is_hard_target,
)
from fastxent._core import UNIT_WEIGHT
from fastxent._linear_xent import ChunkTarget, Products, check_chunk_size, run_chunks
from fastxent._validation import check_reduction
from fastxent.torch import _layout
from fastxent.torch._autograd import (
    reference_grads,
    register_saved_grad_autograd,
    scale_saved,
)


class _TorchProducts(Products):
    """The chunk loop's products by PyTorch (its BLAS, its thread count), on
    the numpy arrays' own memory."""

    def logits(self, x, weight, bias, out) -> None:
        x, weight, out = _views(x, weight, out)
        if bias is None:
            torch.mm(x, weight.T, out=out)
        else:
            torch.addmm(torch.from_numpy(bias), x, weight.T, out=out)

    def backward(self, grad, x, weight, grad_x, grad_weight, grad_bias, first):
        grad, x, weight, grad_x, grad_weight = _views(
            grad, x, weight, grad_x, grad_weight
        )
        torch.mm(grad, weight, out=grad_x)
        if first:
            torch.mm(grad.T, x, out=grad_weight)
        else:
            grad_weight.addmm_(grad.T, x)
        if grad_bias is not None:
            grad_bias = torch.from_numpy(grad_bias)
            if first:
                torch.sum(grad, dim=0, out=grad_bias)
            else:
                grad_bias += grad.sum(dim=0)


def _views(*arrays):
    return [torch.from_numpy(a) for a in arrays]


@torch.library.custom_op("fastxent::linear_cross_entropy", mutates_args=())
def linear_cross_entropy_op(
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    linear_bias: torch.Tensor | None,
    weight: torch.Tensor | None,
    reduction: str,
    ignore_index: int,
    label_smoothing: float,
    chunk_size: int,
    want_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss and, if ``want_grad``, the gradients with respect to
    ``input``, ``linear_weight`` and ``linear_bias`` (else empty tensors;
    ``chunk_size`` 0 picks the default)."""
    check_reduction(reduction)
    problem = _Problem(input, linear_weight, target, linear_bias, weight)
    chunk_target, total_weight = problem.target(ignore_index, label_smoothing)
    if reduction != "mean":
        total_weight = 1.0
    grads = problem.gradients() if want_grad else None
    loss_rows = np.empty(problem.x.shape[0]) if reduction == "none" else None
    with np.errstate(divide="ignore"):
        grad_scale = float(np.float64(1.0) / total_weight)
    total = run_chunks(
        problem.x, problem.w, problem.b, chunk_target, grad_scale, loss_rows,
        grads, problem.chunk(chunk_size), torch.get_num_threads(),
        _TorchProducts(),
    )  # fmt: skip
    if reduction == "none":
        loss = torch.from_numpy(loss_rows).to(input.dtype)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = torch.tensor(np.float64(total) / total_weight, dtype=input.dtype)
    return (loss, *problem.as_outputs(grads))


@linear_cross_entropy_op.register_fake
def _(input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
      label_smoothing, chunk_size, want_grad):  # fmt: skip
    loss = input.new_empty(input.shape[:1] if reduction == "none" else ())
    return (loss, *_fake_grads(input, linear_weight, linear_bias, want_grad))


@torch.library.custom_op("fastxent::linear_cross_entropy_backward", mutates_args=())
def linear_cross_entropy_backward_op(
    grad_loss: torch.Tensor,
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    linear_bias: torch.Tensor | None,
    weight: torch.Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of ``sum_i grad_loss[i] * loss_i`` (``reduction="none"``)."""
    problem = _Problem(input, linear_weight, target, linear_bias, weight)
    chunk_target, _ = problem.target(ignore_index, label_smoothing)
    grads = problem.gradients()
    row_scale = grad_loss.detach().to(problem.dtype).contiguous()
    run_chunks(
        problem.x, problem.w, problem.b, chunk_target, 1.0, None, grads,
        problem.chunk(chunk_size), torch.get_num_threads(), _TorchProducts(),
        grad_row_scale=_layout.as_numpy(row_scale),
    )  # fmt: skip
    return tuple(problem.as_outputs(grads))


@linear_cross_entropy_backward_op.register_fake
def _(grad_loss, input, linear_weight, target, linear_bias, weight, ignore_index,
      label_smoothing, chunk_size):  # fmt: skip
    return tuple(_fake_grads(input, linear_weight, linear_bias, True))


def _fake_grads(input, linear_weight, linear_bias, want_grad):
    dtype = _layout.compute_dtype(input.dtype)
    if not want_grad:
        return [input.new_empty((0,), dtype=dtype) for _ in range(3)]
    bias_shape = (0,) if linear_bias is None else linear_bias.shape
    return [
        input.new_empty(input.shape, dtype=dtype),
        input.new_empty(linear_weight.shape, dtype=dtype),
        input.new_empty(bias_shape, dtype=dtype),
    ]


class _Problem:
    """The op's tensors as the chunk loop's arrays, checked once."""

    def __init__(self, input, linear_weight, target, linear_bias, weight):
        for tensor, name in (
            (input, "input"),
            (linear_weight, "linear_weight"),
            (linear_bias, "linear_bias"),
            (weight, "weight"),
        ):
            if tensor is not None:
                _layout.check_floating(tensor, name)
        _check_shapes(input, linear_weight, linear_bias, weight)
        dtype = _layout.compute_dtype(input.dtype)
        self.dtype, self.target_tensor = dtype, target
        self.x = _layout.as_numpy(input.to(dtype).contiguous())
        self.w = _layout.as_numpy(linear_weight.to(dtype).contiguous())
        self.b = None
        if linear_bias is not None:
            self.b = _layout.as_numpy(linear_bias.to(dtype).contiguous())
        n_classes = self.w.shape[0]
        self.class_weight = (
            np.ones(n_classes)
            if weight is None
            else _layout.float64_vector(weight, (n_classes,))
        )

    def chunk(self, chunk_size: int) -> int:
        return check_chunk_size(
            None if chunk_size == 0 else chunk_size, self.w.shape[0],
            self.x.dtype.itemsize,
        )  # fmt: skip

    def target(self, ignore_index, smoothing):
        """The :class:`ChunkTarget` and PyTorch's total weight of a mean."""
        _layout.check_label_smoothing(smoothing)
        target = self.target_tensor
        n_samples, n_classes = self.x.shape[0], self.w.shape[0]
        kind = np.float64 if target.is_floating_point() else np.int64
        if is_hard_target(target.shape, kind, (n_samples, n_classes), (n_samples,)):
            labels, total = hard_target(
                _layout.as_numpy(target), self.class_weight, UNIT_WEIGHT, (n_samples,),
                ignore_index, torch.get_num_threads(), float_labels=False,
            )  # fmt: skip
            return (
                ChunkTarget(labels, None, self.class_weight, UNIT_WEIGHT, smoothing),
                total,
            )
        p = _layout.as_numpy(target.to(self.dtype).contiguous())
        chunk_target = ChunkTarget(
            None, p, self.class_weight, UNIT_WEIGHT, smoothing, uniform_smoothing=True
        )
        return chunk_target, float(n_samples)

    def gradients(self):
        return (
            np.empty_like(self.x),
            np.empty_like(self.w),
            None if self.b is None else np.empty_like(self.b),
        )

    def as_outputs(self, grads):
        if grads is None:
            return [torch.empty((0,), dtype=self.dtype) for _ in range(3)]
        grad_bias = grads[2] if grads[2] is not None else np.empty(0, self.x.dtype)
        return [torch.from_numpy(grads[0]), torch.from_numpy(grads[1]),
                torch.from_numpy(grad_bias)]  # fmt: skip


def _check_shapes(input, linear_weight, linear_bias, weight) -> None:
    if input.ndim != 2:
        raise ValueError(
            f"input must have shape (N, in_features), got {tuple(input.shape)}"
        )
    n_features = input.shape[1]
    if linear_weight.ndim != 2 or linear_weight.shape[1] != n_features:
        raise ValueError(
            f"linear_weight must have shape (C, {n_features}) for input of shape "
            f"{tuple(input.shape)}, got {tuple(linear_weight.shape)}"
        )
    n_classes = linear_weight.shape[0]
    for tensor, name in ((linear_bias, "linear_bias"), (weight, "weight")):
        if tensor is not None and tuple(tensor.shape) != (n_classes,):
            raise ValueError(
                f"{name} must have shape ({n_classes},), one per class, got "
                f"{tuple(tensor.shape)}"
            )


def _setup_context(ctx, inputs, output):
    (input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
     label_smoothing, chunk_size, _) = inputs  # fmt: skip
    ctx.save_for_backward(
        input, linear_weight, target, linear_bias, weight, *output[1:]
    )
    ctx.options = {
        "reduction": reduction,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
    }
    ctx.chunk_size = chunk_size


def _backward(ctx, grad_loss):
    input, linear_weight, target, linear_bias, weight, *grads = ctx.saved_tensors
    need = ctx.needs_input_grad[:5]
    tensors = {
        "input": input,
        "linear_weight": linear_weight,
        "target": target,
        "linear_bias": linear_bias,
        "weight": weight,
    }
    fused = grads[0].shape == input.shape or ctx.options["reduction"] == "none"
    if torch.is_grad_enabled() or need[2] or need[4] or not fused:
        found = reference_grads(
            F.linear_cross_entropy, tensors, need, grad_loss, ctx.options
        )
        return (*found, None, None, None, None, None)
    if ctx.options["reduction"] == "none":
        grads = linear_cross_entropy_backward_op(
            grad_loss, input, linear_weight, target, linear_bias, weight,
            ctx.options["ignore_index"], ctx.options["label_smoothing"],
            ctx.chunk_size,
        )  # fmt: skip
    else:
        grads = [scale_saved(g, grad_loss) for g in grads]
    grad_x, grad_w, grad_b = (
        g.to(t.dtype) if t is not None else None
        for g, t in zip(grads, (input, linear_weight, linear_bias), strict=True)
    )
    return grad_x, grad_w, None, grad_b, None, None, None, None, None, None


register_saved_grad_autograd(linear_cross_entropy_op, _backward, _setup_context)


def linear_cross_entropy(
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    *,
    linear_bias: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target)``
    without the logits.

    The value and gradients of PyTorch's reference (logits made whole, then
    ``F.cross_entropy``), in chunks of rows: each chunk's logits are one
    matrix product into a reused buffer, turned into their gradient in place
    of a second by the fused kernel, and consumed by the two backward
    products.

    Parameters
    ----------
    input : Tensor of shape (N, in_features)
    linear_weight : Tensor of shape (C, in_features)
    target : Tensor of int of shape (N,), or of float of shape (N, C)
        Class indices (or ``ignore_index``), or class probabilities.
    linear_bias : Tensor of shape (C,), optional
    weight : Tensor of shape (C,), optional
        Weight of each class.
    reduction, ignore_index, label_smoothing
        As for :func:`fastxent.torch.cross_entropy`.
    chunk_size : int, optional
        Rows per chunk; None sizes a chunk's logits at 16 MiB.

    Returns
    -------
    Tensor
        0-d, or of shape (N,) for ``reduction="none"``.
    """
    tensors = (input, linear_weight, target, linear_bias, weight)
    names = ("input", "linear_weight", "target", "linear_bias", "weight")
    for tensor, name in zip(tensors, names, strict=True):
        _layout.check_cpu(tensor, name)
    chunk = 0 if chunk_size is None else check_chunk_size(chunk_size, 1, 1)
    if ignore_index is None:  # PyTorch's linear_cross_entropy maps None so
        ignore_index = -100
    want_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (input, linear_weight, linear_bias)
    )
    want_grad = want_grad and reduction != "none"
    outputs = linear_cross_entropy_op(
        input, linear_weight, target, linear_bias, weight, reduction,
        check_ignore_index(ignore_index), float(label_smoothing), chunk, want_grad,
    )  # fmt: skip
    return outputs[0]
