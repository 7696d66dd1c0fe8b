# cython: language_level=3
"""Blocks of softmax rows: the shared first half of every softmax kernel.

A row of logits ``z`` is reduced the way Blanchard, Higham & Higham (2021)
recommend: with ``m = max(z)``,

    logsumexp(z) = m + log1p(s),    s = sum_{j != argmax} exp(z_j - m),

so the leading term 1 never enters a sum that a tiny ``s`` must survive.
Other entries equal to the maximum each contribute an exact 1 to ``s``.

``exp_block`` gives a block of consecutive rows their maxima, ``exp(z - m)``,
tail sums ``s`` and ``log1p(s)`` (a branch-free log1p, vectorised over the
block's rows). Rows of up to ``SHORT_ROW`` classes are reduced across rows
(``fx_short_rows.h``); longer rows are shifted (finding the argmax on the
way), then exponentiated and summed in one pass, row by row. ``rows_per_block`` sizes a
block to about 16 KiB of doubles so it stays in L1 while the caller finishes
its rows. Blocks depend only on the shape, never on the number of threads.
"""
from cython cimport floating
from libc.math cimport INFINITY, NAN, isnan


cdef extern from "fx_math.h" nogil:
    double fx_exp_nonpos(double x)
    double fx_log1p_nonneg(double u)
    double fx_row_max_f64(const double* z, Py_ssize_t n)
    double fx_row_max_f32(const float* z, Py_ssize_t n)
    Py_ssize_t fx_row_shift_f64(
        const double* z, Py_ssize_t n, double m, double* out, Py_ssize_t* top
    )
    Py_ssize_t fx_row_shift_f32(
        const float* z, Py_ssize_t n, double m, double* out, Py_ssize_t* top
    )
    double fx_exp_sum_inplace_f64(double* x, Py_ssize_t n)
    double fx_exp_sum_inplace_f32(double* x, Py_ssize_t n)
    double fx_weighted_loss(double loss, double weight, double scale)


cdef extern from "fx_short_rows.h" nogil:
    void fx_short_rows_f64(
        const double* z, Py_ssize_t n_rows, Py_ssize_t n, double* t, double* m,
        double* s, double* tail, double* top,
    )
    void fx_short_rows_f32(
        const float* z, Py_ssize_t n_rows, Py_ssize_t n, double* t, double* m,
        double* s, double* tail, double* top,
    )
    void fx_short_rows_hard_f64(
        const double* z, Py_ssize_t n_rows, Py_ssize_t n, const double* t,
        const double* m, const double* s, const double* tail,
        const Py_ssize_t* labels, const double* class_weight,
        const double* sample_weight, Py_ssize_t weight_step, double loss_scale,
        double grad_scale,
        double* loss_out, double* grad,
    )
    void fx_short_rows_hard_f32(
        const float* z, Py_ssize_t n_rows, Py_ssize_t n, const double* t,
        const double* m, const double* s, const double* tail,
        const Py_ssize_t* labels, const double* class_weight,
        const double* sample_weight, Py_ssize_t weight_step, double loss_scale,
        double grad_scale,
        double* loss_out, float* grad,
    )
    void fx_class_major_to_rows(
        const double* t, Py_ssize_t n_rows, Py_ssize_t n, double* e
    )


cdef enum:
    BLOCK_ELEMENTS = 2048


cdef inline Py_ssize_t rows_per_block(Py_ssize_t n) noexcept nogil:
    """Rows of length n in one block (at least 1)."""
    if n >= BLOCK_ELEMENTS:
        return 1
    return BLOCK_ELEMENTS // (n if n > 0 else 1)


# Elements a thread must have before it is worth starting: enough work to
# dwarf what starting a parallel region costs, so the many small calls of a
# mini-batch fit run serially (two threads on a busy 2-core machine made
# them several times slower). Results
# do not depend on it: blocks and their order are fixed by the shape.
cdef enum:
    MIN_THREAD_ELEMENTS = 32768


cdef inline int threads_for(
    Py_ssize_t n_elements, Py_ssize_t n_blocks, int n_threads
) noexcept nogil:
    """Threads for a call: at most n_threads, one per block and per
    MIN_THREAD_ELEMENTS elements, and at least 1."""
    cdef Py_ssize_t useful = min(n_blocks, n_elements // MIN_THREAD_ELEMENTS)
    return <int>max(1, min(<Py_ssize_t>n_threads, useful))


# Rows up to this length are reduced across rows (fx_short_rows.h): for them
# a vector loop along the row is mostly prologue and remainder.
cdef enum:
    SHORT_ROW = 16


cdef struct BlockScratch:
    double* e        # (block, n) exp(z - m), row-major
    double* work     # (block * (n + 1),) class-major exponentials, row sums
    double* m        # (block,) row maxima
    double* s        # (block,) tail sums
    double* tail     # (block,) log1p(s)


cdef inline Py_ssize_t block_scratch_size(
    Py_ssize_t block, Py_ssize_t n
) noexcept nogil:
    """Doubles of one thread's BlockScratch for blocks of `block` rows of n."""
    return block * (2 * n + 4)


cdef inline BlockScratch block_scratch(
    double* base, Py_ssize_t block, Py_ssize_t n
) noexcept nogil:
    """Carve a BlockScratch out of block_scratch_size(block, n) doubles."""
    cdef BlockScratch b
    b.e = base
    b.work = base + block * n
    b.m = b.work + block * (n + 1)
    b.s = b.m + block
    b.tail = b.s + block
    return b


cdef inline double pairwise_sum(const double* x, Py_ssize_t n) noexcept nogil:
    """sum(x) by halves down to 8 terms, so that the rounding error grows like
    log(n), not n (numpy's sum does the same)."""
    cdef Py_ssize_t i
    cdef double total = 0.0
    if n <= 8:
        for i in range(n):
            total += x[i]
        return total
    return pairwise_sum(x, n // 2) + pairwise_sum(x + n // 2, n - n // 2)


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


cdef inline void short_rows(
    const floating* z,       # IN (n_rows, n) consecutive rows, n <= SHORT_ROW
    Py_ssize_t n_rows,
    Py_ssize_t n,
    BlockScratch b,          # OUT work (class-major exp), m, s, tail
) noexcept nogil:
    """Maxima, exp(z - m) (class-major in b.work), s and log1p(s) of short rows."""
    if floating is double:
        fx_short_rows_f64(z, n_rows, n, b.work, b.m, b.s, b.tail, b.work + n_rows * n)
    else:
        fx_short_rows_f32(z, n_rows, n, b.work, b.m, b.s, b.tail, b.work + n_rows * n)


cdef inline void exp_block(
    const floating* z,       # IN (n_rows, n) consecutive rows
    Py_ssize_t n_rows,
    Py_ssize_t n,
    BlockScratch b,          # OUT e, m, s, tail; work is scratch
) noexcept nogil:
    """Row maxima, exp(z - m), the tail sums s and log1p(s) of a block of rows.

    A row with a NaN or a +inf gets ``s = NaN``; an all -inf row gets
    ``m = -inf`` (and ``s = NaN``). Only normal rows have a valid ``e``.
    """
    cdef Py_ssize_t r, top
    cdef double* e
    if n <= SHORT_ROW:
        short_rows(z, n_rows, n, b)
        fx_class_major_to_rows(b.work, n_rows, n, b.e)
        return
    for r in range(n_rows):
        e = b.e + r * n
        b.m[r] = row_max(z + r * n, n)
        b.s[r] = NAN
        if b.m[r] != INFINITY and b.m[r] != -INFINITY and shift_row(
            z + r * n, n, b.m[r], e, &top
        ):
            # The first maximal entry is "the" argmax: exp(0) = 1 is kept
            # out of the sum by shifting it to -inf, and put back afterwards.
            e[top] = -INFINITY
            # float32 rows take the exp made for results rounded to float32.
            if floating is double:
                b.s[r] = fx_exp_sum_inplace_f64(e, n)
            else:
                b.s[r] = fx_exp_sum_inplace_f32(e, n)
            e[top] = 1.0
        b.tail[r] = fx_log1p_nonneg(b.s[r])


cdef inline bint shift_row(
    const floating* z,       # IN (n,)
    Py_ssize_t n,
    double m,
    double* shifted,         # OUT (n,) z - m
    Py_ssize_t* top,         # OUT first k with z[k] == m
) noexcept nogil:
    """shifted = z - m; False when the row holds a NaN (fails z <= m)."""
    cdef Py_ssize_t n_ordered
    if floating is double:
        n_ordered = fx_row_shift_f64(z, n, m, shifted, top)
    else:
        n_ordered = fx_row_shift_f32(z, n, m, shifted, top)
    return n_ordered == n
