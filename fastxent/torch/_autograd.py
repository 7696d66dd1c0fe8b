"""What the ops share with autograd: PyTorch's reference gradients, reductions."""

from __future__ import annotations

import torch


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


def legacy_reduction(size_average, reduce, reduction) -> str:
    """PyTorch's rule for its deprecated ``size_average`` / ``reduce``."""
    if size_average is None and reduce is None:
        return reduction
    from torch.nn import _reduction

    return _reduction.legacy_get_string(size_average, reduce)
