"""Input checks shared by every public entry point.

Each check turns what a user may pass (lists, pandas objects, read-only or
strided arrays, integer or bool data) into what the kernels take, or raises a
``TypeError`` (wrong kind of object or dtype) / ``ValueError`` (wrong value or
shape) whose message names the argument, says what was received and what is
expected. Nothing here allocates an array of the size of the logits unless the
input itself must be converted (another dtype, or not C-contiguous).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import NamedTuple, get_args

import numpy as np

from fastxent import _kernels
from fastxent._typing import Reduction

REDUCTIONS = get_args(Reduction)
# OpenMP starts every thread asked for (up to one per block of work). Beyond
# the core count that only costs memory; at tens of thousands the system's
# limits stop thread creation and the process dies.
MAX_THREADS = 1024


def available_cores() -> int:
    """Number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_n_threads(n_threads, threads_of_none: int | None = None) -> int:
    """Resolve ``n_threads``: None means ``threads_of_none``, by default every
    available core."""
    if n_threads is None:
        return available_cores() if threads_of_none is None else threads_of_none
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be a positive int or None, got {n_threads!r} "
            f"of type {type(n_threads).__name__}"
        )
    if not 1 <= n_threads <= MAX_THREADS:
        raise ValueError(
            f"n_threads must be between 1 and {MAX_THREADS}, or None, got {n_threads}"
        )
    return int(n_threads)


def check_reduction(reduction) -> str:
    """Check ``reduction`` is one of "mean", "sum", "none"."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_mean_defined(count: int, reduction: str, emptiness: str) -> None:
    """Raise for the mean of no terms; ``emptiness`` says what the logits are
    ("empty", "an empty batch (0 samples)")."""
    if count == 0 and reduction == "mean":
        raise ValueError(
            f"logits is {emptiness}: the mean is undefined; use reduction='sum' "
            "or 'none'"
        )


def check_total_weight(total_weight: float, weighted_by: str) -> None:
    """Raise unless the rows' weights of a mean sum to a positive number;
    ``weighted_by`` names the arguments that set them, the ones to check."""
    if not total_weight > 0.0:
        raise ValueError(
            "the rows' weights sum to 0, so the mean is undefined; check "
            f"{weighted_by}, or use reduction='sum'"
        )


def log_of_base(base) -> float:
    """The divisor that converts nats to ``base``: 1 for None (nats)."""
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a positive number or None, got {base!r}")
    base = float(base)
    if not (base > 0.0 and math.isfinite(base) and base != 1.0):
        raise ValueError(f"base must be > 0, finite and != 1, got {base!r}")
    return math.log(base)


def check_label_smoothing(label_smoothing) -> float:
    """Check 0 <= label_smoothing < 1."""
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, numbers.Real
    ):
        raise TypeError(
            f"label_smoothing must be a float in [0, 1), got {label_smoothing!r}"
        )
    value = float(label_smoothing)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    return value


class LossOptions(NamedTuple):
    """The checked options of a cross-entropy (see :func:`check_loss_options`)."""

    reduction: str
    smoothing: float
    nats_per_unit: float
    n_threads: int


def check_loss_options(
    reduction, label_smoothing, base, n_threads, threads_of_none: int | None = None
) -> LossOptions:
    """The options every cross-entropy takes, checked in one order.

    In memory and on dask arrays alike, so that a call with two bad options
    names the same one first; ``threads_of_none`` is what ``n_threads=None``
    means (see :func:`check_n_threads`).
    """
    return LossOptions(
        check_reduction(reduction),
        check_label_smoothing(label_smoothing),
        log_of_base(base),
        check_n_threads(n_threads, threads_of_none),
    )


def as_array(x, name: str) -> np.ndarray:
    """``np.asarray(x)``, with an error naming the argument if numpy refuses it."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as err:  # e.g. a ragged nested list
        raise ValueError(
            f"{name} must be an array with a regular shape, got a "
            f"{type(x).__name__} numpy cannot convert: {err}"
        ) from err


def as_real_array(x, name: str) -> np.ndarray:
    """``x`` as an ndarray of float32 or float64 (integers and bools to float64).

    float32 stays float32 and float64 stays float64; other floating types
    (float16, longdouble) become float64. No copy is made for a float32 /
    float64 input.
    """
    check_not_none(x, name)
    arr = as_array(x, name)
    return arr.astype(real_dtype(arr.dtype, name), copy=False)


def check_not_none(x, name: str) -> None:
    """Raise ``TypeError`` for None where an array is required."""
    if x is None:
        raise TypeError(f"{name} must be an array of numbers, got None")


def real_dtype(dtype: np.dtype, name: str, fix: str | None = None) -> np.dtype:
    """The dtype an argument of ``dtype`` is computed in: float32 or float64.

    float32 and float64 are kept; other floating types, integers and bools
    give float64; anything else (complex, object, strings) raises a
    ``TypeError`` suggesting the conversion ``fix``, by default numpy's
    (which depends on the array type: dask arrays convert lazily).
    """
    kind = dtype.kind
    if kind == "f" and dtype in (np.float32, np.float64):
        return dtype
    if kind in "fbiu":
        return np.dtype(np.float64)
    if fix is None:
        fix = f"np.real({name})" if kind == "c" else f"np.asarray({name}, dtype=float)"
    raise TypeError(
        f"{name} must hold real numbers (float32, float64, int or bool), got "
        f"dtype {dtype}; convert it, e.g. {fix}"
    )


def check_axis(axis, ndim: int, name: str) -> int:
    """Normalise ``axis`` for an array of ``ndim`` dimensions."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis {axis} is out of range for {name} with {ndim} dimension(s)"
        )
    return int(axis) % ndim


def check_axes(axis, ndim: int, name: str) -> tuple[int, ...]:
    """Normalise ``axis`` (an int, a tuple of ints, or None for every axis).

    Returns the axes in increasing order, each in ``[0, ndim)``, as numpy
    reductions take them; a repeated axis raises as it does in numpy.
    """
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, tuple):
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(
                f"axis must be an int, a tuple of ints or None, got {axis!r}"
            )
        axis = (axis,)
    axes = tuple(sorted(check_axis(each, ndim, name) for each in axis))
    if len(set(axes)) < len(axes):
        raise ValueError(
            f"axis {axis} names an axis of {name} twice; list each axis once"
        )
    return axes


def broadcast_shape(shape: tuple, other_shape: tuple, name: str, other: str):
    """The shape two arguments broadcast to, or a ValueError naming both."""
    try:
        return np.broadcast_shapes(shape, other_shape)
    except ValueError:
        raise ValueError(
            f"{other} of shape {tuple(other_shape)} does not broadcast against "
            f"{name} of shape {tuple(shape)}; pass {other} of {name}'s shape or "
            f"of a shape that broadcasts to it"
        ) from None


def rows_last(
    x: np.ndarray, axis: int | tuple[int, ...], *, strided_rows: bool = False
) -> np.ndarray:
    """Move ``axis`` last and flatten the rest: a C-contiguous (n_rows, n) array.

    ``axis`` is a normalised axis or a tuple of them (``check_axes``), moved
    last in their order, so that ``n`` is the product of their lengths. A
    view when ``x`` is C-contiguous with those axes last, otherwise one copy.
    With ``strided_rows``, for kernels declared over rows of any stride
    (``[::view.strided, ::view.contiguous]``), a 2-D ``x`` whose rows are
    contiguous (a slice such as ``x[::2]``, ``x[::-1]`` or ``x[:, :k]``) is
    passed as it is: the copy would be a serial pass as long as the kernel's.
    """
    if (
        strided_rows
        and x.ndim == 2
        and axis == 1
        and x.shape[1] > 1
        and x.strides[1] == x.itemsize
    ):
        return x
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    kept = x.ndim - len(axes)
    moved = np.moveaxis(x, axes, range(kept, x.ndim))
    # Both counts are spelled out: reshape(-1, 0) is ambiguous for an empty axis.
    n_rows, n = math.prod(moved.shape[:kept]), math.prod(moved.shape[kept:])
    return np.ascontiguousarray(moved).reshape(n_rows, n)


def check_nonnegative_vector(x, name: str, length: int) -> np.ndarray:
    """A float64 vector of ``length`` finite, non-negative entries."""
    vec = as_real_array(x, name).astype(np.float64, copy=False)
    if vec.ndim != 1 or vec.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got shape {vec.shape}")
    check_nonnegative_finite(vec, name)
    return np.ascontiguousarray(vec)


def check_nonnegative_finite(x: np.ndarray, name: str) -> None:
    """Raise unless every entry of ``x`` is finite and >= 0.

    Uses min and max (NaN propagates through both), so no mask of the size of
    ``x`` is allocated.
    """
    if x.size == 0:
        return
    low, high = x.min(), x.max()
    if not low >= 0.0:
        kind = "NaN" if np.isnan(low) else f"negative values (min {low})"
        raise ValueError(f"{name} must be finite and non-negative, got {kind}")
    if not np.isfinite(high):
        raise ValueError(f"{name} must be finite and non-negative, got {high}")


def check_sample_weight(sample_weight, shape: tuple, per: str) -> np.ndarray:
    """Sample weights as float64 of ``shape``, each finite and non-negative.

    ``per`` names what one weight stands for ("sample", "row of logits").
    """
    weights = as_real_array(sample_weight, "sample_weight").astype(
        np.float64, copy=False
    )
    check_sample_weight_shape(weights.shape, shape, per)
    check_nonnegative_finite(weights, "sample_weight")
    return weights


def kernel_sample_weights(sample_weight, shape: tuple, per: str) -> np.ndarray:
    """Checked sample weights as the kernels read them: a contiguous float64
    vector, or for None a single 1 that they apply to every row (an array of
    ones would cost a fill, a max and a sum)."""
    if sample_weight is None:
        return np.ones(1)
    weights = check_sample_weight(sample_weight, shape, per)
    return np.ascontiguousarray(weights).reshape(-1)


def check_sample_weight_shape(shape: tuple, expected: tuple, per: str) -> None:
    """Raise unless sample weights of ``shape`` give one weight per ``per``."""
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"sample_weight must have shape {tuple(expected)} (one weight per "
            f"{per}), got shape {tuple(shape)}"
        )


# Weight maxima that need no rescaling before a mean (see scale_for_mean).
_SAFE_WEIGHT_LOW, _SAFE_WEIGHT_HIGH = 2.0**-500, 1.0


def scale_for_mean(weights: np.ndarray, largest: float | None = None) -> np.ndarray:
    """``weights``, scaled by a power of two where their size needs it.

    A weighted mean depends on the ratios of the weights only, and scaling by
    a power of two is exact, so the mean and its gradient come out as without
    it; but the total weight and its reciprocal, which scales the gradient,
    must stay finite, which fails for weights like 1e-310 (1 / total
    overflows) or 1e308 (the total does), and no weighted loss may overflow
    where the loss does not (weight 2 on a loss of 1e308). Weights whose
    maximum lies in ``[2**-500, 1]`` are safe for any row count and are
    returned as they are: the common case (unit weights), and a pass over the
    weights saved. Others are scaled so that the maximum lands in
    ``[0.5, 1)``. ``largest`` is the maximum of all the weights of the mean
    when ``weights`` are a part of them (a chunk of a dask array), so that
    every part is scaled alike; by default ``weights.max()``.
    """
    if weights.size == 0:
        return weights
    if largest is None:
        largest = float(weights.max())
    if _SAFE_WEIGHT_LOW <= largest <= _SAFE_WEIGHT_HIGH:
        return weights
    exponent = -math.frexp(largest)[1]
    # Every power of two from 2**-1074 to 2**1023 is a double, so one product
    # scales exactly (np.ldexp does the same but calls libm per element, which
    # is slower). Only a maximum below 2**-1023 asks for more than
    # 2**1023: two products, each exact because the values grow.
    if exponent <= 1023:
        return weights * 2.0**exponent
    return (weights * 2.0**1023) * 2.0 ** (exponent - 1023)


def check_out(out, shape: tuple, dtype: np.dtype, name: str = "out") -> np.ndarray:
    """Check a user-supplied output buffer: ndarray, shape, dtype, C order, writable."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous; pass np.empty_like(logits)")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable, got a read-only array")
    return out


def first_bad_label(
    labels: np.ndarray, n_classes: int, ignore_index, n_threads: int = 1
) -> int | None:
    """Flat position of the first label outside [0, n_classes) that is not
    ``ignore_index``, or None. ``labels`` is an intp array (a view of it is
    scanned; other layouts are copied first)."""
    intp = np.iinfo(np.intp)
    if ignore_index is not None and not intp.min <= ignore_index <= intp.max:
        ignore_index = None  # no intp label can equal it
    flat = np.ascontiguousarray(labels, dtype=np.intp).reshape(-1)
    position = _kernels.validation.first_bad_label(
        flat, n_classes, ignore_index, n_threads
    )
    return None if position < 0 else position


def describe_row(flat_index: int, batch_shape: tuple) -> str:
    """'row 7' for 2-D batches, 'position (1, 3)' for higher dimensions."""
    if len(batch_shape) <= 1:
        return f"row {flat_index}"
    index = np.unravel_index(flat_index, batch_shape)
    return f"position {tuple(int(i) for i in index)}"
