"""Hypothesis strategies for hostile calls of every public function.

``calls()`` draws one ``Call`` of a function of API.md sections 1-5 (the
metrics' ``log_loss`` and scorers when scikit-learn is installed). Every
call gets random shapes (empty axes included), dtypes (float16/32/64, signed
and unsigned ints, bools), memory layouts (Fortran order, negative and
doubled strides, zero strides from broadcasting, read-only arrays, lists,
pandas objects), extreme but legal values (subnormals, 1e308, float32's
limits, -inf logits, huge labels next to ``ignore_index``) and a random
choice of options.

On top of that a *fault plan* picks zero, one or two arguments to spoil:
a dtype the API rejects (complex, object, strings), a ragged list, a value
out of its domain (NaN, +inf, negative weights, labels past the last class,
``label_smoothing=1``, ``base=1``, ``n_threads=2**40``...), a wrong shape
or a bad ``out`` buffer. Sparing most arguments keeps most calls valid, so
the kernels run on the extreme values instead of the first check rejecting
them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fuzz_oracle import Call
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

NAN, INF = math.nan, math.inf

# Values every real argument may hold.
EXTREME = [
    0.0, -0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-45, 1e-30, 1e15,
    1e308, -1e308, 1.7976931348623157e308, 3.4e38, -3.4e38, 3.5e38, 65504.0,
    800.0, -800.0,
]  # fmt: skip
TAME_LOGITS = st.floats(-40.0, 40.0, allow_subnormal=False)
LOGITS = {
    # Legal logits per family: the log-sum-exp family takes anything.
    "lse": [*EXTREME, -INF, INF, NAN],
    "categorical": [*EXTREME, -INF],
    "binary": [*EXTREME, -INF, INF],
}
BAD_LOGITS = {"lse": [], "categorical": [NAN, INF], "binary": [NAN]}
TAME_PROBS = st.floats(0.0, 1.0)
PROBS = [0.0, 1.0, 0.5, 1e-310, 5e-324, 1e-30]
BAD_PROBS = [-0.25, -1e-300, 1.5, 7.0, NAN, INF, -INF, 1e308]
TAME_WEIGHTS = st.floats(0.0, 8.0)
WEIGHTS = [0.0, 1.0, 5e-324, 1e-310, 1e300, 1e308]
BAD_WEIGHTS = [-1.0, -1e-300, NAN, INF]

REAL_DTYPES = [np.float64] * 5 + [np.float32] * 3 + [
    np.float16, np.longdouble, np.int64, np.int32, np.int8, np.uint8, np.uint64,
    np.bool_,
]  # fmt: skip
BAD_DTYPES = [np.complex128, np.complex64, object, str]
LABEL_DTYPES = [np.int64] * 4 + [np.intp, np.int32, np.int8, np.uint8, np.uint64]
BIG_LABELS = [2**31 - 1, 2**31, 2**62, 2**63 - 1, 2**64 - 1]
BAD_LABELS = [-1, -100, -(2**31), -(2**63), *BIG_LABELS]

OPTIONS = {
    # name: (legal values, illegal values)
    "n_threads": ([None, None, 1, 2, 3, 4, np.int64(2), np.uint8(3)],
                  [0, -1, 1.5, True, "2", 2**40]),
    "base": ([None, None, 2, 10.0, math.e, 0.5, 1e-300, 1e300, np.float32(2)],
             [1, 1.0, 0, -2.0, NAN, INF, True, "2", 2 + 0j]),
    "label_smoothing": ([0.0, 0.0, 0, 0.1, 0.5, 0.999999, 5e-324, -0.0,
                         np.float32(0.25)],
                        [-0.1, 1.0, 1, NAN, INF, True, "0.1", None]),
    "reduction": (["mean", "mean", "sum", "none"],
                  ["MEAN", "avg", None, 0, b"sum"]),
    "ignore_index": ([None] * 4 + [-100, -1, 0, 2**62, 2**70, np.int64(-100)],
                     [True, 1.0, "x"]),
}  # fmt: skip

# Options whose default is None: drawing None for them means leaving them out.
NONE_DEFAULTS = {
    "class_weight", "sample_weight", "ignore_index", "pos_weight", "base",
    "n_threads", "out",
}  # fmt: skip


@st.composite
def fault_plan(draw, arguments):
    """The arguments to spoil: none in about half the calls, else one or two."""
    n_faults = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    return set(draw(st.lists(st.sampled_from(arguments), max_size=n_faults)))


def option(draw, name, faults):
    legal, illegal = OPTIONS[name]
    return draw(st.sampled_from(illegal if name in faults else legal))


@st.composite
def shapes(draw, min_dims=0, max_dims=3):
    """Small shapes, zeros included; now and then a long row or many rows."""
    size = draw(st.sampled_from(["small"] * 12 + ["wide", "tall"]))
    n_dims = draw(st.integers(min_dims, max_dims))
    dims = draw(st.lists(st.integers(0, 5), min_size=n_dims, max_size=n_dims))
    if size == "wide" and dims:
        # Rows longer than 16 take the vectorised row path of the kernels.
        dims[-1] = draw(st.integers(17, 40))
    elif size == "tall" and dims:
        # More than one block of 2048 elements: the threaded loops split it.
        dims[0] = draw(st.integers(700, 1100))
        dims[1:] = [draw(st.integers(1, 4)) for _ in dims[1:]]
    return tuple(dims)


@st.composite
def values(draw, shape, tame, special, bounds):
    """A float64 array of ``shape``: tame, or tame salted with ``special``.

    Small arrays are drawn element by element; large ones come from a seeded
    generator, uniform in ``bounds``, with specials planted at drawn places.
    """
    salted = bool(special) and draw(st.integers(0, 2)) == 0
    size = math.prod(shape)
    if size <= 64:
        elements = tame | st.sampled_from(special) if salted else tame
        return draw(hnp.arrays(np.float64, shape, elements=elements))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = rng.uniform(*bounds, size)
    if salted:
        for _ in range(draw(st.integers(1, 4))):
            arr[draw(st.integers(0, size - 1))] = draw(st.sampled_from(special))
    return arr.reshape(shape)


def cast(arr, dtype):
    """``arr`` in ``dtype``; rounded and clipped to the range of integer dtypes."""
    with np.errstate(all="ignore"):
        if np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            arr = np.clip(np.nan_to_num(np.round(arr)), info.min, info.max)
        return arr.astype(dtype)


@st.composite
def layout(draw, arr):
    """The same array (or an object holding it) in a drawn memory layout."""
    kind = draw(
        st.sampled_from(
            [
                "c",
                "c",
                "f",
                "reversed",
                "strided",
                "read-only",
                "broadcast",
                "list",
                "pandas",
            ]
        )  # fmt: skip
    )
    if kind == "f":
        return np.asfortranarray(arr)
    if kind == "read-only":
        arr = arr.copy()
        arr.setflags(write=False)
        return arr
    if kind == "list" and arr.dtype != np.longdouble:
        return arr.tolist()
    if arr.ndim == 0:
        return arr.copy()
    axis = draw(st.integers(0, arr.ndim - 1))
    if kind == "reversed":
        return np.flip(np.flip(arr, axis).copy(), axis)
    if kind == "strided":
        every_other = tuple(
            slice(None, None, 2) if k == axis else slice(None) for k in range(arr.ndim)
        )
        wide = np.zeros(
            tuple(2 * n if k == axis else n for k, n in enumerate(arr.shape)),
            arr.dtype,
        )
        wide[every_other] = arr
        return wide[every_other]
    if kind == "broadcast" and arr.shape[0] > 0:
        return np.broadcast_to(arr[:1], arr.shape)  # zero stride, read-only
    if kind == "pandas" and arr.ndim == 1:
        return pd.Series(arr)
    if kind == "pandas" and arr.ndim == 2:
        return pd.DataFrame(arr)
    return np.ascontiguousarray(arr)


@st.composite
def array_input(draw, shape, tame, special, bad, bounds, *, spoil, dtypes=None):
    """An array-like of ``shape``; when ``spoil``, with one fault in it."""
    fault = None
    if spoil:
        fault = draw(st.sampled_from(["dtype", "ragged", "values", "shape"]))
        if fault == "values" and not bad:
            fault = "dtype"
    if fault == "shape":
        shape = draw(st.sampled_from([(), (1,), tuple(shape) + (2,), shape[1:]]))
        if shape == ():
            shape = (3,)
    arr = draw(values(shape, tame, special, bounds))
    dtypes = dtypes or REAL_DTYPES
    if fault == "values" and arr.size:
        arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from(bad))
        dtypes = [np.float64, np.float32]  # an integer cast could mend the value
    elif fault == "values":
        fault = "dtype"
    if fault == "ragged" and arr.ndim == 2 and arr.shape[0] >= 2:
        rows = arr.tolist()
        return [[*rows[0], 1.0], *rows[1:]]
    if fault == "ragged":
        fault = "dtype"
    dtype = draw(st.sampled_from(BAD_DTYPES if fault == "dtype" else dtypes))
    return draw(layout(cast(arr, dtype)))


@st.composite
def out_buffer(draw, shape, dtype, alias, *, spoil):
    """None, a NaN-filled buffer, the input itself, or (spoilt) a bad buffer."""
    if dtype is None:
        return None
    if spoil:
        kind = draw(st.sampled_from(["shape", "dtype", "order", "strided", "read-only",
                                     "list"]))  # fmt: skip
    else:
        kind = draw(st.sampled_from(["none", "none", "fresh", "alias"]))
    if kind == "none":
        return None
    buffer = np.full(shape, np.nan, dtype)  # NaN: every entry must be written
    if kind == "alias":
        legal = (
            isinstance(alias, np.ndarray)
            and alias.dtype == dtype
            and alias.flags.c_contiguous
            and alias.flags.writeable
        )
        return alias if legal else buffer
    if kind == "fresh":
        return buffer
    if kind == "shape":
        return np.full((*shape, 1), np.nan, dtype)
    if kind == "dtype":
        return buffer.astype(np.float32 if dtype == np.float64 else np.float64)
    if kind == "order" and len(shape) >= 2 and shape[0] > 1 and shape[-1] > 1:
        return np.asfortranarray(buffer)
    if kind == "strided" and len(shape) >= 1 and shape[0] > 1:
        return np.full((2 * shape[0], *shape[1:]), np.nan, dtype)[::2]
    if kind == "list":
        return buffer.tolist()
    buffer.setflags(write=False)
    return buffer


def computed_as(x):
    """(shape, dtype) the library computes a real input in, or (None, None)."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        return None, None
    if arr.dtype.kind not in "fbiu":
        return arr.shape, None
    if arr.dtype in (np.float32, np.float64):
        return arr.shape, arr.dtype
    return arr.shape, np.dtype(np.float64)


def axis_for(draw, ndim, faults, allow_none):
    if "axis" in faults:
        return draw(st.sampled_from([ndim, -ndim - 1, True, 1.0, "0"]))
    legal = list(range(-ndim, ndim)) + ([None] if allow_none else [])
    return draw(st.sampled_from(legal))


def finish(name, args, kwargs):
    """The call, leaving out options drawn at their default None."""
    kwargs = {k: v for k, v in kwargs.items() if not (v is None and k in NONE_DEFAULTS)}
    return Call(name, tuple(args), kwargs)


# ------------------------------------------------------------- the families


def lse_axis(draw, ndim, faults):
    """An axis of the log-sum-exp family: an int, None or a tuple of ints."""
    if not draw(st.booleans()):
        return axis_for(draw, ndim, faults, allow_none=True)
    if "axis" in faults:
        # The same axis twice (once counted from the end), or one out of range.
        k = draw(st.integers(0, ndim - 1))
        return draw(st.sampled_from([(k, k - ndim), (k, ndim)]))
    distinct = st.lists(
        st.integers(-ndim, ndim - 1), max_size=ndim, unique_by=lambda i: i % ndim
    )
    return tuple(draw(distinct))


@st.composite
def lse_calls(draw):
    name = draw(st.sampled_from(["logsumexp", "softmax", "log_softmax"]))
    faults = draw(fault_plan(["a", "axis", "out", "n_threads"]))
    shape = draw(shapes(0, 3))
    a = draw(
        array_input(shape, TAME_LOGITS, LOGITS["lse"], [], (-30, 30),
                    spoil="a" in faults)
    )  # fmt: skip
    kwargs = {"axis": lse_axis(draw, max(len(shape), 1), faults)}
    if name == "logsumexp":
        kwargs["keepdims"] = draw(st.booleans())
    else:
        out_shape, out_dtype = computed_as(a)
        kwargs["out"] = draw(out_buffer(out_shape, out_dtype, a, spoil="out" in faults))
    kwargs["n_threads"] = option(draw, "n_threads", faults)
    return finish(name, [a], kwargs)


@st.composite
def categorical_calls(draw):
    name = draw(st.sampled_from(["cross_entropy", "cross_entropy_with_grad"]))
    faults = draw(
        fault_plan(
            [
                "logits",
                "target",
                "axis",
                "class_weight",
                "sample_weight",
                "ignore_index",
                "label_smoothing",
                "reduction",
                "base",
                "n_threads",
                "out",
            ]
        )  # fmt: skip
    )
    shape = draw(shapes(1, 3))
    if "logits" in faults and draw(st.booleans()):
        shape = ()  # no class axis
    logits = draw(
        array_input(shape, TAME_LOGITS, LOGITS["categorical"],
                    BAD_LOGITS["categorical"], (-30, 30), spoil="logits" in faults)
    )  # fmt: skip
    ndim = max(len(shape), 1)
    axis = axis_for(draw, ndim, faults, allow_none=False)
    class_axis = axis % ndim if "axis" not in faults else ndim - 1
    n_classes = shape[class_axis] if shape else 1
    batch = shape[:class_axis] + shape[class_axis + 1 :]
    kwargs = {"axis": axis, "ignore_index": option(draw, "ignore_index", faults)}
    if draw(st.sampled_from(["hard", "hard", "soft"])) == "hard":
        target = draw(
            labels(batch, n_classes, kwargs["ignore_index"], spoil="target" in faults)
        )
    else:
        target = draw(
            array_input(shape, TAME_PROBS, PROBS, BAD_PROBS, (0, 1),
                        spoil="target" in faults)
        )  # fmt: skip
        # Soft targets take no ignore_index: any value is the fault.
        kwargs["ignore_index"] = -100 if "ignore_index" in faults else None
    kwargs["class_weight"] = draw(weights((n_classes,), spoil="class_weight" in faults))
    kwargs["sample_weight"] = draw(weights(batch, spoil="sample_weight" in faults))
    for option_name in ("label_smoothing", "reduction", "base", "n_threads"):
        kwargs[option_name] = option(draw, option_name, faults)
    if name.endswith("_with_grad"):
        out_shape, out_dtype = computed_as(logits)
        kwargs["out"] = draw(
            out_buffer(out_shape, out_dtype, logits, spoil="out" in faults)
        )
    return finish(name, [logits, target], kwargs)


@st.composite
def labels(draw, batch, n_classes, ignore_index, *, spoil):
    """Integer labels of ``batch`` shape, some equal to ``ignore_index``.

    Spoilt: a label out of range, float labels, or a wrong shape.
    """
    fault = (
        draw(st.sampled_from(["range", "range", "float", "shape"])) if spoil else None
    )
    if fault == "float":
        return draw(array_input(batch, st.just(1.0), [], [], (0, 1), spoil=False,
                                dtypes=[np.float64, np.float32]))  # fmt: skip
    if fault == "shape":
        batch = draw(st.sampled_from([(2,), (*batch, 2), batch[1:], (0,)]))
    size = math.prod(batch)
    dtype = draw(st.sampled_from(LABEL_DTYPES))
    info = np.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    raw = rng.integers(0, max(n_classes, 1), size).tolist()
    if size and is_label(ignore_index) and info.min <= ignore_index <= info.max:
        for _ in range(draw(st.integers(0, 3))):
            raw[draw(st.integers(0, size - 1))] = int(ignore_index)
    if size and fault == "range":
        bad = st.integers(n_classes, n_classes + 2) | st.sampled_from(BAD_LABELS)
        raw[draw(st.integers(0, size - 1))] = draw(bad)
    arr = np.array([min(max(v, info.min), info.max) for v in raw], dtype=object)
    arr = arr.astype(dtype).reshape(batch)
    if not spoil and n_classes >= 2 and draw(st.integers(0, 10)) == 0:
        arr = arr.astype(bool)
    return draw(layout(arr))


def is_label(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


@st.composite
def weights(draw, shape, *, spoil):
    """None or non-negative weights of ``shape``; spoilt: any fault."""
    if not spoil and draw(st.booleans()):
        return None
    return draw(array_input(shape, TAME_WEIGHTS, WEIGHTS, BAD_WEIGHTS, (0, 8),
                            spoil=spoil))  # fmt: skip


@st.composite
def binary_calls(draw):
    name = draw(
        st.sampled_from(["binary_cross_entropy", "binary_cross_entropy_with_grad"])
    )
    faults = draw(
        fault_plan(
            [
                "logits",
                "target",
                "pos_weight",
                "sample_weight",
                "label_smoothing",
                "reduction",
                "base",
                "n_threads",
                "out",
            ]
        )  # fmt: skip
    )
    shape = draw(shapes(0, 3))
    logits = draw(
        array_input(shape, TAME_LOGITS, LOGITS["binary"], BAD_LOGITS["binary"],
                    (-30, 30), spoil="logits" in faults)
    )  # fmt: skip
    target_dtypes = draw(st.sampled_from([None, [np.bool_], [np.int64, np.uint8]]))
    tame = TAME_PROBS if target_dtypes is None else st.sampled_from([0.0, 1.0])
    target = draw(
        array_input(shape, tame, PROBS if target_dtypes is None else [], BAD_PROBS,
                    (0, 1), spoil="target" in faults, dtypes=target_dtypes)
    )  # fmt: skip
    last = shape[-1] if len(shape) > 1 else 1
    n_rows = shape[0] if shape else 1
    pos_shape = draw(st.sampled_from([(), (last,), (1,)]))
    kwargs = {
        "pos_weight": draw(weights(pos_shape, spoil="pos_weight" in faults)),
        "sample_weight": draw(weights((n_rows,), spoil="sample_weight" in faults)),
    }
    for option_name in ("label_smoothing", "reduction", "base", "n_threads"):
        kwargs[option_name] = option(draw, option_name, faults)
    if name.endswith("_with_grad"):
        out_shape, out_dtype = computed_as(logits)
        kwargs["out"] = draw(
            out_buffer(out_shape, out_dtype, logits, spoil="out" in faults)
        )
    return finish(name, [logits, target], kwargs)


@st.composite
def information_calls(draw):
    name = draw(st.sampled_from(["entropy", "kl_divergence"]))
    arguments = ["p", "axis", "base", "n_threads"]
    faults = draw(fault_plan(arguments + (["q"] if name == "kl_divergence" else [])))
    shape = draw(shapes(1, 3))
    if "p" in faults and draw(st.booleans()):
        shape = ()  # no axis to reduce
    # No normalisation: any non-negative finite value is a legal entry.
    tame = st.floats(0.0, 4.0)
    special = [*PROBS, 1e300, 3.5e38]
    bad = [-0.25, -1e-300, NAN, INF]
    args = [draw(array_input(shape, tame, special, bad, (0, 4), spoil="p" in faults))]
    if name == "kl_divergence":
        args.append(
            draw(array_input(shape, tame, special, bad, (0, 4), spoil="q" in faults))
        )
    kwargs = {"axis": axis_for(draw, max(len(shape), 1), faults, allow_none=False)}
    kwargs["base"] = option(draw, "base", faults)
    kwargs["n_threads"] = option(draw, "n_threads", faults)
    return finish(name, args, kwargs)


@st.composite
def log_loss_calls(draw):
    """``metrics.log_loss`` with labels of any type, probabilities good or bad."""
    faults = draw(fault_plan(["y_true", "y_pred", "normalize", "sample_weight",
                              "labels"]))  # fmt: skip
    n_samples = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 600]))
    n_classes = draw(st.integers(1, 4))
    names = draw(
        st.sampled_from(
            [
                list(range(n_classes)),
                [f"c{k}" for k in range(n_classes)],
                [2.5 * k for k in range(n_classes)],
                [True, False][:n_classes],
            ]
        )  # fmt: skip
    )
    n_classes = len(names)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y_true = [names[k] for k in rng.integers(0, n_classes, n_samples)]
    if "y_true" in faults:
        y_true = draw(st.sampled_from([y_true[:-1], [*y_true, names[0]], None]))
    elif n_samples and draw(st.booleans()):
        y_true = np.array(y_true)
    shape = (n_samples, n_classes)
    if n_classes == 2 and draw(st.booleans()):
        shape = draw(st.sampled_from([(n_samples,), (n_samples, 1)]))
    raw = draw(values(shape, st.floats(0.0, 1.0), PROBS, (0, 1)))
    if len(shape) == 2 and shape[1] > 1 and draw(st.integers(0, 3)):
        with np.errstate(all="ignore"):
            raw = raw / raw.sum(axis=1, keepdims=True)  # rows of probabilities
        raw = np.nan_to_num(raw, nan=1.0 / shape[1])
    y_pred = draw(
        array_input(shape, st.just(0.5), [], BAD_PROBS, (0, 1),
                    spoil="y_pred" in faults)
    ) if "y_pred" in faults else draw(layout(cast(raw, draw(st.sampled_from(
        [np.float64, np.float64, np.float32, np.float16])))))  # fmt: skip
    kwargs = {}
    if "normalize" in faults or draw(st.booleans()):
        kwargs["normalize"] = draw(
            st.sampled_from(
                ["yes", 1, None] if "normalize" in faults else [True, False]
            )
        )
    weights_ = draw(weights((n_samples,), spoil="sample_weight" in faults))
    if weights_ is not None:
        kwargs["sample_weight"] = weights_
    if "labels" in faults:
        kwargs["labels"] = draw(st.sampled_from([names[:1], names[1:], [*names, "x"]]))
    elif draw(st.integers(0, 2)) == 0:
        kwargs["labels"] = list(names)
    return Call("metrics.log_loss", (y_true, y_pred), kwargs)


def calls():
    """One call of any public function of API.md sections 1-4 (and 5's
    ``log_loss`` and scorers when scikit-learn, which the metrics need, is
    installed)."""
    families = [lse_calls(), categorical_calls(), binary_calls(), information_calls()]
    try:
        import fastxent.metrics  # noqa: F401
    except ImportError:
        return st.one_of(families)
    return st.one_of(*families, log_loss_calls(), scorer_calls())


# Fitted classifiers the scorer calls score, and their classes; the oracle
# fits them (fuzz_oracle.scorer_model) the first time a call needs one.
SCORER_CLASSES = {
    "sklearn_multinomial": ["ant", "bee", "cat"],
    "sklearn_binary": [-1, 1],
    "fastxent_multinomial": [0, 1, 2],
    "sgd_one_vs_rest": ["ant", "bee", "cat"],
    "gaussian_nb": [10, 20, 30],
}
SCORER_FEATURES = 4


@st.composite
def scorer_calls(draw):
    """``neg_cross_entropy_scorer`` or a made scorer, on a fitted classifier.

    X carries the extreme values (1e308 makes the decision values overflow)
    or, spoilt, NaN and infinities; y a subset of the classes or, spoilt, a
    label the model never saw or a wrong length; options and sample weights
    good or bad.
    """
    faults = draw(fault_plan(["X", "y", "sample_weight", "options"]))
    model = draw(st.sampled_from(list(SCORER_CLASSES)))
    classes = SCORER_CLASSES[model]
    n_samples = draw(st.sampled_from([1, 2, 3, 7, 40]))
    X = draw(
        array_input((n_samples, SCORER_FEATURES), st.floats(-4.0, 4.0),
                    [*EXTREME, -1e3, 1e3], [NAN, INF, -INF], (-4, 4),
                    spoil="X" in faults,
                    dtypes=[np.float64, np.float64, np.float32, np.int64])
    )  # fmt: skip
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    present = classes[: draw(st.integers(1, len(classes)))]  # a fold may lack some
    y = [present[k] for k in rng.integers(0, len(present), n_samples)]
    if "y" in faults:
        y = draw(st.sampled_from([[*y[:-1], "never seen"], y[:-1], [*y, y[0]]]))
    y = np.array(y, dtype=object) if "y" in faults else np.array(y)
    kwargs = {}
    weights_ = draw(weights((n_samples,), spoil="sample_weight" in faults))
    if weights_ is not None:
        kwargs["sample_weight"] = weights_
    options = {}
    if "options" in faults or draw(st.booleans()):
        spoil = "options" in faults
        if draw(st.booleans()):
            options["label_smoothing"] = option(
                draw, "label_smoothing", {"label_smoothing"} if spoil else ()
            )
        if draw(st.booleans()):
            options["base"] = option(draw, "base", {"base"} if spoil else ())
        if draw(st.booleans()) or (spoil and not options):
            legal = [
                list(np.linspace(0.5, 2.0, len(classes))),
                dict(zip(classes, range(1, len(classes) + 1), strict=True)),
            ]
            illegal = [
                [1.0] * (len(classes) + 1),
                [-1.0] * len(classes),
                {"never seen": 1.0},
            ]
            options["class_weight"] = draw(st.sampled_from(illegal if spoil else legal))
        if not spoil and model != "gaussian_nb" and draw(st.integers(0, 3)) == 0:
            options["response_method"] = draw(
                st.sampled_from(["decision_function", "predict_proba"])
            )
    return Call("metrics.scorer", (model, X, y), {"options": options, **kwargs})
