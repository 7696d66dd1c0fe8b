# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Row kernels for entropy and Kullback-Leibler divergence of probability rows.

Computed in double for both input precisions; terms follow
``scipy.special.entr`` / ``rel_entr``: ``0 log 0 = 0`` and ``p log(p / 0) =
+inf`` for ``p > 0``.

The kernels also test their inputs, in the same pass: a row holding a
negative, NaN or infinite entry gets ``out[i] = NaN``, which no valid row can
give (terms are finite or ``+inf``), and the caller turns that into an error.
A separate check before the kernel would be two more serial passes over each
input (min and max), which cost as much as the kernel on one thread and kept
two threads from scaling.
"""
from cython cimport floating, view
from cython.parallel cimport prange

from fastxent._kernels._row cimport threads_for
from libc.math cimport INFINITY, NAN, log

cdef extern from "math.h" nogil:
    bint isnormal(double x)


cdef inline bint is_probability(double p) noexcept nogil:
    """p is finite and >= 0 (False for NaN)."""
    return p >= 0.0 and p < INFINITY


cdef inline double relative_entropy_term(double p, double q) noexcept nogil:
    """p log(p / q), with the ratio split into two logs where it over/underflows."""
    cdef double ratio
    if p == 0.0:
        return 0.0
    if q == 0.0:
        return INFINITY
    ratio = p / q
    if isnormal(ratio):
        return p * log(ratio)
    # p = 1e-300, q = 1e300: p / q is 0, yet p (log p - log q) is finite.
    return p * (log(p) - log(q))


def entropy_rows(
    # IN (n_rows, n); rows contiguous, any row stride
    const floating[::view.strided, ::view.contiguous] p,
    double[::1] out,             # OUT (n_rows,)
    int n_threads,
):
    """out[i] = -sum_k p[i, k] log p[i, k]; NaN for an invalid row."""
    cdef Py_ssize_t n_rows = p.shape[0]
    cdef Py_ssize_t n = p.shape[1]
    cdef Py_ssize_t i, k
    cdef double acc, pk
    cdef bint valid
    n_threads = threads_for(n_rows * n, n_rows, n_threads)
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        acc = 0.0
        valid = True
        for k in range(n):
            pk = p[i, k]
            valid = valid & is_probability(pk)
            if pk > 0.0:
                acc = acc - pk * log(pk)
        out[i] = acc if valid else NAN


def kl_rows(
    # IN (n_rows, n); rows contiguous, any row stride
    const floating[::view.strided, ::view.contiguous] p,
    # IN (n_rows, n), like p
    const floating[::view.strided, ::view.contiguous] q,
    double[::1] out,             # OUT (n_rows,)
    int n_threads,
):
    """out[i] = sum_k p[i, k] log(p[i, k] / q[i, k]); NaN for an invalid row."""
    cdef Py_ssize_t n_rows = p.shape[0]
    cdef Py_ssize_t n = p.shape[1]
    cdef Py_ssize_t i, k
    cdef double acc, pk, qk
    cdef bint valid
    n_threads = threads_for(n_rows * n, n_rows, n_threads)
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        acc = 0.0
        valid = True
        for k in range(n):
            pk = p[i, k]
            qk = q[i, k]
            valid = valid & is_probability(pk) & is_probability(qk)
            acc = acc + relative_entropy_term(pk, qk)
        out[i] = acc if valid else NAN
