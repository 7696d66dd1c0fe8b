# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""The check that keeps a class label from indexing past a kernel's arrays.

Labels index the class weights and each logits row inside the categorical
kernels, so every one must lie in ``[0, n_classes)`` (or equal the ignored
value) before a kernel runs. numpy's ``min`` and ``max`` settled the valid
case in two passes; here one pass counts the bad
labels of each block, in parallel, with a single unsigned comparison per
label (a negative label wraps to a huge one), a loop GCC vectorises. Only a
block with a bad label is scanned again, for the first position, so the
answer does not depend on the threads.
"""
import numpy as np

from cython.parallel cimport prange

from fastxent._kernels._row cimport BLOCK_ELEMENTS, threads_for


cdef inline Py_ssize_t count_bad(
    const Py_ssize_t* labels,
    Py_ssize_t n,
    size_t n_classes,
    bint has_ignored,
    Py_ssize_t ignored,
) noexcept nogil:
    cdef Py_ssize_t i, bad = 0
    if has_ignored:
        for i in range(n):
            bad += (<size_t>labels[i] >= n_classes) & (labels[i] != ignored)
    else:
        for i in range(n):
            bad += <size_t>labels[i] >= n_classes
    return bad


def first_bad_label(
    const Py_ssize_t[::1] labels,
    Py_ssize_t n_classes,
    ignored,
    int n_threads,
):
    """Position of the first label outside ``[0, n_classes)`` that is not
    ``ignored`` (None: no ignored value), or -1 when every label is valid.
    """
    cdef Py_ssize_t n = labels.shape[0]
    cdef Py_ssize_t n_blocks = (n + BLOCK_ELEMENTS - 1) // BLOCK_ELEMENTS
    cdef bint has_ignored = ignored is not None
    cdef Py_ssize_t ignored_value = ignored if has_ignored else 0
    cdef Py_ssize_t[::1] bad_in_block = np.zeros(n_blocks, dtype=np.intp)
    cdef Py_ssize_t b, i, start
    n_threads = threads_for(n, n_blocks, n_threads)
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * BLOCK_ELEMENTS
        bad_in_block[b] = count_bad(
            &labels[start], min(BLOCK_ELEMENTS, n - start), <size_t>n_classes,
            has_ignored, ignored_value,
        )
    for b in range(n_blocks):
        if bad_in_block[b] == 0:
            continue
        for i in range(b * BLOCK_ELEMENTS, min((b + 1) * BLOCK_ELEMENTS, n)):
            if count_bad(&labels[i], 1, <size_t>n_classes, has_ignored, ignored_value):
                return i
    return -1
