"""Label encoding (``fastxent/_label_codes.py``): the classes and codes of
``np.unique(y, return_inverse=True)``, through a counting table where the
labels are integers of a small enough span."""

import numpy as np
import pytest

from fastxent._label_codes import encode_labels, fits_table

CASES = {
    "intp from 0, all present": np.array([2, 0, 1, 1, 0]),
    "gaps": np.array([7, 3, 3, 11, 7]),
    "negative": np.array([-5, 4, -5, 0]),
    # int8 labels whose span does not fit int8: the offsets must not wrap.
    "int8 wide span": np.array([-100, 100, 0, 100], dtype=np.int8),
    "uint8": np.array([255, 0, 7], dtype=np.uint8),
    "uint64 past intp": np.array([2**63 + 5, 1, 2**63 + 5], dtype=np.uint64),
    "span past the table": np.array([0, 10**9, 5]),
    "bool": np.array([True, False, True]),
    "one label": np.array([4, 4, 4]),
    "empty": np.array([], dtype=np.int64),
    "strings": np.array(["b", "a", "c", "a"]),
    "floats": np.array([0.5, -1.0, 0.5]),
}


@pytest.mark.parametrize("y", CASES.values(), ids=CASES.keys())
def test_classes_and_codes_are_numpy_unique(y):
    """Same classes (values and dtype) and codes as np.unique, codes intp."""
    classes, codes = encode_labels(y)
    expected_classes, expected_codes = np.unique(y, return_inverse=True)
    assert classes.dtype == y.dtype
    np.testing.assert_array_equal(classes, expected_classes)
    assert codes.dtype == np.intp
    np.testing.assert_array_equal(codes, expected_codes.reshape(-1))
    np.testing.assert_array_equal(classes[codes], y)


def test_table_length_grows_with_the_labels():
    """A table at least as long as a small fixed size, or as the labels."""
    assert fits_table(1 << 16, 10)
    assert not fits_table((1 << 16) + 1, 10)
    assert fits_table(10**6, 10**6)
    assert not fits_table(10**6 + 1, 10**6)
