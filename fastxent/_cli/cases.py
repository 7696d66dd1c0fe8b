"""Kernel cases of ``python -m fastxent bench`` and ``benchmarks/``.

A case is one kernel on one input (kernel, shape, dtype). For a case and a
thread count, :func:`implementations` gives each installed peer's way of
doing the same job as a zero-argument callable, with its inputs and output
buffers prepared outside of it, so that only the computation is timed:

    kernel                          fastxent               peers
    cross_entropy                   mean loss              scipy logsumexp - z_y;
                                                           sklearn HalfMultinomialLoss;
                                                           torch cross_entropy
    cross_entropy_with_grad         mean loss, gradient    scipy log_softmax and exp;
                                    into ``out=``          sklearn loss_gradient into
                                                           buffers; torch forward +
                                                           backward
    binary_cross_entropy_with_grad  1-D logits             numpy logaddexp, scipy expit;
                                                           sklearn HalfBinomialLoss;
                                                           torch ..._with_logits
    log_softmax                     new array              scipy; torch
    log_loss                        fastxent.metrics on    sklearn.metrics.log_loss
                                    probabilities
    torch.cross_entropy             fastxent.torch's       torch cross_entropy
                                    operator, forward +    forward + backward
                                    backward (autograd)    (autograd)

The last runs only where PyTorch is installed: it times what a PyTorch
training step pays for its loss, tensors in and the logits' gradient out.

The ``copy`` entry is the physical limit: ``numpy.copyto`` of a buffer half
the size of the bytes the kernel must read and write, so that the copy
moves as many bytes as the kernel (it reads and writes each of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import fastxent as fx
from fastxent._optional import optional

KERNELS = (
    "cross_entropy",
    "cross_entropy_with_grad",
    "binary_cross_entropy_with_grad",
    "log_softmax",
    "log_loss",
)
# Kernels of fastxent.torch, against PyTorch alone; cases only with PyTorch.
TORCH_KERNELS = ("torch.cross_entropy",)
FASTXENT = "fastxent"
PEERS = ("numpy/scipy", "scikit-learn", "PyTorch")
LIMIT = "copy"

# From many short rows to few long ones, about 2 million logits each; the
# binary kernel runs on the 1-D logits of the two-class shape's sample count.
FULL_SHAPES = (
    (1_000_000, 2),
    (200_000, 10),
    (20_000, 100),
    (2_000, 1_000),
    (256, 32_000),
)
QUICK_SHAPES = ((200_000, 2), (20_000, 100))
DTYPES = (np.float32, np.float64)

# Logits of N(0, SCALE^2): the spread of a classifier that is often, but not
# always, right, so the loss of a row is neither always tiny nor always large.
_LOGIT_SCALE = 2.0


@dataclass(frozen=True)
class KernelCase:
    """One kernel on one input.

    Attributes
    ----------
    kernel : str
        One of :data:`KERNELS`.
    n_samples : int
    n_classes : int
        Columns of the logits; 1 for the binary kernel's 1-D logits.
    dtype : numpy dtype class
        ``np.float32`` or ``np.float64``.
    """

    kernel: str
    n_samples: int
    n_classes: int
    dtype: Any

    @property
    def shape_label(self) -> str:
        """``"200,000 x 10"``, or ``"1,000,000"`` for 1-D logits."""
        if self.kernel == "binary_cross_entropy_with_grad":
            return f"{self.n_samples:,}"
        return f"{self.n_samples:,} x {self.n_classes:,}"

    @property
    def dtype_label(self) -> str:
        return np.dtype(self.dtype).name

    @property
    def bytes_moved(self) -> int:
        """Bytes the kernel must at least read and write.

        The logits (or probabilities) are read; the labels, as int64, too;
        the gradient or the log-softmax, logits-sized, written; a binary
        target, logits-sized, read.
        """
        values = self.n_samples * self.n_classes * np.dtype(self.dtype).itemsize
        labels = self.n_samples * np.dtype(np.intp).itemsize
        if self.kernel in ("cross_entropy", "log_loss"):
            return values + labels
        if self.kernel in ("cross_entropy_with_grad", "torch.cross_entropy"):
            return 2 * values + labels
        if self.kernel == "binary_cross_entropy_with_grad":
            return 3 * values
        return 2 * values

    def inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """The arrays a kernel reads: ``logits`` and ``labels`` (intp), and
        ``target`` (binary: floats in {0, 1}) or ``proba`` (log_loss)."""
        rng = np.random.default_rng(seed)
        if self.kernel == "binary_cross_entropy_with_grad":
            logits = rng.normal(scale=_LOGIT_SCALE, size=self.n_samples)
            target = rng.integers(0, 2, self.n_samples).astype(self.dtype)
            return {"logits": logits.astype(self.dtype), "target": target}
        shape = (self.n_samples, self.n_classes)
        logits = rng.normal(scale=_LOGIT_SCALE, size=shape).astype(self.dtype)
        arrays = {"logits": logits, "labels": rng.integers(0, self.n_classes, shape[0])}
        if self.kernel == "log_loss":
            arrays["proba"] = fx.softmax(logits, axis=1)
        return arrays


def kernel_cases(shapes=FULL_SHAPES, dtypes=DTYPES, kernels=None) -> list[KernelCase]:
    """Every kernel on every shape and dtype; the binary kernel on 2-class shapes.

    ``kernels`` None means :data:`KERNELS`, and :data:`TORCH_KERNELS` when
    PyTorch is installed.

    Returns
    -------
    cases : list of KernelCase
    """
    if kernels is None:
        with_torch = optional("torch") is not None
        kernels = KERNELS + (TORCH_KERNELS if with_torch else ())
    cases = []
    for kernel in kernels:
        for n_samples, n_classes in shapes:
            if kernel == "binary_cross_entropy_with_grad":
                if n_classes != 2:
                    continue
                n_classes = 1
            for dtype in dtypes:
                cases.append(KernelCase(kernel, n_samples, n_classes, dtype))
    return cases


@dataclass(frozen=True)
class Implementation:
    """One peer's way of doing a case's job.

    Attributes
    ----------
    call : callable
        Zero arguments; the timed computation.
    canonical : callable
        Maps what ``call`` returned to ``(mean_loss, array)``: the mean loss
        (None for log_softmax) and the gradient of the mean loss or the
        log-softmax (None for a loss alone), as float64 numpy values; the
        tests compare peers through it. Not timed.
    """

    call: Callable[[], object]
    canonical: Callable[[object], tuple[float | None, np.ndarray | None]]


def implementations(
    case: KernelCase, inputs: dict[str, np.ndarray], n_threads: int
) -> dict[str, Implementation]:
    """Each installed peer's callable for ``case`` on ``inputs``.

    Keys are :data:`FASTXENT`, those of :data:`PEERS` that apply and are
    installed, and :data:`LIMIT`. PyTorch's own thread pool is set by the
    caller (``timing.pinned_threads``); the others take ``n_threads``.

    Returns
    -------
    implementations : dict of str to Implementation
    """
    builders = _BUILDERS[case.kernel]
    found = {}
    for peer, build in builders.items():
        implementation = build(case, inputs, n_threads)
        if implementation is not None:
            found[peer] = implementation
    found[LIMIT] = _copy(case)
    return found


def _as_float(value) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _as_array(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().numpy()
    return np.asarray(value, dtype=np.float64)


def _loss_only(result):
    return _as_float(result), None


def _loss_and_array(result):
    loss, array = result
    return _as_float(loss), _as_array(array)


def _array_only(result):
    return None, _as_array(result)


def _copy(case: KernelCase) -> Implementation:
    source = np.ones(case.bytes_moved // 2, dtype=np.uint8)
    target = np.empty_like(source)
    return Implementation(lambda: np.copyto(target, source), lambda _: (None, None))


def _sklearn_loss(name: str):
    """A private loss class of scikit-learn, or None if it is gone or absent."""
    module = optional("sklearn._loss.loss")
    return getattr(module, name, None) if module is not None else None


# cross_entropy: the mean loss of integer labels.


def _ce_fastxent(case, inputs, n_threads):
    logits, labels = inputs["logits"], inputs["labels"]
    return Implementation(
        lambda: fx.cross_entropy(logits, labels, n_threads=n_threads), _loss_only
    )


def _ce_scipy(case, inputs, n_threads):
    special = optional("scipy.special")
    if special is None:
        return None
    logits, labels = inputs["logits"], inputs["labels"]
    rows = np.arange(case.n_samples)

    def call():
        return np.mean(special.logsumexp(logits, axis=1) - logits[rows, labels])

    return Implementation(call, _loss_only)


def _ce_sklearn(case, inputs, n_threads):
    loss_class = _sklearn_loss("HalfMultinomialLoss")
    if loss_class is None:
        return None
    logits = inputs["logits"]
    # Its Cython takes labels as floats of the logits' dtype.
    labels = inputs["labels"].astype(case.dtype)
    loss = loss_class(n_classes=case.n_classes)
    loss_out = np.empty(case.n_samples, dtype=case.dtype)

    def call():
        return loss.loss(labels, logits, loss_out=loss_out, n_threads=n_threads).mean()

    return Implementation(call, _loss_only)


def _ce_torch(case, inputs, n_threads):
    torch = optional("torch")
    if torch is None:
        return None
    logits = torch.from_numpy(inputs["logits"])
    labels = torch.from_numpy(inputs["labels"])
    return Implementation(
        lambda: torch.nn.functional.cross_entropy(logits, labels), _loss_only
    )


# cross_entropy_with_grad: the mean loss and its gradient.


def _ceg_fastxent(case, inputs, n_threads):
    logits, labels = inputs["logits"], inputs["labels"]
    out = np.empty_like(logits)

    def call():
        return fx.cross_entropy_with_grad(logits, labels, out=out, n_threads=n_threads)

    return Implementation(call, _loss_and_array)


def _ceg_scipy(case, inputs, n_threads):
    special = optional("scipy.special")
    if special is None:
        return None
    logits, labels = inputs["logits"], inputs["labels"]
    rows = np.arange(case.n_samples)

    def call():
        log_p = special.log_softmax(logits, axis=1)
        loss = -np.mean(log_p[rows, labels])
        grad = np.exp(log_p, out=log_p)
        grad[rows, labels] -= 1.0
        grad /= case.n_samples
        return loss, grad

    return Implementation(call, _loss_and_array)


def _ceg_sklearn(case, inputs, n_threads):
    loss_class = _sklearn_loss("HalfMultinomialLoss")
    if loss_class is None:
        return None
    loss = loss_class(n_classes=case.n_classes)
    labels = inputs["labels"].astype(case.dtype)
    return _sklearn_loss_gradient(case, loss, labels, inputs["logits"], n_threads)


def _sklearn_loss_gradient(case, loss, target, logits, n_threads):
    """A scikit-learn loss's ``loss_gradient``, handed its output buffers."""
    loss_out = np.empty(case.n_samples, dtype=case.dtype)
    gradient_out = np.empty_like(logits)

    def call():
        loss_rows, grad = loss.loss_gradient(
            target, logits, loss_out=loss_out, gradient_out=gradient_out,
            n_threads=n_threads,
        )  # fmt: skip
        # Its gradient is of the sum of the losses; scaling it to the mean's
        # would cost one more pass, which is not charged to it.
        return loss_rows.mean(), grad

    def canonical(result):
        loss_value, grad = _loss_and_array(result)
        return loss_value, grad / case.n_samples

    return Implementation(call, canonical)


def _ceg_torch(case, inputs, n_threads):
    torch = optional("torch")
    if torch is None:
        return None
    return _torch_backward(
        torch.nn.functional.cross_entropy, torch, inputs["logits"], inputs["labels"]
    )


def _torch_backward(loss_function, torch, logits, target):
    """PyTorch's loss forward and backward to the logits, on numpy's memory."""
    logits = torch.from_numpy(logits)
    target = torch.from_numpy(target)

    def call():
        leaf = logits.detach().requires_grad_(True)
        loss = loss_function(leaf, target)
        loss.backward()
        return loss, leaf.grad

    return Implementation(call, _loss_and_array)


# binary_cross_entropy_with_grad: 1-D logits, targets in {0, 1}.


def _bceg_fastxent(case, inputs, n_threads):
    logits, target = inputs["logits"], inputs["target"]
    out = np.empty_like(logits)

    def call():
        return fx.binary_cross_entropy_with_grad(
            logits, target, out=out, n_threads=n_threads
        )

    return Implementation(call, _loss_and_array)


def _bceg_scipy(case, inputs, n_threads):
    special = optional("scipy.special")
    if special is None:
        return None
    logits, target = inputs["logits"], inputs["target"]

    def call():
        # -log sigmoid(z) = log(1 + exp(z)) - z, and 1 - sigmoid(z) likewise.
        loss = np.mean(np.logaddexp(0.0, logits) - target * logits)
        grad = special.expit(logits)
        grad -= target
        grad /= case.n_samples
        return loss, grad

    return Implementation(call, _loss_and_array)


def _bceg_sklearn(case, inputs, n_threads):
    loss_class = _sklearn_loss("HalfBinomialLoss")
    if loss_class is None:
        return None
    return _sklearn_loss_gradient(
        case, loss_class(), inputs["target"], inputs["logits"], n_threads
    )


def _bceg_torch(case, inputs, n_threads):
    torch = optional("torch")
    if torch is None:
        return None
    return _torch_backward(
        torch.nn.functional.binary_cross_entropy_with_logits,
        torch,
        inputs["logits"],
        inputs["target"],
    )


# log_softmax: a new array, as scipy and torch return.


def _ls_fastxent(case, inputs, n_threads):
    logits = inputs["logits"]
    return Implementation(
        lambda: fx.log_softmax(logits, axis=1, n_threads=n_threads), _array_only
    )


def _ls_scipy(case, inputs, n_threads):
    special = optional("scipy.special")
    if special is None:
        return None
    logits = inputs["logits"]
    return Implementation(lambda: special.log_softmax(logits, axis=1), _array_only)


def _ls_torch(case, inputs, n_threads):
    torch = optional("torch")
    if torch is None:
        return None
    logits = torch.from_numpy(inputs["logits"])
    return Implementation(lambda: torch.log_softmax(logits, dim=1), _array_only)


# log_loss: probabilities in, scikit-learn's metric against fastxent's drop-in.
# Both get the class list: a short batch need not hold every class.


def _log_loss_from(module_name):
    """The builder of a ``log_loss(labels, proba, labels=classes)`` call from
    ``module_name`` (fastxent's drop-in and scikit-learn's take the same)."""

    def build(case, inputs, n_threads):
        metrics = optional(module_name)
        if metrics is None:
            return None
        labels, proba = inputs["labels"], inputs["proba"]
        classes = np.arange(case.n_classes)
        return Implementation(
            lambda: metrics.log_loss(labels, proba, labels=classes), _loss_only
        )

    return build


# torch.cross_entropy: fastxent.torch's operator inside autograd.


def _torch_op_fastxent(case, inputs, n_threads):
    fastxent_torch = optional("fastxent.torch")
    if fastxent_torch is None:
        return None
    return _torch_backward(
        fastxent_torch.cross_entropy, optional("torch"), inputs["logits"],
        inputs["labels"],
    )  # fmt: skip


_BUILDERS = {
    "cross_entropy": {
        FASTXENT: _ce_fastxent,
        "numpy/scipy": _ce_scipy,
        "scikit-learn": _ce_sklearn,
        "PyTorch": _ce_torch,
    },
    "cross_entropy_with_grad": {
        FASTXENT: _ceg_fastxent,
        "numpy/scipy": _ceg_scipy,
        "scikit-learn": _ceg_sklearn,
        "PyTorch": _ceg_torch,
    },
    "binary_cross_entropy_with_grad": {
        FASTXENT: _bceg_fastxent,
        "numpy/scipy": _bceg_scipy,
        "scikit-learn": _bceg_sklearn,
        "PyTorch": _bceg_torch,
    },
    "log_softmax": {
        FASTXENT: _ls_fastxent,
        "numpy/scipy": _ls_scipy,
        "PyTorch": _ls_torch,
    },
    "log_loss": {
        FASTXENT: _log_loss_from("fastxent.metrics"),
        "scikit-learn": _log_loss_from("sklearn.metrics"),
    },
    "torch.cross_entropy": {
        FASTXENT: _torch_op_fastxent,
        "PyTorch": _ceg_torch,
    },
}
