# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Fused categorical cross-entropy kernels: loss and gradient in one pass.

Design, from the inside out:

(a) ``exp_block`` (``_row.pxd``): row maxima, ``exp(z - m)`` and the tail
    sums of a block of rows, in a per-thread scratch buffer of about 16 KiB.
(b) ``hard_row`` / ``soft_row``: finish one row from its block entry: the
    loss and, when given a gradient row, d(loss)/d(logits) written once.
    Each element costs one ``exp``, and the only N x C memory touched is the
    caller's gradient buffer.
(c) ``xent_hard`` / ``xent_soft``: an OpenMP ``prange`` over blocks. Rows
    are independent, so the per-row losses (``loss_out``) do not depend on
    the thread count. ``xent_hard`` also sums each block's losses
    (pairwise) and the caller adds the block sums; ``xent_soft`` leaves the
    row losses to the caller. Either way the order is fixed by the shape.
(d) Fast paths for hard labels without label smoothing, which finish whole
    blocks in C: ``two_class_rows`` (the binary loss of the gap between two
    logits, ``fx_two_class.h``), ``hard_rows_short`` (rows of up to
    ``SHORT_ROW`` classes reduced across rows, ``fx_short_rows.h``) and
    ``long_rows`` (longer rows in three passes with no scratch row, float32
    ones in float32 lanes, ``fx_long_rows.h``). They
    hand the rare rows they do not finish (ignored labels, non-finite rows)
    back to (b), one row at a time.

The weights arrive already resolved by the Python layer: the target row is
``a_k = class_weight_k * ((1 - e) p_k + e * sum(p) / n_classes)`` (label
smoothing ``e``), and with ``A = sum_k a_k`` and ``q = softmax(z)``

    loss = sum_k a_k * (logsumexp(z) - z_k),    d loss / d z_k = A q_k - a_k.

Accuracy (checked against mpmath in tests/test_accuracy.py):
- ``logsumexp(z) - z_k = (m - z_k) + log1p(s)`` adds two non-negative terms,
  so a confidently right row with a true loss of 1e-30 gets that loss to a
  few ulp instead of the 0 that ``lse - z_y`` rounds to.
- ``A q_k - a_k`` is evaluated as ``(A - a_k) q_k - a_k (1 - q_k)`` with
  ``1 - q_k = ((1 - exp(z_k - m)) + s) / (1 + s)``, which never subtracts
  two numbers close to 1.
- Masked classes (logit -inf) with no target mass contribute exactly 0; with
  positive mass the loss is +inf and the gradient stays finite.
A row holding NaN or +inf gets a NaN loss, which the caller turns into a
ValueError naming the row.
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
    fx_short_rows_hard_f32,
    fx_short_rows_hard_f64,
    fx_weighted_loss,
    pairwise_sum,
    row_has_nan,
    rows_per_block,
    short_rows,
    threads_for,
)

cdef extern from "fx_two_class.h" nogil:
    void fx_two_class_hard_f64(
        const double* z, Py_ssize_t n_rows, const Py_ssize_t* labels,
        const double* class_weight, const double* sample_weight, int weight_step,
        double loss_scale, double grad_scale, double* loss_out, double* grad,
    )
    void fx_two_class_hard_f32(
        const float* z, Py_ssize_t n_rows, const Py_ssize_t* labels,
        const double* class_weight, const double* sample_weight, int weight_step,
        double loss_scale, double grad_scale, double* loss_out, float* grad,
    )

cdef extern from "fx_long_rows.h" nogil:
    void fx_long_rows_hard_f32(
        const float* z, Py_ssize_t n_rows, Py_ssize_t n, const Py_ssize_t* labels,
        const double* class_weight, const double* sample_weight,
        Py_ssize_t weight_step, double loss_scale, double grad_scale,
        double* loss_out, float* grad,
    )
    void fx_long_rows_hard_f64(
        const double* z, Py_ssize_t n_rows, Py_ssize_t n, const Py_ssize_t* labels,
        const double* class_weight, const double* sample_weight,
        Py_ssize_t weight_step, double loss_scale, double grad_scale,
        double* loss_out, double* grad,
    )


cdef inline double hard_row(
    const floating* z,           # IN (n_classes,) logits
    const double* e,             # IN (n_classes,) exp(z - m)
    double m,                    # row maximum
    double s,                    # tail sum (NaN for a NaN / +inf row)
    double lse_tail,             # log1p(s)
    Py_ssize_t n_classes,
    Py_ssize_t y,                # target class, 0 <= y < n_classes
    const double* class_weight,  # IN (n_classes,)
    double class_weight_sum,
    double smoothing,
    floating* grad,              # OUT (n_classes,) or NULL
    double grad_scale,
) noexcept nogil:
    """Loss of a row with an integer target; gradient * grad_scale into grad."""
    cdef double per_class = smoothing / n_classes
    cdef double hard_mass = (1.0 - smoothing) * class_weight[y]
    cdef double a_y = hard_mass + per_class * class_weight[y]
    cdef double total = hard_mass + per_class * class_weight_sum
    cdef double loss, inv, e_y, one_minus_q_y, a_k
    cdef Py_ssize_t k

    # A NaN is never the maximum, so a row of NaN and -inf has m = -inf too;
    # it must still reach the NaN return below.
    if m == -INFINITY and not row_has_nan(z, n_classes):
        # Every class masked: no finite normaliser, softmax taken as 0.
        if grad != NULL:
            for k in range(n_classes):
                grad[k] = <floating>(-per_class * class_weight[k] * grad_scale)
            grad[y] = <floating>(-a_y * grad_scale)
        return INFINITY if total > 0.0 else 0.0
    if isnan(s):
        return NAN
    loss = 0.0
    if hard_mass > 0.0:
        loss = hard_mass * ((m - z[y]) + lse_tail)
    if per_class > 0.0:
        # Term by term, each with its own mass a_k (as soft_row does): a sum
        # of class_weight_k * (m - z_k) can overflow where the loss does not,
        # and a mass that underflows to 0 contributes 0, not 0 * inf.
        for k in range(n_classes):
            a_k = per_class * class_weight[k]
            if a_k > 0.0:
                loss = loss + a_k * ((m - z[k]) + lse_tail)

    if grad != NULL:
        inv = 1.0 / (1.0 + s)
        if per_class == 0.0:
            # Without smoothing: the same values (x - 0 = x) without a
            # second stream of class weights to read.
            for k in range(n_classes):
                grad[k] = <floating>(total * inv * e[k] * grad_scale)
        else:
            for k in range(n_classes):
                grad[k] = <floating>(
                    (total * inv * e[k] - per_class * class_weight[k]) * grad_scale
                )
        e_y = e[y]
        one_minus_q_y = ((1.0 - e_y) + s) * inv
        grad[y] = <floating>((
            per_class * (class_weight_sum - class_weight[y]) * e_y * inv
            - a_y * one_minus_q_y
        ) * grad_scale)
    return loss


cdef inline double soft_row(
    const floating* z,           # IN (n_classes,) logits
    const double* e,             # IN (n_classes,) exp(z - m)
    double m,                    # row maximum
    double s,                    # tail sum (NaN for a NaN / +inf row)
    double lse_tail,             # log1p(s)
    const floating* p,           # IN (n_classes,) target, before smoothing
    Py_ssize_t n_classes,
    const double* class_weight,  # IN (n_classes,)
    double smoothing,
    floating* grad,              # OUT (n_classes,) or NULL
    double grad_scale,
) noexcept nogil:
    """Loss of a row with a probability target; gradient * grad_scale into grad."""
    cdef double mass = 0.0
    cdef double total = 0.0
    cdef double loss = 0.0
    cdef double per_class, inv, a_k, e_k
    cdef Py_ssize_t k

    if smoothing > 0.0:
        for k in range(n_classes):
            mass = mass + p[k]
    per_class = smoothing * mass / n_classes
    if m == -INFINITY and not row_has_nan(z, n_classes):  # as in hard_row
        for k in range(n_classes):
            a_k = class_weight[k] * ((1.0 - smoothing) * p[k] + per_class)
            total = total + a_k
            if grad != NULL:
                grad[k] = <floating>(-a_k * grad_scale)
        return INFINITY if total > 0.0 else 0.0
    if isnan(s):
        return NAN
    for k in range(n_classes):
        a_k = class_weight[k] * ((1.0 - smoothing) * p[k] + per_class)
        total = total + a_k
        if a_k > 0.0:
            loss = loss + a_k * (m - z[k])
    loss = loss + total * lse_tail

    if grad != NULL:
        inv = 1.0 / (1.0 + s)
        for k in range(n_classes):
            a_k = class_weight[k] * ((1.0 - smoothing) * p[k] + per_class)
            e_k = e[k]
            grad[k] = <floating>((
                (total - a_k) * e_k * inv - a_k * ((1.0 - e_k) + s) * inv
            ) * grad_scale)
    return loss


cdef inline void hard_rows_short(
    const floating* z,           # IN (n_rows, n_classes), n_classes <= SHORT_ROW
    Py_ssize_t n_rows,
    Py_ssize_t n_classes,
    const Py_ssize_t* labels,    # IN (n_rows,)
    const double* class_weight,  # IN (n_classes,)
    const double* sample_weight,  # IN (n_rows,), or (1,) with weight_step 0
    Py_ssize_t weight_step,
    double loss_scale,
    double grad_scale,
    double* loss_out,            # OUT (n_rows,)
    floating* grad,              # OUT (n_rows, n_classes) or NULL
    BlockScratch b,
) noexcept nogil:
    """Hard labels without label smoothing, reduced across rows (fx_short_rows.h).

    The block's exponentials stay class-major in ``b.work``, from which each
    gradient row is written.
    """
    short_rows(z, n_rows, n_classes, b)
    if floating is double:
        fx_short_rows_hard_f64(
            z, n_rows, n_classes, b.work, b.m, b.s, b.tail, labels, class_weight,
            sample_weight, weight_step, loss_scale, grad_scale, loss_out, grad,
        )
    else:
        fx_short_rows_hard_f32(
            z, n_rows, n_classes, b.work, b.m, b.s, b.tail, labels, class_weight,
            sample_weight, weight_step, loss_scale, grad_scale, loss_out, grad,
        )


cdef inline void two_class_rows(
    const floating* z,           # IN (n_rows, 2)
    Py_ssize_t n_rows,
    const Py_ssize_t* labels,    # IN (n_rows,)
    const double* class_weight,  # IN (2,)
    const double* sample_weight,  # IN (n_rows,), or (1,) with weight_step 0
    int weight_step,
    double loss_scale,
    double grad_scale,
    double* loss_out,            # OUT (n_rows,), NaN where not finished
    floating* grad,              # OUT (n_rows, 2) or NULL
) noexcept nogil:
    """Two classes, hard labels, no smoothing: the binary loss of the logits' gap."""
    if floating is double:
        fx_two_class_hard_f64(
            z, n_rows, labels, class_weight, sample_weight, weight_step, loss_scale,
            grad_scale, loss_out, grad,
        )
    else:
        fx_two_class_hard_f32(
            z, n_rows, labels, class_weight, sample_weight, weight_step, loss_scale,
            grad_scale, loss_out, grad,
        )


cdef inline void long_rows(
    const floating* z,           # IN (n_rows, n_classes), n_classes > SHORT_ROW
    Py_ssize_t n_rows,
    Py_ssize_t n_classes,
    const Py_ssize_t* labels,    # IN (n_rows,)
    const double* class_weight,  # IN (n_classes,)
    const double* sample_weight,  # IN (n_rows,), or (1,) with weight_step 0
    Py_ssize_t weight_step,
    double loss_scale,
    double grad_scale,
    double* loss_out,            # OUT (n_rows,), NaN where not finished
    floating* grad,              # OUT (n_rows, n_classes) or NULL
) noexcept nogil:
    """Hard labels, no smoothing: three passes per row (fx_long_rows.h)."""
    if floating is float:
        fx_long_rows_hard_f32(
            z, n_rows, n_classes, labels, class_weight, sample_weight, weight_step,
            loss_scale, grad_scale, loss_out, grad,
        )
    else:
        fx_long_rows_hard_f64(
            z, n_rows, n_classes, labels, class_weight, sample_weight, weight_step,
            loss_scale, grad_scale, loss_out, grad,
        )


cdef enum Path:
    GENERAL     # exp_block, then hard_row for every row
    SHORT       # hard_rows_short; rows with s = NaN or y < 0 redone by GENERAL
    TWO_CLASS   # two_class_rows; rows with a NaN loss or y < 0 redone by GENERAL
    LONG        # long_rows; as TWO_CLASS


def xent_hard(
    const floating[:, ::1] logits,       # IN (n_samples, n_classes)
    const Py_ssize_t[::1] labels,        # IN (n_samples,), -1 marks an ignored row
    const double[::1] class_weight,      # IN (n_classes,)
    double class_weight_sum,
    const double[::1] sample_weight,     # IN (n_samples,), or (1,): shared
    double smoothing,
    double loss_scale,
    double grad_scale,
    double[::1] loss_out,                # OUT (n_samples,) or None
    floating[:, ::1] grad_out,           # OUT (n_samples, n_classes) or None
    int n_threads,
):
    """Losses summed per block of rows (and the gradient) for integer targets.

    The loss of row ``i`` is ``sample_weight[i] * loss_i * loss_scale`` and
    gradient row ``i`` is ``sample_weight[i] * grad_scale * d loss_i / d
    logits[i]``; a ``sample_weight`` of one entry weights every row (no
    weights given: no array of ones to fill and read). ``loss_out`` receives
    the row losses when given; a mean or sum needs only the block sums, and
    leaving it None saves writing and reading an array of n_samples.
    Labels must be validated by the caller: they
    index ``class_weight``.

    Returns
    -------
    block_sums : ndarray of shape (n_blocks,)
        Each block's row losses, summed pairwise. Blocks depend on the shape
        only, so the sums do not depend on the threads; a NaN one holds a
        row with NaN or +inf logits.
    """
    cdef Py_ssize_t n_samples = logits.shape[0]
    cdef Py_ssize_t n_classes = logits.shape[1]
    cdef Py_ssize_t block = rows_per_block(n_classes)
    cdef Py_ssize_t n_blocks = (n_samples + block - 1) // block
    block_sums_array = np.zeros(n_blocks)
    cdef double[::1] block_sums = block_sums_array
    if n_blocks == 0:
        return block_sums_array
    n_threads = threads_for(n_samples * n_classes, n_blocks, n_threads)
    # Per thread: a block's scratch, one row's for the rows the fast paths
    # hand back (ignored labels, non-finite rows), and the block's losses.
    cdef Py_ssize_t block_size = block_scratch_size(block, n_classes)
    cdef Py_ssize_t losses_at = block_size + block_scratch_size(1, n_classes)
    cdef double[:, ::1] scratch = np.empty((n_threads, losses_at + block))
    cdef double* losses
    cdef double* loss_base = NULL
    if loss_out is not None:
        loss_base = &loss_out[0]
    # Hard labels without smoothing have fast paths that hand back the rare
    # rows they do not finish (see below).
    cdef Path path = GENERAL
    if smoothing == 0.0 and n_classes == 2:
        path = TWO_CLASS
    elif smoothing == 0.0 and n_classes <= SHORT_ROW:
        path = SHORT
    elif smoothing == 0.0:
        path = LONG
    cdef floating* grad_base = NULL
    cdef floating* grad_row
    cdef BlockScratch b, row
    cdef Py_ssize_t bl, t, r, i, j, k, y, start, rows
    cdef Py_ssize_t weight_step = 0 if sample_weight.shape[0] == 1 else 1
    cdef double loss, weight
    if grad_out is not None:
        grad_base = &grad_out[0, 0]
    for bl in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        start = bl * block
        rows = min(block, n_samples - start)
        b = block_scratch(&scratch[t, 0], block, n_classes)
        losses = loss_base + start if loss_base != NULL else &scratch[t, losses_at]
        if path == TWO_CLASS:
            two_class_rows(
                &logits[start, 0], rows, &labels[start], &class_weight[0],
                &sample_weight[start * weight_step], weight_step, loss_scale,
                grad_scale, losses,
                grad_base + start * 2 if grad_base != NULL else NULL,
            )
        elif path == SHORT:
            hard_rows_short(
                &logits[start, 0], rows, n_classes, &labels[start], &class_weight[0],
                &sample_weight[start * weight_step], weight_step, loss_scale,
                grad_scale, losses,
                grad_base + start * n_classes if grad_base != NULL else NULL, b,
            )
        elif path == LONG:
            long_rows(
                &logits[start, 0], rows, n_classes, &labels[start], &class_weight[0],
                &sample_weight[start * weight_step], weight_step, loss_scale,
                grad_scale, losses,
                grad_base + start * n_classes if grad_base != NULL else NULL,
            )
        else:
            exp_block(&logits[start, 0], rows, n_classes, b)
        for r in range(rows):
            i = start + r
            y = labels[i]
            row = b
            j = r
            if path != GENERAL:
                if y >= 0 and not (
                    isnan(b.s[r]) if path == SHORT else isnan(losses[r])
                ):
                    continue
                # Redo the row alone on the general path.
                row = block_scratch(&scratch[t, block_size], 1, n_classes)
                exp_block(&logits[i, 0], 1, n_classes, row)
                j = 0
            grad_row = NULL
            if grad_base != NULL:
                grad_row = grad_base + i * n_classes
            if y < 0:
                losses[r] = 0.0
                if grad_row != NULL:
                    for k in range(n_classes):
                        grad_row[k] = 0.0
            else:
                weight = sample_weight[i * weight_step]
                loss = hard_row(
                    &logits[i, 0], row.e + j * n_classes, row.m[j], row.s[j],
                    row.tail[j], n_classes, y, &class_weight[0], class_weight_sum,
                    smoothing, grad_row, weight * grad_scale,
                )
                losses[r] = fx_weighted_loss(loss, weight, loss_scale)
        block_sums[bl] = pairwise_sum(losses, rows)
    return block_sums_array


def xent_soft(
    const floating[:, ::1] logits,       # IN (n_samples, n_classes)
    const floating[:, ::1] target,       # IN (n_samples, n_classes)
    const double[::1] class_weight,      # IN (n_classes,)
    const double[::1] sample_weight,     # IN (n_samples,)
    double smoothing,
    double loss_scale,
    double grad_scale,
    double[::1] loss_out,                # OUT (n_samples,)
    floating[:, ::1] grad_out,           # OUT (n_samples, n_classes) or None
    int n_threads,
):
    """Per-row losses (and the gradient) for probability targets.

    Same scaling conventions as :func:`xent_hard`.
    """
    cdef Py_ssize_t n_samples = logits.shape[0]
    cdef Py_ssize_t n_classes = logits.shape[1]
    cdef Py_ssize_t block = rows_per_block(n_classes)
    cdef Py_ssize_t n_blocks = (n_samples + block - 1) // block
    if n_blocks == 0:
        return
    n_threads = threads_for(n_samples * n_classes, n_blocks, n_threads)
    cdef double[:, ::1] scratch = np.empty(
        (n_threads, block_scratch_size(block, n_classes))
    )
    cdef floating* grad_base = NULL
    cdef floating* grad_row
    cdef BlockScratch b
    cdef Py_ssize_t bl, t, r, i, start, rows
    cdef double loss
    if grad_out is not None:
        grad_base = &grad_out[0, 0]
    for bl in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        t = threadid()
        b = block_scratch(&scratch[t, 0], block, n_classes)
        start = bl * block
        rows = min(block, n_samples - start)
        exp_block(&logits[start, 0], rows, n_classes, b)
        for r in range(rows):
            i = start + r
            grad_row = NULL
            if grad_base != NULL:
                grad_row = grad_base + i * n_classes
            loss = soft_row(
                &logits[i, 0], b.e + r * n_classes, b.m[r], b.s[r], b.tail[r],
                &target[i, 0], n_classes, &class_weight[0], smoothing, grad_row,
                sample_weight[i] * grad_scale,
            )
            loss_out[i] = fx_weighted_loss(loss, sample_weight[i], loss_scale)
