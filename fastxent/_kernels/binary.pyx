# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Fused binary cross-entropy from logits: loss and gradient in one pass.

For a logit ``z``, target ``y`` in [0, 1] (after label smoothing) and
positive-class weight ``w``:

    loss = w y log1pexp(-z) + (1 - y) log1pexp(z)
    d loss / d z = (1 - y) sigmoid(z) - w y sigmoid(-z)

using ``-log_sigmoid(z) = log1pexp(-z)``. The one product that can meet an
infinite logit is left out when its coefficient is 0 (``fx_binary.h``): that
keeps ``(z, y) = (+inf, 1)`` and ``(-inf, 0)`` at an exact 0 where the usual
``max(z, 0) - z y + log1p(exp(-|z|))`` gives ``inf - inf = NaN``, and a
wrong infinite logit at ``+inf``. The element
arithmetic is branch-free C (``fx_binary.h``), vectorised along a block's
elements: its rows of labels are contiguous, so a block is one vector loop.

Elements are summed in fixed blocks of rows (``rows_per_block``, chosen by the
caller from the shape only), one block per ``prange`` iteration, so the block
sums, and the total the caller forms from them in order, do not depend on the
number of threads.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid

from fastxent._kernels._row cimport BLOCK_ELEMENTS, threads_for


cdef extern from "fx_binary.h" nogil:
    # weight_step, pos_step: 1 when each element has its own row weight /
    # positive-class weight, 0 when one value serves the whole span.
    double fx_bce_steps_f64(
        int weight_step, int pos_step, const double* z, const double* y,
        Py_ssize_t n, const double* pos_weight, const double* row_weight,
        double smoothing, double loss_scale, double grad_scale, double* loss_out,
        double* grad_out,
    )
    double fx_bce_steps_f32(
        int weight_step, int pos_step, const float* z, const float* y,
        Py_ssize_t n, const double* pos_weight, const double* row_weight,
        double smoothing, double loss_scale, double grad_scale, float* loss_out,
        float* grad_out,
    )
    Py_ssize_t fx_count_outside_unit_f64(const double* values, Py_ssize_t n)
    Py_ssize_t fx_count_outside_unit_f32(const float* values, Py_ssize_t n)


cdef inline double bce_span(
    const floating* z,           # IN (n,) logits
    const floating* y,           # IN (n,) targets
    Py_ssize_t n,
    int weight_step,             # 1: row_weight is (n,), 0: (1,)
    int pos_step,                # 1: pos_weight is (n,), 0: (1,)
    const double* pos_weight,
    const double* row_weight,
    double smoothing,
    double loss_scale,
    double grad_scale,
    floating* loss_out,          # OUT (n,) or NULL
    floating* grad_out,          # OUT (n,) or NULL
) noexcept nogil:
    """Sum of the weighted element losses of a contiguous span."""
    if floating is double:
        return fx_bce_steps_f64(
            weight_step, pos_step, z, y, n, pos_weight, row_weight, smoothing,
            loss_scale, grad_scale, loss_out, grad_out,
        )
    else:
        return fx_bce_steps_f32(
            weight_step, pos_step, z, y, n, pos_weight, row_weight, smoothing,
            loss_scale, grad_scale, loss_out, grad_out,
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
    cdef Py_ssize_t b, i, j, t, start, rows
    cdef Py_ssize_t weight_step = 0 if sample_weight.shape[0] == 1 else 1
    # Rows of labels take a positive-class weight per element (tiled below).
    cdef int pos_step = 1 if n_labels > 1 else 0
    cdef const double* weights
    if n_rows == 0 or n_labels == 0:
        for b in range(n_blocks):
            block_sums[b] = 0.0
        return
    if loss_out is not None:
        loss_base = &loss_out[0, 0]
    if grad_out is not None:
        grad_base = &grad_out[0, 0]
    # A block's rows are one contiguous span of elements, computed in one
    # call: the positive-class weights repeat along it (the same for every
    # block) and row weights, if any, are repeated per label in a thread's
    # scratch. One call per row of a few labels cost several times the 1-D
    # time per element. 1-D logits read their one weight as it is: a fit
    # calls this many times on small arrays, where each array made counts.
    cdef Py_ssize_t span_max = rows_per_block * n_labels
    cdef const double[::1] pos_along = (
        np.tile(pos_weight, rows_per_block) if n_labels > 1 else pos_weight
    )
    n_threads = threads_for(n_rows * n_labels, n_blocks, n_threads)
    cdef double[:, ::1] weights_along = np.empty(
        (n_threads, span_max if n_labels > 1 and weight_step == 1 else 0)
    )
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * rows_per_block
        rows = min(rows_per_block, n_rows - start)
        weights = &sample_weight[start * weight_step]
        if pos_step == 1 and weight_step == 1:
            t = threadid()
            for i in range(rows):
                for j in range(n_labels):
                    weights_along[t, i * n_labels + j] = sample_weight[start + i]
            weights = &weights_along[t, 0]
        block_sums[b] = bce_span(
            &logits[start, 0], &target[start, 0], rows * n_labels, weight_step,
            pos_step, &pos_along[0], weights, smoothing, loss_scale, grad_scale,
            loss_base + start * n_labels if loss_base != NULL else NULL,
            grad_base + start * n_labels if grad_base != NULL else NULL,
        )


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
