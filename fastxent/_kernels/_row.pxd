# cython: language_level=3
"""Blocks of softmax rows: the shared first half of every softmax kernel.

A row of logits ``z`` is reduced the way Blanchard, Higham & Higham (2021)
recommend: with ``m = max(z)``,

    logsumexp(z) = m + log1p(s),    s = sum_{j != argmax} exp(z_j - m),

so the leading term 1 never enters a sum that a tiny ``s`` must survive.
Other entries equal to the maximum each contribute an exact 1 to ``s``.

The exponentials are computed for a block of consecutive rows at once
(``exp_block``): shift each row by its maximum into a scratch buffer, then
run one long vectorised ``exp`` over the whole block. Rows of 2 or 10
classes would otherwise spend their time in loop prologues and scalar
remainders. ``rows_per_block`` sizes a block to about 16 KiB of doubles so
it stays in L1 while the caller finishes its rows. Blocks depend only on
the shape, never on the number of threads.
"""
from cython cimport floating
from libc.math cimport INFINITY, NAN


cdef extern from "fx_math.h" nogil:
    double fx_exp_nonpos(double x)
    double fx_log1pexp(double x)
    double fx_sigmoid(double x)
    double fx_row_max_f64(const double* z, Py_ssize_t n)
    double fx_row_max_f32(const float* z, Py_ssize_t n)
    Py_ssize_t fx_row_shift_f64(const double* z, Py_ssize_t n, double m, double* out)
    Py_ssize_t fx_row_shift_f32(const float* z, Py_ssize_t n, double m, double* out)
    void fx_exp_nonpos_inplace(double* x, Py_ssize_t n)
    double fx_sum(const double* x, Py_ssize_t n)


cdef enum:
    BLOCK_ELEMENTS = 2048


cdef inline Py_ssize_t rows_per_block(Py_ssize_t n) noexcept nogil:
    """Rows of length n in one block (at least 1)."""
    if n >= BLOCK_ELEMENTS:
        return 1
    return BLOCK_ELEMENTS // (n if n > 0 else 1)


# Rows up to this length are reduced by inline scalar loops: for them the
# call into a dispatched vector loop costs more than the loop itself.
cdef enum:
    SHORT_ROW = 16


cdef inline double row_max(const floating* z, Py_ssize_t n) noexcept nogil:
    """Largest entry of the row, ignoring NaN; -inf for an all -inf row."""
    if floating is double:
        return fx_row_max_f64(z, n)
    else:
        return fx_row_max_f32(z, n)


cdef inline void exp_block(
    const floating* z,       # IN (n_rows, n) consecutive rows
    Py_ssize_t n_rows,
    Py_ssize_t n,
    double* e,               # OUT (n_rows, n) exp(z - m), row by row
    double* m,               # OUT (n_rows,) row maxima
    double* s,               # OUT (n_rows,) tail sums s
    Py_ssize_t* top,         # scratch (n_rows,)
) noexcept nogil:
    """Row maxima, exp(z - m) and the tail sums s of a block of rows.

    A row with a NaN or a +inf gets ``s = NaN``; an all -inf row gets
    ``m = -inf`` (and ``s = NaN``). Only normal rows have a valid ``e``.
    """
    cdef Py_ssize_t r, k, k_top
    cdef const floating* z_r
    cdef double* e_r
    cdef double m_r, z_k, total
    for r in range(n_rows):
        z_r = z + r * n
        e_r = e + r * n
        top[r] = -1
        if n <= SHORT_ROW:
            # Maximum and first argmax in one branch-free pass: the
            # conditional expressions compile to max / cmov, where an `if`
            # would mispredict at every new running maximum.
            m_r = -INFINITY
            k_top = 0
            for k in range(n):
                z_k = z_r[k]
                k_top = k if z_k > m_r else k_top
                m_r = z_k if z_k > m_r else m_r
        else:
            m_r = row_max(z_r, n)
        m[r] = m_r
        if m_r == INFINITY or m_r == -INFINITY or not shift_row(z_r, n, m_r, e_r):
            continue
        if n > SHORT_ROW:
            k_top = 0
            while e_r[k_top] != 0.0:
                k_top = k_top + 1
        # The first maximal entry is "the" argmax: exp(0) = 1 is kept out
        # of the sum by shifting it to -inf, and put back afterwards.
        top[r] = k_top
        e_r[k_top] = -INFINITY
    fx_exp_nonpos_inplace(e, n_rows * n)
    for r in range(n_rows):
        if top[r] < 0:
            s[r] = NAN
            continue
        e_r = e + r * n
        if n <= SHORT_ROW:
            total = 0.0
            for k in range(n):
                total = total + e_r[k]
            s[r] = total
        else:
            s[r] = fx_sum(e_r, n)
        e_r[top[r]] = 1.0


cdef inline bint shift_row(
    const floating* z,       # IN (n,)
    Py_ssize_t n,
    double m,
    double* shifted,         # OUT (n,) z - m
) noexcept nogil:
    """shifted = z - m; False when the row holds a NaN (fails z <= m)."""
    cdef Py_ssize_t k, n_ordered = 0
    if n > SHORT_ROW:
        if floating is double:
            n_ordered = fx_row_shift_f64(z, n, m, shifted)
        else:
            n_ordered = fx_row_shift_f32(z, n, m, shifted)
        return n_ordered == n
    for k in range(n):
        shifted[k] = z[k] - m
        n_ordered = n_ordered + (z[k] <= m)
    return n_ordered == n
