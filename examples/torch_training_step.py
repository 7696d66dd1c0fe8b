"""Training steps of a small PyTorch model on fastxent's loss.

``fastxent.torch.CrossEntropyLoss`` is ``torch.nn.CrossEntropyLoss`` with
fastxent's kernel in its forward: a drop-in for a training loop. The
forward computes the gradient with the loss, in the same pass, and the
backward only scales it. The script trains a two-layer network for a few
steps with it, checks the loss against PyTorch's own, and ends with
``linear_cross_entropy``, the loss of a large output layer without its
logits ever held whole. Needs PyTorch (the ``torch`` extra; the CPU build is
enough).
"""

import torch

import fastxent.torch as fxt

torch.manual_seed(0)
n_samples, n_features, n_classes = 512, 20, 10
X = torch.randn(n_samples, n_features)
y = torch.randint(0, n_classes, (n_samples,))

model = torch.nn.Sequential(
    torch.nn.Linear(n_features, 64), torch.nn.ReLU(), torch.nn.Linear(64, n_classes)
)
criterion = fxt.CrossEntropyLoss(label_smoothing=0.1)
reference = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

for step in range(31):
    optimizer.zero_grad()
    logits = model(X)
    loss = criterion(logits, y)
    loss.backward()
    optimizer.step()
    if step % 10 == 0:
        gap = abs(loss.item() - reference(logits, y).item())
        print(f"step {step:2d}: loss {loss.item():.4f}, PyTorch's differs by {gap:.1e}")

# A vocabulary of 8,000 classes: the 256 x 8,000 logits are made and consumed
# in chunks of rows, inside the operator.
hidden = (0.1 * torch.randn(256, 64)).requires_grad_()
vocabulary = torch.randn(8_000, 64, requires_grad=True)
tokens = torch.randint(0, 8_000, (256,))
loss = fxt.linear_cross_entropy(hidden, vocabulary, tokens)
loss.backward()
full = torch.nn.functional.cross_entropy(hidden @ vocabulary.T, tokens)
print(f"linear_cross_entropy: {loss.item():.4f} (whole logits: {full.item():.4f})")
print(f"gradient of the vocabulary: shape {tuple(vocabulary.grad.shape)}")
