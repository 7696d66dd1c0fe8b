"""Datafits: the weighted mean cross-entropy of a linear model, on fastxent's kernels.

A datafit owns the data (a :class:`StandardizedDesign`, the encoded targets,
the sample weights) and answers the solvers in two layers, so that a line
search can move along a direction without new matrix products:

- on logits ``Z`` of shape (n_samples, n_outputs): :meth:`value` (loss only)
  and :meth:`value_grad` (loss and ``G = dloss/dZ`` written into a
  caller-owned buffer; one fused kernel call, no allocation of that size);
- on parameters ``w``: :meth:`logits` (``Z = X~ @ w``) and :meth:`backprop`
  (``X~^T @ G``, the gradient with respect to ``w``).

Because ``Z`` is linear in ``w``, a solver computes ``X~ @ D`` once for a
direction ``D`` and tries any step ``t`` as ``Z + t * (X~ @ D)``.

The loss is the weighted mean ``sum_i s_i l_i / sum_i s_i`` (class weights are
folded into ``s``), scikit-learn's objective divided by ``sum_i s_i``: the
scale on which ``tol`` is read, as for scikit-learn's lbfgs.

:class:`Datafit` declares what the solvers ask of a datafit, and
:class:`StochasticDatafit` what sgd asks besides; the in-memory datafits here
and the distributed ones of ``fastxent/dask/_datafit.py`` implement them.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from fastxent import _core
from fastxent._binary import binary_cross_entropy
from fastxent._categorical import cross_entropy
from fastxent._validation import check_n_threads, scale_for_mean
from fastxent.linear_model._design import StandardizedCoordinates

# A logits buffer as a datafit's new_logits makes it: an ndarray of shape
# (n_samples, n_outputs) in memory, a record of products still to compute on
# a dask cluster (fastxent/dask/_logits.py). The solvers only hand it back.
Logits: TypeAlias = Any


@runtime_checkable
class Datafit(Protocol):
    """What every solver asks of a datafit (the two layers of the module
    docstring); ``design`` maps the solvers' coordinates to the user's."""

    design: StandardizedCoordinates
    n_outputs: int

    @property
    def n_samples(self) -> int:
        """Rows of the data."""

    @property
    def coef_shape(self) -> tuple[int, int]:
        """Shape ``(n_rows, n_outputs)`` of the solvers' parameter array."""

    def new_logits(self) -> Logits:
        """An uninitialised logits buffer."""

    def logits(self, w: np.ndarray, out: Logits) -> Logits:
        """``out = X~ @ w``; returns ``out``."""

    def value(self, Z: Logits) -> float:
        """Weighted mean loss of the logits ``Z``."""

    def value_grad(self, Z: Logits, out: Logits) -> float:
        """Weighted mean loss of ``Z``; its gradient in ``Z`` into ``out``."""

    def backprop(self, G: Logits, out: np.ndarray) -> object:
        """``out = X~^T @ G``, the gradient in ``w`` when ``G = dloss/dZ``."""

    def lipschitz(self) -> float:
        """Upper bound on the Lipschitz constant of the loss's gradient in ``w``."""


@runtime_checkable
class StochasticDatafit(Datafit, Protocol):
    """A datafit sgd draws mini-batches from (in memory only: sgd refuses
    dask data)."""

    def subset(self, rows: Any) -> StochasticDatafit:
        """The datafit of ``rows``, in the same coordinates."""

    def lipschitz_max_row(self) -> float:
        """Largest single-row smoothness, the bound of a batch of one row."""


@functools.cache
def _unit_class_weight(n_classes: int) -> np.ndarray:
    """Ones, one per class, read-only: made once per number of classes."""
    ones = np.ones(n_classes)
    ones.flags.writeable = False
    return ones


def multinomial_loss_sum(Z, target, row_weight, grad_scale, grad, n_threads):
    """``sum_i s_i l_i`` of the softmax cross-entropy, on the trusted core.

    Parameters
    ----------
    Z : float64 ndarray of shape (n_samples, n_classes)
    target : ndarray of intp of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    row_weight : ndarray of shape (n_samples,) or (1,)
        Finite non-negative float64 weights, the class weights included
        (the kernel's class weights are ones); one entry weights every row.
    grad_scale : float
        Factor of the gradient.
    grad : float64 ndarray of shape (n_samples, n_classes) or None
        Receives ``grad_scale * dloss/dZ`` when given.
    n_threads : int

    Returns
    -------
    float
        Raises the public function's ``ValueError`` naming a NaN or +inf logit.
    """
    n_classes = Z.shape[1]
    total = _core.hard_cross_entropy(
        Z, target, _unit_class_weight(n_classes), float(n_classes), row_weight,
        0.0, 1.0, grad_scale, None, grad, n_threads,
    )  # fmt: skip
    if total != total:  # NaN or +inf logits: the public function names them
        cross_entropy(Z, target)
    return total


def binomial_loss_sum(Z, target, row_weight, grad_scale, grad, n_threads):
    """``sum_i s_i l_i`` of the sigmoid cross-entropy, on the trusted core.

    As :func:`multinomial_loss_sum` for ``Z``, ``grad`` and ``target`` of
    shape (n_samples, 1), ``target`` holding 0.0 / 1.0 (float64).
    """
    total = _core.binary_cross_entropy(
        Z, target, _core.UNIT_WEIGHT, row_weight, 0.0, 1.0, grad_scale, None, grad,
        n_threads,
    )  # fmt: skip
    if total != total:  # NaN logits: the public function names them
        binary_cross_entropy(Z.reshape(-1), target.reshape(-1))
    return total


class LinearDatafit:
    """What every datafit shares, in memory or on a cluster (``fastxent/dask``):
    its shapes and its Lipschitz bound, from its ``design``."""

    #: Bound on the Hessian of one row's loss with respect to its logits
    #: (as a multiple of the identity); set by the subclasses, as is the
    #: number of logits per row.
    curvature: float
    n_outputs: int

    @property
    def n_samples(self):
        return self.design.n_samples

    @property
    def coef_shape(self):
        """Shape ``(n_rows, n_outputs)`` of the solvers' parameter array."""
        return (self.design.n_rows, self.n_outputs)

    def lipschitz(self):
        """Upper bound on the Lipschitz constant of the loss's gradient in ``w``.

        ``curvature * lambda_max(X~^T diag(s / sum(s)) X~)`` (Boehning's bound
        for the softmax, 1/4 for the sigmoid), the eigenvalue estimated by the
        design.
        """
        return self.curvature * self.design.spectral_norm_sq()


class _LinearCrossEntropy(LinearDatafit):
    """Shared part of the in-memory binomial and multinomial datafits.

    Parameters
    ----------
    design : StandardizedDesign
    target : ndarray of shape (n_samples,)
        Encoded targets (class indices, or 0/1 floats for the binomial).
    sample_weight : ndarray of shape (n_samples,)
        Non-negative float64 row weights.
    n_threads : int or None
        Threads of the kernels.
    """

    def __init__(self, design, target, sample_weight, *, n_threads=None):
        self.design = design
        self.target = target
        self._kernel_target = self.kernel_target(target)
        self.sample_weight = sample_weight
        self.n_threads = n_threads
        # Resolved once for the trusted core (fastxent._core), as the public
        # functions resolve them on each call for reduction="mean": equal
        # weights as one shared unit weight, others scaled by a power of two;
        # the total weight, whose inverse scales the gradient.
        if np.all(sample_weight == sample_weight[0]):
            self._row_weight = _core.UNIT_WEIGHT
            self._total_weight = float(self.n_samples)
        else:
            self._row_weight = scale_for_mean(
                np.ascontiguousarray(sample_weight, dtype=np.float64)
            )
            self._total_weight = float(self._row_weight.sum())
        self._threads = check_n_threads(n_threads)

    def subset(self, rows):
        """The datafit of a mini-batch, in the same coordinates.

        Parameters
        ----------
        rows : ndarray of int of shape (batch_size,)

        Returns
        -------
        datafit of the same class
        """
        return type(self)(
            self.design.subset(rows),
            self.target[rows],
            self.sample_weight[rows],
            n_threads=self.n_threads,
            **self._subset_kwargs(),
        )

    def _subset_kwargs(self):
        return {}

    def new_logits(self):
        """An uninitialised float64 buffer for logits, (n_samples, n_outputs)."""
        return np.empty((self.n_samples, self.n_outputs))

    def logits(self, w, out):
        """``out = X~ @ w``, shape (n_samples, n_outputs)."""
        return self.design.matmul(w, out)

    def backprop(self, G, out):
        """``out = X~^T @ G``, the gradient in ``w`` when ``G = dloss/dZ``."""
        return self.design.rmatmul(G, out)

    def value(self, Z):
        """Weighted mean loss of the logits ``Z`` of shape (n_samples, n_outputs)."""
        return self._mean(Z, None)

    def value_grad(self, Z, out):
        """Weighted mean loss; its gradient with respect to ``Z`` into ``out``."""
        return self._mean(Z, out)

    def lipschitz_max_row(self):
        """Largest single-row smoothness ``curvature * s_i / mean(s) * ||x~_i||^2``."""
        relative = self.sample_weight / self.sample_weight.mean()
        return self.curvature * float((relative * self.design.row_norms_sq()).max())

    def _mean(self, Z, grad):
        total = self.loss_sum(
            Z, self._kernel_target, self._row_weight, 1.0 / self._total_weight,
            grad, self._threads,
        )  # fmt: skip
        return total / self._total_weight


class MultinomialCrossEntropy(_LinearCrossEntropy):
    """Softmax cross-entropy with one logit per class.

    ``target`` holds class indices in ``[0, n_classes)`` (intp).
    """

    # The softmax's Hessian diag(p) - p p^T is bounded by I / 2.
    curvature = 0.5
    loss_sum = staticmethod(multinomial_loss_sum)

    def __init__(self, design, target, sample_weight, *, n_classes, n_threads=None):
        super().__init__(design, target, sample_weight, n_threads=n_threads)
        self.n_outputs = n_classes

    def _subset_kwargs(self):
        return {"n_classes": self.n_outputs}

    @staticmethod
    def kernel_target(target):
        """The targets as the kernel reads them: the class indices themselves."""
        return target


class BinomialCrossEntropy(_LinearCrossEntropy):
    """Sigmoid cross-entropy with a single logit (scikit-learn's binary case).

    ``target`` holds 0.0 / 1.0 (float64), 1 for the second class.
    """

    # The sigmoid's derivative p (1 - p) is at most 1/4.
    curvature = 0.25
    n_outputs = 1
    loss_sum = staticmethod(binomial_loss_sum)

    @staticmethod
    def kernel_target(target):
        """The targets as the kernel reads them: one column, beside ``Z``'s."""
        return target.reshape(-1, 1)
