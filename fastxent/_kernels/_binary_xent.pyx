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
``inf - inf = NaN``, and a wrong infinite logit at ``+inf``.

Elements are summed in fixed blocks of rows (``rows_per_block``, chosen by the
caller from the shape only), one block per ``prange`` iteration, so the block
sums, and the total the caller forms from them in order, do not depend on the
number of threads.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport isnan

from fastxent._kernels._row cimport fx_log1pexp, fx_sigmoid


cdef inline double element_loss(double z, double pos, double neg) noexcept nogil:
    """pos * log1pexp(-z) + neg * log1pexp(z), skipping zero coefficients."""
    cdef double loss = 0.0
    if isnan(z):
        return z  # even where both coefficients are 0: the caller reports it
    if pos > 0.0:
        loss = pos * fx_log1pexp(-z)
    if neg > 0.0:
        loss = loss + neg * fx_log1pexp(z)
    return loss


cdef inline double element_grad(double z, double pos, double neg) noexcept nogil:
    """d/dz of element_loss: neg * sigmoid(z) - pos * sigmoid(-z)."""
    cdef double grad = 0.0
    if isnan(z):
        return z
    if neg > 0.0:
        grad = neg * fx_sigmoid(z)
    if pos > 0.0:
        grad = grad - pos * fx_sigmoid(-z)
    return grad


def bce(
    const floating[:, ::1] logits,       # IN (n_rows, n_labels)
    const floating[:, ::1] target,       # IN (n_rows, n_labels)
    const double[::1] pos_weight,        # IN (n_labels,)
    const double[::1] sample_weight,     # IN (n_rows,)
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
    makes its block sum NaN, which the caller reports.
    """
    cdef Py_ssize_t n_rows = logits.shape[0]
    cdef Py_ssize_t n_labels = logits.shape[1]
    cdef Py_ssize_t n_blocks = block_sums.shape[0]
    cdef bint want_loss = loss_out is not None
    cdef bint want_grad = grad_out is not None
    cdef Py_ssize_t b, i, j, stop
    # Each thread takes whole blocks: more threads than blocks would only
    # cost the start-up of idle threads.
    n_threads = max(1, min(n_threads, n_blocks))
    cdef double y, w, pos, neg, loss, row_sum, block_sum
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        block_sum = 0.0
        stop = min((b + 1) * rows_per_block, n_rows)
        for i in range(b * rows_per_block, stop):
            w = sample_weight[i]
            row_sum = 0.0
            for j in range(n_labels):
                y = (1.0 - smoothing) * target[i, j] + 0.5 * smoothing
                pos = pos_weight[j] * y
                neg = 1.0 - y
                loss = element_loss(logits[i, j], pos, neg)
                if want_grad:
                    grad_out[i, j] = <floating>(
                        w * grad_scale * element_grad(logits[i, j], pos, neg)
                    )
                # A zero weight silences an infinite loss; a NaN stays visible.
                if w == 0.0 and not isnan(loss):
                    loss = 0.0
                else:
                    loss = w * loss * loss_scale
                if want_loss:
                    loss_out[i, j] = <floating>loss
                row_sum = row_sum + loss
            block_sum = block_sum + row_sum
        block_sums[b] = block_sum
