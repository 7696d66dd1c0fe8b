"""Accuracy of the functional API against mpmath on adversarial inputs.

Every reference value is computed by mpmath at 256 bits from the exact binary
values of the inputs, so each error measured here is the implementation's own.
Errors are stated in units in the last place (ULP) of the result's dtype:
``ulp_error(computed, exact, dtype) = |computed - exact| / spacing(exact)``,
``exact`` rounded to ``dtype`` for the spacing.

The bounds are tight enough that the textbook formulas fail them: ``lse - z_y``
gives 0 for a confident row whose true loss is 2e-22, ``softmax_y - 1`` gives 0
for its gradient, ``log(1 + exp(z))`` overflows for binary logits beyond 709.
The one error no method avoids is the rounding of ``d_j = z_j - max(z)``: it
perturbs ``exp(d_j)`` by up to ``|d_j|`` ULP, so the bounds on rows with large
gaps between logits leave room for it (see ``_confident_rows``).

Worst errors measured on the kernels in the tree on 2026-12-04 (ULP of the result
dtype; ``pytest -s`` prints the table at the end of the module). "+|d|" bounds
and "beyond |d|" measurements discount each entry's ``|z_j - max(z)|``; ``k``
is the condition number of a weighted sum's log, in ULP (``mp_weighted_sum``). For
contrast, the textbook formulas measure 8e15 ULP on confident rows, 2.4e3 on
random rows (``lse - z_y``) and 5.7e2 for log_softmax (``z - lse``).

    case                                       bound    measured
    confident row [0, -50, -60], loss             4       0.22
    confident row [0, -50, -60], gradient         4       0.22
    confident rows (gaps 25-50), loss            64      18.4
    confident rows, gradient                     64      33.2
    random rows, loss                             4       2.18
    random rows, gradient                     8 + |d|     1.91 beyond |d|
    huge / tiny / subnormal logits, loss          4       0.59
    huge / tiny / subnormal logits, gradient      4       0.33
    float32 random rows, loss                     1       0.50
    float32 confident rows, loss                  1       0.50
    float32 long rows (> 16 classes), loss         2       1.28
    float32 long rows (> 16 classes), gradient     2       1.63
    float32 100000 classes, loss / gradient        2       0.21 / 1.47
    masked (-inf) classes, loss                   4       0.55
    100000 classes, loss                          4       0.51
    100000 classes, gradient                  4 + |d|     1.70 beyond |d|
    soft targets, loss                            8       2.64
    label smoothing, loss                         8       3.19
    binary, float64, loss                         4       1.41
    binary, float64, gradient                     4       1.55
    binary, float32, loss and gradient            1       0.50
    logsumexp / log_softmax, confident           64      18.4
    logsumexp / log_softmax, random               4       2.18
    long rows, logsumexp / log_softmax, random    4       2.61
    long rows, logsumexp / log_softmax, confid.  64      16.3
    long rows, softmax, random / confident    4 + |d|     2.57 / 1.00 beyond |d|
    float32 long rows, logsumexp                  2       1.28
    float32 long rows, log_softmax                2       1.28
    float32 long rows, softmax                    2       1.63
    softmax, confident                        4 + |d|     0.99 beyond |d|
    softmax, random                           4 + |d|     1.91 beyond |d|
    logsumexp with b > 0, random                  4       1.13
    logsumexp with b > 0, confident               4       2.25
    logsumexp with b, tiny weight at max     2 (1 + k)    1.18 (1 + k)
    logsumexp with signed b                  4 (1 + k)    0.74 (1 + k)
    float32 logsumexp with b > 0                  1       0.50
    reduction "sum" over 10**6 rows              64       0
"""

import math

import mpmath
import numpy as np
import pytest

import fastxent

MP_PREC = 256
SEED = 20240611
F64 = np.float64
F32 = np.float32

# Worst ULP error of each case, filled in by the tests that measure them.
WORST_ULP: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def worst_case_table():
    """Print the worst error of every case once the module's tests have run."""
    yield
    print("\nworst ulp error per case")
    for case, err in WORST_ULP.items():
        print(f"    {case:48s} {err:10.3g}")


@pytest.fixture(autouse=True)
def mp_precision():
    """Run every test with mpmath at MP_PREC bits."""
    with mpmath.workprec(MP_PREC):
        yield


@pytest.fixture
def rng():
    """A fresh generator with the module seed."""
    return np.random.default_rng(SEED)


def ulp_error(computed, exact, dtype):
    """Return |computed - exact| / spacing(exact rounded to dtype), entry by entry.

    ``computed`` is a float or an array, ``exact`` the matching mpf (or float)
    values. A NaN counts as infinitely wrong; an infinite result is right (0 ULP)
    only when the exact value rounds to the same infinity in ``dtype``.
    """
    with mpmath.workprec(MP_PREC):
        return _ulp_error(computed, exact, np.dtype(dtype))


def _ulp_error(computed, exact, dtype):
    """ulp_error's body, run at MP_PREC bits."""
    shape = np.shape(computed)
    computed = np.asarray(computed, dtype=F64).ravel()
    exact = np.asarray(exact, dtype=object).reshape(computed.shape)
    # exact = hi + lo, hi the nearest double: |computed - hi - lo| keeps every
    # digit of the error that matters without per-entry mpmath arithmetic.
    hi = np.array([float(e) for e in exact])
    lo = np.array(
        [
            float(mpmath.mpf(e) - h) if np.isfinite(h) else 0.0
            for e, h in zip(exact, hi, strict=True)
        ]
    )
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = hi.astype(dtype)
        err = np.abs((computed - hi) - lo) / np.abs(np.spacing(rounded)).astype(F64)
    special = ~np.isfinite(computed) | ~np.isfinite(rounded)
    err[special] = np.where(computed[special] == rounded[special], 0.0, np.inf)
    return err.reshape(shape) if shape else float(err[0])


def max_ulp_error(computed, exact, dtype):
    """Largest ulp_error over paired entries of two array-likes of equal size."""
    return float(np.max(ulp_error(computed, exact, dtype)))


def record(case, err):
    """Keep the worst error of a case for the table printed at the end."""
    WORST_ULP[case] = max(err, WORST_ULP.get(case, 0.0))


def mp_log_softmax(row):
    """Exact log-softmax of a row of floats (-inf stays -inf).

    Computed as ``(z_c - max) - log1p(sum_{j != argmax} exp(z_j - max))`` so that
    no huge intermediate (``max + log1p(...)`` at 1e300) swallows the result.
    """
    z = [mpmath.mpf(float(v)) for v in row]
    top = max(range(len(z)), key=lambda j: z[j])
    shifted = [v - z[top] for v in z]
    rest = mpmath.fsum(mpmath.exp(d) for j, d in enumerate(shifted) if j != top)
    shift = mpmath.log1p(rest)
    return [d - shift for d in shifted]


def mp_logsumexp(row):
    """Exact log(sum(exp(row)))."""
    z = [mpmath.mpf(float(v)) for v in row]
    top = max(z)
    if top == -mpmath.inf:
        return top
    ordered = sorted(z, reverse=True)
    return top + mpmath.log1p(mpmath.fsum(mpmath.exp(v - top) for v in ordered[1:]))


def mp_weighted_sum(row, weights):
    """Exact sum_j b_j exp(a_j) over the entries with b_j != 0, and the
    condition number of its log in ULP: sum_j |b_j exp(a_j)| / (|sum| |log|).
    """
    terms = [
        mpmath.mpf(float(w)) * mpmath.exp(mpmath.mpf(float(v)))
        for v, w in zip(row, weights, strict=True)
        if w != 0
    ]
    total = mpmath.fsum(terms)
    spread = mpmath.fsum(abs(t) for t in terms) / abs(total)
    return total, float(spread / max(abs(mpmath.log(abs(total))), 1e-300))


def mp_softmax(row):
    """Exact softmax of a row of floats."""
    return [mpmath.exp(v) for v in mp_log_softmax(row)]


def mp_cross_entropy(row, target, class_weight=None, label_smoothing=0.0):
    """Exact -sum_c w_c q_c log_softmax(row)_c with 0 * log(0) = 0.

    ``target`` is a class index or a row of soft targets; ``q`` is the smoothed
    target ``(1 - e) p + e sum(p) / n_classes``.
    """
    n_classes = len(row)
    if np.ndim(target) == 0:
        p = [mpmath.mpf(int(c == target)) for c in range(n_classes)]
    else:
        p = [mpmath.mpf(float(v)) for v in target]
    e = mpmath.mpf(float(label_smoothing))
    total = mpmath.fsum(p)
    q = [(1 - e) * pc + e * total / n_classes for pc in p]
    w = [mpmath.mpf(1)] * n_classes
    if class_weight is not None:
        w = [mpmath.mpf(float(v)) for v in class_weight]
    log_p = mp_log_softmax(row)
    terms = [-wc * qc * lc for wc, qc, lc in zip(w, q, log_p, strict=True) if qc]
    return mpmath.fsum(terms)


def mp_softplus(x):
    """Exact log(1 + exp(x)) for finite x."""
    return mpmath.log1p(mpmath.exp(mpmath.mpf(float(x))))


def mp_binary_cross_entropy(z, y):
    """Exact -(y log_sigmoid(z) + (1 - y) log_sigmoid(-z)) for finite z."""
    y = mpmath.mpf(float(y))
    return y * mp_softplus(-z) + (1 - y) * mp_softplus(z)


def mp_binary_gradient(z, y):
    """Exact sigmoid(z) - y, written as (1 - y) sigmoid(z) - y sigmoid(-z)."""
    z = mpmath.mpf(float(z))
    y = mpmath.mpf(float(y))
    return (1 - y) / (1 + mpmath.exp(-z)) - y / (1 + mpmath.exp(z))


def _confident_rows(rng, n_rows, n_classes, dtype=F64):
    """Rows whose label beats every other class by 25 to 50, at a random offset.

    The true loss is below exp(-25) ~ 1.4e-11; rounding ``z_j - max`` of the
    stored row costs up to 50 ULP, which is why bounds on these rows are 64.
    """
    gaps = rng.uniform(25.0, 50.0, size=(n_rows, n_classes))
    labels = rng.integers(0, n_classes, size=n_rows)
    gaps[np.arange(n_rows), labels] = 0.0
    offset = rng.uniform(-10.0, 10.0, size=(n_rows, 1))
    return (offset - gaps).astype(dtype), labels


def _random_rows(rng, n_rows, n_classes, scale=3.0):
    """Gaussian rows; the even rows get the argmax as label, the odd ones any."""
    logits = rng.normal(0.0, scale, size=(n_rows, n_classes))
    labels = rng.integers(0, n_classes, size=n_rows)
    labels[::2] = np.argmax(logits[::2], axis=1)
    return logits, labels


def _gaps(logits):
    """|z_j - max(z)| per entry: the ULPs that rounding that difference may cost."""
    logits = np.asarray(logits, dtype=F64)
    return np.abs(logits - logits.max(axis=-1, keepdims=True))


def _gradient_gaps(logits, labels):
    """Gap allowance of hard-target gradients: the target entry sums all others."""
    gaps = _gaps(logits)
    rows = np.arange(len(labels))
    gaps[rows, labels] = gaps.max(axis=-1)
    return gaps


def _exact_hard_gradient(row, label):
    """Exact softmax(row) - onehot(label); the target entry is -sum of the others."""
    grad = mp_softmax(row)
    grad[label] = -mpmath.fsum(g for j, g in enumerate(grad) if j != label)
    return grad


def test_textbook_confident_row_loss_is_accurate():
    """Loss of [0, -50, -60] with label 0 is ~1.9e-22 to 4 ULP, not 0."""
    logits = np.array([[0.0, -50.0, -60.0]])
    loss = fastxent.cross_entropy(logits, np.array([0]), reduction="none")
    exact = mp_cross_entropy(logits[0], 0)
    assert 1.9e-22 < exact < 2.0e-22
    err = ulp_error(loss[0], exact, F64)
    record("confident row [0, -50, -60], loss", err)
    assert err <= 4


def test_confident_rows_loss_is_relatively_accurate(rng):
    """Tiny losses of confident rows are within 64 ULP, never rounded to 0."""
    logits, labels = _confident_rows(rng, 200, 8)
    loss = fastxent.cross_entropy(logits, labels, reduction="none")
    exact = [mp_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)]
    assert np.all(loss > 0)
    err = max_ulp_error(loss, exact, F64)
    record("confident rows (gaps 25-50), loss", err)
    assert err <= 64


def test_random_rows_loss_within_4_ulp(rng):
    """Loss of random float64 rows is within 4 ULP."""
    logits, labels = _random_rows(rng, 300, 10)
    loss = fastxent.cross_entropy(logits, labels, reduction="none")
    exact = [mp_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)]
    err = max_ulp_error(loss, exact, F64)
    record("random rows, loss", err)
    assert err <= 4


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ([1e300, -1e300, 5e299], 0),
        ([1e300, -1e300, 5e299], 1),
        ([1e300, -1e300, 5e299], 2),
        ([-1e300, 1e300, 1e300], 1),
        ([1e300, 1e300 * (1 - 2**-52), 1e300 * (1 - 2**-51)], 0),
        ([1e300, 1e300 * (1 - 2**-52), 1e300 * (1 - 2**-51)], 2),
        ([1e-300, -2e-300, 3e-300], 0),
        ([1e-300, -2e-300, 3e-300], 2),
        ([5e-324, 0.0, -5e-324, 1e-310], 2),
        ([1e-300, 1e300], 0),
        ([1e-300, 1e300], 1),
        # Sums of entries past the double range beside a masked class: the
        # short-row NaN check must not read them as NaN; ties at the maximum.
        ([1e308, 1e308, -np.inf], 0),
        ([1.7e308, 1.7e308, 1.7e308, -np.inf, 1e308], 4),
        ([-1.7e308, -1.7e308, -np.inf, -1e308], 0),
        ([0.0, 0.0, -50.0], 2),
        ([3.0, -80.0, 3.0, 3.0, -800.0], 1),
    ],
)
def test_huge_and_tiny_logits_within_4_ulp(row, label):
    """Logits of magnitude 1e300, 1e-300 or subnormal: loss and gradient to 4 ULP."""
    logits = np.array([row])
    loss, grad = fastxent.cross_entropy_with_grad(
        logits, np.array([label]), reduction="none"
    )
    err = ulp_error(loss[0], mp_cross_entropy(row, label), F64)
    record("huge / tiny / subnormal logits, loss", err)
    assert err <= 4
    grad_err = max_ulp_error(grad[0], _exact_hard_gradient(row, label), F64)
    record("huge / tiny / subnormal logits, gradient", grad_err)
    assert grad_err <= 4


def test_loss_beyond_float_max_rounds_to_inf():
    """A true loss of 2e308 (finite logits) is the overflowed value +inf, not NaN."""
    logits = np.array([[1e308, -1e308], [-1e308, 1e308]])
    loss = fastxent.cross_entropy(logits, np.array([1, 1]), reduction="none")
    assert loss[0] == np.inf
    assert loss[1] == 0.0


def test_float32_random_rows_within_one_ulp(rng):
    """float32 losses of random rows stay float32, within 1 float32 ULP."""
    logits, labels = _random_rows(rng, 300, 10)
    logits = logits.astype(F32)
    loss = fastxent.cross_entropy(logits, labels, reduction="none")
    assert loss.dtype == F32
    exact = [mp_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)]
    err = max_ulp_error(loss, exact, F32)
    record("float32 random rows, loss", err)
    assert err <= 1


def test_float32_confident_rows_within_one_ulp(rng):
    """float32 losses far below float32 epsilon are within 1 float32 ULP."""
    gaps = rng.uniform(17.0, 40.0, size=(200, 6)).astype(F32)
    labels = rng.integers(0, 6, size=200)
    gaps[np.arange(200), labels] = 0.0
    logits = -gaps
    loss = fastxent.cross_entropy(logits, labels, reduction="none")
    assert loss.dtype == F32
    exact = [mp_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)]
    assert np.all(loss > 0)
    err = max_ulp_error(loss, exact, F32)
    record("float32 confident rows, loss", err)
    assert err <= 1


def _float32_long_rows(rng):
    """(case, logits, labels): float32 rows longer than a short-row block.

    These rows take the float32-lane path (``fx_long_rows.h``); each case is
    one that float64 meets above: random and confident rows, masked classes,
    gradient entries far into float32's subnormals, huge and tiny logits.
    """
    logits, labels = _random_rows(rng, 200, 40)
    yield "random rows", logits.astype(F32), labels
    yield "confident rows", *_confident_rows(rng, 100, 64, dtype=F32)
    gaps = rng.uniform(80.0, 140.0, size=(60, 24))
    labels = rng.integers(0, 24, size=60)
    gaps[np.arange(60), labels] = 0.0
    yield "subnormal gradient entries", (-gaps).astype(F32), labels
    logits, labels = _random_rows(rng, 100, 48)
    masked = rng.random(logits.shape) < 0.4
    masked[np.arange(100), labels] = False
    logits[masked] = -np.inf
    yield "masked (-inf) classes", logits.astype(F32), labels
    huge = np.float32(3e38)
    row = np.array(
        [huge, huge * (1 - 2**-23), -huge, 1e-38, -2e-38, 1e-45, 0.0, 1e30]
        + [-1e38] * 16,
        dtype=F32,
    )
    tiny = np.array([1e-38, -2e-38, 3e-38, 1e-45, -1e-45, 0.0] * 4, dtype=F32)
    yield (
        "huge / tiny / subnormal logits",
        np.vstack([row] * 4 + [tiny] * 3),
        (np.array([0, 1, 2, 7, 0, 3, 5])),
    )


def test_float32_long_rows_loss_and_gradient_within_2_ulp(rng):
    """float32 rows of more than 16 classes: loss and gradient within 2 ULP.

    They compute in float32 lanes with an exact ``z - max`` (no ``|d|``
    allowance, unlike float64) and a double row sum (see fx_long_rows.h).
    """
    for case, logits, labels in _float32_long_rows(rng):
        loss, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="none")
        assert loss.dtype == grad.dtype == F32
        rows = list(zip(logits, labels, strict=True))
        err = max_ulp_error(loss, [mp_cross_entropy(z, y) for z, y in rows], F32)
        record(f"float32 long rows, {case}, loss", err)
        assert err <= 2, case
        exact = [_exact_hard_gradient(z, y) for z, y in rows]
        err = max_ulp_error(grad, exact, F32)
        record(f"float32 long rows, {case}, gradient", err)
        assert err <= 2, case


def test_float32_hundred_thousand_classes_within_2_ulp(rng):
    """A 100000-class float32 row: loss and gradient within 2 float32 ULP."""
    row = rng.normal(0.0, 2.0, size=100_000).astype(F32)
    logits = np.vstack([row, row])
    labels = np.array([np.argmax(row), 12_345])
    loss, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="none")
    log_p = mp_log_softmax(row)
    err = max_ulp_error(loss, [-log_p[label] for label in labels], F32)
    record("float32 100000 classes, loss", err)
    assert err <= 2
    probs = [mpmath.exp(v) for v in log_p]
    for i, label in enumerate(labels):
        exact = probs.copy()
        exact[label] = -mpmath.fsum(p for j, p in enumerate(probs) if j != label)
        err = max_ulp_error(grad[i], exact, F32)
        record("float32 100000 classes, gradient", err)
        assert err <= 2


@pytest.mark.parametrize("weight", [1e-30, 1.0, 1e9, 1e20])
def test_float32_long_rows_weighted_gradient_within_2_ulp(rng, weight):
    """Large sample weights lift tiny probabilities into float32's range.

    A gradient entry e^d w is normal for d near -100 once w is 1e9; the
    float32 path keeps such terms to full precision, and hands rows with yet
    larger weights to the double path.
    """
    gaps = rng.uniform(60.0, 140.0, size=(40, 20))
    labels = rng.integers(0, 20, size=40)
    gaps[np.arange(40), labels] = 0.0
    logits = (-gaps).astype(F32)
    sample_weight = np.full(40, weight)
    loss, grad = fastxent.cross_entropy_with_grad(
        logits, labels, sample_weight=sample_weight, reduction="none"
    )
    w = mpmath.mpf(weight)
    rows = list(zip(logits, labels, strict=True))
    err = max_ulp_error(loss, [w * mp_cross_entropy(z, y) for z, y in rows], F32)
    record("float32 long rows, weighted, loss", err)
    assert err <= 2
    exact = [[w * g for g in _exact_hard_gradient(z, y)] for z, y in rows]
    err = max_ulp_error(grad, exact, F32)
    record("float32 long rows, weighted, gradient", err)
    assert err <= 2


def test_masked_class_with_zero_mass_contributes_exactly_zero():
    """A -inf logit with zero target mass adds nothing: finite loss, zero gradient."""
    inf = np.inf
    logits = np.array([[1.5, -inf, 0.25, -inf], [-inf, -3.0, -inf, -2.0]])
    targets = (
        np.array([0, 3]),
        np.array([[0.25, 0.0, 0.75, 0.0], [0.0, 0.5, 0.0, 1.5]]),
    )
    for target in targets:
        loss, grad = fastxent.cross_entropy_with_grad(logits, target, reduction="none")
        exact = [mp_cross_entropy(z, t) for z, t in zip(logits, target, strict=True)]
        err = max_ulp_error(loss, exact, F64)
        record("masked (-inf) classes, loss", err)
        assert err <= 4
        assert np.all(np.isfinite(grad))
        assert np.all(grad[np.isneginf(logits)] == 0.0)


def test_positive_mass_on_masked_class_gives_inf():
    """Positive target mass on a -inf logit gives a loss of +inf, never NaN."""
    logits = np.array([[1.5, -np.inf, 0.25], [0.0, 1.0, 2.0]])
    hard = fastxent.cross_entropy(logits, np.array([1, 0]), reduction="none")
    assert hard[0] == np.inf
    assert np.isfinite(hard[1])
    soft_target = np.array([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    soft = fastxent.cross_entropy(logits, soft_target, reduction="none")
    assert soft[0] == np.inf
    smoothed = fastxent.cross_entropy(
        logits, np.array([0, 0]), label_smoothing=0.1, reduction="none"
    )
    assert smoothed[0] == np.inf
    for reduction in ("mean", "sum"):
        assert fastxent.cross_entropy(logits, [1, 0], reduction=reduction) == np.inf


def test_single_class_loss_and_gradient_are_exactly_zero(rng):
    """With one class the loss and gradient are exactly 0 for any finite logit."""
    logits = np.array([[0.0], [-1e300], [1e300], [7.25], [-3e-320]])
    labels = np.zeros(5, dtype=np.int64)
    for target in (labels, np.ones((5, 1)), rng.uniform(0.1, 3.0, size=(5, 1))):
        for smoothing in (0.0, 0.3):
            loss, grad = fastxent.cross_entropy_with_grad(
                logits, target, label_smoothing=smoothing, reduction="none"
            )
            assert np.all(loss == 0.0)
            assert np.all(grad == 0.0)
            for reduction in ("mean", "sum"):
                assert fastxent.cross_entropy(logits, target, reduction=reduction) == 0


def test_hundred_thousand_classes_loss_and_gradient(rng):
    """A 100000-class row: loss within 4 ULP, gradient within 4 + |d_j| ULP.

    Every gradient entry divides by the normaliser ``S``, a sum of 1e5 terms:
    recursive summation in a few lanes leaves ~10-20 ULP in ``S`` on this row,
    so these bounds ask for pairwise summation (~1 ULP).
    """
    row = rng.normal(0.0, 2.0, size=100_000)
    logits = np.vstack([row, row])
    labels = np.array([np.argmax(row), 12_345])
    loss, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="none")
    log_p = mp_log_softmax(row)
    probs = [mpmath.exp(v) for v in log_p]
    err = max_ulp_error(loss, [-log_p[label] for label in labels], F64)
    record("100000 classes, loss", err)
    assert err <= 4
    exact_grad = [probs.copy(), probs.copy()]
    for i, label in enumerate(labels):
        exact_grad[i][label] = -mpmath.fsum(
            p for j, p in enumerate(probs) if j != label
        )
    excess = ulp_error(grad, exact_grad, F64) - _gradient_gaps(logits, labels)
    record("100000 classes, gradient, beyond |d_j|", float(excess.max()))
    assert excess.max() <= 4


def test_soft_targets_loss_within_8_ulp(rng):
    """Loss with random soft targets (rows not summing to 1) is within 8 ULP."""
    logits = rng.normal(0.0, 3.0, size=(300, 10))
    target = rng.dirichlet(np.full(10, 0.5), size=300)
    target *= rng.uniform(0.5, 2.0, size=(300, 1))
    class_weight = rng.uniform(0.1, 2.0, size=10)
    loss = fastxent.cross_entropy(logits, target, reduction="none")
    exact = [mp_cross_entropy(z, p) for z, p in zip(logits, target, strict=True)]
    err = max_ulp_error(loss, exact, F64)
    loss = fastxent.cross_entropy(
        logits, target, class_weight=class_weight, reduction="none"
    )
    exact = [
        mp_cross_entropy(z, p, class_weight)
        for z, p in zip(logits, target, strict=True)
    ]
    err = max(err, max_ulp_error(loss, exact, F64))
    record("soft targets, loss", err)
    assert err <= 8


def test_label_smoothing_loss_within_8_ulp(rng):
    """Loss with label smoothing, random and confident rows, is within 8 ULP."""
    random_logits, random_labels = _random_rows(rng, 200, 10)
    confident_logits, confident_labels = _confident_rows(rng, 100, 10)
    logits = np.vstack([random_logits, confident_logits])
    labels = np.concatenate([random_labels, confident_labels])
    worst = 0.0
    for smoothing in (0.1, 0.3):
        loss = fastxent.cross_entropy(
            logits, labels, label_smoothing=smoothing, reduction="none"
        )
        exact = [
            mp_cross_entropy(z, y, label_smoothing=smoothing)
            for z, y in zip(logits, labels, strict=True)
        ]
        worst = max(worst, max_ulp_error(loss, exact, F64))
    record("label smoothing, loss", worst)
    assert worst <= 8


def test_textbook_confident_row_gradient_is_relatively_accurate():
    """Gradient of [0, -50, -60], label 0, is -r/(1 + r) ~ -1.9e-22 to 4 ULP."""
    logits = np.array([[0.0, -50.0, -60.0]])
    _, grad = fastxent.cross_entropy_with_grad(logits, np.array([0]), reduction="sum")
    r = mpmath.exp(-50) + mpmath.exp(-60)
    assert ulp_error(grad[0, 0], -r / (1 + r), F64) <= 4
    err = max_ulp_error(grad[0], _exact_hard_gradient(logits[0], 0), F64)
    record("confident row [0, -50, -60], gradient", err)
    assert err <= 4


def test_confident_rows_gradient_within_64_ulp(rng):
    """Every gradient entry of confident rows is within 64 ULP, target entry too."""
    logits, labels = _confident_rows(rng, 200, 8)
    _, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="sum")
    exact = [_exact_hard_gradient(z, y) for z, y in zip(logits, labels, strict=True)]
    assert np.all(grad[np.arange(200), labels] < 0)
    err = max_ulp_error(grad, exact, F64)
    record("confident rows, gradient", err)
    assert err <= 64


def test_random_rows_gradient_within_8_ulp_plus_gap(rng):
    """Gradient entries of random rows are within 8 + |z_j - max| ULP ("mean")."""
    logits, labels = _random_rows(rng, 256, 10)
    _, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="mean")
    exact = [
        [g / 256 for g in _exact_hard_gradient(z, y)]
        for z, y in zip(logits, labels, strict=True)
    ]
    excess = ulp_error(grad, exact, F64) - _gradient_gaps(logits, labels)
    record("random rows, gradient, beyond |d_j|", float(excess.max()))
    assert excess.max() <= 8


EXTREME_BINARY_CASES = [
    # z, y, loss, d(loss)/dz: right answers cost 0, wrong ones cost |z|
    (np.inf, 1.0, 0.0, 0.0),
    (-np.inf, 0.0, 0.0, 0.0),
    (np.inf, 0.0, np.inf, 1.0),
    (-np.inf, 1.0, np.inf, -1.0),
    (np.inf, 0.5, np.inf, 0.5),
    (-np.inf, 0.5, np.inf, -0.5),
]
EXTREME_BINARY_F64 = EXTREME_BINARY_CASES + [
    (800.0, 1.0, 0.0, 0.0),
    (-800.0, 0.0, 0.0, 0.0),
    (800.0, 0.0, 800.0, 1.0),
    (-800.0, 1.0, 800.0, -1.0),
    (1e308, 0.0, 1e308, 1.0),
    (-1e308, 1.0, 1e308, -1.0),
]
EXTREME_BINARY_F32 = EXTREME_BINARY_CASES + [
    (120.0, 1.0, 0.0, 0.0),
    (-120.0, 0.0, 0.0, 0.0),
    (120.0, 0.0, 120.0, 1.0),
    (-120.0, 1.0, 120.0, -1.0),
    (3e38, 0.0, 3e38, 1.0),
    (-3e38, 1.0, 3e38, -1.0),
]


@pytest.mark.parametrize(
    ("dtype", "z", "y", "loss", "grad"),
    [(F64, *case) for case in EXTREME_BINARY_F64]
    + [(F32, *case) for case in EXTREME_BINARY_F32],
)
def test_binary_cross_entropy_exact_at_extreme_logits(dtype, z, y, loss, grad):
    """Binary loss is 0 when right and |z| or +inf when wrong, never NaN."""
    logits = np.array([z, 0.0], dtype=dtype)
    target = np.array([y, 1.0], dtype=dtype)
    values, grads = fastxent.binary_cross_entropy_with_grad(
        logits, target, reduction="none"
    )
    assert values[0] == dtype(loss)
    assert grads[0] == dtype(grad)
    assert values[1] == dtype(math.log(2.0))


BINARY_LOGITS_F64 = [
    -800.0,
    -745.5,
    -709.0,
    -40.0,
    -37.5,
    -33.3,
    -18.0,
    -2.5,
    -1e-300,
    0.0,
    1e-20,
    0.75,
    9.0,
    16.0,
    18.0,
    33.3,
    37.0,
    40.0,
    700.0,
    709.5,
    710.0,
    745.5,
    800.0,
]
BINARY_LOGITS_F32 = [-100.0, -40.0, -20.0, -16.0, -9.0, -2.5, -1e-20, 0.0]
BINARY_LOGITS_F32 += [0.75, 9.0, 16.0, 20.0, 40.0, 88.5, 100.0]


def test_binary_cross_entropy_float64_within_4_ulp(rng):
    """Binary loss (hard and soft y) and gradient at any |z| are within 4 ULP."""
    z = np.concatenate([BINARY_LOGITS_F64, rng.normal(0.0, 20.0, size=200)])
    loss_err = grad_err = 0.0
    for y in (0.0, 1.0, 0.3):
        target = np.full(z.shape, y)
        loss, grad = fastxent.binary_cross_entropy_with_grad(
            z, target, reduction="none"
        )
        exact = [mp_binary_cross_entropy(v, y) for v in z]
        loss_err = max(loss_err, max_ulp_error(loss, exact, F64))
        if y != 0.3:
            exact_grad = [mp_binary_gradient(v, y) for v in z]
            grad_err = max(grad_err, max_ulp_error(grad, exact_grad, F64))
    record("binary, float64, loss", loss_err)
    record("binary, float64, gradient", grad_err)
    assert loss_err <= 4
    assert grad_err <= 4


def test_binary_cross_entropy_float32_within_one_ulp(rng):
    """float32 binary loss and gradient are float32 and within 1 float32 ULP."""
    z = np.concatenate([BINARY_LOGITS_F32, rng.normal(0.0, 10.0, size=200)])
    z = z.astype(F32)
    worst = 0.0
    for y in (0.0, 1.0):
        target = np.full(z.shape, y, dtype=F32)
        loss, grad = fastxent.binary_cross_entropy_with_grad(
            z, target, reduction="none"
        )
        assert loss.dtype == F32
        assert grad.dtype == F32
        exact = [mp_binary_cross_entropy(v, y) for v in z]
        worst = max(worst, max_ulp_error(loss, exact, F32))
        worst = max(
            worst, max_ulp_error(grad, [mp_binary_gradient(v, y) for v in z], F32)
        )
    record("binary, float32, loss and gradient", worst)
    assert worst <= 1


def test_logsumexp_and_log_softmax_of_confident_rows(rng):
    """logsumexp and log_softmax of confident rows are within 64 ULP."""
    logits, _ = _confident_rows(rng, 200, 8)
    logits = np.vstack([[0.0, -50.0, -60.0] + [-70.0] * 5, logits])
    lse = fastxent.logsumexp(logits, axis=-1)
    log_p = fastxent.log_softmax(logits, axis=-1)
    err = max_ulp_error(lse, [mp_logsumexp(z) for z in logits], F64)
    err = max(err, max_ulp_error(log_p, [mp_log_softmax(z) for z in logits], F64))
    assert ulp_error(lse[0], mp_logsumexp(logits[0]), F64) <= 4
    assert ulp_error(log_p[0, 0], mp_log_softmax(logits[0])[0], F64) <= 4
    assert log_p[0, 0] < 0
    record("logsumexp / log_softmax, confident", err)
    assert err <= 64


def test_softmax_of_confident_rows_within_4_ulp_plus_gap(rng):
    """softmax entries of confident rows are within 4 + |z_j - max| ULP."""
    logits, _ = _confident_rows(rng, 200, 8)
    probs = fastxent.softmax(logits, axis=-1)
    exact = [mp_softmax(z) for z in logits]
    excess = ulp_error(probs, exact, F64) - _gaps(logits)
    record("softmax, confident, beyond |d_j|", float(excess.max()))
    assert excess.max() <= 4


def test_log_sum_exp_family_random_rows(rng):
    """logsumexp, log_softmax within 4 ULP and softmax within 4 + |d_j| ULP."""
    logits, _ = _random_rows(rng, 300, 10)
    lse = fastxent.logsumexp(logits, axis=-1)
    log_p = fastxent.log_softmax(logits, axis=-1)
    err = max_ulp_error(lse, [mp_logsumexp(z) for z in logits], F64)
    err = max(err, max_ulp_error(log_p, [mp_log_softmax(z) for z in logits], F64))
    record("logsumexp / log_softmax, random", err)
    assert err <= 4
    probs = fastxent.softmax(logits, axis=-1)
    exact = [mp_softmax(z) for z in logits]
    excess = ulp_error(probs, exact, F64) - _gaps(logits)
    record("softmax, random, beyond |d_j|", float(excess.max()))
    assert excess.max() <= 4


def test_log_sum_exp_family_long_rows(rng):
    """Rows of more than 16 entries (the passes of fx_long_softmax.h, no
    scratch row) meet the bounds of the short rows above."""
    for case, logits in (
        ("random", _random_rows(rng, 200, 40)[0]),
        ("confident", _confident_rows(rng, 100, 64)[0]),
    ):
        lse = fastxent.logsumexp(logits, axis=-1)
        log_p = fastxent.log_softmax(logits, axis=-1)
        err = max_ulp_error(lse, [mp_logsumexp(z) for z in logits], F64)
        err = max(err, max_ulp_error(log_p, [mp_log_softmax(z) for z in logits], F64))
        record(f"long rows, logsumexp / log_softmax, {case}", err)
        assert err <= (4 if case == "random" else 64)
        probs = fastxent.softmax(logits, axis=-1)
        excess = ulp_error(probs, [mp_softmax(z) for z in logits], F64) - _gaps(logits)
        record(f"long rows, softmax, {case}, beyond |d_j|", float(excess.max()))
        assert excess.max() <= 4


def test_float32_long_rows_log_sum_exp_family_within_2_ulp(rng):
    """float32 rows of more than 16 entries: logsumexp, log_softmax and softmax
    within 2 float32 ULP (float32 lanes, as the cross-entropy's long rows)."""
    for case, logits, _ in _float32_long_rows(rng):
        log_p = [mp_log_softmax(z) for z in logits]
        results = {
            "logsumexp": (
                fastxent.logsumexp(logits, axis=-1),
                [mp_logsumexp(z) for z in logits],
            ),
            "log_softmax": (fastxent.log_softmax(logits, axis=-1), log_p),
            "softmax": (
                fastxent.softmax(logits, axis=-1),
                [[mpmath.exp(v) for v in row] for row in log_p],
            ),
        }
        for name, (computed, exact) in results.items():
            assert computed.dtype == F32
            err = max_ulp_error(computed, exact, F32)
            record(f"float32 long rows, {case}, {name}", err)
            assert err <= 2, (case, name)


def test_sum_reduction_over_a_million_rows_is_accurate(rng):
    """reduction="sum" over 10**6 rows is within 64 ULP of the exact row sum."""
    logits = rng.normal(0.0, 2.0, size=(1_000_000, 2))
    labels = rng.integers(0, 2, size=1_000_000)
    rows = fastxent.cross_entropy(logits, labels, reduction="none")
    total = fastxent.cross_entropy(logits, labels, reduction="sum")
    err = ulp_error(total, math.fsum(rows), F64)
    record('reduction "sum" over 10**6 rows', err)
    assert err <= 64


def _weighted_errors(logits, weights, dtype=F64):
    """ULP errors of logsumexp(logits, b=weights) per row, each row's condition
    number (ULP, see mp_weighted_sum), after checking every sign is exact."""
    lse, sign = fastxent.logsumexp(logits, axis=-1, b=weights, return_sign=True)
    assert lse.dtype == dtype
    exact = [mp_weighted_sum(z, w) for z, w in zip(logits, weights, strict=True)]
    np.testing.assert_array_equal(sign, [mpmath.sign(total) for total, _ in exact])
    errors = ulp_error(lse, [mpmath.log(abs(total)) for total, _ in exact], dtype)
    return errors, np.array([kappa for _, kappa in exact])


def test_weighted_logsumexp_of_positive_weights_within_4_ulp(rng):
    """logsumexp with positive weights, some zero, is within 4 ULP."""
    logits, _ = _random_rows(rng, 300, 10)
    weights = rng.uniform(0.1, 10.0, size=logits.shape)
    weights[rng.uniform(size=logits.shape) < 0.3] = 0.0
    weights[:, 0] = 1.0
    err, _ = _weighted_errors(logits, weights)
    record("logsumexp with b > 0, random", float(err.max()))
    assert err.max() <= 4
    confident, _ = _confident_rows(rng, 200, 8)
    err, _ = _weighted_errors(confident, rng.uniform(0.5, 2.0, size=confident.shape))
    record("logsumexp with b > 0, confident", float(err.max()))
    assert err.max() <= 4


def test_weighted_logsumexp_factors_out_the_largest_term(rng):
    """A tiny weight at the maximum, weights from 1e-200 to 1e200: within
    2 (1 + condition number) ULP (see mp_weighted_sum).

    Factoring out the terms at the maximum of ``a`` instead (scipy's way)
    cancels when their weight is small: 7.9 (1 + condition number) ULP
    measured on the first case, and its ratio overflows on the second.
    """
    logits, _ = _random_rows(rng, 300, 10)
    at_max = logits == logits.max(axis=1, keepdims=True)
    worst = 0.0
    for weights in (
        np.where(at_max, 1e-12, 1.0),
        10.0 ** rng.uniform(-200, 200, logits.shape),
    ):
        err, kappa = _weighted_errors(logits, weights)
        worst = max(worst, float((err / (1.0 + kappa)).max()))
    record("logsumexp with b, tiny weight at max, per 1 + cond", worst)
    assert worst <= 2


def test_weighted_logsumexp_of_signed_weights_within_its_condition(rng):
    """Signed weights: exact signs, errors within 4 (1 + condition number) ULP.

    A sum of terms of both signs can cancel, so no method beats the
    condition number ``sum |t_j| / (|sum t_j| |log|sum t_j||)`` (in ULP).
    """
    logits, _ = _random_rows(rng, 300, 10)
    weights = rng.uniform(0.1, 10.0, logits.shape) * rng.choice([-1, 1], logits.shape)
    err, kappa = _weighted_errors(logits, weights)
    excess = err / (1.0 + kappa)
    record("logsumexp with signed b, per 1 + cond", float(excess.max()))
    assert excess.max() <= 4


def test_weighted_logsumexp_float32_within_one_ulp(rng):
    """float32 logits and weights give float32 within 1 float32 ULP."""
    logits, _ = _random_rows(rng, 300, 10)
    weights = rng.uniform(0.1, 10.0, size=logits.shape).astype(F32)
    err, _ = _weighted_errors(logits.astype(F32), weights, F32)
    record("float32 logsumexp with b > 0", float(err.max()))
    assert err.max() <= 1
