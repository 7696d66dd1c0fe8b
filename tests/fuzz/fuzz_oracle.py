"""The fuzzer's oracle: what a call to the public API must do, from API.md alone.

``outcome(call)`` reads the call's arguments the way ``shared/API.md``
(sections 1-4) defines them and returns either

- ``Expected``: the values the call must return, computed here with plain
  numpy and ``scipy.special`` in float64 (never with fastxent's kernels or
  helpers), with an absolute tolerance per element; or
- ``Invalid``: every argument whose value must make the call raise, each
  with the exception types allowed for it. The call must raise one of them
  with a message naming that argument (several problems may coexist; which
  one the library reports first is its business).

``check(call)`` runs the call and compares. Anything else (another
exception type, an error for a valid call, a result for an invalid one, a
wrong shape, dtype or value, a modified input) is an ``AssertionError``.

Tolerances are loose on purpose (tens of ulps of the terms' magnitudes):
``tests/test_accuracy.py`` pins the ulp-level accuracy against mpmath; the
fuzzer looks for wrong rows, wrong weights, lost infinities, NaN where a
number belongs and crashes. Sums are formed in long double, so a mean of
losses near 1e308 has a finite reference. At the edges of the float64 range
the oracle states the library's limits rather than guess: within
``OVERFLOW_MARGIN`` of the largest float an intermediate may overflow (the
result may be +-inf), and for weights or target masses that span or exceed
the range (``Expected.lenient``) a ValueError naming them is accepted.

Section 5 (``fastxent.metrics``) has a twin to compare against:
``check_against_sklearn`` runs scikit-learn's function on the same input.
"""

from __future__ import annotations

import copy
import importlib
import math
import numbers
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.special as sp

import fastxent

EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)
# Slack, in units of eps times the magnitude of the terms involved, per term
# of the sums behind a value (rounding errors of a sum of n terms grow with n).
ULPS = 64.0
# Values this close (relatively) to the largest float may come out as +-inf.
OVERFLOW_MARGIN = 2.0**-16
# With reduction="mean" every weight vector is scaled (by a power of two) so
# that its largest entry is about 1: entries this much smaller underflow, as
# may a total weight below 2**-1000 (subnormal soft-target mass).
UNDERFLOW_SPAN = 2.0**-1020
# n_threads above this must be rejected (a C int, and far past any sane team);
# the generator never draws values between 64 and this.
THREADS_CEILING = 2**31 - 1


@dataclass
class Call:
    """One call of a public function: ``fastxent.<name>(*args, **kwargs)``."""

    name: str
    args: tuple
    kwargs: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [describe(a) for a in self.args]
        parts += [f"{k}={describe(v)}" for k, v in self.kwargs.items()]
        return f"fastxent.{self.name}({', '.join(parts)})"


def describe(x) -> str:
    """Readable repr of an argument: arrays with dtype, layout and values."""
    if isinstance(x, np.ndarray):
        flags = "C" if x.flags.c_contiguous else "F" if x.flags.f_contiguous else "-"
        flags += "" if x.flags.writeable else " read-only"
        values = np.array2string(x, threshold=40, max_line_width=200)
        return (
            f"array({values}, dtype={x.dtype}, shape={x.shape}, "
            f"strides={x.strides}, {flags})"
        )
    return repr(x)


@dataclass
class Expected:
    """Values a call must return: one array per output, tolerances alike."""

    values: list  # float64 arrays in the output's shape (0-d for scalars)
    atol: list  # float64 arrays, same shapes
    dtype: np.dtype
    scalar: list  # per output: must be a numpy scalar (not an array)
    out: np.ndarray | None = None  # the grad must be this very object
    # Arguments at the edge of the float64 range (weights spanning more than
    # a mean's scaling keeps, see UNDERFLOW_SPAN; weights below 2**-1000; a
    # target mass near overflow): the call may raise a ValueError naming one
    # of them, and the values it returns are not compared.
    lenient: tuple = ()


@dataclass
class Problem:
    """An argument that must make the call raise one of ``kinds``."""

    names: tuple
    kinds: tuple


class Invalid(Exception):
    """The call must raise: ``problems`` lists the acceptable reasons."""

    def __init__(self, problems):
        super().__init__(problems)
        self.problems = problems


class Problems:
    """Collects the problems of a call's arguments."""

    def __init__(self):
        self.found = []
        self.lenient = ()  # see Expected.lenient

    def value(self, *names):
        self.found.append(Problem(names, (ValueError,)))

    def type(self, *names):
        self.found.append(Problem(names, (TypeError,)))

    def either(self, *names):
        self.found.append(Problem(names, (ValueError, TypeError)))

    def raise_if_any(self):
        if self.found:
            raise Invalid(self.found)


# ---------------------------------------------------------------- arguments


def real_array(x, name, problems):
    """``x`` as the library must read it, or None after noting a problem.

    float32 and float64 keep their dtype, other reals become float64; a
    ragged list, None, complex, object or string data is a problem.
    """
    if x is None:
        problems.type(name)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.asarray(x)
    except (ValueError, TypeError):
        problems.either(name)
        return None
    if arr.dtype.kind not in "fbiu":
        problems.type(name)
        return None
    if arr.dtype in (np.float32, np.float64):
        return np.array(arr)
    return arr.astype(np.float64)


def is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_n_threads(n, problems):
    if n is None:
        return
    if not is_int(n):
        problems.type("n_threads")
    elif not 1 <= n <= THREADS_CEILING:
        problems.value("n_threads")


def nats_per_unit(base, problems) -> float:
    if base is None:
        return 1.0
    if not is_real(base):
        problems.type("base")
        return 1.0
    if not (0.0 < float(base) < math.inf and float(base) != 1.0):
        problems.value("base")
        return 1.0
    return math.log(float(base))


def check_smoothing(e, problems) -> float:
    if not is_real(e):
        problems.type("label_smoothing")
        return 0.0
    if not 0.0 <= float(e) < 1.0:
        problems.value("label_smoothing")
        return 0.0
    return float(e)


def check_reduction(reduction, problems) -> str:
    if not (isinstance(reduction, str) and reduction in ("mean", "sum", "none")):
        problems.value("reduction")
        return "sum"
    return reduction


def check_axis(axis, ndim, problems, *, allow_none=False):
    """The axis normalised to [0, ndim), None, or -1 after noting a problem."""
    if axis is None and allow_none:
        return None
    if not is_int(axis):
        problems.type("axis")
        return -1
    if not -ndim <= axis < ndim:
        problems.value("axis")
        return -1
    return int(axis) % ndim


def check_axes(axis, ndim, problems):
    """An int, None or a tuple of distinct ints, normalised (-1 after a problem)."""
    if not isinstance(axis, tuple):
        return check_axis(axis, ndim, problems, allow_none=True)
    axes = tuple(check_axis(i, ndim, problems) for i in axis)
    if len(set(axes)) < len(axes):
        problems.value("axis")
    return axes


def nonnegative_finite(arr, name, problems) -> bool:
    with np.errstate(invalid="ignore"):
        ok = bool(np.all(np.isfinite(arr) & (arr >= 0)))
    if not ok:
        problems.value(name)
    return ok


def check_out(out, shape, dtype, problems):
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        problems.type("out")
    elif out.shape != tuple(shape):
        problems.value("out")
    elif out.dtype != dtype:
        problems.type("out")
    elif not (out.flags.c_contiguous and out.flags.writeable):
        problems.value("out")


def spans_underflow(weights) -> bool:
    """True when a positive weight is UNDERFLOW_SPAN times below the largest."""
    positive = weights[weights > 0]
    return bool(positive.size) and positive.min() < positive.max() * UNDERFLOW_SPAN


def has_tiny(*weights) -> bool:
    """True when a weight is positive but below 2**-1000.

    Products of such a weight with a scale below 1 (``1 / log(base)``, the
    mean's ``1 / total``) may flush to 0 before the product with a large
    loss or gradient term brings it back: values are then not compared.
    """
    return any(
        w is not None and bool(np.any((w > 0) & (w < 2.0**-1000))) for w in weights
    )


def relative(weights):
    """Weights divided by their maximum: a mean only sees their ratios, and
    the true mean of weights like 1e308 is finite though their sum is not."""
    if weights is None or not weights.size or not weights.max() > 0:
        return weights
    return weights / weights.max()


def weight_vector(x, name, shape, problems):
    """A non-negative finite float64 weight array of ``shape``, or None."""
    arr = real_array(x, name, problems)
    if arr is None:
        return None
    if arr.shape != tuple(shape):
        problems.value(name)
        return None
    if not nonnegative_finite(arr, name, problems):
        return None
    return arr.astype(np.float64)


# ------------------------------------------------------------ log-sum-exp


def lse_family(call):
    """logsumexp, softmax, log_softmax: scipy.special's values."""
    problems = Problems()
    kw = call.kwargs
    check_n_threads(kw.get("n_threads"), problems)
    name = "a" if call.name == "logsumexp" else "x"
    a = real_array(call.args[0], name, problems)
    if a is None:
        problems.raise_if_any()
    shape_in = a.shape
    rows = a.reshape(1) if a.ndim == 0 else a
    axis = check_axes(kw.get("axis"), rows.ndim, problems)
    dtype = a.dtype
    if call.name != "logsumexp":
        check_out(kw.get("out"), shape_in, dtype, problems)
    problems.raise_if_any()

    # A 0-d input is one row of one value, as scipy's logsumexp reads it.
    x = rows.astype(np.float64)
    reduced = range(x.ndim) if axis is None else np.atleast_1d(axis)
    row_length = max(math.prod(x.shape[i] for i in reduced), 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finite = np.where(np.isfinite(x), np.abs(x), 0.0)
        if call.name == "logsumexp":
            keepdims = bool(kw.get("keepdims", False))
            if x.size:
                ref = np.asarray(sp.logsumexp(x, axis=axis, keepdims=keepdims))
            else:  # log(0); scipy fails on some empty shapes
                ref = np.full(np.sum(x, axis=axis, keepdims=keepdims).shape, -np.inf)
            scale = finite.max(axis=axis, keepdims=keepdims, initial=0.0)
            atol = ULPS * row_length * eps_of(dtype) * (scale + 1.0)
        else:
            func = sp.softmax if call.name == "softmax" else sp.log_softmax
            # scipy has no softmax of an empty array; it is empty.
            ref = func(x, axis=axis) if x.size else x
            ref = np.asarray(ref).reshape(shape_in)
            mag = 1.0 if call.name == "softmax" else np.abs(ref) + 1.0
            atol = ULPS * row_length * eps_of(dtype)
            atol = atol * np.where(np.isfinite(ref), mag, 0.0)
        # Results of no dimension are numpy scalars, as scipy's (out= aside).
        scalar = ref.ndim == 0 and kw.get("out") is None
    return Expected(
        [np.asarray(ref, np.float64)], [np.asarray(atol)], dtype, [scalar],
        kw.get("out"),
    )  # fmt: skip


def eps_of(dtype) -> float:
    return EPS32 if dtype == np.float32 else EPS64


# ------------------------------------------------------ categorical losses


def categorical(call):
    """cross_entropy and cross_entropy_with_grad, from section 2 of API.md."""
    problems = Problems()
    kw = call.kwargs
    with_grad = call.name.endswith("_with_grad")
    check_n_threads(kw.get("n_threads"), problems)
    log_base = nats_per_unit(kw.get("base"), problems)
    smoothing = check_smoothing(kw.get("label_smoothing", 0.0), problems)
    reduction = check_reduction(kw.get("reduction", "mean"), problems)
    ignore_index = kw.get("ignore_index")

    z = real_array(call.args[0], "logits", problems)
    if z is None:
        problems.raise_if_any()
    if z.ndim == 0:
        problems.value("logits")
        problems.raise_if_any()
    axis = check_axis(kw.get("axis", -1), z.ndim, problems)
    if axis == -1:  # no class axis to read the rest by
        problems.raise_if_any()
    dtype = z.dtype
    n_classes = z.shape[axis]
    batch_shape = z.shape[:axis] + z.shape[axis + 1 :]
    n_rows = math.prod(batch_shape)
    if n_classes == 0:
        problems.value("logits")
        problems.raise_if_any()
    if reduction == "mean" and n_rows == 0:
        problems.value("logits")
    if with_grad:
        check_out(kw.get("out"), z.shape, dtype, problems)

    rows = np.moveaxis(z, axis, -1).reshape(n_rows, n_classes).astype(np.float64)
    class_weight = np.ones(n_classes)
    if kw.get("class_weight") is not None:
        class_weight = weight_vector(
            kw["class_weight"], "class_weight", (n_classes,), problems
        )
    sample_weight = np.ones(batch_shape)
    if kw.get("sample_weight") is not None:
        sample_weight = weight_vector(
            kw["sample_weight"], "sample_weight", batch_shape, problems
        )

    if has_tiny(sample_weight, class_weight):
        problems.lenient += ("sample_weight", "class_weight")
    if reduction == "mean":
        class_weight = relative(class_weight)
        sample_weight = relative(sample_weight)
    elif class_weight is not None:
        # Every row's mass includes the sum of the class weights: it must be
        # finite (the library rejects it otherwise; near the edge, either).
        if not np.isfinite(class_weight.sum()):
            problems.value("class_weight")
        elif class_weight.sum() > np.finfo(np.float64).max / 4:
            problems.lenient += ("class_weight",)
    target = call.args[1]
    try:
        target_shape = np.shape(target)
    except (ValueError, TypeError):
        problems.either("target")
        problems.raise_if_any()
    if target_shape == batch_shape:
        mass, row_weight_mass, used = hard_target(
            target, n_classes, ignore_index, class_weight, smoothing, problems
        )
    elif target_shape == z.shape:
        if ignore_index is not None:
            problems.value("ignore_index")
        if np.asarray(target).dtype.kind in "biu":
            # Integers never mean probabilities (PyTorch's rule too).
            problems.type("target")
        mass, row_weight_mass = soft_target(
            target, dtype, axis, class_weight, smoothing, problems
        )
        used = np.ones(n_rows, bool)
    else:
        problems.value("target")
        problems.raise_if_any()
    if mass is None or class_weight is None or sample_weight is None:
        problems.raise_if_any()

    with np.errstate(invalid="ignore"):
        bad_rows = used & np.any(np.isnan(rows) | (rows == np.inf), axis=1)
    if bad_rows.any():
        problems.value("logits")
    sw = sample_weight.reshape(n_rows)
    row_weight = sw * row_weight_mass
    total_weight = row_weight.sum()
    if reduction == "mean" and n_rows and not total_weight > 0:
        problems.value("sample_weight", "class_weight", "ignore_index")
    problems.raise_if_any()

    loss, grad, loss_atol, grad_atol = softmax_xent_rows(rows, mass)
    # Ignored rows are not read at all: 0, whatever their logits hold.
    loss, grad = np.where(used, loss, 0.0), np.where(used[:, None], grad, 0.0)
    # A zero weight silences the row, even an infinite loss.
    loss = np.where(sw > 0, sw * loss, 0.0) / log_base
    loss_atol = sw * loss_atol / abs(log_base)
    grad = grad * (sw / log_base)[:, None]
    grad_atol = grad_atol * (sw / abs(log_base))[:, None]
    if reduction == "mean":
        loss, loss_atol = reduce_sum(loss, loss_atol, total_weight)
        grad, grad_atol = grad / total_weight, grad_atol / total_weight
    elif reduction == "sum":
        loss, loss_atol = reduce_sum(loss, loss_atol, 1.0)
    else:
        loss, loss_atol = loss.reshape(batch_shape), loss_atol.reshape(batch_shape)
    values, atol = [loss], [loss_atol]
    if with_grad:
        moved = np.moveaxis(z, axis, -1).shape
        values.append(np.moveaxis(grad.reshape(moved), -1, axis))
        atol.append(np.moveaxis(grad_atol.reshape(moved), -1, axis))
    scalar = [reduction != "none", False][: len(values)]
    lenient = ()
    if reduction == "mean" and (
        spans_underflow(sample_weight)
        or spans_underflow(class_weight)
        or total_weight < 2.0**-1000  # 1e-301: scaled, it may underflow
    ):
        lenient = ("sample_weight", "class_weight")
    lenient += problems.lenient
    return Expected(values, atol, dtype, scalar, kw.get("out"), lenient)


def hard_target(target, n_classes, ignore_index, class_weight, smoothing, problems):
    """Target mass per class and row weight for integer labels."""
    labels = np.asarray(target)
    if labels.dtype.kind == "f":
        # scikit-learn's rule: whole-number floats are labels, others errors.
        whole = [math.isfinite(v) and v == math.floor(v) for v in labels.flat]
        if not all(whole):
            problems.value("target")
            return None, None, None
    elif labels.dtype.kind not in "biu":
        problems.type("target")
        return None, None, None
    if ignore_index is not None and not is_int(ignore_index):
        problems.type("ignore_index")
        return None, None, None
    # As Python ints, labels and ignore_index compare exactly whatever their dtypes.
    flat = [int(v) for v in labels.reshape(-1)]
    skip = None if ignore_index is None else int(ignore_index)
    ignored = np.array([v == skip for v in flat], bool)
    in_range = np.array([0 <= v < n_classes for v in flat], bool)
    if not np.all(in_range | ignored):
        problems.value("target")
        return None, None, None
    if class_weight is None:
        return None, None, None
    y = np.array(
        [v if ok else 0 for v, ok in zip(flat, in_range, strict=True)], np.intp
    )
    one_hot = np.zeros((len(flat), n_classes))
    one_hot[np.arange(len(flat)), y] = 1.0
    mass = class_weight * ((1.0 - smoothing) * one_hot + smoothing / n_classes)
    mass[ignored] = 0.0
    row_mass = np.where(ignored, 0.0, class_weight[y])
    return mass, row_mass, ~ignored


def soft_target(target, dtype, axis, class_weight, smoothing, problems):
    """Target mass per class and row weight for probability rows."""
    p = real_array(target, "target", problems)
    if p is None:
        return None, None
    with np.errstate(over="ignore"):
        p = p.astype(dtype)  # read in the logits' precision, as documented
    if not nonnegative_finite(p, "target", problems) or class_weight is None:
        return None, None
    n_classes = p.shape[axis]
    p = np.moveaxis(p, axis, -1).reshape(-1, n_classes).astype(np.float64)
    row_sum = p.sum(axis=1, keepdims=True)
    mass = class_weight * ((1.0 - smoothing) * p + smoothing * row_sum / n_classes)
    row_mass = p @ class_weight
    if not np.all(row_mass < np.finfo(np.float64).max / 4):
        # Near or past overflow (the library's scaled weights may differ from
        # these by 2x): an error naming target or class_weight, or any values.
        problems.lenient += ("target", "class_weight")
    return mass, row_mass


def softmax_xent_rows(z, mass):
    """Per-row loss ``-sum a log_softmax(z)`` and gradient ``A q - a``.

    Masked classes (-inf) carry no loss unless they have target mass; a row
    with every class masked has an infinite loss (when it has mass) and the
    gradient ``-a`` (softmax taken as 0). Returns tolerances alongside.
    """
    with np.errstate(all="ignore"):
        top = z.max(axis=1, keepdims=True)
        all_masked = top[:, 0] == -np.inf
        shifted = np.where(all_masked[:, None], -np.inf, z - top)
        log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_q = shifted - log_norm
        terms = np.where(mass > 0, -mass * log_q, 0.0)
        loss = terms.astype(np.longdouble).sum(axis=1)  # as in reduce_sum
        total = mass.sum(axis=1)
        loss = np.where(all_masked, np.where(total > 0, np.inf, 0.0), loss)
        q = np.where(all_masked[:, None], 0.0, np.exp(log_q))
        grad = total[:, None] * q - mass
        magnitude = np.where(mass > 0, mass * (np.abs(shifted) + 1.0), 0.0)
        slack = ULPS * max(z.shape[1], 1) * EPS64
        loss_atol = slack * np.where(np.isfinite(magnitude), magnitude, 0.0).sum(axis=1)
        grad_atol = slack * (total[:, None] + mass)
    return loss, grad, loss_atol, grad_atol


def reduce_sum(values, atol, divisor):
    """Sum (then divide) with the tolerance of the sum of the terms.

    In long double where it is wider (x86-64 Linux: exponent range to
    1e4932), so a sum of row losses near 1e308 does not overflow on its way
    to a finite mean.
    """
    wide = np.longdouble
    with np.errstate(all="ignore"):
        total = values.astype(wide).sum() / wide(divisor)
        magnitude = np.abs(values).astype(wide).sum()
        rounding = ULPS * max(values.size, 1) * EPS64 * magnitude
        slack = (atol.astype(wide).sum() + rounding) / wide(abs(divisor))
    return np.float64(total), np.float64(slack)


# ------------------------------------------------------------ binary losses


def binary(call):
    """binary_cross_entropy and its _with_grad, from section 3 of API.md."""
    problems = Problems()
    kw = call.kwargs
    with_grad = call.name.endswith("_with_grad")
    check_n_threads(kw.get("n_threads"), problems)
    log_base = nats_per_unit(kw.get("base"), problems)
    smoothing = check_smoothing(kw.get("label_smoothing", 0.0), problems)
    reduction = check_reduction(kw.get("reduction", "mean"), problems)
    z = real_array(call.args[0], "logits", problems)
    if z is None:
        problems.raise_if_any()
    dtype = z.dtype
    y = real_array(call.args[1], "target", problems)
    if y is not None:
        if y.shape != z.shape:
            problems.value("target")
        else:
            with np.errstate(invalid="ignore"):
                if not np.all((y >= 0) & (y <= 1)):
                    problems.value("target")
            y = y.astype(dtype)
    if with_grad:
        check_out(kw.get("out"), z.shape, dtype, problems)
    n_rows = z.shape[0] if z.ndim else 1
    n_labels = z.size // n_rows if n_rows else 0
    last = z.shape[-1] if z.ndim > 1 else 1
    pos_weight = np.ones(z.shape)
    if kw.get("pos_weight") is not None:
        pw = real_array(kw["pos_weight"], "pos_weight", problems)
        if pw is not None:
            if pw.ndim > 1 or (pw.ndim == 1 and pw.shape[0] not in (1, last)):
                problems.value("pos_weight")
            elif nonnegative_finite(pw, "pos_weight", problems):
                # One weight per entry of the last axis (1-D logits: one label).
                per_last = np.broadcast_to(pw.astype(np.float64), (last,))
                pos_weight = np.broadcast_to(
                    per_last if z.ndim > 1 else per_last[0], z.shape
                )
    sample_weight = np.ones(n_rows)
    if kw.get("sample_weight") is not None:
        sample_weight = weight_vector(
            kw["sample_weight"], "sample_weight", (n_rows,), problems
        )
    if reduction == "mean" and z.size == 0:
        problems.value("logits")
    if np.isnan(z).any():
        problems.value("logits")
    if sample_weight is not None and reduction == "mean" and z.size:
        if not sample_weight.sum() * n_labels > 0:
            problems.value("sample_weight")
    problems.raise_if_any()

    lenient = ()
    if has_tiny(sample_weight, pos_weight) or (
        reduction == "mean" and spans_underflow(sample_weight)
    ):
        lenient = ("sample_weight", "pos_weight")
    if reduction == "mean":
        sample_weight = relative(sample_weight)
    x = z.astype(np.float64)
    t = (1.0 - smoothing) * y.astype(np.float64) + 0.5 * smoothing
    pos, neg = pos_weight * t, 1.0 - t
    with np.errstate(all="ignore"):
        # -log sigmoid(x) = logaddexp(0, -x); a zero coefficient drops its term
        # (0 * inf would be NaN at an exactly right infinite logit).
        loss = np.where(pos > 0, pos * np.logaddexp(0.0, -x), 0.0) + np.where(
            neg > 0, neg * np.logaddexp(0.0, x), 0.0
        )
        grad = np.where(neg > 0, neg * sp.expit(x), 0.0) - np.where(
            pos > 0, pos * sp.expit(-x), 0.0
        )
        magnitude = (pos + neg) * (np.where(np.isfinite(x), np.abs(x), 0.0) + 1.0)
    # Each row's weight along its labels.
    w = np.broadcast_to(
        sample_weight.reshape(z.shape[:1] + (1,) * (z.ndim - 1)), z.shape
    )
    # Long double, as in reduce_sum: a mean of element losses near 1e308 is
    # finite though a weight or 1 / log(base) may take a product past it.
    loss = np.where(w > 0, w * loss.astype(np.longdouble), 0.0) / log_base
    loss_atol = ULPS * EPS64 * np.where(w > 0, w * magnitude, 0.0) / abs(log_base)
    grad = w * grad.astype(np.longdouble) / log_base
    grad_atol = ULPS * EPS64 * w * (pos + neg) / abs(log_base)
    if reduction == "mean":
        total_weight = sample_weight.sum() * n_labels
        loss, loss_atol = reduce_sum(loss, loss_atol, total_weight)
        grad, grad_atol = grad / total_weight, grad_atol / total_weight
    elif reduction == "sum":
        loss, loss_atol = reduce_sum(loss, loss_atol, 1.0)
    values, atol = [loss], [loss_atol]
    if with_grad:
        values.append(grad)
        atol.append(grad_atol)
    scalar = [reduction != "none", False][: len(values)]
    return Expected(values, atol, dtype, scalar, kw.get("out"), lenient)


# ---------------------------------------------------- information measures


def information(call):
    """entropy and kl_divergence: sums of scipy.special.entr / rel_entr."""
    problems = Problems()
    kw = call.kwargs
    check_n_threads(kw.get("n_threads"), problems)
    log_base = nats_per_unit(kw.get("base"), problems)
    names = ("p",) if call.name == "entropy" else ("p", "q")
    arrays = []
    for name, x in zip(names, call.args, strict=True):
        arr = real_array(x, name, problems)
        if arr is not None and arr.ndim == 0:
            problems.value(name)
            arr = None
        if arr is not None:
            nonnegative_finite(arr, name, problems)
            check_axis(kw.get("axis", -1), arr.ndim, problems)
        arrays.append(arr)
    if len(arrays) == 2 and all(a is not None for a in arrays):
        if arrays[0].shape != arrays[1].shape:
            problems.value("q")
    problems.raise_if_any()
    axis = kw.get("axis", -1)
    dtype = np.result_type(*arrays)
    x = [a.astype(np.float64) for a in arrays]
    with np.errstate(all="ignore"):
        terms = sp.entr(x[0]) if len(x) == 1 else sp.rel_entr(x[0], x[1])
        ref = terms.sum(axis=axis) / log_base
        # p log(p / q) loses |p| eps to the rounding of p / q, more than the
        # term itself when p / q is near 1.
        finite = np.where(np.isfinite(terms), np.abs(terms) + x[0], 0.0)
        n_terms = max(terms.shape[axis], 1)
        atol = ULPS * n_terms * EPS64 * (finite.sum(axis=axis) / abs(log_base))
    return Expected([np.asarray(ref)], [np.asarray(atol)], dtype, [np.ndim(ref) == 0])


ORACLES = {
    "logsumexp": lse_family,
    "softmax": lse_family,
    "log_softmax": lse_family,
    "cross_entropy": categorical,
    "cross_entropy_with_grad": categorical,
    "binary_cross_entropy": binary,
    "binary_cross_entropy_with_grad": binary,
    "entropy": information,
    "kl_divergence": information,
}


def outcome(call):
    """Expected values of a valid call, or Invalid for one that must raise."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ORACLES[call.name](call)
    except Invalid as invalid:
        return invalid


# ------------------------------------------------------------------ checking


def snapshot(call):
    """Copies of the call's array inputs, to prove the call left them alone."""
    inputs = list(call.args) + [
        v for k, v in call.kwargs.items() if k != "out" and v is not None
    ]
    return [
        (x, np.array(x, copy=True))
        for x in inputs
        if isinstance(x, np.ndarray) and x.dtype.kind in "fbiuc"
    ]


def check(call) -> str:
    """Run ``call``, assert it behaves as ``outcome(call)`` says.

    Returns "returned" or the name of the exception it raised as it should.
    """
    if call.name == "metrics.scorer":
        return check_scorer(call)
    if call.name.startswith("metrics."):
        return check_against_sklearn(call)
    expected = outcome(call)
    before = snapshot(call)
    aliased = call.kwargs.get("out")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = getattr(fastxent, call.name)(*call.args, **call.kwargs)
    except (ValueError, TypeError) as err:
        if not isinstance(expected, Invalid):
            if matches(err, Problem(expected.lenient, (ValueError,))):
                return type(err).__name__
            raise AssertionError(f"valid call rejected: {err!r}") from err
        if not any(matches(err, problem) for problem in expected.problems):
            raise AssertionError(
                f"{type(err).__name__}({err}) names none of the expected "
                f"problems {expected.problems}"
            ) from err
        return type(err).__name__
    else:
        if isinstance(expected, Invalid):
            raise AssertionError(
                f"invalid call accepted (expected an error naming one of "
                f"{[p.names for p in expected.problems]}), returned {result!r}"
            )
        compare(result, expected)
    for original, kept in before:
        if original is aliased or not original.flags.writeable:
            continue
        assert np.array_equal(original, kept, equal_nan=kept.dtype.kind in "fc"), (
            "the call modified an input array"
        )
    return "returned"


def matches(err, problem) -> bool:
    """True when err has an allowed type and its message names the argument."""
    message = str(err)
    return isinstance(err, problem.kinds) and any(
        re.search(rf"\b{re.escape(name)}\b", message) for name in problem.names
    )


def compare(result, expected):
    """Shapes, dtypes, scalar-ness and values within tolerance."""
    outputs = list(result) if len(expected.values) > 1 else [result]
    assert len(outputs) == len(expected.values), "wrong number of outputs"
    if expected.out is not None:
        assert outputs[-1] is expected.out, "out was not the returned array"
    for got, want, atol, scalar in zip(
        outputs, expected.values, expected.atol, expected.scalar, strict=True
    ):
        if scalar:
            assert isinstance(got, np.generic), f"expected a numpy scalar, got {got!r}"
        else:
            assert isinstance(got, np.ndarray), f"expected an ndarray, got {got!r}"
        assert got.dtype == expected.dtype, f"dtype {got.dtype} != {expected.dtype}"
        assert np.shape(got) == np.shape(want), (
            f"shape {np.shape(got)} != {np.shape(want)}"
        )
        if not expected.lenient:
            assert_close(np.asarray(got, np.float64), want, atol, expected.dtype)


def assert_close(got, want, atol, dtype):
    """Finite where the reference is finite, equal non-finite values, close."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The reference rounded to the output dtype: overflow there is expected.
        want_out = want.astype(dtype).astype(np.float64)
        # abs: a base below 1 makes the values (and the slack) negative.
        # Values within 1024 smallest normals of 0 differ by where each side
        # underflowed, not by anything wrong.
        floor = 1024 * np.finfo(dtype).tiny
        tol = np.abs(atol) + 4.0 * eps_of(dtype) * np.abs(want) + floor
        tol = np.where(np.isnan(tol), np.inf, tol)  # 0 * inf in a bound: no bound
        finite = np.isfinite(want_out)
        # Within OVERFLOW_MARGIN of the largest value, an intermediate (a
        # weight times a loss before the division by log(base), a row's sum
        # before the mean) may overflow where the result would not.
        near_overflow = np.abs(want) >= np.finfo(dtype).max * OVERFLOW_MARGIN
        overflowed = near_overflow & (got == np.copysign(np.inf, want))
        bad_finite = finite & ~(np.abs(got - want) <= tol) & ~overflowed
        bad_special = ~finite & ~(
            (np.isnan(got) & np.isnan(want_out)) | (got == want_out)
        )
    bad = bad_finite | bad_special
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if got.ndim else ()
        raise AssertionError(
            f"value at {index}: got {got[index]!r}, expected {want[index]!r} "
            f"(tolerance {np.broadcast_to(tol, want.shape)[index]!r}); "
            f"{int(bad.sum())} of {bad.size} values differ"
        )


# ---------------------------------------------- section 5: scikit-learn's twin


def check_against_sklearn(call) -> str:
    """``fastxent.metrics.<name>`` against ``sklearn.metrics.<name>``.

    API.md promises the installed scikit-learn's behaviour, so it is the
    reference: the same value to 1e-12 relative, the same warnings (category
    and message) and, for bad input, the same exception type.
    """
    import sklearn.metrics

    name = call.name.split(".", 1)[1]
    ours = getattr(importlib.import_module("fastxent.metrics"), name)
    theirs = getattr(sklearn.metrics, name)
    before = snapshot(call)
    want, want_warnings = run_recording(theirs, call)
    got, got_warnings = run_recording(ours, call)
    for original, kept in before:
        assert np.array_equal(original, kept, equal_nan=kept.dtype.kind in "fc"), (
            "the call modified an input array"
        )
    if isinstance(want, Exception):
        assert type(got) is type(want), (
            f"scikit-learn raised {want!r}, fastxent gave {got!r}"
        )
        return type(got).__name__
    if isinstance(got, Exception):
        raise AssertionError(
            f"scikit-learn returned {want!r}, fastxent raised"
        ) from got
    assert isinstance(got, float), f"expected a float, got {got!r}"
    assert math.isclose(got, want, rel_tol=1e-12) or (
        math.isnan(got) and math.isnan(want)
    ), f"got {got!r}, scikit-learn {want!r}"
    assert got_warnings == want_warnings, (
        f"warnings {got_warnings} != scikit-learn's {want_warnings}"
    )
    return "returned"


def run_recording(func, call):
    """(result or exception, sorted (category, message) of the warnings)."""
    args, kwargs = copy.deepcopy((call.args, call.kwargs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = func(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - the type is what is compared
            result = err
    return result, sorted((w.category.__name__, str(w.message)) for w in caught)


# ------------------------------------------------- section 5: the scorers

SCORER_MODELS = {}
# Models whose predict_proba is the softmax (sigmoid) of decision_function:
# the scorers score their decision values; the others their log-probabilities.
SOFTMAX_MODELS = {"sklearn_multinomial", "sklearn_binary", "fastxent_multinomial"}


def scorer_model(name):
    """The fitted classifier ``name`` of ``fuzz_cases.SCORER_CLASSES``."""
    if name not in SCORER_MODELS:
        from fuzz_cases import SCORER_CLASSES, SCORER_FEATURES
        from sklearn.linear_model import LogisticRegression, SGDClassifier
        from sklearn.naive_bayes import GaussianNB

        from fastxent.linear_model import LogisticRegression as FastxentLogistic

        classes = SCORER_CLASSES[name]
        rng = np.random.default_rng(7)
        X = rng.normal(size=(90, SCORER_FEATURES))
        scores = X @ rng.normal(size=(SCORER_FEATURES, len(classes)))
        index = (scores + rng.gumbel(size=scores.shape)).argmax(axis=1)
        estimator = {
            "sklearn_multinomial": LogisticRegression(),
            "sklearn_binary": LogisticRegression(),
            "fastxent_multinomial": FastxentLogistic(),
            "sgd_one_vs_rest": SGDClassifier(loss="log_loss", random_state=0),
            "gaussian_nb": GaussianNB(),
        }[name]
        SCORER_MODELS[name] = estimator.fit(X, np.array(classes)[index])
    return SCORER_MODELS[name]


def make_scorer_of(options):
    from fastxent.metrics import make_cross_entropy_scorer, neg_cross_entropy_scorer

    if not options:
        return neg_cross_entropy_scorer
    return make_cross_entropy_scorer(**options)


def scorer_reference(call):
    """The score from API.md's definition, by scipy, or Invalid.

    The response is the decision function (softmax models) or the
    log-probabilities (the others) unless ``response_method`` says; the score
    is minus the weighted mean of ``-sum_c w_c t_c log p_c`` with ``t`` the
    (smoothed) one-hot row and row weight ``sample_weight_i * w_{y_i}``.
    """
    name, X, y = call.args
    options = dict(call.kwargs["options"])
    model = scorer_model(name)
    classes = list(model.classes_)
    n_classes = len(classes)
    problems = Problems()
    method = options.pop("response_method", "auto")
    if method == "auto":
        method = "decision_function" if name in SOFTMAX_MODELS else "predict_log_proba"
    try:
        values = np.asarray(getattr(model, method)(X), dtype=np.float64)
    except (ValueError, TypeError):
        problems.either("X")  # scikit-learn's own validation of X
        raise Invalid(problems.found) from None
    if values.ndim == 1:
        # log sigmoid(-z), log sigmoid(z): exact for z = +-inf.
        log_p = -np.logaddexp(0.0, np.column_stack([values, -values]))
    else:
        log_p = sp.log_softmax(np.log(values) if method == "predict_proba" else values,
                               axis=1)  # fmt: skip

    labels = np.asarray(y).tolist()
    codes = None
    if len(labels) != len(values):
        problems.value("y")
    elif any(label not in classes for label in labels):
        problems.either("y")
    else:
        codes = np.array([classes.index(label) for label in labels], dtype=np.intp)
    smoothing = check_smoothing(options.get("label_smoothing", 0.0), problems)
    log_base = nats_per_unit(options.get("base"), problems)
    class_weight = options.get("class_weight")
    if isinstance(class_weight, dict):
        if any(key not in classes for key in class_weight):
            problems.value("class_weight")
            class_weight = None
        else:
            class_weight = [class_weight.get(c, 1.0) for c in classes]
    class_weight = (
        np.ones(n_classes)
        if class_weight is None
        else weight_vector(class_weight, "class_weight", (n_classes,), problems)
    )
    sample_weight = call.kwargs.get("sample_weight")
    sample_weight = (
        np.ones(len(values))
        if sample_weight is None
        else weight_vector(sample_weight, "sample_weight", (len(values),), problems)
    )
    problems.raise_if_any()

    target = np.full(log_p.shape, smoothing / n_classes)
    target[np.arange(len(codes)), codes] += 1.0 - smoothing
    mass = class_weight * target
    terms = np.where(mass > 0, mass * log_p, 0.0)  # 0 log 0 = 0
    # The losses carry the class weights; the divisor counts each row with
    # the class weight of its label (the categorical rule of API.md).
    # In long double, scaled weights as small as 1e-300 / 1e308 stay positive.
    scale = sample_weight.max() if sample_weight.max() > 0 else 1.0
    relative_weight = np.longdouble(sample_weight) / np.longdouble(scale)
    total = (relative_weight * class_weight[codes]).sum()
    if not total > 0:
        problems.value("sample_weight")
        problems.raise_if_any()
    losses = np.longdouble(-terms.sum(axis=1))
    weighted = np.where(sample_weight > 0, relative_weight * losses, 0.0)
    mean = float(weighted.sum() / total)
    return -mean / log_base


def softmax_everywhere(call) -> bool:
    """Whether the model's predict_proba is the softmax of its decision values
    on every row of X (to the scorers' check tolerance): a scorer that checks
    a few rows may then score the decision values of any model."""
    name, X, _ = call.args
    model = scorer_model(name)
    if not hasattr(model, "decision_function"):
        return False
    logits = np.asarray(model.decision_function(X), dtype=np.float64)
    if logits.ndim == 1:
        logits = np.column_stack([np.zeros_like(logits), logits])
    proba = np.asarray(model.predict_proba(X))
    atol = 8 * float(np.finfo(proba.dtype).eps)
    return bool(np.allclose(proba, sp.softmax(logits, axis=1), rtol=1e-5, atol=atol))


def check_scorer(call) -> str:
    """A scorer call against ``scorer_reference``.

    Where the reference is finite the score must match it to 1e-9 relative.
    Where the decision values overflow (X near 1e308) the reference is
    infinite or NaN: a ValueError or TypeError is then as good as an equal
    infinite score; a NaN score never is.
    """
    name, X, y = call.args
    options = call.kwargs["options"]
    alternatives = []  # other acceptable scores
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = scorer_reference(call)
            if (
                name not in SOFTMAX_MODELS
                and "response_method" not in options
                and softmax_everywhere(call)
            ):
                forced = {**options, "response_method": "decision_function"}
                alternatives.append(
                    scorer_reference(
                        Call(call.name, call.args, {**call.kwargs, "options": forced})
                    )
                )
    except Invalid as invalid:
        want = invalid
    weights_ = call.kwargs.get("sample_weight")
    # Weights below 2**-1000 may underflow to 0 once scaled (see has_tiny).
    lenient = (
        isinstance(weights_, np.ndarray)
        and weights_.dtype.kind in "fiu"
        and has_tiny(weights_.astype(np.float64))
    )
    before = snapshot(Call(call.name, (X, y), call.kwargs))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scorer = make_scorer_of(call.kwargs["options"])
            kwargs = {k: v for k, v in call.kwargs.items() if k != "options"}
            got = scorer(scorer_model(name), X, y, **kwargs)
    except (ValueError, TypeError) as err:
        if isinstance(want, Invalid) or not math.isfinite(want) or lenient:
            return type(err).__name__
        raise AssertionError(f"valid call rejected: {err!r}") from err
    for original, kept in before:
        assert np.array_equal(original, kept, equal_nan=kept.dtype.kind in "fc"), (
            "the call modified an input array"
        )
    if isinstance(want, Invalid):
        raise AssertionError(
            f"invalid call accepted (expected an error about one of "
            f"{[p.names for p in want.problems]}), returned {got!r}"
        )
    assert isinstance(got, float), f"expected a float, got {got!r}"
    assert not math.isnan(got), f"NaN score (reference {want!r})"
    if lenient:
        return "returned"  # not compared, as Expected.lenient
    if math.isinf(want) and got * want > 0:
        # The reference's log-softmax of logits near 1e308 may overflow where
        # the score, a mean in nats then divided by log(base), does not.
        base = options.get("base")
        nats = abs(got * (math.log(float(base)) if base is not None else 1.0))
        if nats >= np.finfo(np.float64).max * OVERFLOW_MARGIN:
            return "returned"
    assert any(
        got == ref or math.isclose(got, ref, rel_tol=1e-9, abs_tol=1e-12)
        for ref in [want, *alternatives]
    ), f"score {got!r}, reference {want!r} (or one of {alternatives})"
    return "returned"
