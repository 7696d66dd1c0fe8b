"""Step searches: acceptance constants, and the Armijo search of gd and lbfgs.

The constants serve every solver's backtracking; :func:`_armijo_search` and
:func:`_line_search_state` (its buffers) serve gd and lbfgs.

A trial step is never a matrix product: the logits of ``w + a D`` are
``Z + a X~D`` with ``X~D`` computed once per direction.
"""

from __future__ import annotations

import numpy as np

# Acceptance slack of the line searches, relative to the objective: near the
# minimum the predicted decrease falls below the rounding of the objective
# itself, and without slack every trial would be refused and the step would
# collapse to zero.
_SLACK = 64 * np.finfo(np.float64).eps
# Sufficient-decrease constant of the Armijo searches (gd, lbfgs).
_ARMIJO = 1e-4
# Backtracking gives up below this fraction of the first step (agd) or of
# the unit step (gd, lbfgs): only rounding is left to fight there.
_MIN_STEP = 1e-20


def _armijo_search(problem, w, D, Z, XD, objective, decrease, w_out, Z_out):
    """Backtrack from a unit step along ``D`` until Armijo's condition holds.

    Trials ``w + a D`` with logits ``Z + a XD`` (no matrix product), one fused
    kernel call each, so the accepted trial's ``dloss/dZ`` is in
    ``problem.G``. ``decrease`` is the predicted first-order change of the
    objective for ``a = 1`` (negative). Steps shrink by quadratic
    interpolation, kept within [a/10, a/2].

    Returns
    -------
    a : float
        Accepted step (0.0 when no trial decreased the objective).
    value : float
        Objective at the accepted trial.
    smooth : float
        Its smooth part.
    """
    penalty = problem.penalty
    a = 1.0
    while a > _MIN_STEP:
        np.multiply(D, a, out=w_out)
        w_out += w
        np.multiply(XD, a, out=Z_out)
        Z_out += Z
        smooth = problem.smooth_value(w_out, Z_out, with_grad=True)
        value = smooth + penalty.nonsmooth_value(w_out)
        if value <= objective + _ARMIJO * a * decrease + _SLACK * abs(objective):
            return a, value, smooth
        # Minimiser of the quadratic through value(0), value'(0), value(a).
        curvature = value - objective - a * decrease
        a_quad = -decrease * a * a / (2.0 * curvature) if curvature > 0 else 0.0
        a = min(max(a_quad, 0.1 * a), 0.5 * a)
    return 0.0, objective, None


def _line_search_state(problem, w0):
    """Buffers of a line-search solver, filled at the starting point ``w0``.

    Returns
    -------
    x, x_new, g, g_new : ndarray of shape (n_rows, n_outputs)
        The iterate (a float64 copy of ``w0``), a buffer for the next one,
        the gradient at ``x`` and a buffer for the next gradient.
    Z, Zn, XD : ndarray of shape (n_samples, n_outputs)
        The logits at ``x`` and buffers for the trial logits and ``X~D``.
    smooth : float
        The smooth part of the objective at ``x``.
    """
    x = np.array(w0, dtype=np.float64)
    g = np.empty_like(x)
    Z = problem.datafit.logits(x, problem.new_logits())
    smooth = problem.smooth_value(x, Z, with_grad=True)
    problem.gradient(x, g)
    return (
        x, np.empty_like(x), g, np.empty_like(x),
        Z, problem.new_logits(), problem.new_logits(), smooth,
    )  # fmt: skip
