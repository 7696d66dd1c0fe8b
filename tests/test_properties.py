"""Properties of the functional API, checked by hypothesis.

Each test states an identity that holds for every input (shift invariance,
gradients that sum to zero, integer and one-hot targets agreeing, Gibbs'
inequality, thread-count independence, binary as two-class cross-entropy) or
compares with an independent numpy formula of the semantics in API.md.
Hypothesis runs from the fixed seed ``SEED``, with ``max_examples`` sized to
keep the whole file under about 30 seconds.
"""

import math

import numpy as np
from hypothesis import assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

import fastxent

SEED = 20240611
EPS = np.finfo(np.float64).eps
REDUCTIONS = ("mean", "sum", "none")
BASES = (None, 2, 10.0)

FINITE_LOGITS = st.floats(-30.0, 30.0)
POSITIVE_WEIGHTS = st.floats(0.125, 4.0)
SMOOTHING = st.sampled_from([0.0, 0.1, 0.5]) | st.floats(0.0, 0.99)


def check(max_examples):
    """Hypothesis settings for a property: no deadline, the module seed."""

    def decorate(test):
        return seed(SEED)(settings(max_examples=max_examples, deadline=None)(test))

    return decorate


@st.composite
def logit_matrices(draw, elements=FINITE_LOGITS, max_samples=6, max_classes=6):
    """Float64 logits of shape (n_samples, n_classes), both at least 1."""
    n_samples = draw(st.integers(1, max_samples))
    n_classes = draw(st.integers(1, max_classes))
    return draw(hnp.arrays(np.float64, (n_samples, n_classes), elements=elements))


def labels_for(logits):
    """Strategy for integer labels matching the rows of logits."""
    n_samples, n_classes = logits.shape
    return hnp.arrays(np.int64, n_samples, elements=st.integers(0, n_classes - 1))


@st.composite
def probability_rows(draw, shape):
    """Non-negative rows of the given shape normalised to sum to 1."""
    raw = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    raw[:, 0] += 1e-3  # every row needs some mass
    return raw / raw.sum(axis=1, keepdims=True)


@st.composite
def hard_target_problems(draw):
    """Logits, integer labels and a random combination of every loss option."""
    logits = draw(logit_matrices())
    n_samples, n_classes = logits.shape
    labels = draw(labels_for(logits))
    options = {
        "class_weight": draw(
            st.none() | hnp.arrays(np.float64, n_classes, elements=POSITIVE_WEIGHTS)
        ),
        "sample_weight": draw(
            st.none() | hnp.arrays(np.float64, n_samples, elements=POSITIVE_WEIGHTS)
        ),
        "label_smoothing": draw(SMOOTHING),
        "reduction": draw(st.sampled_from(REDUCTIONS)),
        "base": draw(st.sampled_from(BASES)),
    }
    return logits, labels, options


def reference_log_softmax(logits):
    """log_softmax as (z - max) - log1p(sum of the other exp(z_j - max))."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    top = np.argmax(logits, axis=1)
    terms = np.exp(shifted)
    terms[np.arange(len(logits)), top] = 0.0
    return shifted - np.log1p(terms.sum(axis=1, keepdims=True))


def sum_of_others(rows):
    """``out[i, k] = sum of rows[i, j] over j != k``, each summed directly."""
    n_classes = rows.shape[1]
    others = ~np.eye(n_classes, dtype=bool)  # others[k, j]: j is not k
    return np.where(others, rows[:, np.newaxis, :], 0).sum(axis=2)


def reference_cross_entropy(
    logits,
    target,
    class_weight=None,
    sample_weight=None,
    label_smoothing=0.0,
    reduction="mean",
    base=None,
):
    """Loss and gradient of API.md section 2 in plain numpy, hard or soft target.

    Computed in extended precision (np.longdouble) and rounded at the end.
    The gradient ``p_k W - w_k`` is taken as ``p_k (W - w_k) - w_k (1 - p_k)``
    with both brackets summed over the other classes: written directly it
    cancels for confident rows (logits [-19, 0], label 1: 1 - p_1 keeps 7
    digits in float64, 10 in long double), which would make the reference,
    not fastxent, the inaccurate side. For one-hot targets the rewritten
    form has no cancellation at all.
    """
    logits = np.asarray(logits, dtype=np.longdouble)
    target = target if target.ndim == 1 else np.asarray(target, np.longdouble)
    n_samples, n_classes = logits.shape
    p = np.eye(n_classes)[target] if target.ndim == 1 else target
    cw = np.ones(n_classes) if class_weight is None else class_weight
    sw = np.ones(n_samples) if sample_weight is None else sample_weight
    q = (1 - label_smoothing) * p + label_smoothing * p.sum(
        1, keepdims=True
    ) / n_classes
    weighted = cw * q
    log_prob = reference_log_softmax(logits)
    rows = -np.sum(weighted * log_prob, axis=1) * sw
    prob = np.exp(log_prob)
    grad = (prob * sum_of_others(weighted) - weighted * sum_of_others(prob)) * sw[
        :, None
    ]
    scale = 1.0 if base is None else math.log(base)
    if reduction == "none":
        loss, grad = rows / scale, grad / scale
    elif reduction == "sum":
        loss, grad = rows.sum() / scale, grad / scale
    else:
        total_weight = np.sum(sw * (cw * p).sum(axis=1))
        loss, grad = rows.sum() / total_weight / scale, grad / total_weight / scale
    return np.asarray(loss, np.float64)[()], grad.astype(np.float64)


def assert_grad_close(actual, desired, rtol=1e-12):
    """Gradients agree to rtol relative to their largest entry."""
    scale = float(np.max(np.abs(desired), initial=0.0))
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def assert_identical(a, b):
    """Two results (arrays, scalars or tuples of them) are bitwise equal."""
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_identical(x, y)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    assert np.array_equal(a, b), np.max(np.abs(a - b))


@st.composite
def shifted_rows(draw):
    """Dyadic logits, labels and per-row shifts such that logits + shift is exact.

    Logits are k / 1024 with |k| <= 2**20 and shifts j / 1024 with |j| <= 2**40,
    so every sum fits in 53 bits and the shifted rows are exactly the same
    problem: any difference in the results is the implementation's.
    """
    dyadic = st.integers(-(2**20), 2**20).map(lambda k: k / 1024)
    logits = draw(logit_matrices(elements=dyadic))
    shift = draw(
        hnp.arrays(
            np.float64,
            (logits.shape[0], 1),
            elements=st.integers(-(2**40), 2**40).map(lambda j: j / 1024),
        )
    )
    return logits, shift, draw(labels_for(logits))


@check(max_examples=60)
@given(shifted_rows())
def test_row_shift_leaves_cross_entropy_unchanged(problem):
    """cross_entropy and its gradient are unchanged by adding a constant per row."""
    logits, shift, labels = problem
    for reduction in REDUCTIONS:
        loss, grad = fastxent.cross_entropy_with_grad(
            logits, labels, reduction=reduction
        )
        loss_shifted, grad_shifted = fastxent.cross_entropy_with_grad(
            logits + shift, labels, reduction=reduction
        )
        assert_allclose(loss_shifted, loss, rtol=8 * EPS, atol=0)
        assert_allclose(grad_shifted, grad, rtol=8 * EPS, atol=0)


@check(max_examples=60)
@given(shifted_rows())
def test_row_shift_leaves_softmax_and_log_softmax_unchanged(problem):
    """softmax and log_softmax are unchanged, logsumexp moves by the shift."""
    logits, shift, _ = problem
    shifted = logits + shift
    assert_allclose(
        fastxent.log_softmax(shifted, axis=-1),
        fastxent.log_softmax(logits, axis=-1),
        rtol=8 * EPS,
    )
    assert_allclose(
        fastxent.softmax(shifted, axis=-1),
        fastxent.softmax(logits, axis=-1),
        rtol=8 * EPS,
    )
    lse = fastxent.logsumexp(logits, axis=-1)
    scale = np.abs(lse) + np.abs(shift[:, 0])
    assert np.all(
        np.abs(fastxent.logsumexp(shifted, axis=-1) - (lse + shift[:, 0]))
        <= 4 * EPS * scale
    )


@check(max_examples=60)
@given(st.data())
def test_gradient_rows_sum_to_zero_for_unweighted_hard_targets(data):
    """Each gradient row of an unweighted hard-target loss sums to 0."""
    logits = data.draw(logit_matrices(max_classes=12))
    labels = data.draw(labels_for(logits))
    smoothing = data.draw(SMOOTHING)
    n_samples, n_classes = logits.shape
    for reduction in REDUCTIONS:
        _, grad = fastxent.cross_entropy_with_grad(
            logits, labels, label_smoothing=smoothing, reduction=reduction
        )
        scale = 1.0 / n_samples if reduction == "mean" else 1.0
        assert_allclose(grad.sum(axis=1), 0.0, atol=4 * n_classes * EPS * scale)
        if smoothing == 0.0:
            assert np.all(grad[np.arange(n_samples), labels] <= 0.0)


@check(max_examples=100)
@given(hard_target_problems())
def test_integer_and_one_hot_targets_give_the_same_loss_and_gradient(problem):
    """An integer target and its one-hot float target agree under every option."""
    logits, labels, options = problem
    one_hot = np.eye(logits.shape[1])[labels]
    loss, grad = fastxent.cross_entropy_with_grad(logits, labels, **options)
    loss_hot, grad_hot = fastxent.cross_entropy_with_grad(logits, one_hot, **options)
    assert_allclose(loss_hot, loss, rtol=1e-12, atol=0)
    assert_grad_close(grad_hot, grad)


@check(max_examples=100)
@given(hard_target_problems(), st.data())
def test_cross_entropy_matches_reference_formula(problem, data):
    """Loss and gradient equal the numpy formula of API.md for every option.

    The loss of cross_entropy also equals the loss of cross_entropy_with_grad.
    """
    logits, target, options = problem
    if data.draw(st.booleans(), label="soft"):
        # rows need not sum to 1; a positive first entry keeps the mean defined
        target = data.draw(
            hnp.arrays(np.float64, logits.shape, elements=st.floats(0.0, 2.0))
        )
        target[:, 0] += 0.5
    loss, grad = fastxent.cross_entropy_with_grad(logits, target, **options)
    expected_loss, expected_grad = reference_cross_entropy(logits, target, **options)
    assert_allclose(loss, expected_loss, rtol=1e-12, atol=0)
    assert_grad_close(grad, expected_grad)
    loss_alone = fastxent.cross_entropy(logits, target, **options)
    assert_allclose(loss_alone, loss, rtol=4 * EPS, atol=0)


@check(max_examples=50)
@given(st.data())
def test_ignore_index_rows_count_as_dropped(data):
    """Rows labelled ignore_index contribute 0 loss, 0 gradient and 0 weight."""
    logits = data.draw(logit_matrices(max_samples=8))
    labels = data.draw(labels_for(logits))
    ignored = data.draw(st.integers(0, logits.shape[1] - 1))
    kept = labels != ignored
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    sample_weight = data.draw(
        hnp.arrays(np.float64, len(labels), elements=POSITIVE_WEIGHTS)
    )
    assume(kept.any() or reduction != "mean")
    loss, grad = fastxent.cross_entropy_with_grad(
        logits,
        labels,
        ignore_index=ignored,
        sample_weight=sample_weight,
        reduction=reduction,
    )
    assert np.all(grad[~kept] == 0.0)
    if reduction == "none":
        assert np.all(loss[~kept] == 0.0)
    if not kept.any():
        assert np.all(loss == 0.0)
        return
    loss_kept, grad_kept = fastxent.cross_entropy_with_grad(
        logits[kept],
        labels[kept],
        sample_weight=sample_weight[kept],
        reduction=reduction,
    )
    assert_allclose(loss[kept] if reduction == "none" else loss, loss_kept, rtol=1e-13)
    assert_allclose(grad[kept], grad_kept, rtol=1e-13)


@st.composite
def logits_and_distributions(draw):
    """Logits and target rows that are probability distributions."""
    logits = draw(logit_matrices(max_classes=8))
    return logits, draw(probability_rows(logits.shape))


@check(max_examples=60)
@given(logits_and_distributions())
def test_cross_entropy_is_at_least_entropy_of_target(problem):
    """Gibbs: cross_entropy(z, p) >= entropy(p), equal at z = log(p) (-inf at 0)."""
    logits, p = problem
    ce = fastxent.cross_entropy(logits, p, reduction="none")
    h = fastxent.entropy(p)
    assert np.all(ce >= h - 1e-13 * (1 + np.abs(h)))
    with np.errstate(divide="ignore"):
        log_p = np.log(p)  # -inf where p is 0: a masked class with no mass
    at_truth = fastxent.cross_entropy(log_p, p, reduction="none")
    assert_allclose(at_truth, h, rtol=1e-13, atol=1e-13)


@check(max_examples=60)
@given(logit_matrices(), st.integers(-8, 8))
def test_weights_of_a_power_of_two_shift_logsumexp(logits, k):
    """b = 2**k everywhere adds k log 2, and unit weights give the kernel's
    values: b=1 changes nothing but the path."""
    lse = fastxent.logsumexp(logits, axis=-1)
    scale = np.abs(lse) + abs(k)
    with_unit = fastxent.logsumexp(logits, axis=-1, b=np.ones_like(logits))
    assert np.all(np.abs(with_unit - lse) <= 4 * EPS * scale)
    weighted = fastxent.logsumexp(logits, axis=-1, b=2.0**k)
    assert np.all(np.abs(weighted - (lse + k * math.log(2))) <= 4 * EPS * scale)


@check(max_examples=60)
@given(
    hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=3), elements=FINITE_LOGITS
    )
)
def test_logsumexp_over_axes_is_logsumexp_of_partial_logsumexps(x):
    """Reducing every axis at once equals reducing one axis after the other,
    and softmax over all axes is softmax of the flattened array."""
    whole = fastxent.logsumexp(x)
    stepwise = fastxent.logsumexp(fastxent.logsumexp(x, axis=0))
    assert isinstance(whole, np.float64)
    assert abs(whole - stepwise) <= 8 * EPS * (abs(whole) + 30.0)
    assert_allclose(
        fastxent.logsumexp(x, axis=(0, 1)),
        fastxent.logsumexp(x.reshape(-1, *x.shape[2:]), axis=0),
        rtol=0,
        atol=8 * EPS * 30.0,
    )
    assert_allclose(
        fastxent.softmax(x).ravel(), fastxent.softmax(x.ravel()), rtol=8 * EPS
    )


@check(max_examples=60)
@given(logits_and_distributions(), st.sampled_from(BASES))
def test_kl_divergence_is_cross_entropy_minus_entropy(problem, base):
    """kl_divergence(p, softmax(z)) = cross_entropy(z, p) - entropy(p) >= 0."""
    logits, p = problem
    q = fastxent.softmax(logits, axis=-1)
    kl = fastxent.kl_divergence(p, q, base=base)
    ce = fastxent.cross_entropy(logits, p, reduction="none", base=base)
    h = fastxent.entropy(p, base=base)
    assert np.all(kl >= -1e-14)
    assert_allclose(kl, ce - h, rtol=1e-10, atol=1e-13 * (1 + np.max(ce)))


@check(max_examples=60)
@given(st.data())
def test_kl_divergence_is_non_negative_and_zero_on_the_diagonal(data):
    """kl_divergence(p, q) >= 0 for distributions, and is exactly 0 for q = p."""
    n_samples = data.draw(st.integers(1, 6))
    n_classes = data.draw(st.integers(1, 8))
    p = data.draw(probability_rows((n_samples, n_classes)))
    q = data.draw(probability_rows((n_samples, n_classes)))
    assert np.all(fastxent.kl_divergence(p, q) >= -1e-14)
    assert np.all(fastxent.kl_divergence(p, p) == 0.0)


THREAD_SHAPES = [(1, 5), (7, 3), (1000, 100), (20_000, 2), (4000, 17), (300, 1000)]


@check(max_examples=10)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(THREAD_SHAPES),
    st.sampled_from([np.float64, np.float32]),
)
def test_results_identical_for_one_and_two_threads(seed_value, shape, dtype):
    """Every function gives bitwise the same result with n_threads=1 and 2."""
    rng = np.random.default_rng(seed_value)
    n_samples, n_classes = shape
    logits = rng.normal(0.0, 4.0, size=shape).astype(dtype)
    labels = rng.integers(0, n_classes, size=n_samples)
    soft = rng.uniform(0.0, 1.0, size=shape).astype(dtype)
    options = {
        "class_weight": rng.uniform(0.5, 2.0, size=n_classes),
        "sample_weight": rng.uniform(0.5, 2.0, size=n_samples),
        "label_smoothing": 0.1,
    }
    binary_target = (soft > 0.5).astype(dtype)
    calls = [
        lambda t: fastxent.logsumexp(logits, axis=-1, n_threads=t),
        lambda t: fastxent.softmax(logits, axis=-1, n_threads=t),
        lambda t: fastxent.log_softmax(logits, axis=-1, n_threads=t),
    ]
    for reduction in REDUCTIONS:
        for target in (labels, soft):
            calls.append(
                lambda t, r=reduction, y=target: fastxent.cross_entropy_with_grad(
                    logits, y, reduction=r, n_threads=t, **options
                )
            )
            calls.append(
                lambda t, r=reduction, y=target: fastxent.cross_entropy(
                    logits, y, reduction=r, n_threads=t
                )
            )
        calls.append(
            lambda t, r=reduction: fastxent.binary_cross_entropy_with_grad(
                logits, binary_target, reduction=r, n_threads=t
            )
        )
    for call in calls:
        assert_identical(call(1), call(2))


@st.composite
def binary_problems(draw):
    """Binary logits (1-D or multi-label 2-D), targets and options."""
    n_samples = draw(st.integers(1, 6))
    shape = draw(st.sampled_from([(n_samples,), (n_samples, draw(st.integers(1, 3)))]))
    logits = draw(hnp.arrays(np.float64, shape, elements=st.floats(-800.0, 800.0)))
    if draw(st.booleans()):
        target = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    else:
        target = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 1)))
    reduction = draw(st.sampled_from(REDUCTIONS))
    options = {
        "sample_weight": draw(
            st.none() | hnp.arrays(np.float64, n_samples, elements=POSITIVE_WEIGHTS)
        ),
        "reduction": reduction,
        "base": draw(st.sampled_from(BASES)),
    }
    if reduction != "mean":
        options["pos_weight"] = draw(st.none() | POSITIVE_WEIGHTS)
    return logits, target, options


@check(max_examples=100)
@given(binary_problems())
def test_binary_cross_entropy_equals_two_class_cross_entropy(problem):
    """binary_cross_entropy(z, y) = cross_entropy([0, z], [1 - y, y]), with grads."""
    logits, target, options = problem
    options = dict(options)
    pos_weight = options.pop("pos_weight", None)
    sample_weight = options.pop("sample_weight")
    loss, grad = fastxent.binary_cross_entropy_with_grad(
        logits,
        target,
        pos_weight=pos_weight,
        sample_weight=sample_weight,
        **options,
    )
    flat_logits = logits.reshape(-1)
    flat_target = target.reshape(-1)
    if target.dtype.kind == "i":
        two_class_target = flat_target
    else:
        two_class_target = np.stack([1.0 - flat_target, flat_target], axis=1)
    labels_per_row = flat_logits.size // len(logits)
    two_class_loss, two_class_grad = fastxent.cross_entropy_with_grad(
        np.stack([np.zeros_like(flat_logits), flat_logits], axis=1),
        two_class_target,
        class_weight=None if pos_weight is None else np.array([1.0, pos_weight]),
        sample_weight=(
            None if sample_weight is None else np.repeat(sample_weight, labels_per_row)
        ),
        **options,
    )
    if options["reduction"] == "none":
        two_class_loss = two_class_loss.reshape(logits.shape)
    assert_allclose(loss, two_class_loss, rtol=1e-12, atol=1e-300)
    assert_grad_close(grad, two_class_grad[:, 1].reshape(logits.shape))
    assert_grad_close(-grad, two_class_grad[:, 0].reshape(logits.shape))
