"""What the ops share with autograd: PyTorch's reference gradients, reductions."""

from __future__ import annotations

import torch
from torch.utils import _python_dispatch


def reference_grads(function, tensors, need, grad_loss, options):
    """Gradients of PyTorch's own ``function`` for the tensors in ``need``.

    ``tensors`` maps ``function``'s tensor arguments, by name, to the saved
    tensors (or None); ``need`` says, in the same order, which gradients
    autograd asks for.

    Under ``create_graph`` the saved tensors themselves are differentiated,
    so the result carries a graph (higher-order gradients); otherwise
    detached copies are, and nothing is kept.
    """
    create_graph = torch.is_grad_enabled()
    if not create_graph:
        tensors = {
            name: t if t is None else t.detach().requires_grad_(wanted)
            for (name, t), wanted in zip(tensors.items(), need, strict=True)
        }
    wanted = [t for t, w in zip(tensors.values(), need, strict=True) if w]
    with torch.enable_grad():
        loss = function(**tensors, **options)
        found = iter(
            torch.autograd.grad(loss, wanted, grad_loss, create_graph=create_graph)
        )
    return [next(found) if w else None for w in need]


def register_saved_grad_autograd(op, backward, setup_context) -> None:
    """Register autograd for an op that returns its loss and, after it, the
    gradients its forward computed for the backward.

    Those saved-gradient outputs get no gradient of their own: autograd is
    told not to fill zero tensors of their size for each backward, and a
    backward reached through them alone (``grad_loss`` None) returns no
    gradients. ``backward(ctx, grad_loss)`` handles the rest.
    """

    def setup(ctx, inputs, output):
        ctx.set_materialize_grads(False)
        setup_context(ctx, inputs, output)

    def backward_of_loss(ctx, grad_loss, *_grads_of_saved):
        if grad_loss is None:  # only a saved-gradient output was used
            return (None,) * len(ctx.needs_input_grad)
        return backward(ctx, grad_loss)

    op.register_autograd(backward_of_loss, setup_context=setup)


def legacy_reduction(size_average, reduce, reduction) -> str:
    """PyTorch's rule for its deprecated ``size_average`` / ``reduce``."""
    if size_average is None and reduce is None:
        return reduction
    from torch.nn import _reduction

    return _reduction.legacy_get_string(size_average, reduce)


def scale_saved(grad: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``grad * factor`` for a gradient the forward saved for this backward.

    When the backward frees the graph (no ``retain_graph``), nothing reads
    the saved gradient again: it is scaled in place (not at all for the
    usual seed of 1) and handed to autograd, which can then take it as
    ``.grad`` without a copy. A retained graph, and traced code (compiled,
    or under a dispatch mode such as fake tensors), get a new tensor.
    """
    keep_graph = getattr(
        torch._C._autograd, "_get_current_graph_task_keep_graph", lambda: True
    )
    traced = (
        type(grad) is not torch.Tensor
        or torch.compiler.is_compiling()
        or _python_dispatch._get_current_dispatch_mode() is not None
    )
    if traced or keep_graph():
        return grad * factor.to(grad.dtype)
    if factor.numel() != 1 or factor.item() != 1.0:
        grad.mul_(factor.to(grad.dtype))
    return grad
