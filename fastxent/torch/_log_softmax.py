"""``fastxent::log_softmax``: PyTorch's ``log_softmax`` on fastxent's kernel.

The kernel's rows are accurate to the last bit for the largest entry too,
where ``x - logsumexp(x)`` in the input's precision loses it. The backward
is PyTorch's formula on the saved output, itself differentiable, so
higher-order gradients need nothing more.
"""

from __future__ import annotations

import torch

from fastxent import _logsumexp
from fastxent.torch import _layout


@torch.library.custom_op("fastxent::log_softmax", mutates_args=())
def log_softmax_op(input: torch.Tensor, dim: int) -> torch.Tensor:
    """``input - logsumexp(input, dim)``, in the input's dtype."""
    _layout.check_floating(input, "input")
    dtype = _layout.compute_dtype(input.dtype)
    x = input.to(dtype)
    out = torch.empty(x.shape, dtype=dtype)
    if x.numel():
        axis = dim if x.ndim else None
        _logsumexp.log_softmax(
            _layout.as_numpy(x), axis=axis, out=_layout.as_numpy(out),
            n_threads=torch.get_num_threads(),
        )  # fmt: skip
    return out.to(input.dtype)


@log_softmax_op.register_fake
def _(input, dim):
    return torch.empty_like(input, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output):
    ctx.dim = inputs[1]
    ctx.save_for_backward(output)


def _backward(ctx, grad_output):
    (output,) = ctx.saved_tensors
    dim = ctx.dim if output.ndim else None
    total = grad_output.sum(dim=dim, keepdim=True) if dim is not None else grad_output
    return grad_output - torch.exp(output) * total, None


log_softmax_op.register_autograd(_backward, setup_context=_setup_context)


def log_softmax(
    input: torch.Tensor,
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``torch.nn.functional.log_softmax``, computed by fastxent's kernel.

    Parameters
    ----------
    input : Tensor of any shape
        float32, float64, or float16 / bfloat16 (computed in float32,
        returned in their dtype). CPU tensors only.
    dim : int
        The dimension normalised. None picks one as PyTorch does (with its
        deprecation warning): 0 for 0-, 1- and 3-dimensional input, else 1.
    dtype : torch.dtype, optional
        Cast ``input`` to it first.

    Returns
    -------
    Tensor of ``input``'s shape
    """
    _layout.check_cpu(input, "input")
    if dim is None:
        from torch.nn.functional import _get_softmax_dim

        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    ndim = max(input.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"dim {dim} is out of range for a tensor of {input.ndim} dimensions"
        )
    return log_softmax_op(input, dim % ndim)
