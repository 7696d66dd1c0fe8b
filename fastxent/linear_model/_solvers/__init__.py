"""Solvers: accelerated and plain proximal gradient descent, mini-batch SGD, L-BFGS.

Every solver minimises ``f(w) + h(w)``, with ``f`` the datafit's weighted mean
cross-entropy plus the l2 part of the penalty (smooth) and ``h`` the l1 part,
and talks to nothing but the datafit and penalty interfaces (the
``Datafit`` protocol of ``_datafit.py``, ``StochasticDatafit`` for sgd, and
``_penalty.py``), in skglm's style. Each returns a
:class:`SolverResult` (coefficients, iterations, convergence flag, objective
after each iteration); the estimator turns it into ``coef_``, ``n_iter_``,
``loss_curve_`` and the ``ConvergenceWarning``.

Cost per iteration, the reason for the structure of the solvers: the logits
are kept up to date by linearity (``Z(y + t D) = Z(y) + t X~D``), so a
full-batch iteration does two matrix products with X (one ``X~ @ D``, one
``X~^T @ G``) whatever the number of line-search trials, and every trial is
one kernel call on preallocated buffers. The exception is agd with an l1
part, whose proximal direction changes with the step: one ``X~ @ D`` per
trial (usually one trial). Logits updated by linearity are recomputed from
scratch every few hundred iterations against rounding drift.

One file per concept:

- ``_problem.py``: what every solver sees and returns (:class:`_Problem`,
  :class:`SolverResult`) and the stopping rule they share;
- ``_progress.py``: the ``verbose`` progress lines;
- ``_line_search.py``: the acceptance constants of all step searches and the
  Armijo search of gd and lbfgs;
- ``_agd.py``, ``_gd.py``, ``_lbfgs.py``, ``_sgd.py``: one solver each, its
  method described in its module docstring.
"""

from fastxent.linear_model._solvers._agd import solve_agd
from fastxent.linear_model._solvers._gd import solve_gd
from fastxent.linear_model._solvers._lbfgs import solve_lbfgs
from fastxent.linear_model._solvers._problem import SolverResult, _Problem
from fastxent.linear_model._solvers._sgd import solve_sgd

__all__ = [
    "SolverResult",
    "_Problem",
    "solve_agd",
    "solve_gd",
    "solve_lbfgs",
    "solve_sgd",
]
