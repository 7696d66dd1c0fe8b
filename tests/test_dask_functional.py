"""The functional API on dask arrays: lazy results equal to the in-memory ones.

Per-sample results must be bitwise equal (each block runs the same kernel on
the same rows); sums and means equal to 1e-12 relative in float64 (the sum of
block sums differs from one pairwise sum by rounding only). These run on
dask's local threaded scheduler; the cluster tests are in
``test_dask_estimator.py``.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastxent as fx  # noqa: E402

RTOL_SUM = 1e-12


def chunked(x, rows=37):
    """A dask array of x split into blocks of ``rows`` along the first axis."""
    x = np.asarray(x)
    return da.from_array(x, chunks=(rows,) + x.shape[1:])


def assert_reduced_equal(lazy, expected, dtype=np.float64):
    """A lazy scalar equal to the in-memory one to rounding of the sum order."""
    assert isinstance(lazy, da.Array)
    value = lazy.compute()
    assert np.asarray(value).dtype == dtype
    rtol = RTOL_SUM if dtype == np.float64 else 2 * np.finfo(np.float32).eps
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=0)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    n, c = 250, 6
    logits = rng.normal(scale=3.0, size=(n, c))
    labels = rng.integers(0, c, n)
    soft = rng.dirichlet(np.ones(c), n) * rng.uniform(0.5, 2.0, (n, 1))
    weights = rng.uniform(0.0, 3.0, n)
    return logits, labels, soft, weights


def test_import_does_not_import_dask():
    """``import fastxent`` leaves dask unimported (registration is by name)."""
    code = "import sys, fastxent; print('dask' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"class_weight": np.arange(1.0, 7.0)},
        {"ignore_index": 2, "label_smoothing": 0.1},
        {"base": 2},
    ],
)
def test_cross_entropy_hard_targets_match_memory(problem, reduction, options):
    """Hard targets, with sample weights and every option: same loss and gradient."""
    logits, labels, _, weights = problem
    args = (chunked(logits), chunked(labels))
    kwargs = dict(sample_weight=chunked(weights), reduction=reduction, **options)
    expected, expected_grad = fx.cross_entropy_with_grad(
        logits, labels, sample_weight=weights, reduction=reduction, **options
    )
    loss, grad = fx.cross_entropy_with_grad(*args, **kwargs)
    assert isinstance(grad, da.Array)
    if reduction == "none":
        np.testing.assert_array_equal(loss.compute(), expected)
        np.testing.assert_array_equal(grad.compute(), expected_grad)
    else:
        assert_reduced_equal(loss, expected)
        np.testing.assert_allclose(grad.compute(), expected_grad, rtol=RTOL_SUM)
    only_loss = fx.cross_entropy(*args, **kwargs)
    np.testing.assert_array_equal(only_loss.compute(), loss.compute())


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_cross_entropy_soft_targets_and_class_axis_first(problem, reduction):
    """Probability targets with the class axis first (axis=0) match memory."""
    logits, _, soft, weights = problem
    cw = np.linspace(0.5, 2.0, logits.shape[1])
    expected, expected_grad = fx.cross_entropy_with_grad(
        logits.T, soft.T, axis=0, class_weight=cw, sample_weight=weights,
        reduction=reduction,
    )  # fmt: skip
    zt = da.from_array(logits.T, chunks=(6, 40))
    pt = da.from_array(soft.T, chunks=(3, 70))  # other chunks: rechunked to zt's
    loss, grad = fx.cross_entropy_with_grad(
        zt, pt, axis=0, class_weight=cw, sample_weight=chunked(weights, 50),
        reduction=reduction,
    )  # fmt: skip
    if reduction == "none":
        np.testing.assert_array_equal(loss.compute(), expected)
        np.testing.assert_array_equal(grad.compute(), expected_grad)
    else:
        assert_reduced_equal(loss, expected)
        np.testing.assert_allclose(grad.compute(), expected_grad, rtol=RTOL_SUM)


def test_class_axis_split_in_chunks_is_rechunked(problem):
    """Logits chunked along classes too give the same per-row losses."""
    logits, labels, _, _ = problem
    z = da.from_array(logits, chunks=(50, 2))
    loss = fx.cross_entropy(z, chunked(labels, 50), reduction="none")
    np.testing.assert_array_equal(
        loss.compute(), fx.cross_entropy(logits, labels, reduction="none")
    )


def test_three_dimensional_logits(problem):
    """(batch, time, classes) logits chunked along both batch axes."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(20, 9, 5))
    labels = rng.integers(0, 5, (20, 9))
    z = da.from_array(logits, chunks=(7, 4, 5))
    t = da.from_array(labels, chunks=(7, 4))
    for reduction in ("none", "mean"):
        expected = fx.cross_entropy(logits, labels, reduction=reduction)
        loss = fx.cross_entropy(z, t, reduction=reduction)
        if reduction == "none":
            np.testing.assert_array_equal(loss.compute(), expected)
        else:
            assert_reduced_equal(loss, expected)


def test_float32_sum_past_its_range_is_inf_without_a_warning():
    """A float32 sum of losses beyond float32's range is inf, its correctly
    rounded value, with no overflow warning: in memory and on dask arrays,
    categorical and binary alike (one rule, ``_core.in_loss_dtype``)."""
    z = np.array([[3e38, -3e38]] * 4, dtype=np.float32)
    y = np.ones(4, dtype=np.int64)  # the -3e38 class: a loss of 6e38 per row
    bz = np.full(4, -3e38, dtype=np.float32)
    by = np.ones(4, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Each binary loss is 3e38: only their sum leaves float32's range.
        results = (
            [
                fx.cross_entropy(z, y, reduction=reduction)
                for reduction in ("sum", "mean")
            ]
            + [
                fx.cross_entropy(chunked(z, 2), chunked(y, 2), reduction=reduction)
                for reduction in ("sum", "mean")
            ]
            + [
                fx.binary_cross_entropy(bz, by, reduction="sum"),
                fx.binary_cross_entropy(
                    chunked(bz, 2), chunked(by, 2), reduction="sum"
                ),
            ]
        )
        for result in results:
            value = result.compute() if isinstance(result, da.Array) else result
            assert np.asarray(value).dtype == np.float32
            assert value == np.inf
        rows = fx.cross_entropy(z, y, reduction="none")
        assert rows.dtype == np.float32
        assert np.all(rows == np.inf)


def test_float32_stays_float32(problem):
    """float32 stays float32: bitwise per row, one rounding on the mean."""
    logits, labels, _, weights = problem
    z32 = logits.astype(np.float32)
    expected = fx.cross_entropy(z32, labels, reduction="none")
    loss = fx.cross_entropy(chunked(z32), chunked(labels), reduction="none")
    assert loss.dtype == np.float32
    np.testing.assert_array_equal(loss.compute(), expected)
    mean = fx.cross_entropy(chunked(z32), chunked(labels), sample_weight=weights)
    assert_reduced_equal(
        mean, fx.cross_entropy(z32, labels, sample_weight=weights), np.float32
    )


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_binary_cross_entropy_matches_memory(reduction):
    """Multi-label binary cross-entropy with pos_weight and sample weights."""
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=4.0, size=(300, 4))
    logits[5, 1] = np.inf
    target = (rng.random((300, 4)) > 0.5).astype(float)
    target[5, 1] = 1.0
    weights = rng.uniform(0, 2, 300)
    options = dict(pos_weight=[1.0, 2.0, 0.5, 3.0], reduction=reduction)
    expected, expected_grad = fx.binary_cross_entropy_with_grad(
        logits, target, sample_weight=weights, **options
    )
    loss, grad = fx.binary_cross_entropy_with_grad(
        da.from_array(logits, chunks=(64, 2)), chunked(target),
        sample_weight=chunked(weights, 100), **options,
    )  # fmt: skip
    if reduction == "none":
        np.testing.assert_array_equal(loss.compute(), expected)
        np.testing.assert_array_equal(grad.compute(), expected_grad)
    else:
        assert_reduced_equal(loss, expected)
        np.testing.assert_allclose(grad.compute(), expected_grad, rtol=RTOL_SUM)


def test_log_sum_exp_family_bitwise(problem):
    """logsumexp, softmax, log_softmax along an axis and over all elements."""
    logits = problem[0]
    logits[3, :] = -np.inf
    z = chunked(logits)
    for axis in (-1, 0):
        np.testing.assert_array_equal(
            fx.logsumexp(z, axis=axis).compute(), fx.logsumexp(logits, axis=axis)
        )
        np.testing.assert_array_equal(
            fx.softmax(z, axis=axis).compute(), fx.softmax(logits, axis=axis)
        )
        np.testing.assert_array_equal(
            fx.log_softmax(z, axis=axis).compute(), fx.log_softmax(logits, axis=axis)
        )
    np.testing.assert_array_equal(
        fx.logsumexp(z, axis=1, keepdims=True).compute(),
        fx.logsumexp(logits, axis=1, keepdims=True),
    )
    np.testing.assert_array_equal(
        fx.logsumexp(z, axis=None).compute(), fx.logsumexp(logits, axis=None)
    )
    np.testing.assert_array_equal(
        fx.softmax(z, axis=None).compute(), fx.softmax(logits, axis=None)
    )


def assert_lazy_equal(lazy, expected):
    """A lazy result (or pair of them) computing bitwise to the in-memory one."""
    if isinstance(expected, tuple):
        assert isinstance(lazy, tuple) and len(lazy) == len(expected)
        for got, want in zip(lazy, expected, strict=True):
            assert_lazy_equal(got, want)
        return
    assert isinstance(lazy, da.Array)
    assert lazy.dtype == expected.dtype
    value = lazy.compute()
    assert isinstance(value, np.ndarray) == isinstance(expected, np.ndarray)
    assert value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize("axis", [None, 1, (0, 2), (2, 1), ()])
@pytest.mark.parametrize("func_name", ["logsumexp", "softmax", "log_softmax"])
def test_log_sum_exp_family_default_and_tuple_axes(func_name, axis):
    """axis=None (the default) and tuple axes: split reduced axes are
    rechunked whole, so every value is bitwise the in-memory one."""
    x = np.random.default_rng(1).normal(size=(20, 6, 5))
    lazy = da.from_array(x, chunks=(7, 4, 2))
    func = getattr(fx, func_name)
    if axis is None:
        assert_lazy_equal(func(lazy), func(x))
    assert_lazy_equal(func(lazy, axis=axis), func(x, axis=axis))


@pytest.mark.parametrize("return_sign", [False, True])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, (0, 2)])
def test_weighted_logsumexp_bitwise(axis, keepdims, return_sign):
    """b as a dask array chunked otherwise, a numpy array that broadcasts, or
    a Python number; return_sign gives a pair of lazy arrays."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 6, 5))
    b = rng.uniform(-1.0, 2.0, size=x.shape)
    lazy = da.from_array(x, chunks=(7, 4, 2))
    options = {"axis": axis, "keepdims": keepdims, "return_sign": return_sign}
    for weights, lazy_weights in (
        (b, da.from_array(b, chunks=(10, 6, 1))),
        (b[0, :, :1], b[0, :, :1]),
        (2.0, 2.0),
    ):
        assert_lazy_equal(
            fx.logsumexp(lazy, b=lazy_weights, **options),
            fx.logsumexp(x, b=weights, **options),
        )


def test_weighted_logsumexp_dtypes_as_in_memory():
    """float32 logits stay float32 with bool weights or a Python number, and
    widen with float64 weights, as in memory."""
    x = np.random.default_rng(3).normal(size=(12, 4)).astype(np.float32)
    lazy = chunked(x, 5)
    for weights in (x > 0, 2.0, x.astype(np.float64)):
        lazy_weights = weights if np.isscalar(weights) else chunked(weights, 5)
        assert_lazy_equal(
            fx.logsumexp(lazy, axis=1, b=lazy_weights),
            fx.logsumexp(x, axis=1, b=weights),
        )


def test_information_measures_bitwise(problem):
    """entropy and kl_divergence of probability rows, q chunked differently."""
    _, _, soft, _ = problem
    q = np.roll(soft, 1, axis=0)
    p_lazy = chunked(soft, 40)
    q_lazy = chunked(q, 90)
    np.testing.assert_array_equal(
        fx.entropy(p_lazy, base=2).compute(), fx.entropy(soft, base=2)
    )
    np.testing.assert_array_equal(
        fx.kl_divergence(p_lazy, q_lazy).compute(), fx.kl_divergence(soft, q)
    )


def test_bad_label_raises_at_compute_with_its_block(problem):
    """A label out of range raises the in-memory ValueError, naming the block."""
    logits, labels, _, _ = problem
    labels = labels.copy()
    labels[100] = 9
    loss = fx.cross_entropy(chunked(logits, 50), chunked(labels, 50))
    with pytest.raises(ValueError, match=r"label 9 at row 0.*starting at index 100"):
        loss.compute()


def test_eager_checks(problem):
    """Dtype, shape and option errors raise at once, before any compute."""
    logits, labels, _, _ = problem
    z = chunked(logits)
    with pytest.raises(TypeError, match="integer class labels"):
        fx.cross_entropy(z, chunked(labels.astype(complex)))
    with pytest.raises(ValueError, match="target must have shape"):
        fx.cross_entropy(z, chunked(labels[:-1]))
    one_hot = np.eye(logits.shape[1], dtype=int)[labels]
    with pytest.raises(TypeError, match="must be floating point"):
        fx.cross_entropy(z, chunked(one_hot))
    with pytest.raises(TypeError, match="out= is not supported"):
        fx.cross_entropy_with_grad(z, chunked(labels), out=np.empty_like(logits))
    with pytest.raises(TypeError, match="real numbers"):
        fx.softmax(da.from_array(np.array(["a", "b"])))
    with pytest.raises(TypeError, match=r"\bb must hold real numbers"):
        fx.logsumexp(z, b=np.ones(logits.shape[1], dtype=complex))
    with pytest.raises(ValueError, match=r"\bb of shape \(4,\) does not broadcast"):
        fx.logsumexp(z, b=np.ones(4))
    with pytest.raises(ValueError, match=r"axis \(1, -1\) names an axis of x twice"):
        fx.softmax(z, axis=(1, -1))
    with pytest.raises(ValueError, match="reduction"):
        fx.cross_entropy(z, chunked(labels), reduction="avg")


def test_zero_total_weight_raises_at_compute(problem):
    """A mean over zero total weight raises, as in memory."""
    logits, labels, _, _ = problem
    loss = fx.cross_entropy(
        chunked(logits), chunked(labels), sample_weight=np.zeros(len(labels))
    )
    with pytest.raises(ValueError, match="sum to 0"):
        loss.compute()


def test_whole_number_float_labels(problem):
    """Float labels that are whole numbers give the integer labels' losses,
    bitwise, as in memory; a fraction raises the in-memory error at compute."""
    logits, labels, _, _ = problem
    z = chunked(logits)
    got = fx.cross_entropy(z, chunked(labels.astype(float)), reduction="none")
    np.testing.assert_array_equal(
        got.compute(), fx.cross_entropy(logits, labels, reduction="none")
    )
    fraction = fx.cross_entropy(z, chunked(labels + 0.5))
    with pytest.raises(ValueError, match="whole number"):
        fraction.compute()


def weights_up_to(largest, n, seed=3):
    """n positive weights whose maximum is exactly ``largest``."""
    weights = np.random.default_rng(seed).uniform(0.05, 1.0, n)
    weights /= weights.max()
    return weights * largest


def weighted_losses(problem):
    """(function, logits, target, options) of each weighted cross-entropy."""
    logits, labels, soft, _ = problem
    rng = np.random.default_rng(4)
    binary_logits = rng.normal(scale=3.0, size=(len(labels), 3))
    binary_target = (rng.random(binary_logits.shape) > 0.5).astype(float)
    class_weight = np.linspace(0.5, 2.0, logits.shape[1])
    return [
        (fx.cross_entropy_with_grad, logits, labels, {"class_weight": class_weight}),
        (fx.cross_entropy_with_grad, logits, labels, {"ignore_index": 1}),
        (fx.cross_entropy_with_grad, logits, soft, {"class_weight": class_weight}),
        (fx.binary_cross_entropy_with_grad, binary_logits, binary_target, {}),
    ]


@pytest.mark.parametrize("largest", [1.0, 2.0**-3, 2.0**40, 1e-300, 1e300])
def test_weighted_rows_bitwise_for_any_weight_scale(problem, largest):
    """Per-row losses and gradients are bitwise the in-memory ones whatever the
    size of the sample weights; a mean over one block is bitwise too (its
    weights are scaled as in memory), over many it is finite and close."""
    n_samples = problem[0].shape[0]
    weights = weights_up_to(largest, n_samples)
    for func, logits, target, options in weighted_losses(problem):
        z, t, w = chunked(logits), chunked(target), chunked(weights)
        expected = func(
            logits, target, sample_weight=weights, reduction="none", **options
        )
        got = func(z, t, sample_weight=w, reduction="none", **options)
        for lazy, value in zip(got, expected, strict=True):
            np.testing.assert_array_equal(lazy.compute(), value)
        mean, _ = func(logits, target, sample_weight=weights, **options)
        one_block = da.from_array(logits), da.from_array(target)
        whole, _ = func(*one_block, sample_weight=da.from_array(weights), **options)
        assert whole.compute() == mean
        assert_reduced_equal(func(z, t, sample_weight=w, **options)[0], mean)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_reductions_compute_to_numpy_scalars(problem, dtype, reduction):
    """A reduced loss computes to a numpy scalar of the logits' dtype, as in
    memory (so ``round`` takes it)."""
    logits, labels, _, weights = problem
    z = chunked(logits.astype(dtype))
    binary = chunked(logits[:, 0].astype(dtype)), chunked(labels % 2)
    for lazy in (
        fx.cross_entropy(
            z, chunked(labels), sample_weight=weights, reduction=reduction
        ),
        fx.cross_entropy_with_grad(z, chunked(labels), reduction=reduction)[0],
        fx.binary_cross_entropy(*binary, reduction=reduction),
        fx.binary_cross_entropy_with_grad(*binary, reduction=reduction)[0],
    ):
        value = lazy.compute()
        assert type(value) is np.dtype(dtype).type
        assert round(value, 2) == round(float(value), 2)


def test_dask_backend_satisfies_the_declared_contract():
    """The dask functions backend is a FunctionsBackend: one function for each
    routed public function, with its signature and type hints."""
    import importlib
    import inspect
    import typing

    from fastxent import _dispatch

    backend = importlib.import_module(_dispatch._BACKENDS["dask"]["functions"])
    assert isinstance(backend, _dispatch.FunctionsBackend)
    declared = set(_dispatch.FunctionsBackend.__annotations__)
    routed = {
        name
        for name in fx.__all__
        if name != "LogisticRegression" and hasattr(getattr(fx, name), "__wrapped__")
    }
    assert declared == routed
    for name in declared:
        public, lazy = getattr(fx, name), getattr(backend, name)
        assert inspect.signature(lazy) == inspect.signature(public), name
        assert typing.get_type_hints(lazy) == typing.get_type_hints(public), name


def error_of(call):
    """(type, message) of the error ``call`` raises at once or at compute, the
    location a dask block adds left out."""
    try:
        result = call()
        for lazy in result if isinstance(result, tuple) else (result,):
            lazy.compute()
    except (TypeError, ValueError) as err:
        return type(err), str(err).split(" (in the dask block starting")[0]
    raise AssertionError("no error raised")


@pytest.mark.parametrize(
    "func, args, kwargs",
    [
        (fx.cross_entropy, ("z",), {}),
        (fx.cross_entropy, ("z", "y", -1), {}),
        (fx.cross_entropy, ("z", "y"), {"weights": 1}),
        (fx.cross_entropy, ("z", "y"), {"sample_weight": np.ones(3)}),
        (fx.cross_entropy, ("z", "y"), {"sample_weight": np.zeros(250)}),
        (fx.cross_entropy, ("z", "y"), {"sample_weight": np.r_[-1.0, np.ones(249)]}),
        (
            fx.cross_entropy,
            ("z", "y"),
            {"sample_weight": np.r_[-1.0, np.full(249, 1e300)]},
        ),
        (
            fx.cross_entropy,
            ("z", "y"),
            {"class_weight": np.full(6, 1e308), "reduction": "sum"},
        ),
        (fx.cross_entropy, ("z", "y_complex"), {}),
        (fx.binary_cross_entropy, ("z", "b"), {"sample_weight": np.ones(3)}),
        (fx.binary_cross_entropy, ("z", "b"), {"sample_weight": np.zeros(250)}),
        (fx.kl_divergence, ("p", 1.0), {}),
    ],
)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_errors_are_the_in_memory_ones(problem, func, args, kwargs):
    """Bad arguments, weights and options raise the in-memory error, word for
    word (Python's own for arguments that do not fit the signature)."""
    logits, labels, soft, _ = problem
    arrays = {"z": logits, "y": labels, "p": soft, "b": (logits > 0) * 1.0}
    arrays["y_complex"] = labels + 0j
    in_memory = [arrays.get(a, a) if isinstance(a, str) else a for a in args]
    lazy = [chunked(a) if isinstance(a, np.ndarray) else a for a in in_memory]
    lazy_kwargs = {
        key: chunked(value) if key == "sample_weight" else value
        for key, value in kwargs.items()
    }
    expected = error_of(lambda: func(*in_memory, **kwargs))
    assert error_of(lambda: func(*lazy, **lazy_kwargs)) == expected
