"""fastxent.linear_cross_entropy: the cross-entropy of logits never held whole.

The reference is fastxent.cross_entropy_with_grad on the whole logits (itself
checked against scipy, scikit-learn and mpmath elsewhere), with the chain
rule through the linear layer written out.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastxent as fx

N, D, V = 37, 8, 11


def _problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    weight = rng.standard_normal((V, D)).astype(dtype)
    bias = rng.standard_normal(V).astype(dtype)
    labels = rng.integers(0, V, N)
    labels[3] = -100
    probabilities = rng.random((N, V)).astype(dtype)
    return rng, x, weight, bias, labels, probabilities


CASES = [
    ("labels", {"ignore_index": -100}),
    ("labels", {"ignore_index": -100, "label_smoothing": 0.2, "weights": True}),
    ("probabilities", {}),
    ("probabilities", {"label_smoothing": 0.1, "weights": True}),
]


@pytest.mark.parametrize("kind,options", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("chunk_size", [1, 5, N, None])
@pytest.mark.parametrize("with_bias", [True, False])
def test_equals_cross_entropy_of_the_whole_logits(
    kind, options, reduction, chunk_size, with_bias
):
    rng, x, weight, bias, labels, probabilities = _problem()
    options = dict(options)
    if options.pop("weights", False):
        options["class_weight"] = rng.random(V)
        options["sample_weight"] = rng.random(N)
    target = labels if kind == "labels" else probabilities
    bias = bias if with_bias else None
    logits = x @ weight.T + (0.0 if bias is None else bias)
    expected, grad = fx.cross_entropy_with_grad(
        logits, target, reduction=reduction, **options
    )
    kwargs = {"linear_bias": bias, "reduction": reduction, "chunk_size": chunk_size}
    loss, grad_x, grad_w, grad_b = fx.linear_cross_entropy_with_grad(
        x, weight, target, **kwargs, **options
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    np.testing.assert_allclose(
        fx.linear_cross_entropy(x, weight, target, **kwargs, **options),
        expected,
        rtol=1e-12,
    )
    np.testing.assert_allclose(grad_x, grad @ weight, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad_w, grad.T @ x, rtol=1e-10, atol=1e-13)
    if bias is None:
        assert grad_b is None
    else:
        np.testing.assert_allclose(grad_b, grad.sum(axis=0), rtol=1e-10, atol=1e-13)


def test_float32_stays_float32_and_matches_float64():
    _, x, weight, bias, labels, _ = _problem(np.float32)
    labels[3] = 0
    loss, grad_x, grad_w, grad_b = fx.linear_cross_entropy_with_grad(
        x, weight, labels, linear_bias=bias, chunk_size=7
    )
    assert loss.dtype == grad_x.dtype == grad_w.dtype == grad_b.dtype == np.float32
    loss64 = fx.linear_cross_entropy(
        x.astype(np.float64), weight.astype(np.float64), labels, linear_bias=bias
    )
    assert loss == pytest.approx(loss64, rel=1e-5)


def test_finite_differences():
    _, x, weight, bias, labels, _ = _problem()
    labels[3] = 1
    _, grad_x, grad_w, grad_b = fx.linear_cross_entropy_with_grad(
        x, weight, labels, linear_bias=bias, chunk_size=4
    )
    step = 1e-6
    for array, grad in ((x, grad_x), (weight, grad_w), (bias, grad_b)):
        for index in [(0,) * array.ndim, tuple(s - 1 for s in array.shape)]:
            saved = array[index]
            array[index] = saved + step
            up = fx.linear_cross_entropy(x, weight, labels, linear_bias=bias)
            array[index] = saved - step
            down = fx.linear_cross_entropy(x, weight, labels, linear_bias=bias)
            array[index] = saved
            assert (up - down) / (2 * step) == pytest.approx(grad[index], rel=1e-6)


def test_never_holds_the_whole_logits():
    rng = np.random.default_rng(1)
    n, d, v = 2000, 16, 2000
    x = rng.standard_normal((n, d))
    weight = rng.standard_normal((v, d)) / 4
    labels = rng.integers(0, v, n)
    whole_logits = n * v * 8
    tracemalloc.start()
    try:
        fx.linear_cross_entropy_with_grad(x, weight, labels, chunk_size=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    gradients = x.nbytes + weight.nbytes
    # Two chunk buffers of 100 x 2000 and a temporary of weight's size.
    assert peak - gradients < whole_logits / 4


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"input": np.ones(3)}, ValueError, r"input must have shape"),
        ({"linear_weight": np.ones((V, D + 1))}, ValueError, "linear_weight must"),
        ({"linear_bias": np.ones(V + 1)}, ValueError, "linear_bias must"),
        ({"target": np.full(N, V)}, ValueError, "outside"),
        ({"target": np.zeros((N, V), int)}, TypeError, "floating point"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        ({"chunk_size": 2.5}, TypeError, "chunk_size must be a positive int"),
        ({"input": np.full((N, D), np.nan)}, ValueError, "input holds NaN"),
        ({"label_smoothing": 1.0}, ValueError, "label_smoothing"),
        ({"class_weight": -np.ones(V)}, ValueError, "class_weight"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, error, match):
    _, x, weight, _, labels, _ = _problem()
    labels[3] = 0
    arguments = {"input": x, "linear_weight": weight, "target": labels, **kwargs}
    with pytest.raises(error, match=match):
        fx.linear_cross_entropy(**arguments)


def test_overflowing_logits_are_named():
    _, x, weight, _, labels, _ = _problem()
    labels[3] = 0
    with pytest.raises(ValueError, match="overflows"):
        fx.linear_cross_entropy(x * 1e300, weight * 1e300, labels)
