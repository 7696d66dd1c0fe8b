"""The kernels' own exp and log1p, and the fast paths built on them, against mpmath.

The kernels evaluate ``exp`` (of arguments <= 0) and ``log1p`` (of arguments
>= 0) with branch-free polynomials of their own, so that loops over elements
or rows vectorise. Each is reached here through the public function where it
is alone on the result's error path:

- ``softmax([0, x])[1] = e / (1 + e)`` with ``e = exp(x)``: below ``x = -37``
  the ``1 + e`` rounds to 1, so the result is the exp itself.
- ``logsumexp([0] * k) = log1p(k - 1)`` (the tail sum is exact), and
  ``logsumexp([0, x]) = log1p(exp(x))``.
- ``binary_cross_entropy(z, 0) = log1pexp(z)`` and its gradient ``sigmoid(z)``.

Inputs are spread log-uniformly over the double range. The two-class and
short-row fast paths of ``cross_entropy`` are checked against mpmath on rows
whose differences are exact, and against the general path (the same rows
padded with masked classes) on rows they hand back to it.
"""

import mpmath
import numpy as np
import pytest

import fastxent

F64 = np.float64
SEED = 20261124


@pytest.fixture(autouse=True)
def mp_precision():
    """Run every test with mpmath at 256 bits."""
    with mpmath.workprec(256):
        yield


@pytest.fixture
def rng():
    """A fresh generator with the module seed."""
    return np.random.default_rng(SEED)


def ulp_errors(computed, exact):
    """|computed - exact| in float64 ULP of exact, entry by entry."""
    computed = np.asarray(computed, dtype=F64).ravel()
    errors = []
    for value, reference in zip(computed, exact, strict=True):
        rounded = float(reference)
        spacing = np.spacing(abs(rounded)) if rounded != 0.0 else 5e-324
        errors.append(float(abs(mpmath.mpf(float(value)) - reference) / spacing))
    return np.array(errors)


def log_uniform(rng, low_exponent, high_exponent, size):
    """Positive doubles 2^u, u uniform in [low_exponent, high_exponent]."""
    return 2.0 ** rng.uniform(low_exponent, high_exponent, size)


def test_exp_over_its_whole_range_within_one_ulp(rng):
    """exp(x) for x in [-745, -37], subnormal results included, to 1 ULP."""
    x = -np.concatenate([rng.uniform(37.0, 745.0, 400), rng.uniform(700.0, 745.0, 100)])
    for n_classes in (2, 40):  # across rows (short rows) and along a row
        rows = np.full((x.size, n_classes), -np.inf)
        rows[:, 0] = 0.0
        rows[:, 1] = x
        probability = fastxent.softmax(rows, axis=-1)[:, 1]
        exact = [mpmath.exp(mpmath.mpf(v)) for v in x]
        assert ulp_errors(probability, exact).max() <= 1


def float32_ulp_errors(computed, exact):
    """|computed - exact| in float32 ULP of exact (normal range), entry by entry."""
    errors = []
    for value, reference in zip(np.asarray(computed).ravel(), exact, strict=True):
        spacing = float(np.spacing(np.float32(float(reference))))
        errors.append(float(abs(mpmath.mpf(float(value)) - reference) / spacing))
    return np.array(errors)


def _sigmoid_rows(x, n_classes):
    """float32 rows [0, x_i, -inf, ...]: softmax_1 = e^x / (1 + e^x)."""
    rows = np.full((x.size, n_classes), -np.inf, dtype=np.float32)
    rows[:, 0] = 0.0
    rows[:, 1] = x
    return rows


def test_float32_exp_is_rounded_almost_correctly(rng):
    """float32 rows of up to 16 classes use an exp to 2^-31 relative
    (fx_exp_nonpos_single): their softmax of [0, x] rounds e^x / (1 + e^x) to
    within 0.5 + 2^-6 float32 ULP over the normal float32 range, both paths (2
    and 10 classes) and the binary gradient sigmoid(x) alike; their log1p(e^x)
    likewise. An exp or a log1p to 2^-24 would miss by far more. (Longer rows
    compute in float32 lanes: see the next test.)"""
    x = -np.concatenate([log_uniform(rng, -12, 6.4, 500), rng.uniform(0.0, 87.0, 300)])
    x = x.astype(np.float32)
    exact = [
        mpmath.exp(mpmath.mpf(float(v))) / (1 + mpmath.exp(mpmath.mpf(float(v))))
        for v in x
    ]
    bound = 0.5 + 2.0**-6
    for n_classes in (2, 10):
        rows = _sigmoid_rows(x, n_classes)
        probability = fastxent.softmax(rows, axis=-1)[:, 1]
        assert probability.dtype == np.float32
        assert float32_ulp_errors(probability, exact).max() <= bound
        _, grad = fastxent.cross_entropy_with_grad(
            rows, np.zeros(x.size, dtype=np.int64), reduction="sum"
        )
        assert float32_ulp_errors(grad[:, 1], exact).max() <= bound
    loss, slope = fastxent.binary_cross_entropy_with_grad(
        x, np.zeros_like(x), reduction="none"
    )
    assert float32_ulp_errors(slope, exact).max() <= bound
    # The loss log1pexp(x) = log1p(e^x) also takes float32's log1p (of [0, 1]),
    # as does the two-class softmax path.
    softplus = [mpmath.log1p(mpmath.exp(mpmath.mpf(float(v)))) for v in x]
    assert float32_ulp_errors(loss, softplus).max() <= bound
    two_class = np.stack([np.zeros_like(x), x], axis=1)
    loss = fastxent.cross_entropy(
        two_class, np.zeros(x.size, np.int64), reduction="none"
    )
    assert float32_ulp_errors(loss, softplus).max() <= bound


@pytest.mark.parametrize("weight", [1.0, 2.0**37])
def test_float32_lane_exp_over_its_whole_range(rng, weight):
    """The float32 lanes' own exp (fx_long_rows.h), over all of [-131, 0].

    Rows of 40 classes [0, x, -inf, ...] take the float32-lane path, where
    the gradient entry w e^x / (1 + e^x) is that exp times a double factor,
    rounded once: within 2 float32 ULP, subnormal results included, as is
    softmax's e^x / (1 + e^x) (fx_long_softmax.h). (The exp's own error is
    at most 1.2 ULP, 0.27 on average; the product's rounding adds up to 0.5.)
    A weight of 2^37 brings e^x down to x = -131 into float32's normal
    range. -inf gives exactly 0; results below e^-131 w round to 0.
    """
    x = -np.concatenate(
        [
            rng.uniform(0.0, 131.0, 3000),
            log_uniform(rng, -24, 0, 500),
            rng.uniform(86.0, 105.0, 500),
            [0.0, 131.0, 140.0, 200.0, np.inf],
        ]
    ).astype(np.float32)
    rows = _sigmoid_rows(x, 40)
    _, grad = fastxent.cross_entropy_with_grad(
        rows,
        np.zeros(x.size, dtype=np.int64),
        sample_weight=np.full(x.size, weight),
        reduction="sum",
    )
    w = mpmath.mpf(weight)
    exact = [
        w * mpmath.exp(mpmath.mpf(float(v))) / (1 + mpmath.exp(mpmath.mpf(float(v))))
        for v in x
    ]
    errors = float32_ulp_errors(grad[:, 1], exact)
    assert errors.max() <= 2
    assert grad[-1, 1] == 0.0
    if weight == 1.0:
        probability = fastxent.softmax(rows, axis=-1)[:, 1]
        assert float32_ulp_errors(probability, exact).max() <= 2
        assert probability[-1] == 0.0
    with pytest.raises(ValueError, match="NaN"):
        fastxent.cross_entropy_with_grad(
            _sigmoid_rows(np.array([np.nan], np.float32), 40), np.zeros(1, np.int64)
        )


def test_log1p_of_exact_tail_sums_within_one_ulp():
    """logsumexp of k equal logits is log1p(k - 1) to 1 ULP, short and long rows."""
    for k in (2, 3, 7, 10, 16, 17, 100, 1000, 100_000):
        lse = fastxent.logsumexp(np.zeros((1, k)), axis=-1)
        assert ulp_errors(lse, [mpmath.log(k)]).max() <= 1


def test_log1p_of_exp_within_two_ulp(rng):
    """logsumexp([0, x]) = log1p(exp(x)) for x from -745 to -2^-60, to 2 ULP."""
    x = -np.concatenate([log_uniform(rng, -60, 9.5, 500), rng.uniform(0.0, 1.0, 100)])
    rows = np.stack([np.zeros_like(x), x], axis=1)
    exact = [mpmath.log1p(mpmath.exp(mpmath.mpf(v))) for v in x]
    assert ulp_errors(fastxent.logsumexp(rows, axis=-1), exact).max() <= 2


def test_binary_log1pexp_and_sigmoid_over_the_double_range(rng):
    """log1pexp(z) and sigmoid(z) for |z| from 2^-1074 to 2^1023, to 2 ULP."""
    magnitude = np.concatenate([log_uniform(rng, -1074, 1023, 600), [0.0]])
    z = np.concatenate([magnitude, -magnitude, rng.uniform(-40.0, 40.0, 400)])
    target = np.zeros_like(z)
    loss, grad = fastxent.binary_cross_entropy_with_grad(z, target, reduction="sum")
    elements = fastxent.binary_cross_entropy(z, target, reduction="none")
    exact_loss = [mpmath.log1p(mpmath.exp(mpmath.mpf(v))) for v in z]
    exact_grad = [1 / (1 + mpmath.exp(-mpmath.mpf(v))) for v in z]
    assert ulp_errors(elements, exact_loss).max() <= 2
    assert ulp_errors(grad, exact_grad).max() <= 2


def exact_difference_rows(rng, n_rows, n_classes, scale):
    """Logits on a grid of 2^-20, so every z_j - z_k is exact in float64."""
    return np.round(rng.normal(0.0, scale, (n_rows, n_classes)) * 2**20) / 2**20


@pytest.mark.parametrize("n_classes", [2, 5, 16])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_fast_paths_loss_and_gradient_within_4_ulp(rng, n_classes, scale):
    """Two-class and short-row loss and gradient to 4 ULP where z_j - z_k is exact."""
    logits = exact_difference_rows(rng, 200, n_classes, scale)
    labels = rng.integers(0, n_classes, 200)
    labels[::2] = np.argmax(logits[::2], axis=1)
    loss, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="none")
    loss_errors, grad_errors = [], []
    for row, label, row_loss, row_grad in zip(logits, labels, loss, grad, strict=True):
        z = [mpmath.mpf(float(v)) for v in row]
        top = max(z)
        total = mpmath.fsum(mpmath.exp(v - top) for v in z)
        probability = [mpmath.exp(v - top) / total for v in z]
        exact_loss = top + mpmath.log(total) - z[label]
        exact_grad = list(probability)
        exact_grad[label] = -mpmath.fsum(
            p for j, p in enumerate(probability) if j != label
        )
        loss_errors.append(ulp_errors([row_loss], [exact_loss]).max())
        grad_errors.append(ulp_errors(row_grad, exact_grad).max())
    assert max(loss_errors) <= 4
    assert max(grad_errors) <= 4


def padded(logits, n_classes):
    """The rows with -inf (masked, zero-mass) classes appended up to n_classes."""
    pad = np.full((logits.shape[0], n_classes - logits.shape[1]), -np.inf)
    return np.concatenate([logits, pad], axis=1)


@pytest.mark.parametrize("n_classes", [2, 7])
def test_rows_handed_back_match_the_general_path(rng, n_classes):
    """Masked, ignored and weighted rows of the fast paths match the padded rows."""
    n_rows = 3000  # several blocks
    logits = rng.normal(0.0, 3.0, (n_rows, n_classes))
    labels = rng.integers(0, n_classes, n_rows)
    logits[5] = -np.inf  # every class masked
    logits[6, labels[6]] = -np.inf  # the target masked: infinite loss
    logits[7, (labels[7] + 1) % n_classes] = -np.inf  # another class masked
    labels[8] = -100  # ignored
    sample_weight = rng.uniform(0.5, 2.0, n_rows)
    sample_weight[[5, 6, 9]] = 0.0  # silences the infinite losses
    class_weight = rng.uniform(0.5, 2.0, n_classes)
    kwargs = {
        "sample_weight": sample_weight,
        "ignore_index": -100,
        "reduction": "none",
    }
    loss, grad = fastxent.cross_entropy_with_grad(
        logits, labels, class_weight=class_weight, **kwargs
    )
    width = 20  # past the short rows: the general path
    padded_loss, padded_grad = fastxent.cross_entropy_with_grad(
        padded(logits, width),
        labels,
        class_weight=np.concatenate([class_weight, np.ones(width - n_classes)]),
        **kwargs,
    )
    np.testing.assert_allclose(loss, padded_loss, rtol=1e-14, atol=0.0)
    np.testing.assert_allclose(
        grad, padded_grad[:, :n_classes], rtol=1e-14, atol=1e-300
    )
    assert loss[8] == 0.0 and not grad[8].any()
    assert loss[6] == 0.0  # weight 0 times an infinite loss


@pytest.mark.parametrize("n_classes", [2, 7])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fast_paths_report_nan_and_inf_rows(rng, n_classes, bad):
    """A NaN or +inf logit in a fast-path row raises ValueError naming its row."""
    logits = rng.normal(size=(1000, n_classes))
    logits[321, 1] = bad
    labels = np.zeros(1000, dtype=int)
    with pytest.raises(ValueError, match="321"):
        fastxent.cross_entropy_with_grad(logits, labels)
    with pytest.raises(ValueError, match="321"):
        fastxent.cross_entropy(logits, labels)


@pytest.mark.parametrize("n_classes", [2, 7])
def test_fast_paths_are_thread_independent(rng, n_classes):
    """Two-class and short-row results are bitwise equal for 1 to 4 threads."""
    logits = rng.normal(0.0, 4.0, (50_000, n_classes))
    labels = rng.integers(0, n_classes, 50_000)
    first = fastxent.cross_entropy_with_grad(logits, labels, n_threads=1)
    for n_threads in (2, 3, 4):
        other = fastxent.cross_entropy_with_grad(logits, labels, n_threads=n_threads)
        np.testing.assert_array_equal(first[0], other[0])
        np.testing.assert_array_equal(first[1], other[1])


def test_one_dimensional_binary_is_thread_independent(rng):
    """1-D binary loss and gradient are bitwise equal for 1 to 4 threads."""
    z = rng.normal(0.0, 4.0, 100_000)
    y = (rng.random(100_000) < 0.3).astype(float)
    first = fastxent.binary_cross_entropy_with_grad(z, y, n_threads=1)
    for n_threads in (2, 3, 4):
        other = fastxent.binary_cross_entropy_with_grad(z, y, n_threads=n_threads)
        np.testing.assert_array_equal(first[0], other[0])
        np.testing.assert_array_equal(first[1], other[1])
