"""What every solver sees and returns: the problem and the solver's result.

Stopping rule, shared by all solvers: stop when the largest entry of the
gradient of the objective with respect to the user's coefficients and
intercept (the distance of ``-grad f`` to the subdifferential of the l1 part,
for l1 and elastic-net penalties) is at most ``tol``. It is measured on the
per-sample objective (scikit-learn's divided by the sum of sample weights),
the scale of scikit-learn's lbfgs ``tol``, and is 0 exactly at the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from fastxent.linear_model._datafit import Datafit, Logits
from fastxent.linear_model._penalty import ElasticNet

# The datafit a solver needs: a Datafit, or for sgd a StochasticDatafit.
AnyDatafit = TypeVar("AnyDatafit", bound=Datafit)

# Logits kept by linear updates drift from X~ @ w by rounding; recompute them
# exactly this often (one extra matrix product every few hundred iterations).
_REFRESH_EVERY = 256


@dataclass
class SolverResult:
    """What a solver hands back to the estimator.

    Attributes
    ----------
    coef : ndarray of shape (n_rows, n_outputs)
        Minimiser found, in the solver's (datafit's) coordinates.
    n_iter : int
        Iterations (epochs for sgd) performed.
    converged : bool
        Whether the optimality measure reached ``tol``.
    optimality : float
        Last optimality measure computed.
    history : list of float
        Objective (per-sample scale) after each iteration.
    step : float
        Last step size, so a later call (``partial_fit``) can continue.
    """

    coef: np.ndarray
    n_iter: int
    converged: bool
    optimality: float
    history: list = field(default_factory=list)
    step: float = np.nan


class _Problem(Generic[AnyDatafit]):
    """A datafit and a penalty seen from the solvers' coordinates.

    Holds the one ``(n_samples, n_outputs)`` buffer that receives
    ``dloss/dZ``; every kernel call writes into it. Logits buffers come from
    the datafit, which decides where they live (numpy arrays in memory,
    chunks on a cluster for dask data).
    """

    def __init__(self, datafit: AnyDatafit, penalty: ElasticNet) -> None:
        self.datafit = datafit
        self.original_penalty = penalty
        self.penalty = penalty.rescaled(datafit.design.coef_scale())
        self.G = datafit.new_logits()

    def new_logits(self) -> Logits:
        return self.datafit.new_logits()

    def smooth_value(self, w, Z, *, with_grad):
        """``f(w)`` from its logits; with ``with_grad`` also ``dloss/dZ`` into ``G``."""
        if with_grad:
            loss = self.datafit.value_grad(Z, self.G)
        else:
            loss = self.datafit.value(Z)
        return loss + self.penalty.smooth_value(w)

    def gradient(self, w, out):
        """``grad f(w)`` from the ``G`` of the last ``with_grad`` evaluation."""
        self.datafit.backprop(self.G, out)
        return self.penalty.add_smooth_gradient(w, out)

    def lipschitz(self):
        return self.datafit.lipschitz() + self.penalty.curvature

    def optimality(self, w, grad):
        """The stopping measure (see the module docstring) at ``w``."""
        design = self.datafit.design
        penalty = self.original_penalty
        # A smooth penalty's measure reads the gradient alone: no need to map w.
        original_w = None if penalty.is_smooth else design.to_original(w)
        return penalty.optimality(original_w, design.gradient_to_original(grad))

    def mapping_optimality(self, mapping):
        """The stopping measure of a gradient mapping ``(y - prox(y - t g)) / t``.

        Equal to :meth:`optimality` at a minimiser; a cheap test of whether
        an extrapolated point is worth checking exactly.
        """
        return float(np.abs(self.datafit.design.gradient_to_original(mapping)).max())

    def initial_step(self, step):
        return 1.0 / self.lipschitz() if step is None else float(step)
