# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Fused binary cross-entropy from logits: loss and gradient in one pass.

For a logit ``z``, target ``y`` in [0, 1] (after label smoothing) and
positive-class weight ``w``:

    loss = w y log1pexp(-z) + (1 - y) log1pexp(z)
    d loss / d z = (1 - y) sigmoid(z) - w y sigmoid(-z)

using ``-log_sigmoid(z) = log1pexp(-z)``. Each term is computed only when its
coefficient is positive: that keeps ``(z, y) = (+inf, 1)`` and ``(-inf, 0)``
at an exact 0 where the usual ``max(z, 0) - z y + log1p(exp(-|z|))`` gives
``inf - inf = NaN``, and a wrong infinite logit at ``+inf``. The element
arithmetic is branch-free C (``fx_binary.h``), vectorised along a row's
labels, or along the rows of 1-D logits.

Elements are summed in fixed blocks of rows (``rows_per_block``, chosen by the
caller from the shape only), one block per ``prange`` iteration, so the block
sums, and the total the caller forms from them in order, do not depend on the
number of threads.
"""
from cython cimport floating
from cython.parallel cimport prange

from fastxent._kernels._row cimport BLOCK_ELEMENTS, threads_for


cdef extern from "fx_binary.h" nogil:
    double fx_bce_flat_f64(
        const double* z, const double* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, double* loss_out, double* grad_out,
    )
    double fx_bce_flat_f32(
        const float* z, const float* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, float* loss_out, float* grad_out,
    )
    Py_ssize_t fx_count_outside_unit_f64(const double* values, Py_ssize_t n)
    Py_ssize_t fx_count_outside_unit_f32(const float* values, Py_ssize_t n)
    double fx_bce_shared_f64(
        const double* z, const double* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, double* loss_out, double* grad_out,
    )
    double fx_bce_shared_f32(
        const float* z, const float* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, float* loss_out, float* grad_out,
    )
    double fx_bce_row_f64(
        const double* z, const double* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, double* loss_out, double* grad_out,
    )
    double fx_bce_row_f32(
        const float* z, const float* y, Py_ssize_t n, const double* pos_weight,
        const double* row_weight, double smoothing, double loss_scale,
        double grad_scale, float* loss_out, float* grad_out,
    )


cdef enum Span:
    ROWS_OWN_WEIGHTS    # n rows of one label, each with its row weight
    ROWS_SHARED_WEIGHT  # n rows of one label, one weight for all
    LABELS_OF_ONE_ROW   # one row's n labels, each with its pos_weight


cdef inline double bce_span(
    const floating* z,           # IN (n,) logits
    const floating* y,           # IN (n,) targets
    Py_ssize_t n,
    Span span,
    const double* pos_weight,    # IN (n,) for LABELS_OF_ONE_ROW, else (1,)
    const double* row_weight,    # IN (n,) for ROWS_OWN_WEIGHTS, else (1,)
    double smoothing,
    double loss_scale,
    double grad_scale,
    floating* loss_out,          # OUT (n,) or NULL
    floating* grad_out,          # OUT (n,) or NULL
) noexcept nogil:
    """Sum of the weighted element losses of a contiguous span."""
    if floating is double:
        if span == ROWS_OWN_WEIGHTS:
            return fx_bce_flat_f64(
                z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
                loss_out, grad_out,
            )
        if span == ROWS_SHARED_WEIGHT:
            return fx_bce_shared_f64(
                z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
                loss_out, grad_out,
            )
        return fx_bce_row_f64(
            z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
            loss_out, grad_out,
        )
    else:
        if span == ROWS_OWN_WEIGHTS:
            return fx_bce_flat_f32(
                z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
                loss_out, grad_out,
            )
        if span == ROWS_SHARED_WEIGHT:
            return fx_bce_shared_f32(
                z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
                loss_out, grad_out,
            )
        return fx_bce_row_f32(
            z, y, n, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
            loss_out, grad_out,
        )


def bce(
    const floating[:, ::1] logits,       # IN (n_rows, n_labels)
    const floating[:, ::1] target,       # IN (n_rows, n_labels)
    const double[::1] pos_weight,        # IN (n_labels,)
    const double[::1] sample_weight,     # IN (n_rows,), or (1,): shared by all rows
    double smoothing,
    double loss_scale,
    double grad_scale,
    Py_ssize_t rows_per_block,
    double[::1] block_sums,              # OUT (n_blocks,)
    floating[:, ::1] loss_out,           # OUT (n_rows, n_labels) or None
    floating[:, ::1] grad_out,           # OUT (n_rows, n_labels) or None
    int n_threads,
):
    """Weighted element losses summed per block; optional element losses and gradient.

    Element ``(i, j)`` enters with weight ``sample_weight[i] * loss_scale``;
    its gradient is scaled by ``sample_weight[i] * grad_scale``. A NaN logit
    makes its block sum NaN, which the caller reports. A ``sample_weight`` of
    one entry weights every row (no weights given: the caller need not fill
    an array of ones, nor the kernel read one).
    """
    cdef Py_ssize_t n_rows = logits.shape[0]
    cdef Py_ssize_t n_labels = logits.shape[1]
    cdef Py_ssize_t n_blocks = block_sums.shape[0]
    cdef floating* loss_base = NULL
    cdef floating* grad_base = NULL
    cdef Py_ssize_t b, i, start, stop, offset
    cdef Py_ssize_t weight_step = 0 if sample_weight.shape[0] == 1 else 1
    cdef Span rows_span = ROWS_SHARED_WEIGHT if weight_step == 0 else ROWS_OWN_WEIGHTS
    cdef double block_sum
    if n_rows == 0 or n_labels == 0:
        for b in range(n_blocks):
            block_sums[b] = 0.0
        return
    if loss_out is not None:
        loss_base = &loss_out[0, 0]
    if grad_out is not None:
        grad_base = &grad_out[0, 0]
    # Each thread takes whole blocks, and enough work to pay for starting it.
    n_threads = threads_for(n_rows * n_labels, n_blocks, n_threads)
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * rows_per_block
        stop = min(start + rows_per_block, n_rows)
        if n_labels == 1:
            # One label: the block's rows are one contiguous span of elements.
            block_sum = bce_span(
                &logits[start, 0], &target[start, 0], stop - start, rows_span,
                &pos_weight[0], &sample_weight[start * weight_step], smoothing,
                loss_scale, grad_scale,
                loss_base + start if loss_base != NULL else NULL,
                grad_base + start if grad_base != NULL else NULL,
            )
        else:
            block_sum = 0.0
            for i in range(start, stop):
                offset = i * n_labels
                block_sum = block_sum + bce_span(
                    &logits[i, 0], &target[i, 0], n_labels, LABELS_OF_ONE_ROW,
                    &pos_weight[0], &sample_weight[i * weight_step], smoothing,
                    loss_scale, grad_scale,
                    loss_base + offset if loss_base != NULL else NULL,
                    grad_base + offset if grad_base != NULL else NULL,
                )
        block_sums[b] = block_sum


def all_in_unit_interval(const floating[::1] values, int n_threads):
    """True when every value lies in [0, 1] (so none is NaN or infinite).

    Blocks of ``BLOCK_ELEMENTS`` values are counted in parallel; a count is
    exact, so the answer does not depend on the threads.
    """
    cdef Py_ssize_t n = values.shape[0]
    cdef Py_ssize_t n_blocks = (n + BLOCK_ELEMENTS - 1) // BLOCK_ELEMENTS
    cdef Py_ssize_t b, start, outside = 0
    n_threads = threads_for(n, n_blocks, n_threads)
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * BLOCK_ELEMENTS
        if floating is double:
            outside += fx_count_outside_unit_f64(
                &values[start], min(BLOCK_ELEMENTS, n - start)
            )
        else:
            outside += fx_count_outside_unit_f32(
                &values[start], min(BLOCK_ELEMENTS, n - start)
            )
    return outside == 0
