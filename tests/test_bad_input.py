"""Bad input to the functional API: the exception type and a message naming it.

The table ``BAD_INPUTS`` lists one call per row with the exception it must
raise and a regular expression the message must match; the expression names
the offending argument. The second half checks inputs that must be accepted
(lists, pandas objects, read-only and non-contiguous arrays, integer and bool
logits, float32, ignored out-of-range labels, empty sums).
"""

import numpy as np
import pandas as pd
import pytest

import fastxent as fx

RNG = np.random.default_rng(7)
Z = RNG.normal(size=(5, 3))
Y = np.array([0, 2, 1, 1, 0])
P = RNG.uniform(size=(5, 3))
ZB = RNG.normal(size=(5, 2))
YB = np.array([[0, 1], [1, 1], [0, 0], [1, 0], [0.5, 0.25]])
# Seven rows, four classes: the first bad label is 4 (= n_classes) at row 5.
Z4 = RNG.normal(size=(7, 4))
Y_TOO_BIG = np.array([0, 3, 1, 2, 2, 4, 9])
Y_NEGATIVE = np.array([0, 3, 1, -1, 2, -5, 0])
Y_HUGE = np.array([0, 1, 2**62, 3, 2, 0, 1], dtype=np.int64)


def with_value(a, index, value):
    """Return a copy of ``a`` with ``a[index] = value``."""
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


def read_only(a):
    """Return a read-only copy of ``a``."""
    a = np.array(a)
    a.setflags(write=False)
    return a


def named(*names):
    """Return a regex requiring every name as a whole word (any order)."""
    return "(?s)" + "".join(rf"(?=.*\b{name}\b)" for name in names)


# Labels over many blocks with ignored rows (-7); the first bad one is at
# row 40001 (a 3 of three classes), a second at the end.
LATE_BAD_LABELS = np.tile([0, -7, 2], 50_000 // 3 + 1)[:50_000]
LATE_BAD_LABELS[[40_001, 49_999]] = [3, -1]

LOGITS = named("logits")
TARGET = named("target")
# "out" as an argument name, not "out of range" / "out of bounds".
OUT = r"\bout\b(?! of\b)"

BAD_INPUTS = [
    # shapes
    ("target_rows", lambda: fx.cross_entropy(Z, Y[:4]), ValueError, TARGET),
    # integer targets never mean probabilities
    (
        "binary_labels_for_1d_logits",
        lambda: fx.cross_entropy(np.array([0.5, -1.0, 2.0]), np.array([1, 0, 1])),
        TypeError,
        named("target", "binary_cross_entropy"),
    ),
    (
        "integer_target_of_logits_shape",
        lambda: fx.cross_entropy_with_grad(Z, np.eye(3, dtype=int)[Y]),
        TypeError,
        named("target", "floating"),
    ),
    (
        "bool_target_of_logits_shape",
        lambda: fx.cross_entropy(Z, np.eye(3, dtype=bool)[Y]),
        TypeError,
        named("target", "floating"),
    ),
    (
        "target_rows_with_grad",
        lambda: fx.cross_entropy_with_grad(Z, Y[1:]),
        ValueError,
        TARGET,
    ),
    ("soft_target_shape", lambda: fx.cross_entropy(Z, P[:, :2]), ValueError, TARGET),
    (
        "class_weight_length",
        lambda: fx.cross_entropy(Z, Y, class_weight=[1.0, 2.0]),
        ValueError,
        named("class_weight"),
    ),
    (
        "sample_weight_length",
        lambda: fx.cross_entropy(Z, Y, sample_weight=np.ones(4)),
        ValueError,
        named("sample_weight"),
    ),
    (
        "binary_target_shape",
        lambda: fx.binary_cross_entropy(ZB, YB[:, :1]),
        ValueError,
        TARGET,
    ),
    (
        "binary_sample_weight_length",
        lambda: fx.binary_cross_entropy(ZB, YB, sample_weight=np.ones(6)),
        ValueError,
        named("sample_weight"),
    ),
    (
        "pos_weight_length",
        lambda: fx.binary_cross_entropy(ZB, YB, pos_weight=np.ones(3)),
        ValueError,
        named("pos_weight"),
    ),
    # labels out of range: first bad label and its row
    (
        "label_equals_n_classes",
        lambda: fx.cross_entropy(Z4, Y_TOO_BIG),
        ValueError,
        named("target", "4", "5"),
    ),
    (
        "label_minus_one",
        lambda: fx.cross_entropy(Z4, Y_NEGATIVE),
        ValueError,
        r"(?s)(?=.*\btarget\b)(?=.*-1\b)(?=.*\b3\b)",
    ),
    (
        "label_huge",
        lambda: fx.cross_entropy_with_grad(Z4, Y_HUGE),
        ValueError,
        named("target", str(2**62), "2"),
    ),
    (
        "label_out_of_range_despite_ignore_index",
        lambda: fx.cross_entropy(Z4, Y_TOO_BIG, ignore_index=-100),
        ValueError,
        named("target", "4", "5"),
    ),
    (
        # many blocks, two threads, ignored rows: the first bad row is named
        "label_out_of_range_in_a_late_block",
        lambda: fx.cross_entropy(
            np.zeros((50_000, 3)), LATE_BAD_LABELS, ignore_index=-7, n_threads=2
        ),
        ValueError,
        named("target", "40001", "3"),
    ),
    (
        # an ignore_index no int64 label can equal: every label still checked
        "label_out_of_range_with_huge_ignore_index",
        lambda: fx.cross_entropy(Z4, Y_TOO_BIG, ignore_index=2**70),
        ValueError,
        named("target", "4", "5"),
    ),
    (
        # whole-number float labels are indices; others are refused
        "fractional_float_labels",
        lambda: fx.cross_entropy(Z, Y + 0.5),
        ValueError,
        named("target", "whole number"),
    ),
    (
        "nan_float_label",
        lambda: fx.cross_entropy(Z, np.where(Y == 1, np.nan, Y)),
        ValueError,
        named("target", "nan", "whole number"),
    ),
    (
        "float_label_out_of_range",
        lambda: fx.cross_entropy(Z, np.full(len(Y), 3.0)),
        ValueError,
        named("target", "3", "outside"),
    ),
    (
        "complex_target_of_hard_shape",
        lambda: fx.cross_entropy(Z, Y.astype(np.complex128)),
        TypeError,
        TARGET,
    ),
    # non-finite logits
    (
        "nan_logits",
        lambda: fx.cross_entropy(with_value(Z, (2, 1), np.nan), Y),
        ValueError,
        LOGITS,
    ),
    (
        "posinf_logits",
        lambda: fx.cross_entropy(with_value(Z, (4, 0), np.inf), Y),
        ValueError,
        LOGITS,
    ),
    (
        "posinf_logits_with_grad",
        lambda: fx.cross_entropy_with_grad(with_value(Z, (0, 2), np.inf), P),
        ValueError,
        LOGITS,
    ),
    (
        "binary_nan_logits",
        lambda: fx.binary_cross_entropy(with_value(ZB, (1, 1), np.nan), YB),
        ValueError,
        LOGITS,
    ),
    (
        "binary_nan_logits_with_grad",
        lambda: fx.binary_cross_entropy_with_grad(with_value(ZB, (3, 0), np.nan), YB),
        ValueError,
        LOGITS,
    ),
    # weights and targets out of their domain
    (
        "negative_class_weight",
        lambda: fx.cross_entropy(Z, Y, class_weight=[1.0, -0.5, 1.0]),
        ValueError,
        named("class_weight"),
    ),
    (
        "nan_class_weight",
        lambda: fx.cross_entropy(Z, Y, class_weight=[1.0, np.nan, 1.0]),
        ValueError,
        named("class_weight"),
    ),
    (
        "negative_sample_weight",
        lambda: fx.cross_entropy(Z, Y, sample_weight=[1, 1, -1, 1, 1]),
        ValueError,
        named("sample_weight"),
    ),
    (
        "binary_negative_sample_weight",
        lambda: fx.binary_cross_entropy(ZB, YB, sample_weight=[1, 1, 1, 1, -2]),
        ValueError,
        named("sample_weight"),
    ),
    (
        "negative_pos_weight",
        lambda: fx.binary_cross_entropy(ZB, YB, pos_weight=[1.0, -1.0]),
        ValueError,
        named("pos_weight"),
    ),
    (
        "negative_soft_target",
        lambda: fx.cross_entropy(Z, with_value(P, (3, 2), -0.1)),
        ValueError,
        TARGET,
    ),
    (
        "nan_soft_target",
        lambda: fx.cross_entropy(Z, with_value(P, (0, 0), np.nan)),
        ValueError,
        TARGET,
    ),
    (
        "binary_target_above_one",
        lambda: fx.binary_cross_entropy(ZB, with_value(YB, (2, 1), 1.5)),
        ValueError,
        TARGET,
    ),
    (
        "binary_target_below_zero",
        lambda: fx.binary_cross_entropy_with_grad(ZB, with_value(YB, (0, 0), -0.5)),
        ValueError,
        TARGET,
    ),
    (
        "binary_target_nan",
        lambda: fx.binary_cross_entropy(ZB, with_value(YB, (4, 1), np.nan)),
        ValueError,
        TARGET,
    ),
    (
        # float32 logits: a float64 target is checked before its cast to float32
        "binary_target_rounding_into_range",
        lambda: fx.binary_cross_entropy(
            ZB.astype(np.float32), with_value(YB, (1, 0), 1.0 + 1e-12)
        ),
        ValueError,
        TARGET,
    ),
    (
        # 1-D logits, zero weight on the bad row: found all the same
        "binary_flat_target_above_one_weighted_zero",
        lambda: fx.binary_cross_entropy(
            ZB[:, 0], with_value(YB[:, 0], (3,), 2.0), sample_weight=[1, 1, 1, 0, 1]
        ),
        ValueError,
        TARGET,
    ),
    (
        "binary_float32_target_nan",
        lambda: fx.binary_cross_entropy(
            ZB.astype(np.float32),
            with_value(YB, (4, 1), np.nan).astype(np.float32),
        ),
        ValueError,
        TARGET,
    ),
    (
        # a strided view: checked without the one-pass kernel
        "binary_strided_target_above_one",
        lambda: fx.binary_cross_entropy(ZB[:, 0], with_value(YB, (2, 1), 1.5)[:, 1]),
        ValueError,
        TARGET,
    ),
    (
        # many blocks and two threads: the bad value is in the last block
        "binary_long_target_below_zero",
        lambda: fx.binary_cross_entropy(
            np.zeros(100_003),
            with_value(np.ones(100_003), (100_002,), -1e-300),
            n_threads=2,
        ),
        ValueError,
        TARGET,
    ),
    (
        "binary_target_infinite_with_nan_logit",
        lambda: fx.binary_cross_entropy_with_grad(
            with_value(ZB, (0, 1), np.nan), with_value(YB, (2, 0), np.inf)
        ),
        ValueError,
        TARGET,
    ),
    # empty batch with reduction="mean"
    (
        "empty_batch_mean",
        lambda: fx.cross_entropy(np.empty((0, 3)), np.empty(0, dtype=np.int64)),
        ValueError,
        r"(?i)empty|\breduction\b|\blogits\b|\btarget\b|n_samples",
    ),
    (
        "binary_empty_batch_mean",
        lambda: fx.binary_cross_entropy(np.empty((0, 2)), np.empty((0, 2))),
        ValueError,
        r"(?i)empty|\breduction\b|\blogits\b|\btarget\b|n_samples",
    ),
    # scalar options
    (
        "label_smoothing_negative",
        lambda: fx.cross_entropy(Z, Y, label_smoothing=-0.1),
        ValueError,
        named("label_smoothing"),
    ),
    (
        "label_smoothing_one",
        lambda: fx.cross_entropy(Z, Y, label_smoothing=1.0),
        ValueError,
        named("label_smoothing"),
    ),
    (
        "binary_label_smoothing_one",
        lambda: fx.binary_cross_entropy(ZB, YB, label_smoothing=1.0),
        ValueError,
        named("label_smoothing"),
    ),
    (
        "unknown_reduction",
        lambda: fx.cross_entropy(Z, Y, reduction="avg"),
        ValueError,
        named("reduction"),
    ),
    (
        "binary_unknown_reduction",
        lambda: fx.binary_cross_entropy(ZB, YB, reduction="elementwise"),
        ValueError,
        named("reduction"),
    ),
    (
        "base_one",
        lambda: fx.cross_entropy(Z, Y, base=1),
        ValueError,
        named("base"),
    ),
    ("base_zero", lambda: fx.cross_entropy(Z, Y, base=0), ValueError, named("base")),
    (
        "base_negative",
        lambda: fx.binary_cross_entropy(ZB, YB, base=-2),
        ValueError,
        named("base"),
    ),
    ("entropy_base_one", lambda: fx.entropy(P, base=1), ValueError, named("base")),
    (
        "kl_base_zero",
        lambda: fx.kl_divergence(P, P, base=0),
        ValueError,
        named("base"),
    ),
    (
        "n_threads_zero",
        lambda: fx.cross_entropy(Z, Y, n_threads=0),
        ValueError,
        named("n_threads"),
    ),
    (
        "n_threads_negative",
        lambda: fx.softmax(Z, n_threads=-3),
        ValueError,
        named("n_threads"),
    ),
    (
        "n_threads_float",
        lambda: fx.binary_cross_entropy(ZB, YB, n_threads=1.5),
        (TypeError, ValueError),
        named("n_threads"),
    ),
    # logits of a dtype that is not a number
    (
        "complex_logits",
        lambda: fx.cross_entropy(Z.astype(np.complex128), Y),
        TypeError,
        LOGITS,
    ),
    (
        "object_logits",
        lambda: fx.cross_entropy(Z.astype(object), Y),
        TypeError,
        LOGITS,
    ),
    (
        "string_logits",
        lambda: fx.cross_entropy(np.array([["a", "b", "c"]] * 5), Y),
        TypeError,
        LOGITS,
    ),
    (
        "binary_string_logits",
        lambda: fx.binary_cross_entropy(np.array(["1.0", "2.0"]), [0, 1]),
        TypeError,
        LOGITS,
    ),
    (
        "softmax_complex",
        lambda: fx.softmax(Z.astype(np.complex64)),
        TypeError,
        r"(?i)complex",
    ),
    # out= buffers
    (
        "out_wrong_shape",
        lambda: fx.cross_entropy_with_grad(Z, Y, out=np.empty((5, 4))),
        ValueError,
        OUT,
    ),
    (
        "out_wrong_dtype",
        lambda: fx.cross_entropy_with_grad(Z, Y, out=np.empty((5, 3), np.float32)),
        (TypeError, ValueError),
        OUT,
    ),
    (
        "out_read_only",
        lambda: fx.cross_entropy_with_grad(Z, Y, out=read_only(np.empty((5, 3)))),
        ValueError,
        OUT,
    ),
    (
        "out_not_contiguous",
        lambda: fx.cross_entropy_with_grad(Z, Y, out=np.empty((5, 6))[:, ::2]),
        ValueError,
        OUT,
    ),
    (
        "out_fortran_order",
        lambda: fx.cross_entropy_with_grad(Z, Y, out=np.empty((5, 3), order="F")),
        ValueError,
        OUT,
    ),
    (
        "binary_out_wrong_shape",
        lambda: fx.binary_cross_entropy_with_grad(ZB, YB, out=np.empty(10)),
        ValueError,
        OUT,
    ),
    (
        "softmax_out_wrong_shape",
        lambda: fx.softmax(Z, out=np.empty((3, 5))),
        ValueError,
        OUT,
    ),
    # axis
    (
        "cross_entropy_axis",
        lambda: fx.cross_entropy(Z, Y, axis=2),
        ValueError,
        named("axis"),
    ),
    ("softmax_axis", lambda: fx.softmax(Z, axis=2), ValueError, named("axis")),
    (
        "log_softmax_axis",
        lambda: fx.log_softmax(Z, axis=-3),
        ValueError,
        named("axis"),
    ),
    ("logsumexp_axis", lambda: fx.logsumexp(Z, axis=5), ValueError, named("axis")),
    (
        "logsumexp_axis_repeated",
        lambda: fx.logsumexp(Z, axis=(0, -2)),
        ValueError,
        named("axis"),
    ),
    (
        "softmax_axis_tuple_out_of_range",
        lambda: fx.softmax(Z, axis=(0, 2)),
        ValueError,
        named("axis"),
    ),
    ("softmax_axis_list", lambda: fx.softmax(Z, axis=[0, 1]), TypeError, named("axis")),
    (
        "log_softmax_axis_float",
        lambda: fx.log_softmax(Z, axis=1.0),
        TypeError,
        named("axis"),
    ),
    # logsumexp's weights, softmax's input name (scipy's: x)
    (
        "logsumexp_b_shape",
        lambda: fx.logsumexp(Z, b=np.ones(5)),
        ValueError,
        named("b", "a"),
    ),
    (
        "logsumexp_b_complex",
        lambda: fx.logsumexp(Z, b=np.ones(3, dtype=complex)),
        TypeError,
        named("b") + r"(?=.*np\.real\(b\))",
    ),
    (
        "logsumexp_b_strings",
        lambda: fx.logsumexp(Z, b=np.array(["1", "2", "3"])),
        TypeError,
        named("b"),
    ),
    (
        "logsumexp_complex",
        lambda: fx.logsumexp(Z.astype(complex), b=np.ones(3)),
        TypeError,
        named("a"),
    ),
    ("softmax_object", lambda: fx.softmax(Z.astype(object)), TypeError, named("x")),
    ("entropy_axis", lambda: fx.entropy(P, axis=2), ValueError, named("axis")),
    # information measures
    (
        "entropy_negative",
        lambda: fx.entropy(with_value(P, (1, 1), -0.2)),
        ValueError,
        named("p"),
    ),
    (
        "kl_negative_p",
        lambda: fx.kl_divergence(with_value(P, (0, 1), -1e-3), P),
        ValueError,
        named("p"),
    ),
    (
        "kl_negative_q",
        lambda: fx.kl_divergence(P, with_value(P, (4, 2), -0.5)),
        ValueError,
        named("q"),
    ),
    (
        "entropy_nan",
        lambda: fx.entropy(with_value(P, (2, 0), np.nan)),
        ValueError,
        named("p"),
    ),
    (
        "kl_inf_q",
        lambda: fx.kl_divergence(P, with_value(P, (3, 1), np.inf)),
        ValueError,
        named("q"),
    ),
    (
        # q = 0 < p gives +inf for a valid row; a negative p must not hide there.
        "kl_negative_p_over_zero_q",
        lambda: fx.kl_divergence(
            with_value(P, (1, 2), -0.3), with_value(P, (1, 2), 0.0)
        ),
        ValueError,
        named("p"),
    ),
    (
        "kl_shape_mismatch",
        lambda: fx.kl_divergence(P, P[:, :2]),
        ValueError,
        named("p", "q"),
    ),
]


@pytest.mark.parametrize(
    ("call", "exception", "pattern"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD_INPUTS],
)
def test_bad_input_raises_naming_argument(call, exception, pattern):
    """Each bad input raises the documented exception naming the argument."""
    with pytest.raises(exception, match=pattern):
        call()


def test_bad_input_table_is_large_and_ids_unique():
    """The catalogue has at least 30 cases with distinct ids."""
    ids = [row[0] for row in BAD_INPUTS]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


def test_bad_label_message_names_the_first_bad_label():
    """Both categorical entry points report the first bad label, not a later one."""
    for func in (fx.cross_entropy, fx.cross_entropy_with_grad):
        with pytest.raises(ValueError) as info:
            func(Z4, Y_NEGATIVE)
        assert "-1" in str(info.value)
        assert "-5" not in str(info.value)


def test_neg_inf_logit_is_legal_in_cross_entropy():
    """A -inf logit masks a class: no error and a finite loss."""
    z = with_value(Z, (0, 1), -np.inf)
    loss, grad = fx.cross_entropy_with_grad(z, Y)
    assert np.isfinite(loss)
    assert np.all(np.isfinite(grad))
    assert grad[0, 1] == 0.0


def test_infinite_binary_logits_are_legal():
    """+-inf binary logits are accepted and give exact losses."""
    z = np.array([np.inf, -np.inf, np.inf])
    loss = fx.binary_cross_entropy(z, [1.0, 0.0, 0.0], reduction="none")
    np.testing.assert_array_equal(loss, [0.0, 0.0, np.inf])


# --- inputs that must be accepted -------------------------------------------


def assert_same(got, expected):
    """Assert two results (scalars, arrays or (loss, grad) tuples) are equal."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert_same(g, e)
        return
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-15)


def test_lists_are_accepted():
    """Nested lists give the same results as arrays."""
    sw = [1.0, 2.0, 0.5, 1.0, 3.0]
    cw = [1.0, 0.5, 2.0]
    assert_same(
        fx.cross_entropy(Z.tolist(), Y.tolist(), class_weight=cw, sample_weight=sw),
        fx.cross_entropy(Z, Y, class_weight=np.array(cw), sample_weight=np.array(sw)),
    )
    assert_same(
        fx.cross_entropy_with_grad(Z.tolist(), P.tolist()),
        fx.cross_entropy_with_grad(Z, P),
    )
    assert_same(
        fx.binary_cross_entropy_with_grad(ZB.tolist(), YB.tolist(), pos_weight=[1, 2]),
        fx.binary_cross_entropy_with_grad(ZB, YB, pos_weight=np.array([1.0, 2.0])),
    )
    assert_same(fx.logsumexp(Z.tolist()), fx.logsumexp(Z))
    assert_same(fx.softmax(Z.tolist()), fx.softmax(Z))
    assert_same(fx.log_softmax(Z.tolist()), fx.log_softmax(Z))
    assert_same(fx.entropy(P.tolist()), fx.entropy(P))
    assert_same(
        fx.kl_divergence(P.tolist(), P[::-1].tolist()), fx.kl_divergence(P, P[::-1])
    )


def test_pandas_objects_are_accepted():
    """DataFrame logits and Series targets / weights give the array results."""
    frame = pd.DataFrame(Z, columns=["a", "b", "c"], index=[10, 11, 12, 13, 14])
    labels = pd.Series(Y, index=frame.index)
    weights = pd.Series([1.0, 2.0, 0.5, 1.0, 3.0], index=frame.index)
    assert_same(
        fx.cross_entropy(frame, labels, sample_weight=weights),
        fx.cross_entropy(Z, Y, sample_weight=weights.to_numpy()),
    )
    assert_same(
        fx.cross_entropy_with_grad(frame, pd.DataFrame(P)),
        fx.cross_entropy_with_grad(Z, P),
    )
    assert_same(
        fx.binary_cross_entropy_with_grad(pd.DataFrame(ZB), pd.DataFrame(YB)),
        fx.binary_cross_entropy_with_grad(ZB, YB),
    )
    assert_same(
        fx.binary_cross_entropy(pd.Series(ZB[:, 0]), pd.Series(YB[:, 0] > 0.5)),
        fx.binary_cross_entropy(ZB[:, 0], (YB[:, 0] > 0.5).astype(np.float64)),
    )
    assert_same(fx.softmax(frame), fx.softmax(Z))
    assert_same(fx.entropy(pd.DataFrame(P)), fx.entropy(P))


def test_read_only_arrays_are_accepted():
    """Read-only inputs (weights and targets included) are accepted."""
    sw = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    cw = np.array([1.0, 0.5, 2.0])
    assert_same(
        fx.cross_entropy_with_grad(
            read_only(Z), read_only(Y), class_weight=read_only(cw), sample_weight=sw
        ),
        fx.cross_entropy_with_grad(Z, Y, class_weight=cw, sample_weight=sw),
    )
    assert_same(
        fx.cross_entropy(read_only(Z), read_only(P), sample_weight=read_only(sw)),
        fx.cross_entropy(Z, P, sample_weight=sw),
    )
    assert_same(
        fx.binary_cross_entropy_with_grad(
            read_only(ZB), read_only(YB), pos_weight=read_only([1.0, 2.0])
        ),
        fx.binary_cross_entropy_with_grad(ZB, YB, pos_weight=np.array([1.0, 2.0])),
    )
    assert_same(fx.logsumexp(read_only(Z)), fx.logsumexp(Z))
    assert_same(fx.softmax(read_only(Z)), fx.softmax(Z))
    assert_same(fx.log_softmax(read_only(Z)), fx.log_softmax(Z))
    assert_same(fx.entropy(read_only(P)), fx.entropy(P))
    assert_same(fx.kl_divergence(read_only(P), read_only(P)), fx.kl_divergence(P, P))


def test_non_contiguous_arrays_are_accepted():
    """Sliced and Fortran-ordered inputs give the contiguous results."""
    big = RNG.normal(size=(10, 6))
    labels = np.array([[0, 9], [2, 9], [1, 9], [1, 9], [0, 9]])[:, 0]
    sliced = big[::2, ::2]
    contiguous = np.ascontiguousarray(sliced)
    assert not sliced.flags.c_contiguous
    assert_same(
        fx.cross_entropy_with_grad(sliced, labels),
        fx.cross_entropy_with_grad(contiguous, np.ascontiguousarray(labels)),
    )
    assert_same(
        fx.cross_entropy_with_grad(np.asfortranarray(Z), np.asfortranarray(P)),
        fx.cross_entropy_with_grad(Z, P),
    )
    assert_same(
        fx.binary_cross_entropy_with_grad(np.asfortranarray(ZB), YB[:, ::-1]),
        fx.binary_cross_entropy_with_grad(ZB, np.ascontiguousarray(YB[:, ::-1])),
    )
    assert_same(fx.softmax(sliced), fx.softmax(contiguous))
    assert_same(fx.log_softmax(np.asfortranarray(Z)), fx.log_softmax(Z))
    assert_same(fx.logsumexp(sliced.T, axis=0), fx.logsumexp(contiguous, axis=-1))
    assert_same(fx.entropy(np.asfortranarray(P)), fx.entropy(P))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_int_and_bool_logits_become_float64(dtype):
    """Integer and bool logits are computed as float64."""
    ints = RNG.integers(-3, 4, size=(5, 3))
    z = ints > 0 if dtype is np.bool_ else ints.astype(dtype)
    z64 = z.astype(np.float64)
    loss, grad = fx.cross_entropy_with_grad(z, Y, reduction="none")
    assert loss.dtype == np.float64
    assert grad.dtype == np.float64
    assert_same((loss, grad), fx.cross_entropy_with_grad(z64, Y, reduction="none"))
    loss, grad = fx.binary_cross_entropy_with_grad(z, (z64 > 0.5), reduction="none")
    assert loss.dtype == np.float64
    assert grad.dtype == np.float64
    assert fx.softmax(z).dtype == np.float64
    assert fx.log_softmax(z).dtype == np.float64
    assert fx.logsumexp(z).dtype == np.float64
    assert_same(fx.softmax(z), fx.softmax(z64))


def test_bool_and_int_binary_targets_are_accepted():
    """Bool and {0, 1} integer binary targets equal their float versions."""
    y = YB > 0.5
    expected = fx.binary_cross_entropy_with_grad(ZB, y.astype(np.float64))
    assert_same(fx.binary_cross_entropy_with_grad(ZB, y), expected)
    assert_same(fx.binary_cross_entropy_with_grad(ZB, y.astype(np.int64)), expected)


def test_float32_stays_float32():
    """float32 logits give float32 results from every function."""
    z = Z.astype(np.float32)
    p = P.astype(np.float32)
    loss, grad = fx.cross_entropy_with_grad(z, Y, reduction="none")
    assert loss.dtype == np.float32
    assert grad.dtype == np.float32
    assert fx.cross_entropy(z, p, reduction="none").dtype == np.float32
    loss, grad = fx.binary_cross_entropy_with_grad(
        ZB.astype(np.float32), YB.astype(np.float32), reduction="none"
    )
    assert loss.dtype == np.float32
    assert grad.dtype == np.float32
    assert fx.softmax(z).dtype == np.float32
    assert fx.log_softmax(z).dtype == np.float32
    assert fx.logsumexp(z).dtype == np.float32
    assert fx.entropy(p).dtype == np.float32
    assert fx.kl_divergence(p, p).dtype == np.float32


def test_float64_stays_float64():
    """float64 logits give float64 results."""
    loss, grad = fx.cross_entropy_with_grad(Z, Y, reduction="none")
    assert loss.dtype == np.float64
    assert grad.dtype == np.float64
    assert fx.softmax(Z).dtype == np.float64


def test_ignore_index_may_be_out_of_range():
    """ignore_index=-100 lets rows labelled -100 through and ignores them."""
    labels = np.array([0, -100, 1, -100, 0])
    keep = labels != -100
    for reduction in ("mean", "sum"):
        got = fx.cross_entropy_with_grad(
            Z, labels, ignore_index=-100, reduction=reduction
        )
        expected = fx.cross_entropy_with_grad(
            Z[keep], labels[keep], reduction=reduction
        )
        assert_same(got[0], expected[0])
        assert_same(got[1][keep], expected[1])
        np.testing.assert_array_equal(got[1][~keep], 0.0)
    none = fx.cross_entropy(Z, labels, ignore_index=-100, reduction="none")
    np.testing.assert_array_equal(none[~keep], 0.0)


def test_empty_batch_sum_is_zero():
    """reduction='sum' of an empty batch is 0 with an empty gradient."""
    z = np.empty((0, 3))
    y = np.empty(0, dtype=np.int64)
    assert fx.cross_entropy(z, y, reduction="sum") == 0.0
    loss, grad = fx.cross_entropy_with_grad(z, y, reduction="sum")
    assert loss == 0.0
    assert grad.shape == (0, 3)
    assert fx.cross_entropy(z, np.empty((0, 3)), reduction="sum") == 0.0
    assert fx.cross_entropy(z, y, reduction="none").shape == (0,)
    loss, grad = fx.binary_cross_entropy_with_grad(
        np.empty((0, 2)), np.empty((0, 2)), reduction="sum"
    )
    assert loss == 0.0
    assert grad.shape == (0, 2)
