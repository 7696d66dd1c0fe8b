"""fastxent.metrics.log_loss against the installed sklearn.metrics.log_loss.

Every case runs through both functions and compares the outcome: the value
(to 1e-12 relative), or the exception type, and the warnings (category and
message). Then properties the cases cannot show: no (n, k) temporary, the
row-sum warning decided as scikit-learn decides it at the threshold itself,
and the paths taken only by large or unusual inputs.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from tracing import peak_bytes

from fastxent.metrics import _log_loss as implementation
from fastxent.metrics import log_loss

RNG = np.random.default_rng(20240611)
P3 = RNG.dirichlet(np.ones(3), 6)
Y3 = np.array([0, 1, 2, 2, 1, 0])
P2 = RNG.dirichlet(np.ones(2), 6)
YB = np.array([0, 1, 1, 0, 1, 0])
STRINGS = np.array(list("abccba"))
ONE_HOT_ISH = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [0, 1], [0.5, 0.5]])
MULTILABEL = np.array(
    [[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1], [1, 0, 0], [0, 1, 1]]
)
MULTIOUTPUT = np.array([[1, 2], [0, 1], [2, 1], [0, 2], [1, 0], [0, 1]])

# name -> (y_true, y_pred, keyword arguments)
CASES = {
    # binary, 1-D and 2-D probabilities
    "binary-2d": (YB, P2, {}),
    "binary-1d": (YB, P2[:, 1], {}),
    "binary-one-column": (YB, P2[:, 1:], {}),
    "binary-strings-1d": (np.where(YB == 1, "yes", "no"), P2[:, 1], {}),
    "binary-bools": (YB.astype(bool), P2, {}),
    "binary-integral-floats": (YB.astype(float), P2, {}),
    # multiclass, labels of several types
    "multiclass-ints": (Y3, P3, {}),
    "multiclass-strings": (STRINGS, P3, {}),
    "multiclass-uint8": (Y3.astype(np.uint8), P3, {}),
    "multiclass-negative-ints": (np.array([-3, 10, -7, -7, 10, -3]), P3, {}),
    "multiclass-wide-int-span": (np.array([3, 10**12, 7, 7, 10**12, 3]), P3, {}),
    "multiclass-int8-span-past-127": (
        np.array([-100, 100, 0, 0, 100, -100], dtype=np.int8),
        P3,
        {},
    ),
    "multiclass-uint64-past-2-63": (
        np.array([2**63, 2**63 + 1, 2**63 + 2, 2**63, 2**63 + 1, 2**63 + 2], np.uint64),
        P3,
        {},
    ),
    "multiclass-column-vector-labels": (Y3[:, np.newaxis], P3, {}),
    # labels=
    "labels-absent-class": (np.array([0, 1, 0, 1, 0, 1]), P3, {"labels": [0, 1, 2]}),
    "labels-unsorted-warns": (np.array([0, 1, 0, 1, 0, 1]), P3, {"labels": [2, 1, 0]}),
    "labels-single-class-in-y": (np.ones(6, int), P2, {"labels": [0, 1]}),
    "labels-as-floats": (Y3, P3, {"labels": [0.0, 1.0, 2.0]}),
    "labels-one-sample": ([1], [[0.3, 0.7]], {"labels": [0, 1]}),
    "labels-int8-wide-span": (
        np.array([-100, 100, 0, 0, 100, -100], dtype=np.int8),
        P3,
        {"labels": [-100, 0, 100]},
    ),
    "labels-uint64-large": (
        np.array([2**63, 5, 2**64 - 1, 5, 2**63, 2**64 - 1], dtype=np.uint64),
        P3,
        {"labels": np.array([5, 2**63, 2**64 - 1], dtype=np.uint64)},
    ),
    "labels-binary-given": (YB, P2, {"labels": np.array([0, 1])}),
    "error-label-between-given-labels": (
        np.array([0, 5, 10, 10, 0, 3]),
        P3,
        {"labels": [0, 5, 10]},
    ),
    # weights and normalize
    "sample-weight": (Y3, P3, {"sample_weight": [1, 2, 3, 4, 5, 0.5]}),
    "sample-weight-sum": (
        Y3,
        P3,
        {"sample_weight": [0, 1, 2, 3, 4, 5], "normalize": False},
    ),
    "normalize-false": (Y3, P3, {"normalize": False}),
    "normalize-numpy-bool": (Y3, P3, {"normalize": np.bool_(False)}),
    # probabilities that need care
    "rows-not-normalised-warns": (Y3, P3 * 1.1, {}),
    "zeros-and-ones-clipped": (YB, ONE_HOT_ISH, {}),
    "zeros-and-ones-float32": (YB, ONE_HOT_ISH.astype(np.float32), {}),
    "float32": (Y3, P3.astype(np.float32), {}),
    "float16": (Y3, P3.astype(np.float16), {}),
    "integer-probabilities": (YB, ONE_HOT_ISH.astype(int), {}),
    "negative-zero": (Y3, np.where(P3 < 0.2, -0.0, P3), {}),
    "fortran-order": (Y3, np.asfortranarray(P3), {}),
    "big-endian": (Y3, P3.astype(">f4"), {}),
    "strided-columns": (Y3, np.repeat(P3, 2, axis=1)[:, ::2], {}),
    "object-dtype-probabilities": (Y3, P3.astype(object), {}),
    # containers
    "lists": (STRINGS.tolist(), P3.tolist(), {}),
    "pandas": (
        pd.Series(Y3),
        pd.DataFrame(P3),
        {"sample_weight": pd.Series(np.arange(1.0, 7.0))},
    ),
    "pandas-categorical": (pd.Series(STRINGS, dtype="category"), pd.DataFrame(P3), {}),
    "pandas-nullable-int": (pd.Series(Y3, dtype="Int64"), P3, {}),
    "pandas-string": (pd.Series(STRINGS, dtype="string"), P3, {}),
    # multilabel indicator y_true
    "multilabel": (MULTILABEL, P3, {}),
    "multilabel-float32": (MULTILABEL, P3.astype(np.float32), {}),
    "multilabel-empty-row": (np.vstack([[0, 0, 0], MULTILABEL[1:]]), P3, {}),
    "multilabel-two-columns-1d": (MULTILABEL[:, :2], P2[:, 1], {}),
    # errors
    "error-single-class": (np.zeros(6, int), P3, {}),
    "error-labels-single-class": (np.zeros(6, int), P3, {"labels": [0]}),
    "error-class-count": (np.array([0, 1, 0, 1, 0, 1]), P3, {}),
    "error-class-count-labels": (Y3, P3, {"labels": [0, 1, 2, 3]}),
    "error-unknown-label": (np.array([0, 1, 3, 1, 0, 1]), P3, {"labels": [0, 1, 2]}),
    "error-duplicate-labels": (Y3, P3, {"labels": [0, 1, 2, 2]}),
    "error-nan": (Y3, np.where(P3 > 0.5, np.nan, P3), {}),
    "error-inf": (Y3, np.where(P3 > 0.5, np.inf, P3), {}),
    "error-above-one": (Y3, P3 * 3, {}),
    "error-negative": (Y3, P3 - 0.5, {}),
    "error-big-endian-above-one": (Y3, (P3 * 3).astype(">f8"), {}),
    "error-3d": (Y3, P3[:, :, np.newaxis], {}),
    "error-lengths": (Y3[:5], P3, {}),
    "error-empty": ([], np.zeros((0, 3)), {}),
    "error-none-probabilities": (Y3, None, {}),
    "error-scalar-probabilities": (Y3, 0.5, {}),
    "error-string-probabilities": (Y3, np.full((6, 3), "a"), {}),
    "error-complex-probabilities": (Y3, P3.astype(complex), {}),
    "error-normalize-string": (Y3, P3, {"normalize": "yes"}),
    "error-scalar-y-true": (1, P3, {}),
    "error-string-labels-argument": (Y3, P3, {"labels": "abc"}),
    "error-continuous-y": (np.array([0.5, 1.5, 0.5, 1.5, 2.5, 2.5]), P3, {}),
    "error-mixed-label-types": (np.array([0, "a", 1, "a", 0, 1], dtype=object), P3, {}),
    "error-nan-label": (np.array([0.0, 1.0, np.nan, 1.0, 0.0, 2.0]), P3, {}),
    "error-bytes-labels": (STRINGS.astype(bytes), P3, {}),
    "error-ragged-labels": ([[0], [1, 2], [0], [1], [2], [0]], P3, {}),
    "error-multioutput": (MULTIOUTPUT, P3, {}),
    "error-multilabel-with-labels": (MULTILABEL, P3, {"labels": [0, 1, 2]}),
    "error-pandas-nullable-missing": (
        pd.Series([0, 1, None, 2, 1, 0], dtype="Int64"),
        P3,
        {},
    ),
    "error-sample-weight-zeros": (Y3, P3, {"sample_weight": np.zeros(6)}),
    "error-sample-weight-sums-to-zero": (Y3, P3, {"sample_weight": [1, -1] * 3}),
    "error-sample-weight-length": (Y3, P3, {"sample_weight": np.ones(5)}),
    "error-sample-weight-2d": (Y3, P3, {"sample_weight": np.ones((6, 1))}),
    "error-sample-weight-nan": (Y3, P3, {"sample_weight": [1, np.nan, 1, 1, 1, 1]}),
    "error-sample-weight-scalar": (Y3, P3, {"sample_weight": 3.0}),
    # a bad range and a label problem at once: the range is reported, and
    # warnings of the label checks are not emitted (scikit-learn's order)
    "error-above-one-and-single-class": (np.zeros(6, int), P3 * 3, {}),
    "error-negative-and-class-count": (np.array([0, 1, 0, 1, 0, 1]), P3 - 0.5, {}),
    "error-nan-and-unsorted-labels": (
        np.array([0, 1, 0, 1, 0, 1]),
        np.where(P3 > 0.5, np.nan, P3),
        {"labels": [2, 1, 0]},
    ),
    "error-above-one-and-sample-weight-length": (
        Y3,
        P3 * 3,
        {"sample_weight": np.ones(5)},
    ),
    "error-binary-1d-above-one": (YB, P2[:, 1] * 3, {}),
    "error-binary-1d-negative-float32": (YB, (P2[:, 1] - 0.5).astype(np.float32), {}),
    "error-unsorted-labels-and-class-count": (Y3, P3, {"labels": [3, 2, 1, 0]}),
    "binary-1d-float32": (YB, P2[:, 1].astype(np.float32), {}),
}


def outcome(func, y_true, y_pred, kwargs):
    """("value", float) or ("error", exception type), and the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("value", func(y_true, y_pred, **kwargs))
        except Exception as error:  # the type is what is compared
            result = ("error", type(error))
    return result, [(w.category, str(w.message)) for w in caught]


def assert_same_outcome(y_true, y_pred, **kwargs):
    """fastxent and scikit-learn return, raise and warn alike."""
    expected, expected_warnings = outcome(
        sklearn.metrics.log_loss, y_true, y_pred, kwargs
    )
    got, got_warnings = outcome(log_loss, y_true, y_pred, kwargs)
    assert got_warnings == expected_warnings
    assert got[0] == expected[0], (got, expected)
    if expected[0] == "value":
        assert isinstance(got[1], float)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, atol=0)
    else:
        assert got[1] is expected[1]


@pytest.mark.parametrize("name", list(CASES))
def test_parity(name):
    """Each case: the same value, exception type and warnings as scikit-learn."""
    y_true, y_pred, kwargs = CASES[name]
    assert_same_outcome(y_true, y_pred, **kwargs)


def test_cases_cover_errors_and_values():
    """The parity module holds at least 25 cases of values and of errors each."""
    errors = [name for name in CASES if name.startswith("error-")]
    assert len(errors) >= 25
    assert len(CASES) - len(errors) >= 25


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 7, 40])
def test_random_problems_match_bitwise(dtype, n_classes):
    """On random problems the losses are scikit-learn's to the last bit."""
    rng = np.random.default_rng(n_classes)
    n_samples = 3_000
    proba = rng.dirichlet(np.full(n_classes, 0.3), n_samples).astype(dtype)
    labels = rng.integers(0, n_classes, n_samples)
    weights = rng.uniform(0.0, 2.0, n_samples)
    for kwargs in ({}, {"sample_weight": weights}, {"normalize": False}):
        assert log_loss(labels, proba, **kwargs) == sklearn.metrics.log_loss(
            labels, proba, **kwargs
        )


def test_multilabel_across_blocks():
    """A multilabel y_true longer than one block of rows matches bitwise."""
    rng = np.random.default_rng(1)
    n_samples = 2 * implementation._BLOCK_ROWS + 17
    indicator = rng.integers(0, 2, (n_samples, 9))
    proba = rng.dirichlet(np.ones(9), n_samples).astype(np.float32)
    assert log_loss(indicator, proba) == sklearn.metrics.log_loss(indicator, proba)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([5, 9, 7], dtype=np.int8),
        np.array([2**64 - 3, 2**64 - 1, 2**64 - 2], dtype=np.uint64),
        np.array([-(2**63), 2**63 - 1, 0], dtype=np.int64),
    ],
    ids=["int8-gaps", "uint64-top", "int64-extremes"],
)
def test_integer_labels_of_any_range(labels):
    """Integer labels near their dtype's limits are coded as scikit-learn's."""
    y_true = np.repeat(labels, 4)
    proba = np.random.default_rng(2).dirichlet(np.ones(3), y_true.size)
    assert_same_outcome(y_true, proba)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_sum_warning_at_the_threshold(dtype):
    """Rows summing to within a few ulp of 1 +- tolerance warn as scikit-learn's.

    The fast row sums add in another order than scikit-learn's. Sums spread
    over +-6 k ulp around the threshold fall both inside the band where
    scikit-learn's sums are recomputed and just outside it, where the fast
    decision must already be right.
    """
    rng = np.random.default_rng(3)
    eps = np.finfo(dtype).eps
    threshold = 1e-8 + math.sqrt(eps)
    warned = 0
    for _ in range(100):
        n_classes = int(rng.integers(3, 40))
        offset = int(rng.integers(-6, 7)) * n_classes * eps
        target = 1.0 + rng.choice([-1.0, 1.0]) * (threshold + offset)
        row = rng.dirichlet(np.ones(n_classes))
        row = (row * (target / row.sum())).astype(dtype)[np.newaxis, :]
        kwargs = {"labels": range(n_classes)}
        expected = outcome(sklearn.metrics.log_loss, [0], row, kwargs)
        assert outcome(log_loss, [0], row, kwargs) == expected
        warned += bool(expected[1])
    assert 0 < warned < 100, "the rows should straddle the threshold"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_allocates_no_matrix(dtype):
    """log_loss allocates O(n_samples); scikit-learn several (n, k) arrays."""
    rng = np.random.default_rng(4)
    n_samples, n_classes = 20_000, 100
    proba = rng.dirichlet(np.ones(n_classes), n_samples).astype(dtype)
    labels = rng.integers(0, n_classes, n_samples)
    budget = proba.nbytes // 8
    assert peak_bytes(lambda: log_loss(labels, proba)) < budget
    # The measure sees the one-hot matrix of scikit-learn's own call.
    assert peak_bytes(lambda: sklearn.metrics.log_loss(labels, proba)) > proba.nbytes


def test_read_only_input():
    """Read-only probabilities and labels are accepted and not copied wholesale."""
    proba, labels = P3.copy(), Y3.copy()
    proba.flags.writeable = labels.flags.writeable = False
    assert log_loss(labels, proba) == sklearn.metrics.log_loss(labels, proba)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scan_kernel_picks_clips_and_bounds_codes(dtype):
    """The one-pass kernel: numpy's clipped picks and row sums, and a code
    outside the row stops the scan instead of reading past it."""
    from fastxent import _kernels

    eps = np.finfo(dtype).eps
    proba = RNG.dirichlet(np.ones(5), 40).astype(dtype)
    proba[:3] = [[0, 1, 0, 0, 0], [eps / 4, 1 - eps / 4, 0, 0, 0], [0.2] * 5]
    codes = RNG.integers(0, 5, 40).astype(np.intp)
    codes[:2] = [0, 1]
    picked = np.empty(40, dtype)
    in_range, low, high, codes_ok = _kernels.log_loss.scan_rows(proba, codes, picked)
    expected = np.clip(proba[np.arange(40), codes], eps, 1 - eps)
    np.testing.assert_array_equal(picked, expected)
    assert in_range and codes_ok
    sums = proba.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose([low, high], [sums.min(), sums.max()], rtol=1e-15)

    for bad in (-1, 5, np.iinfo(np.intp).max):
        codes_bad = codes.copy()
        codes_bad[7] = bad
        assert not _kernels.log_loss.scan_rows(proba, codes_bad, picked)[3]
    column = proba[:, 0].copy()
    assert not _kernels.log_loss.scan_positive_column(column, codes, picked)[3]
    binary_codes = (codes % 2).astype(np.intp)
    assert _kernels.log_loss.scan_positive_column(column, binary_codes, picked)[3]
    expected = np.clip(np.where(binary_codes == 1, column, 1 - column), eps, 1 - eps)
    np.testing.assert_array_equal(picked, expected)
    column[3] = np.nan
    assert not _kernels.log_loss.scan_positive_column(column, binary_codes, picked)[0]
