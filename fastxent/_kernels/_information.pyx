# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Row kernels for entropy and Kullback-Leibler divergence of probability rows.

Inputs are validated by the caller (finite, non-negative). Computed in double
for both input precisions; terms follow ``scipy.special.entr`` / ``rel_entr``:
``0 log 0 = 0`` and ``p log(p / 0) = +inf`` for ``p > 0``.
"""
from cython cimport floating
from cython.parallel cimport prange

from fastxent._kernels._row cimport threads_for
from libc.math cimport INFINITY, log

cdef extern from "math.h" nogil:
    bint isnormal(double x)


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
    const floating[:, ::1] p,    # IN (n_rows, n)
    double[::1] out,             # OUT (n_rows,)
    int n_threads,
):
    """out[i] = -sum_k p[i, k] log p[i, k]."""
    cdef Py_ssize_t n_rows = p.shape[0]
    cdef Py_ssize_t n = p.shape[1]
    cdef Py_ssize_t i, k
    cdef double acc, pk
    n_threads = threads_for(n_rows * n, n_rows, n_threads)
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        acc = 0.0
        for k in range(n):
            pk = p[i, k]
            if pk > 0.0:
                acc = acc - pk * log(pk)
        out[i] = acc


def kl_rows(
    const floating[:, ::1] p,    # IN (n_rows, n)
    const floating[:, ::1] q,    # IN (n_rows, n)
    double[::1] out,             # OUT (n_rows,)
    int n_threads,
):
    """out[i] = sum_k p[i, k] log(p[i, k] / q[i, k])."""
    cdef Py_ssize_t n_rows = p.shape[0]
    cdef Py_ssize_t n = p.shape[1]
    cdef Py_ssize_t i, k
    cdef double acc
    n_threads = threads_for(n_rows * n, n_rows, n_threads)
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads):
        acc = 0.0
        for k in range(n):
            acc = acc + relative_entropy_term(p[i, k], q[i, k])
        out[i] = acc
