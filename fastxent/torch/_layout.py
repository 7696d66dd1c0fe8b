"""CPU tensors as the kernels' arrays: which layouts pass without a copy.

The kernels read C-contiguous float32 or float64 rows. A tensor of that
layout reaches them as a numpy view of its own memory; every other one is
copied once here, and only here:

- float16 and bfloat16 are computed in float32 (a cast, so a copy);
- a class dimension that is not the last (``(N, C, d1, ...)``) is moved
  last, a copy unless every ``d`` is 1;
- a non-contiguous tensor is made contiguous.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Half-precision inputs are computed in float32 and given back in their dtype.
_COMPUTED_AS = {torch.float16: torch.float32, torch.bfloat16: torch.float32}
_KERNEL_DTYPES = (torch.float32, torch.float64)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels compute a floating ``dtype`` in."""
    return _COMPUTED_AS.get(dtype, dtype)


def check_floating(tensor: torch.Tensor, name: str) -> None:
    """Raise unless ``tensor`` holds float16, bfloat16, float32 or float64."""
    if compute_dtype(tensor.dtype) not in _KERNEL_DTYPES:
        raise TypeError(
            f"{name} must be a float16, bfloat16, float32 or float64 tensor, got "
            f"dtype {tensor.dtype}; cast it with {name}.float()"
        )


def check_cpu(tensor: torch.Tensor | None, name: str) -> None:
    """Raise unless ``tensor`` lives on the CPU (or is a shape-only meta one)."""
    if tensor is not None and tensor.device.type not in ("cpu", "meta"):
        raise ValueError(
            f"fastxent.torch computes on CPU tensors, but {name} is on "
            f"{tensor.device}; use torch.nn.functional there, or move the "
            f"tensors with .cpu()"
        )


def check_label_smoothing(label_smoothing: float) -> None:
    """PyTorch's range for ``label_smoothing``: [0, 1], 1 included."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")


def class_dim(ndim: int) -> int:
    """PyTorch's class dimension: 0 for one sample ``(C,)``, else 1."""
    return 0 if ndim == 1 else 1


def batch_shape(shape) -> tuple:
    """The shape of the per-sample losses for ``input`` of shape ``shape``."""
    shape = tuple(shape)
    return () if len(shape) == 1 else shape[:1] + shape[2:]


def n_samples(shape) -> int:
    return math.prod(batch_shape(shape))


def rows_last(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor`` as C-contiguous ``(n_samples, n_classes)`` rows of ``dtype``.

    A view of ``tensor`` when it is already so laid out.
    """
    if tensor.ndim > 2:
        tensor = tensor.movedim(1, -1)
    n_classes = tensor.shape[-1]
    return tensor.to(dtype).contiguous().reshape(-1, n_classes)


def from_rows(rows: torch.Tensor, shape) -> torch.Tensor:
    """Undo :func:`rows_last`: ``(n_samples, n_classes)`` rows as ``shape``."""
    shape = tuple(shape)
    if tuple(rows.shape) == shape:
        # The tensor itself, not a view of it: autograd takes a gradient
        # nothing else holds as ``.grad`` without copying it.
        return rows
    if len(shape) <= 2:
        return rows.reshape(shape)
    moved = shape[:1] + shape[2:] + shape[1:2]
    return rows.reshape(moved).movedim(-1, 1)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """The numpy view of a CPU tensor's memory (no copy)."""
    return tensor.detach().numpy()


def float64_vector(tensor: torch.Tensor, shape) -> np.ndarray:
    """``tensor`` broadcast to ``shape`` and flattened, as a float64 array."""
    expanded = tensor.detach().to(torch.float64).expand(shape)
    return np.ascontiguousarray(as_numpy(expanded.contiguous())).reshape(-1)
