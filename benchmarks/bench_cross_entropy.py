"""Cross-entropy with gradient against scikit-learn's and PyTorch's CPU kernels.

Run with ``pytest benchmarks/ --benchmark-only --benchmark-group-by=param``;
each group holds fastxent and its peers on one shape, so the ratio of their
medians is the figure to read. The ``copy`` entry copies the logits into a
buffer of the same size: the memory traffic any loss-and-gradient kernel
must at least pay.
"""

import numpy as np
import pytest
from conftest import N_THREADS, random_problem

import fastxent as fx

SHAPES = [(200_000, 10), (20_000, 100), (2_000, 1_000)]


@pytest.fixture(params=SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def problem(request):
    return random_problem(*request.param, np.float64)


def test_fastxent(benchmark, problem):
    logits, labels = problem
    out = np.empty_like(logits)
    benchmark(fx.cross_entropy_with_grad, logits, labels, out=out, n_threads=N_THREADS)


def test_sklearn_half_multinomial(benchmark, problem):
    loss_module = pytest.importorskip("sklearn._loss.loss")
    logits, labels = problem
    loss = loss_module.HalfMultinomialLoss(n_classes=logits.shape[1])
    y = labels.astype(np.float64)
    loss_out = np.empty(logits.shape[0])
    grad_out = np.empty_like(logits)
    benchmark(
        loss.loss_gradient, y, logits, loss_out=loss_out, gradient_out=grad_out,
        n_threads=N_THREADS,
    )  # fmt: skip


def test_torch_forward_backward(benchmark, problem):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    logits, labels = problem
    z = torch.from_numpy(logits)
    y = torch.from_numpy(labels)

    def forward_backward():
        leaf = z.detach().requires_grad_(True)
        torch.nn.functional.cross_entropy(leaf, y).backward()
        return leaf.grad

    benchmark(forward_backward)


def test_copy(benchmark, problem):
    logits, _ = problem
    out = np.empty_like(logits)
    benchmark(np.copyto, out, logits)
