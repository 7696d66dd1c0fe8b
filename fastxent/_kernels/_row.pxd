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
from libc.math cimport INFINITY, NAN, isnan


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


cdef inline bint row_has_nan(const floating* z, Py_ssize_t n) noexcept nogil:
    """True when the row holds a NaN (which ``row_max`` never returns)."""
    cdef Py_ssize_t k
    for k in range(n):
        if isnan(z[k]):
            return True
    return False


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
    cdef Py_ssize_t r
    if n <= SHORT_ROW:
        r = 0
        # Four rows at a time: a short row's maximum and sum are chains of n
        # dependent operations; four independent chains let the CPU overlap
        # them. Each row still sees its classes in order, so results are
        # those of a row-by-row loop.
        while r + 4 <= n_rows:
            short_rows_max4(z + r * n, n, m + r, top + r)
            r = r + 4
        while r < n_rows:
            short_row_max(z + r * n, n, m + r, top + r)
            r = r + 1
    else:
        for r in range(n_rows):
            m[r] = row_max(z + r * n, n)
            top[r] = -1
    for r in range(n_rows):
        if m[r] == INFINITY or m[r] == -INFINITY or not shift_row(
            z + r * n, n, m[r], e + r * n
        ):
            top[r] = -1
            continue
        if n > SHORT_ROW:
            top[r] = 0
            while e[r * n + top[r]] != 0.0:
                top[r] = top[r] + 1
        # The first maximal entry is "the" argmax: exp(0) = 1 is kept out
        # of the sum by shifting it to -inf, and put back afterwards.
        e[r * n + top[r]] = -INFINITY
    fx_exp_nonpos_inplace(e, n_rows * n)
    if n <= SHORT_ROW:
        r = 0
        while r + 4 <= n_rows:
            short_rows_sum4(e + r * n, n, s + r)
            r = r + 4
        while r < n_rows:
            s[r] = short_row_sum(e + r * n, n)
            r = r + 1
    else:
        for r in range(n_rows):
            s[r] = fx_sum(e + r * n, n)
    for r in range(n_rows):
        if top[r] < 0:
            s[r] = NAN
        else:
            e[r * n + top[r]] = 1.0


# The short-row helpers below use conditional expressions, which compile to
# max / cmov, where an `if` would mispredict at every new running maximum.
# The first maximal entry wins (strict >); NaN never does.

cdef inline void short_row_max(
    const floating* z, Py_ssize_t n, double* m, Py_ssize_t* top
) noexcept nogil:
    """m[0], top[0] = max and first argmax of one row."""
    cdef double m0 = -INFINITY
    cdef Py_ssize_t t0 = 0, k
    for k in range(n):
        t0 = k if z[k] > m0 else t0
        m0 = z[k] if z[k] > m0 else m0
    m[0] = m0
    top[0] = t0


cdef inline void short_rows_max4(
    const floating* z, Py_ssize_t n, double* m, Py_ssize_t* top
) noexcept nogil:
    """m[0:4], top[0:4] = max and first argmax of four consecutive rows."""
    cdef double m0 = -INFINITY, m1 = -INFINITY, m2 = -INFINITY, m3 = -INFINITY
    cdef double z0, z1, z2, z3
    cdef Py_ssize_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, k
    for k in range(n):
        z0 = z[k]
        z1 = z[n + k]
        z2 = z[2 * n + k]
        z3 = z[3 * n + k]
        t0 = k if z0 > m0 else t0
        t1 = k if z1 > m1 else t1
        t2 = k if z2 > m2 else t2
        t3 = k if z3 > m3 else t3
        m0 = z0 if z0 > m0 else m0
        m1 = z1 if z1 > m1 else m1
        m2 = z2 if z2 > m2 else m2
        m3 = z3 if z3 > m3 else m3
    m[0] = m0
    m[1] = m1
    m[2] = m2
    m[3] = m3
    top[0] = t0
    top[1] = t1
    top[2] = t2
    top[3] = t3


cdef inline double short_row_sum(const double* e, Py_ssize_t n) noexcept nogil:
    cdef double total = 0.0
    cdef Py_ssize_t k
    for k in range(n):
        total = total + e[k]
    return total


cdef inline void short_rows_sum4(
    const double* e, Py_ssize_t n, double* s
) noexcept nogil:
    """s[0:4] = sums of four consecutive rows, each in class order."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k
    for k in range(n):
        s0 = s0 + e[k]
        s1 = s1 + e[n + k]
        s2 = s2 + e[2 * n + k]
        s3 = s3 + e[3 * n + k]
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3


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
