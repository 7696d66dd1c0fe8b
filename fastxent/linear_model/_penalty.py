"""Penalties: value, gradient of the smooth part, proximal operator, optimality.

One class covers scikit-learn's three penalties, because they are one family:

    penalty(w) = sum_r l1_r * |w_r|_1 + l2_r * ||w_r||^2 / 2

over the rows ``w_r`` of the coefficient array (one row per feature, then the
intercept row), with ``l1_r = alpha * l1_ratio`` and
``l2_r = alpha * (1 - l1_ratio)`` on feature rows and 0 on the intercept row.
``l1_ratio=0`` is the l2 penalty, 1 the l1 penalty, ``alpha=0`` none. The l2
part is smooth and goes into the gradient; the l1 part is handled by its
proximal operator (soft-thresholding), which is what makes l1 fits exactly
sparse.

Per-row factors (rather than two scalars) let the same class describe the
penalty in the solvers' rescaled coordinates (see ``_design.py``): with
``W_r = s_r w_r``, ``l1_r |W_r| = (l1_r s_r) |w_r|`` and
``l2_r W_r^2 = (l2_r s_r^2) w_r^2`` (:meth:`ElasticNet.rescaled`).
"""

from __future__ import annotations

import numpy as np


class ElasticNet:
    """Row-weighted elastic-net penalty.

    Parameters
    ----------
    l1_weight : ndarray of shape (n_rows,)
        Factor of ``|w_r|_1`` for each row (0: no l1 term).
    l2_weight : ndarray of shape (n_rows,)
        Factor of ``||w_r||^2 / 2`` for each row (0: no l2 term).
    """

    def __init__(self, l1_weight, l2_weight):
        self.l1_weight = np.asarray(l1_weight, dtype=np.float64)
        self.l2_weight = np.asarray(l2_weight, dtype=np.float64)
        self.is_smooth = not np.any(self.l1_weight > 0)

    @classmethod
    def from_params(cls, alpha, l1_ratio, n_features, fit_intercept):
        """scikit-learn's penalty ``alpha * (l1_ratio |W|_1 + (1 - l1_ratio) |W|^2/2)``.

        Parameters
        ----------
        alpha : float
            Overall strength, ``1 / (C * sum(sample_weight))`` for the
            per-sample objective the solvers minimise.
        l1_ratio : float in [0, 1]
        n_features : int
        fit_intercept : bool
            The intercept row, when present, is not penalised.

        Returns
        -------
        ElasticNet
        """
        unpenalised = np.zeros(int(fit_intercept))
        rows = np.ones(n_features)
        return cls(
            np.append(alpha * l1_ratio * rows, unpenalised),
            np.append(alpha * (1.0 - l1_ratio) * rows, unpenalised),
        )

    def rescaled(self, scale):
        """The penalty of ``W`` written as a function of ``w`` with ``W = scale * w``.

        Parameters
        ----------
        scale : ndarray of shape (n_rows,)
            Positive row factors.

        Returns
        -------
        ElasticNet
        """
        return ElasticNet(self.l1_weight * scale, self.l2_weight * scale**2)

    @property
    def curvature(self):
        """Largest second derivative of the smooth part (its Lipschitz constant)."""
        return float(self.l2_weight.max(initial=0.0))

    def value(self, w):
        """Penalty value.

        Parameters
        ----------
        w : ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        float
        """
        return self.smooth_value(w) + self.nonsmooth_value(w)

    def smooth_value(self, w):
        """The l2 part, ``sum_r l2_r ||w_r||^2 / 2``."""
        return 0.5 * float(self.l2_weight @ np.einsum("rk,rk->r", w, w))

    def nonsmooth_value(self, w):
        """The l1 part, ``sum_r l1_r |w_r|_1``."""
        if self.is_smooth:
            return 0.0
        return float(self.l1_weight @ np.abs(w).sum(axis=1))

    def add_smooth_gradient(self, w, grad):
        """``grad += d(smooth part)/dw``, in place.

        Parameters
        ----------
        w, grad : ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        grad : ndarray of shape (n_rows, n_outputs)
        """
        grad += self.l2_weight[:, None] * w
        return grad

    def prox(self, w, step, out):
        """Proximal operator of ``step`` times the l1 part (soft-thresholding).

        ``argmin_u ||u - w||^2 / 2 + step * sum_r l1_r |u_r|_1``, entrywise
        ``sign(w) * max(|w| - step * l1_r, 0)``; exact zeros where
        ``|w| <= step * l1_r``.

        Parameters
        ----------
        w : ndarray of shape (n_rows, n_outputs)
        step : float
        out : ndarray of shape (n_rows, n_outputs)
            May be ``w`` itself.

        Returns
        -------
        out : ndarray of shape (n_rows, n_outputs)
        """
        if self.is_smooth:
            if out is not w:
                out[...] = w
            return out
        threshold = (step * self.l1_weight)[:, None]
        magnitude = np.abs(w) - threshold
        np.maximum(magnitude, 0.0, out=magnitude)
        np.copysign(magnitude, w, out=out)
        return out

    def optimality(self, w, grad):
        """Largest violation of the first-order optimality condition.

        ``max_entries dist(-grad, l1_r * d|w|)``: the gradient itself where
        there is no l1 term; ``|grad + l1_r sign(w)|`` on nonzero entries;
        ``max(|grad| - l1_r, 0)`` on zero entries (the subgradient can absorb
        up to ``l1_r``). Zero exactly at a minimiser.

        Parameters
        ----------
        w : ndarray of shape (n_rows, n_outputs), or None
            May be None for a smooth penalty, whose measure is the gradient's.
        grad : ndarray of shape (n_rows, n_outputs)
            Gradient of the smooth part of the objective (loss + l2 part).

        Returns
        -------
        float
        """
        if grad.size == 0:
            return 0.0
        if self.is_smooth:
            return float(np.abs(grad).max())
        l1 = np.broadcast_to(self.l1_weight[:, None], w.shape)
        violation = np.where(
            w != 0.0,
            np.abs(grad + l1 * np.sign(w)),
            np.maximum(np.abs(grad) - l1, 0.0),
        )
        return float(violation.max())
