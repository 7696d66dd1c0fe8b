"""A softmax regression trained by gradient descent on numpy arrays.

Each step makes the logits with one matrix product, then one call of
``fastxent.cross_entropy_with_grad`` returns the mean loss and its
gradient with respect to the logits, written into the same buffer every
step (``out=``), so the loop allocates no gradient of the logits' size.
The chain rule through ``logits = X @ W.T + b`` gives the gradients of the
weights. Needs numpy only.
"""

import numpy as np

import fastxent

rng = np.random.default_rng(0)
n_samples, n_features, n_classes = 3_000, 8, 4

# Four overlapping Gaussian clouds, one per class.
centres = rng.normal(scale=0.8, size=(n_classes, n_features))
y = rng.integers(n_classes, size=n_samples)
X = centres[y] + rng.normal(size=(n_samples, n_features))

W = np.zeros((n_classes, n_features))
b = np.zeros(n_classes)
grad_logits = np.empty((n_samples, n_classes))
learning_rate = 0.5

for step in range(201):
    logits = X @ W.T + b
    loss, _ = fastxent.cross_entropy_with_grad(logits, y, out=grad_logits)
    # With reduction="mean" the gradient is already divided by n_samples.
    W -= learning_rate * (grad_logits.T @ X)
    b -= learning_rate * grad_logits.sum(axis=0)
    if step % 50 == 0:
        print(f"step {step:3d}: mean cross-entropy {loss:.4f} nats")

accuracy = np.mean((X @ W.T + b).argmax(axis=1) == y)
print(f"training accuracy: {accuracy:.3f}")
