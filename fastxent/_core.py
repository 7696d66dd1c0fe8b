"""The trusted core: the fused kernels on arrays whose every rule has been met.

Below the public functions and above the kernels. A caller hands over
resolved arrays, C-contiguous and in the kernels' types, that it has checked
already: labels in ``[0, n_classes)`` or -1 (ignored), finite non-negative
weights, scales for the reduction. Nothing here validates, dispatches or
copies, so a caller that evaluates the same problem many times (a solver's
datafit) checks its data once and pays only for the kernel on each call.

The public functions (``_categorical``, ``_binary``) validate and then end
here; so do the datafits of ``LogisticRegression``.

Each function returns the sum of the weighted losses, blocks of rows summed
in a fixed order (the same for any number of threads). The sum is NaN when
the logits hold NaN or ``+inf`` (and, for ``hard_cross_entropy``, the row's
loss is NaN in ``loss_rows`` when given): the caller names the row.
"""

from __future__ import annotations

import numpy as np

from fastxent import _kernels

# The weight array of one entry that the kernels read as every row's weight
# (or, as pos_weight, every label's): 1. Read-only, since every caller shares
# it; the kernels take their weights as const views.
UNIT_WEIGHT = np.ones(1)
UNIT_WEIGHT.flags.writeable = False

# Elements per block of the binary kernel's fixed-order sum: large enough
# that a block is worth a prange iteration, small enough to balance 2 to 64
# threads.
_BLOCK_ELEMENTS = 4096


def in_loss_dtype(value, dtype):
    """A loss the kernels summed in double, as returned: a numpy scalar (or,
    for row losses, an array) of the logits' ``dtype``.

    A float32 loss past float32's range is inf, its correctly rounded value,
    so the cast has nothing to warn about.
    """
    with np.errstate(over="ignore"):
        if isinstance(value, np.ndarray):
            return value.astype(dtype, copy=False)
        return np.dtype(dtype).type(value)


def hard_cross_entropy(
    logits,
    labels,
    class_weight,
    class_weight_sum,
    sample_weight,
    smoothing,
    loss_scale,
    grad_scale,
    loss_rows,
    grad,
    n_threads,
) -> float:
    """Summed categorical cross-entropy of integer labels; gradient into ``grad``.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes), float32 or float64
    labels : ndarray of intp of shape (n_samples,)
        Class indices, or -1 for a row that contributes nothing.
    class_weight : ndarray of float64 of shape (n_classes,)
    class_weight_sum : float
        ``class_weight.sum()`` (label smoothing spreads over every class).
    sample_weight : ndarray of float64 of shape (n_samples,) or (1,)
        One entry weights every row.
    smoothing : float
        Label smoothing in [0, 1).
    loss_scale, grad_scale : float
        Factors of every row's loss and of the gradient (``1 / total weight``
        for a mean, ``1 / log(base)`` for another logarithm base).
    loss_rows : ndarray of float64 of shape (n_samples,) or None
        Receives the row losses when given.
    grad : ndarray of the shape and dtype of logits, or None
        Receives the gradient when given.
    n_threads : int

    Returns
    -------
    float
        The sum of the row losses; NaN when a row holds NaN or +inf.
    """
    block_sums = _kernels.categorical.xent_hard(
        logits, labels, class_weight, class_weight_sum, sample_weight, smoothing,
        loss_scale, grad_scale, loss_rows, grad, n_threads,
    )  # fmt: skip
    return float(block_sums.sum())


def soft_cross_entropy(
    logits,
    target,
    class_weight,
    sample_weight,
    smoothing,
    loss_scale,
    grad_scale,
    loss_rows,
    grad,
    n_threads,
) -> float:
    """Summed categorical cross-entropy of probability targets.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes), float32 or float64
    target : ndarray of the shape and dtype of logits
        Finite, non-negative class probabilities.
    class_weight : ndarray of float64 of shape (n_classes,)
    sample_weight : ndarray of float64 of shape (n_samples,)
    smoothing, loss_scale, grad_scale, grad, n_threads
        As for :func:`hard_cross_entropy`.
    loss_rows : ndarray of float64 of shape (n_samples,)
        Receives the row losses (always: the sum is made of them).

    Returns
    -------
    float
        The sum of the row losses; NaN when a row holds NaN or +inf.
    """
    _kernels.categorical.xent_soft(
        logits, target, class_weight, sample_weight, smoothing, loss_scale,
        grad_scale, loss_rows, grad, n_threads,
    )  # fmt: skip
    return float(loss_rows.sum())


def binary_cross_entropy(
    logits,
    target,
    pos_weight,
    row_weight,
    smoothing,
    loss_scale,
    grad_scale,
    elements,
    grad,
    n_threads,
) -> float:
    """Summed binary cross-entropy from logits; gradient into ``grad``.

    Parameters
    ----------
    logits : ndarray of shape (n_rows, n_labels), float32 or float64
    target : ndarray of the shape and dtype of logits
        Values in [0, 1].
    pos_weight : ndarray of float64 of shape (n_labels,)
        Weight of each column's positive term.
    row_weight : ndarray of float64 of shape (n_rows,) or (1,)
        One entry weights every row.
    smoothing, loss_scale, grad_scale : float
        As for :func:`hard_cross_entropy`.
    elements : ndarray of the shape and dtype of logits, or None
        Receives the element losses when given.
    grad : ndarray of the shape and dtype of logits, or None
        Receives the gradient when given.
    n_threads : int

    Returns
    -------
    float
        The sum of the element losses; NaN when an element's logit is NaN.
    """
    n_rows, n_labels = logits.shape
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(n_labels, 1))
    block_sums = np.empty(-(-n_rows // rows_per_block))
    _kernels.binary.bce(
        logits, target, pos_weight, row_weight, smoothing, loss_scale, grad_scale,
        rows_per_block, block_sums, elements, grad, n_threads,
    )  # fmt: skip
    return float(block_sums.sum())


def by_weight_sign(run, class_weight, grad):
    """``run(weights, grad)`` for class weights of any sign.

    The kernels give a row of non-positive weight no loss, where PyTorch's
    semantics accept negative class weights. Loss and gradient are linear
    in the class weights, so they are the run on the positive parts minus
    the run on the negative parts (two passes, only when a weight is
    negative).

    Parameters
    ----------
    run : callable
        ``run(weights, grad) -> (total, loss_rows)``, one of the functions
        above with everything but the class weights and the gradient bound;
        ``loss_rows`` may be None.
    class_weight : ndarray of float64 of shape (n_classes,)
    grad : ndarray or None
        Receives the gradient when given.

    Returns
    -------
    total : float
    loss_rows : ndarray or None
    """
    if not (class_weight < 0).any():
        return run(class_weight, grad)
    negative_grad = None if grad is None else np.empty_like(grad)
    total, loss_rows = run(np.maximum(class_weight, 0.0), grad)
    negative_total, negative_rows = run(np.maximum(-class_weight, 0.0), negative_grad)
    if grad is not None:
        grad -= negative_grad
    if loss_rows is not None:
        loss_rows -= negative_rows
    return total - negative_total, loss_rows
