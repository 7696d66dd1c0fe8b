"""Values of the functional API against independent references.

References: ``scipy.special`` for the log-sum-exp family and the information
measures, textbook numpy formulas written from API.md for every option of the
losses, PyTorch where it shares the semantics, and central finite differences
for every gradient.
"""

import numpy as np
import pytest
import scipy.special

import fastxent as fx

RNG = np.random.default_rng(20240611)
N_SAMPLES, N_CLASSES = 7, 5
LOGITS = RNG.normal(scale=3.0, size=(N_SAMPLES, N_CLASSES))
LABELS = np.array([0, 4, 2, 2, 1, 3, 0])
# Soft targets: rows deliberately not normalised, one exact zero entry.
SOFT = RNG.uniform(size=(N_SAMPLES, N_CLASSES))
SOFT[1, 3] = 0.0
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 0.0, 3.0])
SAMPLE_WEIGHT = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 3.0, 0.25])
# Labels with rows to ignore through ignore_index=-100.
LABELS_MINUS100 = np.array([0, -100, 2, 2, 1, -100, 4])

N_LABELS = 3
BIN_LOGITS = RNG.normal(scale=4.0, size=(N_SAMPLES, N_LABELS))
BIN_TARGET = np.array(
    [[0, 1, 1], [1, 0, 0.3], [0.5, 1, 0], [0, 0, 0], [1, 1, 1], [0.9, 0, 1], [0, 1, 0]],
    dtype=np.float64,
)
POS_WEIGHT = np.array([2.0, 0.5, 1.0])

REDUCTIONS = ["mean", "sum", "none"]

CE_OPTIONS = {
    "plain": {},
    "class_weight": {"class_weight": CLASS_WEIGHT},
    "sample_weight": {"sample_weight": SAMPLE_WEIGHT},
    "both_weights": {"class_weight": CLASS_WEIGHT, "sample_weight": SAMPLE_WEIGHT},
    "smoothing": {"label_smoothing": 0.2},
    "smoothing_weights": {
        "label_smoothing": 0.3,
        "class_weight": CLASS_WEIGHT,
        "sample_weight": SAMPLE_WEIGHT,
    },
    "base2": {"base": 2},
    "base10_weights": {"base": 10, "class_weight": CLASS_WEIGHT},
    "base_half_smoothing": {"base": 0.5, "label_smoothing": 0.1},
}

# (labels, options): ignoring an out-of-range marker and a real class.
IGNORE_OPTIONS = {
    "ignore_minus100": (LABELS_MINUS100, {"ignore_index": -100}),
    "ignore_minus100_all": (
        LABELS_MINUS100,
        {
            "ignore_index": -100,
            "class_weight": CLASS_WEIGHT,
            "sample_weight": SAMPLE_WEIGHT,
            "label_smoothing": 0.15,
            "base": 2,
        },
    ),
    "ignore_class2": (LABELS, {"ignore_index": 2}),
    "ignore_class2_weights": (
        LABELS,
        {"ignore_index": 2, "class_weight": CLASS_WEIGHT, "label_smoothing": 0.25},
    ),
}

BIN_OPTIONS = {
    "plain": {},
    "pos_weight": {"pos_weight": POS_WEIGHT},
    "sample_weight": {"sample_weight": SAMPLE_WEIGHT},
    "both_weights": {"pos_weight": POS_WEIGHT, "sample_weight": SAMPLE_WEIGHT},
    "base2_weights": {
        "base": 2,
        "pos_weight": POS_WEIGHT,
        "sample_weight": SAMPLE_WEIGHT,
    },
}


def np_log_softmax(z):
    """Return log_softmax along the last axis, exact for -inf entries."""
    m = np.max(z, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    shifted = z - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def ref_cross_entropy(
    logits,
    target,
    *,
    axis=-1,
    class_weight=None,
    sample_weight=None,
    ignore_index=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
):
    """Return the categorical cross-entropy by the formulas of API.md section 2."""
    z = np.moveaxis(np.asarray(logits, dtype=np.float64), axis, -1)
    n_classes = z.shape[-1]
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.integer):
        keep = np.ones(target.shape, dtype=bool)
        if ignore_index is not None:
            keep = target != ignore_index
        labels = np.where(keep, target, 0)
        p = (np.arange(n_classes) == labels[..., None]) & keep[..., None]
        p = p.astype(np.float64)
    else:
        p = np.moveaxis(target.astype(np.float64), axis, -1)
    cw = np.ones(n_classes) if class_weight is None else np.asarray(class_weight)
    sw = np.ones(z.shape[:-1]) if sample_weight is None else np.asarray(sample_weight)
    eps = label_smoothing
    p_smooth = (1.0 - eps) * p + eps * p.sum(axis=-1, keepdims=True) / n_classes
    with np.errstate(invalid="ignore"):
        terms = np.where(p_smooth > 0, cw * p_smooth * np_log_softmax(z), 0.0)
    row_loss = -sw * terms.sum(axis=-1)
    row_weight = sw * (cw * p).sum(axis=-1)
    scale = 1.0 if base is None else np.log(base)
    if reduction == "none":
        return row_loss / scale
    if reduction == "sum":
        return row_loss.sum() / scale
    return row_loss.sum() / row_weight.sum() / scale


def ref_binary_cross_entropy(
    logits,
    target,
    *,
    pos_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
):
    """Return the binary cross-entropy by the formulas of API.md section 3."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    y = (1.0 - label_smoothing) * y + label_smoothing / 2.0
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight)
    log_sigmoid_pos = -np.logaddexp(0.0, -z)
    log_sigmoid_neg = -np.logaddexp(0.0, z)
    loss = -(pw * y * log_sigmoid_pos + (1.0 - y) * log_sigmoid_neg)
    sw = np.ones(z.shape[:1]) if sample_weight is None else np.asarray(sample_weight)
    sw = np.broadcast_to(sw.reshape(sw.shape + (1,) * (z.ndim - 1)), z.shape)
    weighted = sw * loss
    scale = 1.0 if base is None else np.log(base)
    if reduction == "none":
        return weighted / scale
    if reduction == "sum":
        return weighted.sum() / scale
    return weighted.sum() / sw.sum() / scale


def numerical_gradient(func, x, step=1e-5):
    """Return the central finite-difference gradient of a scalar ``func`` at x.

    The loss closures pin ``n_threads=1``: results do not depend on it (tested
    below) and a thread team per tiny call is slow on a busy machine.
    """
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        x_plus = x.copy()
        x_minus = x.copy()
        x_plus[idx] += step
        x_minus[idx] -= step
        grad[idx] = (func(x_plus) - func(x_minus)) / (2.0 * step)
    return grad


def total(loss):
    """Sum a loss of any reduction to a float (for finite differences)."""
    return float(np.sum(loss))


# --- 1. log-sum-exp family against scipy.special --------------------------

INF, NAN = np.inf, np.nan
SPECIAL_ROWS = np.array(
    [
        [1.0, 2.0, 3.0, -1.0],
        [-INF, -INF, -INF, -INF],
        [-INF, 0.0, 1.0, -INF],
        [-INF, -INF, 5.0, -INF],
        [INF, 0.0, 1.0, 2.0],
        [INF, INF, 0.0, 1.0],
        [INF, -INF, 0.0, 1.0],
        [NAN, 0.0, 1.0, 2.0],
        [NAN, INF, -INF, 0.0],
        [700.0, 710.0, -745.0, 0.0],
    ]
)

LSE_CASES = {
    "random_2d": (RNG.normal(scale=5.0, size=(6, 9)), -1),
    "random_2d_axis0": (RNG.normal(scale=5.0, size=(6, 9)), 0),
    "random_3d_axis1": (RNG.normal(scale=5.0, size=(3, 4, 5)), 1),
    "random_1d": (RNG.normal(scale=5.0, size=11), -1),
    "large_values": (RNG.normal(scale=1e3, size=(4, 6)), -1),
    "neg_inf_rows": (SPECIAL_ROWS[:4], -1),
    "inf_nan_rows": (SPECIAL_ROWS, -1),
    "inf_nan_columns": (SPECIAL_ROWS.T.copy(), 0),
}


def scipy_quiet(func, *args, **kwargs):
    """Call a scipy function with floating-point warnings silenced."""
    with np.errstate(all="ignore"):
        return func(*args, **kwargs)


@pytest.mark.parametrize("case", LSE_CASES)
def test_logsumexp_matches_scipy(case):
    """logsumexp equals scipy.special.logsumexp, inf and NaN included."""
    a, axis = LSE_CASES[case]
    expected = scipy_quiet(scipy.special.logsumexp, a, axis=axis)
    np.testing.assert_allclose(fx.logsumexp(a, axis=axis), expected, rtol=1e-13)


@pytest.mark.parametrize("case", LSE_CASES)
def test_logsumexp_keepdims_matches_scipy(case):
    """logsumexp with keepdims=True keeps the reduced axis like scipy."""
    a, axis = LSE_CASES[case]
    expected = scipy_quiet(scipy.special.logsumexp, a, axis=axis, keepdims=True)
    got = fx.logsumexp(a, axis=axis, keepdims=True)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("case", LSE_CASES)
def test_softmax_matches_scipy(case):
    """softmax equals scipy.special.softmax, inf and NaN included."""
    a, axis = LSE_CASES[case]
    expected = scipy_quiet(scipy.special.softmax, a, axis=axis)
    got = fx.softmax(a, axis=axis)
    assert got.shape == a.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("case", LSE_CASES)
def test_log_softmax_matches_scipy(case):
    """log_softmax equals scipy.special.log_softmax, inf and NaN included."""
    a, axis = LSE_CASES[case]
    expected = scipy_quiet(scipy.special.log_softmax, a, axis=axis)
    got = fx.log_softmax(a, axis=axis)
    assert got.shape == a.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("func_name", ["softmax", "log_softmax"])
def test_softmax_family_writes_into_out(func_name):
    """softmax and log_softmax fill ``out`` and return that very array."""
    a = LSE_CASES["random_2d"][0]
    out = np.full_like(a, np.nan)
    got = getattr(fx, func_name)(a, axis=-1, out=out)
    assert got is out
    expected = getattr(scipy.special, func_name)(a, axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-13)


@pytest.mark.parametrize("func_name", ["logsumexp", "softmax", "log_softmax"])
def test_lse_family_float32_stays_float32(func_name):
    """float32 input gives float32 output within float32 rounding of scipy."""
    a = LSE_CASES["random_2d"][0].astype(np.float32)
    got = getattr(fx, func_name)(a, axis=-1)
    assert got.dtype == np.float32
    expected = getattr(scipy.special, func_name)(a.astype(np.float64), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


# --- 1b. scipy's signature: default axis, tuple axes, b, return_sign --------

LSE_FAMILY = ["logsumexp", "softmax", "log_softmax"]
# scipy's x - logsumexp(x) loses the relative digits of the top entry's
# log-probability (near 0), which fastxent keeps.
SCIPY_ATOL = {"logsumexp": 1e-300, "softmax": 1e-300, "log_softmax": 1e-13}
X3 = RNG.normal(scale=5.0, size=(2, 3, 4))
AXES = [None, 0, -1, (0, 2), (2, 0), (-1, -2), (0, 1, 2), ()]


def assert_like_scipy(got, expected, rtol=1e-13, atol=1e-300):
    """Same kind of result as scipy's (numpy scalar or array, or a pair of
    them), same shape and dtype, equal values (NaN where scipy has NaN)."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert_like_scipy(g, e, rtol, atol)
        return
    assert isinstance(got, np.ndarray) == isinstance(expected, np.ndarray)
    assert np.shape(got) == np.shape(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_default_axis_reduces_the_whole_array_as_scipy():
    """With axis omitted every element is reduced, as in scipy (not axis=-1)."""
    for func_name in LSE_FAMILY:
        got = getattr(fx, func_name)(X3)
        expected = getattr(scipy.special, func_name)(X3)
        assert_like_scipy(got, expected, atol=SCIPY_ATOL[func_name])
    assert isinstance(fx.logsumexp(X3), np.float64)
    np.testing.assert_allclose(fx.softmax(X3).sum(), 1.0, rtol=1e-14)


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("func_name", LSE_FAMILY)
def test_axis_and_tuple_axes_match_scipy(func_name, axis):
    """An int, a tuple (in any order, empty included) or None, as in scipy."""
    got = getattr(fx, func_name)(X3, axis=axis)
    expected = getattr(scipy.special, func_name)(X3, axis=axis)
    assert_like_scipy(got, expected, atol=SCIPY_ATOL[func_name])
    if func_name == "logsumexp":
        got = fx.logsumexp(X3, axis=axis, keepdims=True)
        assert_like_scipy(got, scipy.special.logsumexp(X3, axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [(0, 2), (1, 2), (0, 1)])
@pytest.mark.parametrize("func_name", ["softmax", "log_softmax"])
def test_tuple_axes_fill_out(func_name, axis):
    """softmax over a tuple of axes writes into ``out`` and returns it."""
    out = np.full_like(X3, np.nan)
    assert getattr(fx, func_name)(X3, axis=axis, out=out) is out
    expected = getattr(scipy.special, func_name)(X3, axis=axis)
    assert_like_scipy(out, expected, atol=SCIPY_ATOL[func_name])


def test_scalar_input_gives_numpy_scalars_as_scipy():
    """0-d input: numpy scalars, as scipy returns (softmax(1000.0) is 1.0)."""
    for func_name in LSE_FAMILY:
        for x in (1000.0, np.float32(3.0), np.array(-2.0)):
            got = getattr(fx, func_name)(x)
            assert_like_scipy(got, getattr(scipy.special, func_name)(x))
    assert_like_scipy(fx.logsumexp(5.0, axis=0), scipy.special.logsumexp(5.0, axis=0))
    # scipy reads a 0-d input of logsumexp as shape (1,).
    got = fx.logsumexp(5.0, keepdims=True)
    assert_like_scipy(got, scipy.special.logsumexp(5.0, keepdims=True))
    out = np.empty(())
    assert fx.softmax(2.0, out=out) is out


TINY = np.log(np.full(1000, 1e-40))
# (a, b, axis): the cases of scipy's own tests of logsumexp with weights.
WEIGHTED_CASES = {
    "arange": (np.arange(200.0), np.arange(200.0, 0.0, -1.0), None),
    "large": ([1000.0, 1000.0], [1.2, 1.2], None),
    "zero_weight_of_huge_a": ([1.0, 10000.0], [1.0, 0.0], None),
    "zero_weight_of_inf": ([INF, 1.0], [0.0, 1.0], None),
    "zero_weight_of_nan": ([NAN, 1.0], [0.0, 1.0], None),
    "all_weights_zero": ([1.0, 2.0], [0.0, 0.0], None),
    "negative_sum": ([1.0, 1.0, 1.0], [1.0, -1.0, -1.0], None),
    "zero_sum": ([1.0, 1.0], [1.0, -1.0], None),
    "negative_weight_at_max_positive_sum": (
        [3.06409428, 0.37251854, 3.87471931],
        [1.88190708, 2.84174795, -0.85016884],
        None,
    ),
    "negative_weight_at_max_negative_sum": (
        [3.06409428, 0.37251854, 3.87471931],
        [1.88190708, 2.84174795, -3.85016884],
        None,
    ),
    "inf_negative_weight": ([INF], [-1.0], None),
    "inf_weight": ([1.0], [INF], None),
    "nan_weight": ([1.0], [NAN], None),
    "inf_minus_inf": ([INF, INF], [1.0, -1.0], None),
    "tiny_stacked_axis0": (np.stack([TINY, TINY]), np.linspace(1, 1000, 1000), 0),
    "tiny_stacked_axis1": (np.stack([TINY, TINY]), np.linspace(1, 1000, 1000), 1),
    "rows_column_weights": (LOGITS, np.linspace(-1.0, 2.0, N_SAMPLES)[:, None], 1),
    "special_rows": (SPECIAL_ROWS, np.array([1.0, 0.25, 2.0, 0.5]), -1),
    "special_columns": (SPECIAL_ROWS.T, np.linspace(-1.0, 2.0, 10), 0),
    "tuple_axis": (X3, np.abs(X3) + 0.5, (0, 2)),
    "b_broadcasts_a": (np.zeros((4, 1, 2, 1)), np.ones((3, 1, 5)), None),
}


@pytest.mark.parametrize("return_sign", [False, True])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("case", WEIGHTED_CASES)
def test_weighted_logsumexp_matches_scipy(case, keepdims, return_sign):
    """b= and return_sign= give scipy's values, signs, shapes and types."""
    a, b, axis = WEIGHTED_CASES[case]
    options = {"axis": axis, "b": b, "keepdims": keepdims, "return_sign": return_sign}
    expected = scipy_quiet(scipy.special.logsumexp, a, **options)
    assert_like_scipy(fx.logsumexp(a, **options), expected)


@pytest.mark.parametrize("b_dtype", ["float32", "float64", "int8", "int64", "bool"])
@pytest.mark.parametrize("a_dtype", ["float32", "float64", "int32", "int64"])
def test_weighted_logsumexp_dtype_matches_scipy(a_dtype, b_dtype):
    """The result's dtype is numpy's promotion of a and b, as in scipy."""
    a = np.array([2, 1], dtype=a_dtype)
    b = np.array([1, 0] if b_dtype == "bool" else [1, -1], dtype=b_dtype)
    for weights in (b, 2, 2.0, True):  # Python numbers do not widen float32
        expected = scipy.special.logsumexp(a, b=weights)
        # scipy works in float32 there; fastxent rounds a float64 result.
        rtol = 1e-6 if expected.dtype == np.float32 else 1e-13
        assert_like_scipy(fx.logsumexp(a, b=weights), expected, rtol)


def test_zero_weights_always_contribute_nothing():
    """b == 0 drops an entry even where nothing else is finite: scipy then
    reads the entry again and gives NaN."""
    assert fx.logsumexp([INF], b=[0.0], return_sign=True) == (-INF, 0.0)
    assert fx.logsumexp([INF, 1.0, NAN], b=[1.0, -1.0, 0.0]) == INF
    assert fx.logsumexp([INF, INF], b=[1.0, 0.0]) == INF
    for a, b in (([INF], [0.0]), ([INF, INF], [1.0, 0.0])):
        assert np.isnan(scipy_quiet(scipy.special.logsumexp, a, b=b))


def test_empty_arrays():
    """An empty sum is -inf, as in scipy; its sign is 0 (scipy's is -1), and
    softmax of an empty array is empty (scipy raises)."""
    assert_like_scipy(fx.logsumexp([]), scipy.special.logsumexp([]))
    empty = np.zeros((0, 3))
    assert_like_scipy(fx.logsumexp(empty, axis=0), np.full(3, -INF))
    assert_like_scipy(fx.logsumexp(empty, axis=1), np.zeros(0))
    assert fx.logsumexp([], return_sign=True) == (-INF, 0.0)
    assert fx.logsumexp([], b=[], return_sign=True) == (-INF, 0.0)
    for func_name in ("softmax", "log_softmax"):
        assert getattr(fx, func_name)(empty).shape == (0, 3)


def test_no_floating_point_warnings(recwarn):
    """Overflowing intermediates warn in scipy, not here: the result is finite."""
    with np.errstate(all="raise"):
        assert fx.logsumexp([1e308, 1e308], b=[1e308, 1e308]) == 1e308
        assert fx.logsumexp([INF, 1.0, NAN], b=[1.0, -1.0, 0.0]) == INF
        assert np.isnan(fx.logsumexp([1.0, 2.0], b=[1.0, -1.0]))
    assert not recwarn.list


# --- 2. categorical cross-entropy against numpy formulas -------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS)
def test_cross_entropy_hard_matches_numpy_formula(option, reduction):
    """Integer targets give the API.md formula for every option and reduction."""
    kwargs = {**CE_OPTIONS[option], "reduction": reduction}
    got = fx.cross_entropy(LOGITS, LABELS, **kwargs)
    expected = ref_cross_entropy(LOGITS, LABELS, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_hard_plain_is_minus_log_softmax_of_label(reduction):
    """Without options the row loss is -log_softmax(z_i)[y_i] (scipy)."""
    rows = -scipy.special.log_softmax(LOGITS, axis=1)[np.arange(N_SAMPLES), LABELS]
    expected = {"none": rows, "sum": rows.sum(), "mean": rows.mean()}[reduction]
    got = fx.cross_entropy(LOGITS, LABELS, reduction=reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_weighted_mean_divides_by_weight_sum(reduction):
    """class_weight times sample_weight is the row weight; mean divides by its sum."""
    rows = -scipy.special.log_softmax(LOGITS, axis=1)[np.arange(N_SAMPLES), LABELS]
    row_weight = SAMPLE_WEIGHT * CLASS_WEIGHT[LABELS]
    weighted = row_weight * rows
    expected = {
        "none": weighted,
        "sum": weighted.sum(),
        "mean": weighted.sum() / row_weight.sum(),
    }[reduction]
    got = fx.cross_entropy(
        LOGITS,
        LABELS,
        class_weight=CLASS_WEIGHT,
        sample_weight=SAMPLE_WEIGHT,
        reduction=reduction,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", IGNORE_OPTIONS)
def test_cross_entropy_ignore_index_matches_numpy_formula(option, reduction):
    """Ignored rows contribute 0 and carry no weight, for every option."""
    labels, options = IGNORE_OPTIONS[option]
    kwargs = {**options, "reduction": reduction}
    got = fx.cross_entropy(LOGITS, labels, **kwargs)
    expected = ref_cross_entropy(LOGITS, labels, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_cross_entropy_ignore_index_equals_dropping_rows():
    """The mean with ignored rows equals the mean over the remaining rows."""
    keep = LABELS != 2
    got = fx.cross_entropy(LOGITS, LABELS, ignore_index=2, class_weight=CLASS_WEIGHT)
    expected = fx.cross_entropy(LOGITS[keep], LABELS[keep], class_weight=CLASS_WEIGHT)
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS)
def test_cross_entropy_soft_matches_numpy_formula(option, reduction):
    """Unnormalised soft targets give the API.md formula for every option."""
    kwargs = {**CE_OPTIONS[option], "reduction": reduction}
    got = fx.cross_entropy(LOGITS, SOFT, **kwargs)
    expected = ref_cross_entropy(LOGITS, SOFT, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_cross_entropy_soft_row_sum_scales_row_loss():
    """Scaling a soft target row scales that row's loss (reduction='none')."""
    scale = np.array([1.0, 2.0, 0.5, 3.0, 1.0, 0.0, 4.0])
    base_loss = fx.cross_entropy(LOGITS, SOFT, reduction="none")
    scaled_loss = fx.cross_entropy(LOGITS, SOFT * scale[:, None], reduction="none")
    np.testing.assert_allclose(scaled_loss, scale * base_loss, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS)
def test_one_hot_target_equals_integer_target(option, reduction):
    """An integer target and its one-hot float target give equal loss and grad."""
    kwargs = {**CE_OPTIONS[option], "reduction": reduction}
    one_hot = np.eye(N_CLASSES)[LABELS]
    loss_int, grad_int = fx.cross_entropy_with_grad(LOGITS, LABELS, **kwargs)
    loss_soft, grad_soft = fx.cross_entropy_with_grad(LOGITS, one_hot, **kwargs)
    np.testing.assert_allclose(loss_soft, loss_int, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad_soft, grad_int, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("option", CE_OPTIONS)
def test_whole_number_float_labels_are_class_indices(option, dtype):
    """Float labels 0.0, 1.0, ... give the integer labels' loss and gradient
    bitwise (scikit-learn's rule), and the loss is scikit-learn's."""
    kwargs = {**CE_OPTIONS[option], "reduction": "none"}
    floats = LABELS.astype(dtype)
    loss, grad = fx.cross_entropy_with_grad(LOGITS, floats, **kwargs)
    loss_int, grad_int = fx.cross_entropy_with_grad(LOGITS, LABELS, **kwargs)
    np.testing.assert_array_equal(loss, loss_int)
    np.testing.assert_array_equal(grad, grad_int)


def test_whole_number_float_labels_match_scikit_learn():
    """The same float labels give scikit-learn's log_loss of the softmax."""
    metrics = pytest.importorskip("sklearn.metrics")
    floats = LABELS.astype(np.float64)
    proba = scipy.special.softmax(LOGITS, axis=1)
    expected = metrics.log_loss(floats, proba, labels=np.arange(N_CLASSES))
    np.testing.assert_allclose(fx.cross_entropy(LOGITS, floats), expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_axis0_matches_numpy_formula(kind, reduction):
    """axis=0 takes classes along the rows, with sample_weight per column."""
    target = LABELS if kind == "hard" else SOFT.T.copy()
    kwargs = {
        "axis": 0,
        "class_weight": CLASS_WEIGHT,
        "sample_weight": SAMPLE_WEIGHT,
        "label_smoothing": 0.1,
        "reduction": reduction,
    }
    logits_t = LOGITS.T.copy()
    got = fx.cross_entropy(logits_t, target, **kwargs)
    expected = ref_cross_entropy(logits_t, target, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


LOGITS_3D = RNG.normal(scale=2.0, size=(3, N_CLASSES, 4))
LABELS_3D = RNG.integers(0, N_CLASSES, size=(3, 4))
SOFT_3D = RNG.uniform(size=(3, N_CLASSES, 4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_3d_axis1_matches_numpy_formula(kind, reduction):
    """3-D logits with axis=1 give one loss per (sample, position)."""
    target = LABELS_3D if kind == "hard" else SOFT_3D
    kwargs = {
        "axis": 1,
        "class_weight": CLASS_WEIGHT,
        "label_smoothing": 0.2,
        "reduction": reduction,
    }
    got = fx.cross_entropy(LOGITS_3D, target, **kwargs)
    expected = ref_cross_entropy(LOGITS_3D, target, **kwargs)
    if reduction == "none":
        assert np.shape(got) == (3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_single_sample_1d(reduction):
    """1-D logits are one sample: the loss is -log_softmax(z)[y]."""
    z = LOGITS[1]
    expected = -scipy.special.log_softmax(z)[LABELS[1]]
    got = fx.cross_entropy(z, LABELS[1], reduction=reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    got_soft = fx.cross_entropy(z, np.eye(N_CLASSES)[LABELS[1]], reduction=reduction)
    np.testing.assert_allclose(got_soft, expected, rtol=1e-13)


def test_cross_entropy_neg_inf_logit_masks_class():
    """A -inf logit on a class without target mass contributes exactly 0."""
    z = LOGITS.copy()
    z[:, 3] = -np.inf
    labels = np.where(LABELS == 3, 1, LABELS)
    soft = SOFT.copy()
    soft[:, 3] = 0.0
    for target in (labels, soft):
        loss, grad = fx.cross_entropy_with_grad(z, target, reduction="none")
        expected = ref_cross_entropy(z, target, reduction="none")
        assert np.all(np.isfinite(loss))
        np.testing.assert_allclose(loss, expected, rtol=1e-12)
        np.testing.assert_array_equal(grad[:, 3], 0.0)
        assert np.all(np.isfinite(grad))


def test_cross_entropy_neg_inf_logit_on_target_gives_inf():
    """A -inf logit on a class with positive target mass gives +inf."""
    z = LOGITS[:2].copy()
    z[0, 4] = -np.inf
    got = fx.cross_entropy(z, np.array([4, 2]), reduction="none")
    assert got[0] == np.inf
    np.testing.assert_allclose(got[1], -scipy.special.log_softmax(z[1])[2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS)
def test_cross_entropy_with_grad_loss_equals_cross_entropy(option, reduction):
    """The loss from cross_entropy_with_grad equals cross_entropy's."""
    kwargs = {**CE_OPTIONS[option], "reduction": reduction}
    loss, _ = fx.cross_entropy_with_grad(LOGITS, SOFT, **kwargs)
    np.testing.assert_allclose(loss, fx.cross_entropy(LOGITS, SOFT, **kwargs))


# --- 2. categorical cross-entropy against PyTorch --------------------------

TORCH_HARD_OPTIONS = {
    "plain": {},
    "weight": {"class_weight": CLASS_WEIGHT},
    "ignore_class2": {"ignore_index": 2},
    "smoothing": {"label_smoothing": 0.2},
    "weight_ignore_smoothing": {
        "class_weight": CLASS_WEIGHT,
        "ignore_index": -100,
        "label_smoothing": 0.3,
    },
}


def torch_cross_entropy(torch, logits, target, reduction, **kwargs):
    """Return torch's cross-entropy loss and its gradient, in float64."""
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    weight = kwargs.get("class_weight")
    loss = torch.nn.functional.cross_entropy(
        z,
        torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight),
        ignore_index=kwargs.get("ignore_index", -100),
        label_smoothing=kwargs.get("label_smoothing", 0.0),
        reduction=reduction,
    )
    loss.sum().backward()
    return loss.detach().numpy(), z.grad.numpy()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", TORCH_HARD_OPTIONS)
def test_cross_entropy_hard_matches_torch(option, reduction):
    """Hard targets match torch's cross_entropy loss and autograd gradient."""
    torch = pytest.importorskip("torch")
    kwargs = TORCH_HARD_OPTIONS[option]
    labels = LABELS_MINUS100 if kwargs.get("ignore_index") == -100 else LABELS
    expected_loss, expected_grad = torch_cross_entropy(
        torch, LOGITS, labels, reduction, **kwargs
    )
    loss, grad = fx.cross_entropy_with_grad(
        LOGITS, labels, reduction=reduction, **kwargs
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_soft_normalised_matches_torch(reduction):
    """Soft targets whose rows sum to 1 match torch without class weights."""
    torch = pytest.importorskip("torch")
    probs = SOFT / SOFT.sum(axis=1, keepdims=True)
    z = torch.tensor(LOGITS, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(
        z, torch.tensor(probs), label_smoothing=0.1, reduction=reduction
    )
    expected.sum().backward()
    loss, grad = fx.cross_entropy_with_grad(
        LOGITS, probs, label_smoothing=0.1, reduction=reduction
    )
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_3d_axis1_matches_torch(reduction):
    """(N, C, d) logits with axis=1 match torch's K-dimensional cross_entropy."""
    torch = pytest.importorskip("torch")
    kwargs = {"class_weight": CLASS_WEIGHT, "label_smoothing": 0.1}
    expected_loss, expected_grad = torch_cross_entropy(
        torch, LOGITS_3D, LABELS_3D, reduction, **kwargs
    )
    loss, grad = fx.cross_entropy_with_grad(
        LOGITS_3D, LABELS_3D, axis=1, reduction=reduction, **kwargs
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n_classes", [2, 10, 40])
@pytest.mark.parametrize(
    "option", ["plain", "class_weight", "ignore_index", "soft", "smoothing"]
)
def test_cross_entropy_without_sample_weight_equals_unit_weights(
    option, n_classes, reduction
):
    """No sample_weight (one weight the hard kernel shares across rows) is
    bitwise the result of an explicit array of ones, on the two-class, short
    and general row paths."""
    rng = np.random.default_rng(n_classes)
    z = rng.normal(scale=3.0, size=(300, n_classes))
    y = rng.integers(0, n_classes, 300)
    kwargs = {"reduction": reduction}
    if option == "class_weight":
        kwargs["class_weight"] = rng.uniform(0.5, 2.0, n_classes)
    elif option == "ignore_index":
        y[::7] = -100
        kwargs["ignore_index"] = -100
    elif option == "soft":
        y = rng.dirichlet(np.ones(n_classes), 300)
    else:
        kwargs["label_smoothing"] = 0.0 if option == "plain" else 0.1
    loss, grad = fx.cross_entropy_with_grad(z, y, **kwargs)
    loss_1, grad_1 = fx.cross_entropy_with_grad(
        z, y, sample_weight=np.ones(300), **kwargs
    )
    np.testing.assert_array_equal(loss, loss_1)
    np.testing.assert_array_equal(grad, grad_1)


# --- 3. binary cross-entropy ------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", BIN_OPTIONS)
def test_binary_matches_numpy_formula(option, reduction):
    """Multi-label binary cross-entropy follows the API.md element formula."""
    kwargs = {**BIN_OPTIONS[option], "reduction": reduction}
    got = fx.binary_cross_entropy(BIN_LOGITS, BIN_TARGET, **kwargs)
    expected = ref_binary_cross_entropy(BIN_LOGITS, BIN_TARGET, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_1d_sample_weight_matches_numpy_formula(reduction):
    """1-D logits: the mean is sum_i s_i l_i / sum_i s_i."""
    z, y = BIN_LOGITS[:, 0], BIN_TARGET[:, 1]
    kwargs = {"sample_weight": SAMPLE_WEIGHT, "reduction": reduction}
    got = fx.binary_cross_entropy(z, y, **kwargs)
    expected = ref_binary_cross_entropy(z, y, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_binary_mean_averages_all_elements_with_row_weights():
    """The multi-label mean is sum_ij s_i l_ij / (n_labels * sum_i s_i)."""
    element = fx.binary_cross_entropy(BIN_LOGITS, BIN_TARGET, reduction="none")
    got = fx.binary_cross_entropy(BIN_LOGITS, BIN_TARGET, sample_weight=SAMPLE_WEIGHT)
    expected = (SAMPLE_WEIGHT[:, None] * element).sum() / (
        N_LABELS * SAMPLE_WEIGHT.sum()
    )
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", ["1-D", "2-D", "one row"])
def test_binary_without_sample_weight_equals_unit_weights(shape, reduction):
    """No sample_weight (one weight the kernel shares) is bitwise the result
    of an explicit array of ones (one weight read per row)."""
    z, y = {
        "1-D": (BIN_LOGITS[:, 0], BIN_TARGET[:, 1]),
        "2-D": (BIN_LOGITS, BIN_TARGET),
        "one row": (BIN_LOGITS[:1], BIN_TARGET[:1]),
    }[shape]
    pos_weight = POS_WEIGHT[1] if z.ndim == 1 else POS_WEIGHT
    kwargs = {"pos_weight": pos_weight, "reduction": reduction}
    loss, grad = fx.binary_cross_entropy_with_grad(z, y, **kwargs)
    ones = np.ones(z.shape[0])
    loss_1, grad_1 = fx.binary_cross_entropy_with_grad(
        z, y, sample_weight=ones, **kwargs
    )
    np.testing.assert_array_equal(loss, loss_1)
    np.testing.assert_array_equal(grad, grad_1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_label_smoothing_moves_target_towards_half(reduction):
    """Binary smoothing e uses the target (1 - e) y + e / 2 (two classes)."""
    kwargs = {"pos_weight": POS_WEIGHT, "reduction": reduction}
    eps = 0.2
    got = fx.binary_cross_entropy(BIN_LOGITS, BIN_TARGET, label_smoothing=eps, **kwargs)
    smoothed = (1 - eps) * BIN_TARGET + eps / 2
    expected = fx.binary_cross_entropy(BIN_LOGITS, smoothed, **kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", ["plain", "pos_weight"])
def test_binary_matches_torch(option, reduction):
    """Binary loss and gradient match torch's binary_cross_entropy_with_logits."""
    torch = pytest.importorskip("torch")
    pos_weight = BIN_OPTIONS[option].get("pos_weight")
    z = torch.tensor(BIN_LOGITS, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        z,
        torch.tensor(BIN_TARGET),
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight),
        reduction=reduction,
    )
    expected.sum().backward()
    loss, grad = fx.binary_cross_entropy_with_grad(
        BIN_LOGITS, BIN_TARGET, pos_weight=pos_weight, reduction=reduction
    )
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_binary_sample_weight_matches_torch_weight(reduction):
    """sample_weight equals torch's per-row ``weight`` for sum and none."""
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(BIN_LOGITS),
        torch.tensor(BIN_TARGET),
        weight=torch.tensor(SAMPLE_WEIGHT[:, None]),
        pos_weight=torch.tensor(POS_WEIGHT),
        reduction=reduction,
    )
    got = fx.binary_cross_entropy(
        BIN_LOGITS,
        BIN_TARGET,
        sample_weight=SAMPLE_WEIGHT,
        pos_weight=POS_WEIGHT,
        reduction=reduction,
    )
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)


def test_binary_infinite_logits_are_exact():
    """z = +-inf gives loss 0 when right, +inf when wrong, never NaN."""
    z = np.array([[np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf]])
    y = np.array([[1.0, 0.0, 0.0, 1.0, 0.3, 0.3]])
    pos_weight = np.full(6, 2.0)
    loss = fx.binary_cross_entropy(z, y, pos_weight=pos_weight, reduction="none")
    np.testing.assert_array_equal(loss, [[0.0, 0.0, np.inf, np.inf, np.inf, np.inf]])


def test_binary_infinite_logits_gradient_is_the_limit():
    """At z = +-inf the gradient is (1 - y) sigmoid(z) - pw y sigmoid(-z)."""
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.25, 0.25])
    pos_weight = 2.0
    _, grad = fx.binary_cross_entropy_with_grad(
        z, y, pos_weight=pos_weight, reduction="sum"
    )
    sig = (z > 0).astype(np.float64)
    expected = (1 - y) * sig - 2.0 * y * (1 - sig)
    np.testing.assert_array_equal(grad, expected)


def test_binary_large_finite_logits_do_not_overflow():
    """Large finite logits give the exact linear tail, not inf or NaN."""
    z = np.array([800.0, -800.0, 40.0, -40.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    loss = fx.binary_cross_entropy(z, y, reduction="none")
    expected = ref_binary_cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    np.testing.assert_allclose(loss[:2], 800.0, rtol=1e-15)


# --- 4. information measures against scipy.special ------------------------

PROBS = RNG.uniform(size=(5, 6))
PROBS[0, 2] = 0.0
PROBS[3, :] = 0.0
Q_PROBS = RNG.uniform(0.05, 1.0, size=(5, 6))
Q_PROBS[1, 4] = 0.0


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("base", [None, 2, 10])
def test_entropy_matches_scipy_entr(axis, base):
    """entropy equals scipy.special.entr summed over axis, no normalisation."""
    scale = 1.0 if base is None else np.log(base)
    expected = scipy.special.entr(PROBS).sum(axis=axis) / scale
    got = fx.entropy(PROBS, axis=axis, base=base)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


def test_entropy_3d_axis1_matches_scipy_entr():
    """entropy reduces over the requested axis of a 3-D array only."""
    p = RNG.uniform(size=(2, 3, 4))
    np.testing.assert_allclose(
        fx.entropy(p, axis=1), scipy.special.entr(p).sum(axis=1), rtol=1e-13
    )


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("base", [None, 2])
def test_kl_divergence_matches_scipy_rel_entr(axis, base):
    """kl_divergence equals scipy.special.rel_entr summed, inf where q = 0 < p."""
    scale = 1.0 if base is None else np.log(base)
    expected = scipy.special.rel_entr(PROBS, Q_PROBS).sum(axis=axis) / scale
    got = fx.kl_divergence(PROBS, Q_PROBS, axis=axis, base=base)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(lambda x: x[::-1], id="reversed-rows"),
        pytest.param(lambda x: x[::2], id="every-other-row"),
        pytest.param(lambda x: x[:, 1:], id="column-slice"),
        pytest.param(lambda x: np.broadcast_to(x[1], x.shape), id="broadcast-row"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_information_of_row_strided_views_matches_scipy(view, dtype):
    """Views with contiguous rows, read in place by the kernels, give scipy's sums."""
    p = view(PROBS.astype(dtype))
    q = view(Q_PROBS.astype(dtype))
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(
        fx.entropy(p), scipy.special.entr(p.astype(float)).sum(axis=1), rtol=rtol
    )
    np.testing.assert_allclose(
        fx.kl_divergence(p, q, n_threads=2),
        scipy.special.rel_entr(p.astype(float), q.astype(float)).sum(axis=1),
        rtol=rtol,
        atol=1e-300,
    )


def test_kl_divergence_zero_p_ignores_zero_q():
    """p = 0 contributes 0 even where q = 0; p > 0 with q = 0 gives +inf."""
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.8, 0.0]])
    q = np.array([[0.0, 0.25, 0.75], [0.0, 0.5, 0.5]])
    got = fx.kl_divergence(p, q)
    expected = scipy.special.rel_entr(p, q).sum(axis=-1)
    np.testing.assert_array_equal(np.isinf(got), [False, True])
    np.testing.assert_allclose(got, expected, rtol=1e-13)


# --- gradients against central finite differences -------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", CE_OPTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_grad_matches_finite_differences(kind, option, reduction):
    """cross_entropy_with_grad's gradient equals central finite differences."""
    target = LABELS if kind == "hard" else SOFT
    kwargs = {**CE_OPTIONS[option], "reduction": reduction}
    loss, grad = fx.cross_entropy_with_grad(LOGITS, target, **kwargs)
    assert grad.shape == LOGITS.shape
    assert grad.dtype == np.float64

    def func(z):
        return total(fx.cross_entropy(z, target, n_threads=1, **kwargs))

    np.testing.assert_allclose(
        grad, numerical_gradient(func, LOGITS), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", IGNORE_OPTIONS)
def test_cross_entropy_ignore_grad_matches_finite_differences(option, reduction):
    """With ignore_index the gradient matches finite differences (0 on ignored)."""
    labels, options = IGNORE_OPTIONS[option]
    kwargs = {**options, "reduction": reduction}
    _, grad = fx.cross_entropy_with_grad(LOGITS, labels, **kwargs)
    np.testing.assert_array_equal(grad[labels == kwargs["ignore_index"]], 0.0)

    def func(z):
        return total(fx.cross_entropy(z, labels, n_threads=1, **kwargs))

    np.testing.assert_allclose(
        grad, numerical_gradient(func, LOGITS), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_grad_matches_finite_differences_numpy_loss(kind, reduction):
    """The gradient also matches finite differences of the numpy reference."""
    target = LABELS if kind == "hard" else SOFT
    kwargs = {
        "class_weight": CLASS_WEIGHT,
        "sample_weight": SAMPLE_WEIGHT,
        "label_smoothing": 0.2,
        "base": 2,
        "reduction": reduction,
    }
    _, grad = fx.cross_entropy_with_grad(LOGITS, target, **kwargs)

    def func(z):
        return total(ref_cross_entropy(z, target, **kwargs))

    np.testing.assert_allclose(
        grad, numerical_gradient(func, LOGITS), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_axis_grad_matches_finite_differences(kind, reduction):
    """Gradients for axis=0 and 3-D axis=1 logits match finite differences."""
    cases = [
        (LOGITS.T.copy(), LABELS if kind == "hard" else SOFT.T.copy(), 0),
        (LOGITS_3D, LABELS_3D if kind == "hard" else SOFT_3D, 1),
    ]
    for logits, target, axis in cases:
        kwargs = {
            "axis": axis,
            "class_weight": CLASS_WEIGHT,
            "label_smoothing": 0.1,
            "reduction": reduction,
        }
        _, grad = fx.cross_entropy_with_grad(logits, target, **kwargs)
        assert grad.shape == logits.shape

        def func(z, target=target, kwargs=kwargs):
            return total(fx.cross_entropy(z, target, n_threads=1, **kwargs))

        np.testing.assert_allclose(
            grad, numerical_gradient(func, logits), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("option", BIN_OPTIONS)
def test_binary_grad_matches_finite_differences(option, reduction):
    """binary_cross_entropy_with_grad's gradient equals finite differences."""
    kwargs = {**BIN_OPTIONS[option], "reduction": reduction}
    loss, grad = fx.binary_cross_entropy_with_grad(BIN_LOGITS, BIN_TARGET, **kwargs)
    assert grad.shape == BIN_LOGITS.shape
    np.testing.assert_allclose(
        loss, fx.binary_cross_entropy(BIN_LOGITS, BIN_TARGET, **kwargs)
    )

    def func(z):
        return total(fx.binary_cross_entropy(z, BIN_TARGET, n_threads=1, **kwargs))

    np.testing.assert_allclose(
        grad, numerical_gradient(func, BIN_LOGITS), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_grad_matches_finite_differences_numpy_loss(reduction):
    """The binary gradient matches finite differences of the numpy reference."""
    kwargs = {
        "pos_weight": POS_WEIGHT,
        "sample_weight": SAMPLE_WEIGHT,
        "reduction": reduction,
    }
    _, grad = fx.binary_cross_entropy_with_grad(BIN_LOGITS, BIN_TARGET, **kwargs)

    def func(z):
        return total(ref_binary_cross_entropy(z, BIN_TARGET, **kwargs))

    np.testing.assert_allclose(
        grad, numerical_gradient(func, BIN_LOGITS), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_smoothing_1d_grad_matches_finite_differences(reduction):
    """1-D binary gradients with smoothing and weights match finite differences."""
    z, y = BIN_LOGITS[:, 1].copy(), BIN_TARGET[:, 2].copy()
    kwargs = {
        "sample_weight": SAMPLE_WEIGHT,
        "label_smoothing": 0.1,
        "base": 2,
        "reduction": reduction,
    }
    _, grad = fx.binary_cross_entropy_with_grad(z, y, **kwargs)

    def func(zz):
        return total(fx.binary_cross_entropy(zz, y, n_threads=1, **kwargs))

    np.testing.assert_allclose(grad, numerical_gradient(func, z), rtol=1e-6, atol=1e-8)


# --- out= buffers and float32 ------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_with_grad_writes_into_out(kind, reduction):
    """out= receives the gradient and is the array returned."""
    target = LABELS if kind == "hard" else SOFT
    kwargs = {"class_weight": CLASS_WEIGHT, "reduction": reduction}
    out = np.full_like(LOGITS, np.nan)
    loss, grad = fx.cross_entropy_with_grad(LOGITS, target, out=out, **kwargs)
    assert grad is out
    expected_loss, expected_grad = fx.cross_entropy_with_grad(LOGITS, target, **kwargs)
    np.testing.assert_array_equal(out, expected_grad)
    np.testing.assert_array_equal(loss, expected_loss)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_with_grad_writes_into_out(reduction):
    """out= receives the binary gradient and is the array returned."""
    kwargs = {"pos_weight": POS_WEIGHT, "reduction": reduction}
    out = np.full_like(BIN_LOGITS, np.nan)
    loss, grad = fx.binary_cross_entropy_with_grad(
        BIN_LOGITS, BIN_TARGET, out=out, **kwargs
    )
    assert grad is out
    expected_loss, expected_grad = fx.binary_cross_entropy_with_grad(
        BIN_LOGITS, BIN_TARGET, **kwargs
    )
    np.testing.assert_array_equal(out, expected_grad)
    np.testing.assert_array_equal(loss, expected_loss)


def test_out_buffer_reused_across_calls():
    """Reusing one out= buffer gives each call's own gradient."""
    out = np.empty_like(LOGITS)
    for target in (LABELS, SOFT):
        _, grad = fx.cross_entropy_with_grad(LOGITS, target, out=out)
        _, fresh = fx.cross_entropy_with_grad(LOGITS, target)
        assert grad is out
        np.testing.assert_array_equal(out, fresh)


def test_float32_out_buffer():
    """A float32 out= buffer receives the gradient of float32 logits."""
    z = LOGITS.astype(np.float32)
    out = np.zeros_like(z)
    _, grad = fx.cross_entropy_with_grad(z, LABELS, out=out)
    assert grad is out
    assert out.dtype == np.float32
    _, fresh = fx.cross_entropy_with_grad(z, LABELS)
    np.testing.assert_array_equal(out, fresh)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_cross_entropy_float32_in_float32_out(kind, reduction):
    """float32 logits give float32 loss and gradient close to float64."""
    target = LABELS if kind == "hard" else SOFT.astype(np.float32)
    z32 = LOGITS.astype(np.float32)
    kwargs = {"class_weight": CLASS_WEIGHT, "reduction": reduction}
    loss, grad = fx.cross_entropy_with_grad(z32, target, **kwargs)
    assert np.asarray(loss).dtype == np.float32
    assert grad.dtype == np.float32
    loss64, grad64 = fx.cross_entropy_with_grad(
        z32.astype(np.float64), target, **kwargs
    )
    expected = ref_cross_entropy(z32, target, **kwargs)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, grad64, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss64, expected, rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_float32_in_float32_out(reduction):
    """float32 binary logits give float32 loss and gradient close to float64."""
    z32 = BIN_LOGITS.astype(np.float32)
    y32 = BIN_TARGET.astype(np.float32)
    kwargs = {"pos_weight": POS_WEIGHT, "reduction": reduction}
    loss, grad = fx.binary_cross_entropy_with_grad(z32, y32, **kwargs)
    assert np.asarray(loss).dtype == np.float32
    assert grad.dtype == np.float32
    expected = ref_binary_cross_entropy(z32, y32, **kwargs)
    _, grad64 = fx.binary_cross_entropy_with_grad(
        z32.astype(np.float64), y32.astype(np.float64), **kwargs
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(grad, grad64, rtol=1e-5, atol=1e-7)


# --- n_threads: identical results, also under repeated calls ----------------


def as_tuple(result):
    """Return a (loss, grad) tuple unchanged and wrap a single result."""
    return result if isinstance(result, tuple) else (result,)


THREAD_CALLS = {
    "logsumexp": lambda z, y, p, nt: fx.logsumexp(z, axis=-1, n_threads=nt),
    "softmax": lambda z, y, p, nt: fx.softmax(z, axis=-1, n_threads=nt),
    "log_softmax": lambda z, y, p, nt: fx.log_softmax(z, axis=-1, n_threads=nt),
    "cross_entropy_hard": lambda z, y, p, nt: fx.cross_entropy_with_grad(
        z, y, label_smoothing=0.1, reduction="none", n_threads=nt
    ),
    "cross_entropy_soft_mean": lambda z, y, p, nt: fx.cross_entropy_with_grad(
        z, p, n_threads=nt
    ),
    "binary": lambda z, y, p, nt: fx.binary_cross_entropy_with_grad(
        z, p, reduction="none", n_threads=nt
    ),
    "binary_mean": lambda z, y, p, nt: fx.binary_cross_entropy_with_grad(
        z, p, n_threads=nt
    ),
}


@pytest.mark.parametrize("n_rows", [6, 3000])
@pytest.mark.parametrize("name", THREAD_CALLS)
def test_results_identical_for_every_n_threads(name, n_rows):
    """Repeated calls with 1, 2 or all threads give bitwise identical results."""
    rng = np.random.default_rng(n_rows)
    z = rng.normal(scale=5.0, size=(n_rows, 9))
    y = rng.integers(0, 9, size=n_rows)
    p = rng.uniform(size=(n_rows, 9))
    call = THREAD_CALLS[name]
    expected = as_tuple(call(z, y, p, 1))
    for _ in range(30):
        for n_threads in (2, None):
            got = as_tuple(call(z, y, p, n_threads))
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("func_name", ["logsumexp", "softmax", "log_softmax"])
def test_lse_family_repeated_calls_match_scipy(func_name):
    """Back-to-back calls on small arrays keep matching scipy (no data race)."""
    rng = np.random.default_rng(3)
    for _ in range(500):
        a = rng.normal(scale=5.0, size=(6, 9))
        expected = getattr(scipy.special, func_name)(a, axis=-1)
        got = getattr(fx, func_name)(a, axis=-1)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
