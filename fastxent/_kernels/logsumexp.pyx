# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Row kernels for logsumexp, softmax and log_softmax.

Each row gets its maximum ``m``, ``exp(z - m)`` and the tail sum ``s`` of
all but one maximal entry (rows of more than ``SHORT_ROW`` entries from the
passes of ``fx_long_softmax.h``, with no scratch row, others by blocks
through ``exp_block``, ``_row.pxd``), so that

    logsumexp(z) = m + log1p(s),    log_softmax(z) = (z - m) - log1p(s),
    softmax(z) = exp(z - m) / (1 + s).

``log_softmax`` of the top class is then ``-log1p(s)``: exact to an ulp or
two where ``z_top - logsumexp(z)`` cancels to 0.

Rows that are not finite follow ``scipy.special`` exactly instead of raising
(these are general-purpose functions, not losses): a NaN anywhere gives NaN,
``+inf`` gives a logsumexp of ``+inf``, an all ``-inf`` row a logsumexp of
``-inf`` and NaN probabilities.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY, NAN, isnan

from fastxent._kernels._row cimport (
    SHORT_ROW,
    BlockScratch,
    block_scratch,
    block_scratch_size,
    exp_block,
    row_has_nan,
    rows_per_block,
    threads_for,
)


cdef extern from "fx_long_softmax.h" nogil:
    ctypedef enum Output "fx_output":
        LOGSUMEXP "FX_LOGSUMEXP"
        SOFTMAX "FX_SOFTMAX"
        LOG_SOFTMAX "FX_LOG_SOFTMAX"
    void fx_long_softmax_f32(
        const float* z, Py_ssize_t n_rows, Py_ssize_t n, Output what, double* s,
        double* lse, float* out,
    )
    void fx_long_softmax_f64(
        const double* z, Py_ssize_t n_rows, Py_ssize_t n, Output what, double* s,
        double* lse, double* out,
    )


cdef inline void long_rows(
    Output what,
    const floating* z,       # IN (n_rows, n), n > SHORT_ROW
    Py_ssize_t n_rows,
    Py_ssize_t n,
    double* s,               # OUT (n_rows,), NaN where the row is not finished
    double* lse,             # OUT (n_rows,) for LOGSUMEXP, else NULL
    floating* out,           # OUT (n_rows, n) for the others, else NULL
) noexcept nogil:
    """Rows of more than SHORT_ROW entries without a scratch row (fx_long_softmax.h)."""
    if floating is float:
        fx_long_softmax_f32(z, n_rows, n, what, s, lse, out)
    else:
        fx_long_softmax_f64(z, n_rows, n, what, s, lse, out)


cdef inline void finish_row(
    Output what,
    const floating* z,       # IN (n,) the row
    const double* e,         # IN (n,) exp(z - m)
    double m,
    double s,
    double tail,             # log1p(s)
    Py_ssize_t n,
    double* lse_out,         # OUT logsumexp, for LOGSUMEXP
    floating* row_out,       # OUT (n,), for SOFTMAX and LOG_SOFTMAX
) noexcept nogil:
    cdef Py_ssize_t k
    cdef double inv
    cdef bint has_nan
    if not isnan(s):
        if what == LOGSUMEXP:
            lse_out[0] = m + tail
        elif what == SOFTMAX:
            inv = 1.0 / (1.0 + s)
            for k in range(n):
                row_out[k] = <floating>(e[k] * inv)
        else:
            for k in range(n):
                row_out[k] = <floating>((z[k] - m) - tail)
        return
    # Not a finite row: scipy's values. A NaN row and an all -inf row give
    # NaN probabilities; log_softmax with a +inf shifts by 0 (NaN at the +inf
    # entries, -inf elsewhere); logsumexp is the maximum unless a NaN is seen.
    has_nan = row_has_nan(z, n)
    if what == LOGSUMEXP:
        lse_out[0] = NAN if has_nan else m
    elif what == SOFTMAX:
        for k in range(n):
            row_out[k] = NAN
    else:
        for k in range(n):
            if has_nan or m != INFINITY or z[k] == INFINITY:
                row_out[k] = NAN
            else:
                row_out[k] = -INFINITY


cdef void rows_kernel(
    Output what,
    const floating[:, ::1] a,    # IN (n_rows, n)
    double* lse_base,            # OUT (n_rows,) for LOGSUMEXP, else NULL
    floating* out_base,          # OUT (n_rows, n) for the others, else NULL
    int n_threads,
):
    cdef Py_ssize_t n_rows = a.shape[0]
    cdef Py_ssize_t n = a.shape[1]
    cdef Py_ssize_t block = rows_per_block(n)
    cdef Py_ssize_t n_blocks = (n_rows + block - 1) // block
    if n_blocks == 0:
        return
    n_threads = threads_for(n_rows * n, n_blocks, n_threads)
    # Per thread: a block's scratch, and one row's for the rows long_rows
    # hands back (those holding NaN or +inf, or all -inf).
    cdef Py_ssize_t block_size = block_scratch_size(block, n)
    cdef double[:, ::1] scratch = np.empty(
        (n_threads, block_size + block_scratch_size(1, n))
    )
    cdef BlockScratch b, row
    cdef Py_ssize_t bl, t, r, i, j, start, rows
    cdef bint long_row = n > SHORT_ROW
    for bl in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        b = block_scratch(&scratch[t, 0], block, n)
        start = bl * block
        rows = min(block, n_rows - start)
        if long_row:
            long_rows(
                what, &a[start, 0], rows, n, b.s,
                lse_base + start if lse_base != NULL else NULL,
                out_base + start * n if out_base != NULL else NULL,
            )
        else:
            exp_block(&a[start, 0], rows, n, b)
        for r in range(rows):
            i = start + r
            row = b
            j = r
            if long_row:
                if not isnan(b.s[r]):
                    continue
                row = block_scratch(&scratch[t, block_size], 1, n)
                exp_block(&a[i, 0], 1, n, row)
                j = 0
            finish_row(
                what, &a[i, 0], row.e + j * n, row.m[j], row.s[j], row.tail[j], n,
                lse_base + i if lse_base != NULL else NULL,
                out_base + i * n if out_base != NULL else NULL,
            )


def logsumexp_rows(
    const floating[:, ::1] a,    # IN (n_rows, n)
    double[::1] out,             # OUT (n_rows,)
    int n_threads,
):
    """out[i] = log(sum(exp(a[i])))."""
    if a.shape[0] > 0:
        rows_kernel(LOGSUMEXP, a, &out[0], <floating*>NULL, n_threads)


def softmax_rows(
    const floating[:, ::1] a,    # IN (n_rows, n)
    floating[:, ::1] out,        # OUT (n_rows, n)
    int n_threads,
):
    """out[i] = exp(a[i]) / sum(exp(a[i]))."""
    if a.shape[0] > 0 and a.shape[1] > 0:
        rows_kernel(SOFTMAX, a, NULL, &out[0, 0], n_threads)


def log_softmax_rows(
    const floating[:, ::1] a,    # IN (n_rows, n)
    floating[:, ::1] out,        # OUT (n_rows, n)
    int n_threads,
):
    """out[i] = a[i] - logsumexp(a[i])."""
    if a.shape[0] > 0 and a.shape[1] > 0:
        rows_kernel(LOG_SOFTMAX, a, NULL, &out[0, 0], n_threads)
