"""Mini-batch proximal stochastic gradient descent.

Each epoch visits the rows in a fresh random order (``random_state``), in
mini-batches of ``batch_size``; each batch takes the step
``w <- prox_t(w - t (grad of the batch's mean loss + l2 part))``. The
penalty keeps its full-data weight, so the batch gradient is an unbiased
estimate of the full one. After each epoch the full objective and
gradient are computed (for ``loss_curve_`` and the stopping rule), and
the step adapts per epoch ("bold driver"): halved when the objective went
up, which makes a constant-step SGD settle, grown by 20% otherwise.

The automatic first step is ``1 / L(b)`` with ``L(b)`` the expected
smoothness of a batch of ``b`` rows out of ``n``,
``(n (b - 1) L + (n - b) L_max) / (b (n - 1))`` (Gower et al. 2019),
between the full-data ``L`` (b = n) and the largest single-row ``L_max``
(b = 1).

References
----------
R. M. Gower, N. Loizou, X. Qian, A. Sailanbayev, E. Shulgin and
P. Richtarik, "SGD: general analysis and improved rates", ICML 2019.
"""

from __future__ import annotations

import numpy as np

from fastxent.linear_model._datafit import StochasticDatafit
from fastxent.linear_model._solvers._problem import SolverResult, _Problem
from fastxent.linear_model._solvers._progress import _Progress


def solve_sgd(
    problem: _Problem[StochasticDatafit],
    w0: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    batch_size: int,
    random_state: np.random.RandomState,
    step: float | None = None,
    fixed_step: bool = False,
    verbose: int = 0,
) -> SolverResult:
    """Mini-batch proximal stochastic gradient descent.

    The method is described in the module docstring.

    Parameters
    ----------
    problem : _Problem
    w0 : ndarray of shape (n_rows, n_outputs)
    max_iter : int
        Epochs.
    tol : float
    batch_size : int
    random_state : numpy.random.RandomState
    step : float, default=None
    fixed_step : bool, default=False
        Keep ``step`` throughout.
    verbose : int, default=0

    Returns
    -------
    SolverResult
    """
    datafit, penalty = problem.datafit, problem.penalty
    progress = _Progress("sgd", verbose, max_iter)
    n = datafit.n_samples
    batch_size = max(1, min(batch_size, n))
    if step is None:
        step = _first_step(problem, batch_size)
    t = float(step)

    w = np.array(w0, dtype=np.float64)
    grad = np.empty_like(w)
    Z = datafit.logits(w, problem.new_logits())
    objective = problem.smooth_value(w, Z, with_grad=False) + penalty.nonsmooth_value(w)
    history: list[float] = []
    opt = np.inf
    for epoch in range(1, max_iter + 1):
        _epoch(problem, w, grad, t, random_state.permutation(n), batch_size)
        datafit.logits(w, Z)
        smooth = problem.smooth_value(w, Z, with_grad=True)
        problem.gradient(w, grad)
        new_objective = smooth + penalty.nonsmooth_value(w)
        opt = problem.optimality(w, grad)
        history.append(new_objective)
        progress(epoch, new_objective, opt, t)
        if not fixed_step:
            # "Bold driver": the Lipschitz bound is a worst case, far above
            # the curvature near the minimum, so grow the step while epochs
            # pay off and halve it when one does not.
            t = t * 0.5 if new_objective > objective else t * 1.2
        objective = new_objective
        if opt <= tol:
            progress(epoch, objective, opt, t, last=True)
            return SolverResult(w, epoch, True, opt, history, t)

    progress(len(history), objective, opt, t, last=True)
    return SolverResult(w, len(history), False, opt, history, t)


def _first_step(problem: _Problem[StochasticDatafit], batch_size: int) -> float:
    """``1 / (L(b) + l2 curvature)``, ``L(b)`` the expected smoothness of a
    batch of ``b = batch_size`` rows (see the module docstring)."""
    datafit = problem.datafit
    n = datafit.n_samples
    lip_full = datafit.lipschitz()
    lip_row = datafit.lipschitz_max_row()
    b = batch_size
    expected = (
        lip_full
        if n == 1
        else (n * (b - 1) * lip_full + (n - b) * lip_row) / (b * (n - 1))
    )
    return 1.0 / (expected + problem.penalty.curvature)


def _epoch(
    problem: _Problem[StochasticDatafit],
    w: np.ndarray,
    grad: np.ndarray,
    t: float,
    order: np.ndarray,
    batch_size: int,
) -> None:
    """One pass over the rows in ``order``, a proximal step of size ``t`` per
    mini-batch, updating ``w`` in place (``grad`` is the batch gradient's
    buffer)."""
    penalty = problem.penalty
    shuffled = problem.datafit.subset(order)
    for start in range(0, len(order), batch_size):
        batch = shuffled.subset(slice(start, start + batch_size))
        Zb = batch.logits(w, np.empty((batch.n_samples, batch.n_outputs)))
        Gb = np.empty_like(Zb)
        batch.value_grad(Zb, Gb)
        batch.backprop(Gb, grad)
        penalty.add_smooth_gradient(w, grad)
        w -= t * grad
        penalty.prox(w, t, out=w)
