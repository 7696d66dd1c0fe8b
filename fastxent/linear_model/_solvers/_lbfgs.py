"""Limited-memory BFGS on the smooth objective (l2 penalty or none).

The two-loop recursion (Nocedal & Wright, Algorithm 7.4) on the last
``memory`` pairs, initial matrix ``(s.y / y.y) I``; an Armijo search from
the unit step on logits ``Z + a X~D`` (one fused kernel call per trial,
two matrix products per iteration). Pairs with ``s.y <= 0`` (possible
with an Armijo-only search) are skipped so the matrix stays positive
definite.

References
----------
J. Nocedal and S. J. Wright, "Numerical Optimization", 2nd ed.,
Springer, 2006, chapter 7.
"""

from __future__ import annotations

import numpy as np

from fastxent import _kernels
from fastxent.linear_model._datafit import Datafit
from fastxent.linear_model._solvers._line_search import (
    _armijo_search,
    _line_search_state,
)
from fastxent.linear_model._solvers._problem import (
    _REFRESH_EVERY,
    SolverResult,
    _Problem,
)
from fastxent.linear_model._solvers._progress import _Progress


def solve_lbfgs(
    problem: _Problem[Datafit], w0: np.ndarray, *, max_iter: int, tol: float,
    memory: int = 10, verbose: int = 0,
) -> SolverResult:  # fmt: skip
    """Limited-memory BFGS with an Armijo line search.

    The method is described in the module docstring.

    Parameters
    ----------
    problem : _Problem
        Its penalty must be smooth.
    w0 : ndarray of shape (n_rows, n_outputs)
    max_iter, tol : as :func:`~fastxent.linear_model._solvers._agd.solve_agd`
    memory : int, default=10
    verbose : int, default=0

    Returns
    -------
    SolverResult
    """
    datafit = problem.datafit
    progress = _Progress("lbfgs", verbose, max_iter)

    x, x_new, g, g_new, Z, Zn, XD, objective = _line_search_state(problem, w0)
    pairs = _CurvaturePairs(memory, x.shape)
    history: list[float] = []
    opt = np.inf
    lipschitz = None
    for it in range(max_iter + 1):
        opt = problem.optimality(x, g)
        if opt <= tol:
            progress(it, objective, opt, 1.0, last=True)
            return SolverResult(x, it, True, opt, history, 1.0)
        if it == max_iter:
            break
        if not pairs and lipschitz is None:
            lipschitz = problem.lipschitz()
        D = pairs.direction(g) if pairs else -g / lipschitz
        decrease = np.vdot(g, D)
        if decrease >= 0.0:
            # Not a descent direction (rounding): forget the curvature pairs.
            pairs.clear()
            continue
        datafit.logits(D, XD)
        a, objective_new, _ = _armijo_search(
            problem, x, D, Z, XD, objective, decrease, x_new, Zn
        )
        if a == 0.0:
            if not pairs:
                break
            pairs.clear()
            continue
        problem.gradient(x_new, g_new)
        s = x_new - x
        y = g_new - g
        sy = np.vdot(s, y)
        yy = np.vdot(y, y)
        if sy > np.finfo(np.float64).eps * yy:
            pairs.append(s, y, sy, yy)
        x, x_new = x_new, x
        g, g_new = g_new, g
        Z, Zn = Zn, Z
        objective = objective_new
        if len(history) % _REFRESH_EVERY == _REFRESH_EVERY - 1:
            datafit.logits(x, Z)
        history.append(objective)
        progress(len(history), objective, opt, a)

    progress(len(history), objective, opt, 1.0, last=True)
    return SolverResult(x, len(history), False, opt, history, 1.0)


class _CurvaturePairs:
    """The last ``memory`` pairs ``(s, y)`` of L-BFGS, as rows of a ring.

    Parameters
    ----------
    memory : int
    shape : tuple
        Shape of the coefficients (and of each ``s`` and ``y``).
    """

    def __init__(self, memory, shape):
        size = int(np.prod(shape))
        self.shape = shape
        self.S = np.empty((memory, size))
        self.Y = np.empty((memory, size))
        self.rho = np.empty(memory)
        self._alpha = np.empty(memory)
        self.head = 0
        self.count = 0
        self.gamma = 1.0

    def __len__(self):
        return self.count

    def clear(self):
        """Forget every pair."""
        self.count = 0

    def append(self, s, y, sy, yy):
        """Keep ``(s, y)`` (``sy = s.y > 0``, ``yy = y.y``), dropping the oldest
        pair when full; the initial matrix becomes ``(s.y / y.y) I``."""
        memory = self.rho.shape[0]
        row = (self.head + self.count) % memory
        if self.count == memory:
            self.head = (self.head + 1) % memory
        else:
            self.count += 1
        self.S[row] = s.ravel()
        self.Y[row] = y.ravel()
        self.rho[row] = 1.0 / sy
        self.gamma = sy / yy

    def direction(self, g):
        """``-H g`` by the two-loop recursion (Nocedal & Wright, Algorithm 7.4)
        over the pairs held, oldest first, in the kernel ``_lbfgs``."""
        out = np.empty(self.S.shape[1])
        _kernels.lbfgs.two_loop(
            g.ravel(), self.S, self.Y, self.rho, self.head, self.count,
            self.gamma, self._alpha, out,
        )  # fmt: skip
        return out.reshape(self.shape)
