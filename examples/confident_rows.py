"""Confident rows: the loss that the textbook formula rounds to zero.

A row whose true class leads the others by 50 nats has a loss of about
``exp(-50) = 1.9e-22``. The textbook formula, ``m + log(sum(exp(z - m))) -
z[y]`` with ``m`` the row's maximum, adds that to 1 inside the log, so it
returns exactly 0, and so does the gradient ``softmax(z) - onehot(y)`` at
the true class. fastxent computes ``(m - z[y]) + log1p(s)``, ``s`` the sum of
``exp(z - m)`` over every class but the top one, and keeps the digits of
both. The reference is that quantity written out for this row,
``log1p(exp(-50) + exp(-60))``, which float64 evaluates to full precision.
Needs numpy only.
"""

import numpy as np

import fastxent


def textbook_loss(logits, labels):
    """Per-row ``logsumexp(z) - z[y]``, shifted by the row maximum."""
    top = logits.max(axis=1)
    shifted = np.exp(logits - top[:, None])
    rows = np.arange(len(labels))
    return top + np.log(shifted.sum(axis=1)) - logits[rows, labels]


def textbook_grad(logits, labels):
    """Per-row ``softmax(z) - onehot(y)``."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = shifted / shifted.sum(axis=1, keepdims=True)
    grad[np.arange(len(labels)), labels] -= 1.0
    return grad


logits = np.array([[2.0, 0.5, -1.0], [0.0, -50.0, -60.0]])
labels = np.array([0, 0])
exact = np.log1p(np.exp(-50.0) + np.exp(-60.0))

ours = fastxent.cross_entropy(logits, labels, reduction="none")
print("loss of the confident row")
print(f"  exact:                   {exact:.4e}")
print(f"  fastxent.cross_entropy:  {ours[1]:.4e}")
print(f"  textbook formula:        {textbook_loss(logits, labels)[1]:.4e}")
print(f"  relative error of fastxent: {abs(ours[1] - exact) / exact:.1e}")

# At the true class the gradient is p_y - 1, minus the other classes' mass.
_, grad = fastxent.cross_entropy_with_grad(logits, labels, reduction="none")
print("gradient at the true class of the confident row")
print(f"  fastxent.cross_entropy_with_grad: {grad[1, 0]:.4e}")
print(f"  textbook formula:                 {textbook_grad(logits, labels)[1, 0]:.4e}")

# The first row is an ordinary one, where the two agree.
print(
    f"ordinary row: fastxent {ours[0]:.6f}, "
    f"textbook {textbook_loss(logits, labels)[0]:.6f}"
)
