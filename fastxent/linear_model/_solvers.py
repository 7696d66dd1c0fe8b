"""Solvers: accelerated and plain proximal gradient descent, mini-batch SGD, L-BFGS.

Every solver minimises ``f(w) + h(w)``, with ``f`` the datafit's weighted mean
cross-entropy plus the l2 part of the penalty (smooth) and ``h`` the l1 part,
and talks to nothing but the datafit and penalty interfaces
(``_datafit.py``, ``_penalty.py``), in skglm's style. Each returns a
:class:`SolverResult` (coefficients, iterations, convergence flag, objective
after each iteration); the estimator turns it into ``coef_``, ``n_iter_``,
``loss_curve_`` and the ``ConvergenceWarning``.

Cost per iteration, the reason for the structure below: the logits are kept
up to date by linearity (``Z(y + t D) = Z(y) + t X~D``), so a full-batch
iteration does two matrix products with X (one ``X~ @ D``, one
``X~^T @ G``) whatever the number of line-search trials, and every trial is
one kernel call on preallocated buffers. The exception is agd with an l1
part, whose proximal direction changes with the step: one ``X~ @ D`` per
trial (usually one trial). Logits updated by linearity are recomputed from
scratch every few hundred iterations against rounding drift.

Stopping rule, shared by all solvers: stop when the largest entry of the
gradient of the objective with respect to the user's coefficients and
intercept (the distance of ``-grad f`` to the subdifferential of the l1 part,
for l1 and elastic-net penalties) is at most ``tol``. It is measured on the
per-sample objective (scikit-learn's divided by the sum of sample weights),
the scale of scikit-learn's lbfgs ``tol``, and is 0 exactly at the minimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fastxent._kernels import _lbfgs

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


class _Problem:
    """A datafit and a penalty seen from the solvers' coordinates.

    Holds the one ``(n_samples, n_outputs)`` buffer that receives
    ``dloss/dZ``; every kernel call writes into it. Logits buffers come from
    the datafit, which decides where they live (numpy arrays in memory,
    chunks on a cluster for dask data).
    """

    def __init__(self, datafit, penalty):
        self.datafit = datafit
        self.original_penalty = penalty
        self.penalty = penalty.rescaled(datafit.design.coef_scale())
        self.G = datafit.new_logits()

    def new_logits(self):
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
        return self.original_penalty.optimality(
            design.to_original(w), design.gradient_to_original(grad)
        )

    def mapping_optimality(self, mapping):
        """The stopping measure of a gradient mapping ``(y - prox(y - t g)) / t``.

        Equal to :meth:`optimality` at a minimiser; a cheap test of whether
        an extrapolated point is worth checking exactly.
        """
        return float(np.abs(self.datafit.design.gradient_to_original(mapping)).max())

    def initial_step(self, step):
        return 1.0 / self.lipschitz() if step is None else float(step)


class _Progress:
    """Prints one line every so many iterations when ``verbose`` is set."""

    def __init__(self, name, verbose, max_iter):
        self.name = name
        self.every = 0
        if verbose:
            # verbose=1: about 20 lines per fit (every iteration for short
            # fits); verbose>=2: every iteration.
            self.every = 1 if verbose >= 2 else max(1, min(50, max_iter // 20))

    def __call__(self, it, objective, optimality, step, *, last=False):
        if self.every and (it % self.every == 0 or last):
            print(
                f"[{self.name}] iter {it:6d}  objective {objective:.12e}  "
                f"optimality {optimality:.3e}  step {step:.3e}",
                flush=True,
            )


def solve_agd(problem, w0, *, max_iter, tol, step=None, fixed_step=False, verbose=0):
    """Accelerated proximal gradient with backtracking and adaptive restart.

    FISTA (Beck & Teboulle 2009): a proximal gradient step from the
    extrapolated point ``y_k = x_k + beta_k (x_k - x_{k-1})``, the step ``t``
    found by backtracking on the quadratic upper bound
    ``f(x+) <= f(y) + g.(x+ - y) + ||x+ - y||^2 / (2t)`` and enlarged after
    each iteration (by 10%, or toward a Barzilai-Borwein secant step, see
    :func:`_next_step`) so it follows the local curvature down as the fit
    converges. The momentum is reset when either restart test of O'Donoghue &
    Candes (2015) fires, the gradient-mapping one
    ``(y_k - x_{k+1}).(x_{k+1} - x_k) > 0`` or an increase of the objective,
    which recovers linear convergence on strongly convex problems without
    knowing the strong-convexity constant; a step that increased the
    objective is also undone (monotone FISTA, Beck & Teboulle 2009b), so
    ``loss_curve_`` never goes up.

    Each iteration: ``X~ @ g`` once (smooth penalty; with an l1 part the
    direction depends on ``t``, so one product per trial), a loss-only
    kernel call per trial at ``x+``, one fused loss-and-gradient call at the
    next ``y`` and one ``X~^T @ G``.

    Parameters
    ----------
    problem : _Problem
    w0 : ndarray of shape (n_rows, n_outputs)
        Starting point (solver coordinates).
    max_iter : int
    tol : float
    step : float, default=None
        Starting step; None uses ``1 / L`` from the Lipschitz bound.
    fixed_step : bool, default=False
        Keep ``step`` throughout (no backtracking, no growth).
    verbose : int, default=0

    Returns
    -------
    SolverResult

    References
    ----------
    A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding
    algorithm for linear inverse problems", SIAM J. Imaging Sci. 2(1), 2009.
    A. Beck and M. Teboulle, "Fast gradient-based algorithms for constrained
    total variation image denoising and deblurring problems", IEEE Trans.
    Image Process. 18(11), 2009 (monotone FISTA).
    B. O'Donoghue and E. Candes, "Adaptive restart for accelerated gradient
    schemes", Found. Comput. Math. 15, 2015.
    """
    datafit, penalty = problem.datafit, problem.penalty
    smooth = penalty.is_smooth
    progress = _Progress("agd", verbose, max_iter)

    x = np.array(w0, dtype=np.float64)
    y = x.copy()
    x_new = np.empty_like(x)
    gy = np.empty_like(x)
    y_prev = np.empty_like(x)
    g_prev = np.empty_like(x)
    Zx = datafit.logits(x, problem.new_logits())
    Zy = Zx.copy()
    Zn = problem.new_logits()
    XD = problem.new_logits()

    fy = problem.smooth_value(y, Zy, with_grad=True)
    problem.gradient(y, gy)
    t = t_start = problem.initial_step(step)
    theta = 1.0
    y_is_x = True  # y carries no momentum: a proximal output (sparse for l1)
    history = []
    objective = fy + penalty.nonsmooth_value(x)
    opt = np.inf
    it = refreshed = 0
    while True:
        # The gradient is known at y only. For a smooth objective that is
        # exact wherever y is; with an l1 part y must be a prox output for the
        # subdifferential test to mean anything, which restarts ensure.
        if smooth or y_is_x:
            opt = problem.optimality(y, gy)
            if opt <= tol:
                progress(it, objective, opt, t, last=True)
                return SolverResult(y, it, True, opt, history, t)
        if it == max_iter:
            break
        it += 1

        if smooth:
            datafit.logits(gy, XD)
        while True:
            np.multiply(gy, -t, out=x_new)
            x_new += y
            penalty.prox(x_new, t, out=x_new)
            D = x_new - y
            if smooth:
                np.multiply(XD, -t, out=Zn)
            else:
                datafit.logits(D, Zn)
            Zn += Zy
            f_new = problem.smooth_value(x_new, Zn, with_grad=False)
            if fixed_step:
                break
            bound = fy + np.vdot(gy, D) + np.vdot(D, D) / (2.0 * t)
            if f_new <= bound + _SLACK * abs(fy):
                break
            t *= 0.5
            if t < _MIN_STEP * t_start:
                # No step decreases the model: the rounding floor.
                progress(it, objective, opt, t, last=True)
                return SolverResult(x, it - 1, False, opt, history, t)
        objective_new = f_new + penalty.nonsmooth_value(x_new)

        # Adaptive restart, both tests of O'Donoghue & Candes: the step from y
        # points back against the momentum (gradient test), or the objective
        # went up (function test). A step that raised the objective is also
        # undone (monotone FISTA): growing the step each iteration voids
        # FISTA's potential argument, and without this an accepted step from
        # a far extrapolated y can start a slow climb.
        restart = np.vdot(D, x_new - x) < 0.0
        if objective_new > objective + _SLACK * abs(objective) and not fixed_step:
            restart = True
            x_new[...] = x
            Zn[...] = Zx
        else:
            objective = objective_new
        if not smooth and not restart and problem.mapping_optimality(-D / t) <= tol:
            # Close enough to check exactly, which needs y = x_new.
            restart = True
        history.append(objective)
        progress(it, objective, opt, t)
        if restart:
            theta, beta = 1.0, 0.0
        else:
            theta_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * theta * theta))
            beta = (theta - 1.0) / theta_next
            theta = theta_next

        if beta == 0.0 and it - refreshed >= _REFRESH_EVERY:
            # Only at a restart: y's logits are then x_new's. Refreshing Zn
            # alone while the momentum runs would leave Zn - Zx inconsistent
            # with x_new - x, an error the momentum integrates (x 1/(1-beta)).
            datafit.logits(x_new, Zn)
            refreshed = it
        # y = x_new + beta (x_new - x), logits likewise; Zx's buffer becomes
        # the new Zy, Zn's the new Zx.
        y_prev[...] = y
        g_prev[...] = gy
        np.subtract(x_new, x, out=y)
        y *= beta
        y += x_new
        np.subtract(Zn, Zx, out=Zx)
        Zx *= beta
        Zx += Zn
        Zx, Zy, Zn = Zn, Zx, Zy
        x, x_new = x_new, x
        y_is_x = beta == 0.0

        fy = problem.smooth_value(y, Zy, with_grad=True)
        problem.gradient(y, gy)
        if not fixed_step:
            t = _next_step(t, y - y_prev, gy - g_prev)

    progress(it, objective, opt, t, last=True)
    return SolverResult(x, it, False, opt, history, t)


def _next_step(t, s, y):
    """agd's next trial step: grow ``t`` by 10%, or faster toward the
    Barzilai-Borwein step ``s.y / y.y`` of the last move of the extrapolated
    points (``s`` their change, ``y`` their gradients' change), at most 4x.

    The 10% growth alone takes ~25 iterations to climb out of the
    conservative ``1 / L`` start. To scikit-learn's objective at tol=1e-8,
    agd needed 22 iterations with it and 13 with the secant proposal on a
    50,000 x 100, 10-class problem, and 1177 and 1087 on digits.
    """
    curvature = np.vdot(s, y)
    secant = curvature / np.vdot(y, y) if curvature > 0 else 0.0
    return min(max(1.1 * t, secant), 4.0 * t)


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


def solve_gd(problem, w0, *, max_iter, tol, step=None, fixed_step=False, verbose=0):
    """Proximal gradient descent with an Armijo line search.

    From ``x`` with gradient ``g`` and step ``t``, the direction is
    ``D = prox_t(x - t g) - x`` (``-t g`` without l1 part); the search takes
    the largest ``a`` in ``1, ~1/2, ...`` with
    ``F(x + a D) <= F(x) + 1e-4 a (g.D + h(x + D) - h(x))`` (convexity of
    ``h`` makes this a valid sufficient decrease, Tseng & Yun 2009), on
    logits ``Z + a X~D``. The next ``t`` is the Barzilai-Borwein step
    ``s.y / y.y`` of the move just made (``s`` the change of ``w``, ``y`` that
    of the gradient), a secant estimate of the inverse curvature along the
    path; on digits it cuts the iterations to scikit-learn's objective from
    about 2,000 (growing the last accepted step) to 250. Without curvature
    (``s.y <= 0``) the accepted step is kept.

    Parameters and returns as :func:`solve_agd`.

    References
    ----------
    J. Barzilai and J. M. Borwein, "Two-point step size gradient methods",
    IMA J. Numer. Anal. 8, 1988.
    P. Tseng and S. Yun, "A coordinate gradient descent method for nonsmooth
    separable minimization", Math. Program. 117, 2009.
    """
    datafit, penalty = problem.datafit, problem.penalty
    progress = _Progress("gd", verbose, max_iter)

    x, x_new, g, g_new, Z, Zn, XD, smooth_x = _line_search_state(problem, w0)
    objective = smooth_x + penalty.nonsmooth_value(x)
    t = problem.initial_step(step)
    history = []
    opt = np.inf
    for it in range(max_iter + 1):
        opt = problem.optimality(x, g)
        if opt <= tol:
            progress(it, objective, opt, t, last=True)
            return SolverResult(x, it, True, opt, history, t)
        if it == max_iter:
            break
        D = penalty.prox(x - t * g, t, out=np.empty_like(x))
        D -= x
        decrease = (
            np.vdot(g, D) + penalty.nonsmooth_value(x + D) - penalty.nonsmooth_value(x)
        )
        datafit.logits(D, XD)
        if fixed_step:
            np.add(x, D, out=x_new)
            np.add(Z, XD, out=Zn)
            a = 1.0
            objective = problem.smooth_value(
                x_new, Zn, with_grad=True
            ) + penalty.nonsmooth_value(x_new)
        else:
            a, objective, _ = _armijo_search(
                problem, x, D, Z, XD, objective, decrease, x_new, Zn
            )
            if a == 0.0:
                # No decrease even for tiny steps: rounding level reached.
                break
        if (it + 1) % _REFRESH_EVERY == 0:
            datafit.logits(x_new, Zn)
            problem.smooth_value(x_new, Zn, with_grad=True)
        problem.gradient(x_new, g_new)
        if not fixed_step:
            move = x_new - x
            change = g_new - g
            curvature = np.vdot(move, change)
            t = curvature / np.vdot(change, change) if curvature > 0 else a * t
        x, x_new = x_new, x
        g, g_new = g_new, g
        Z, Zn = Zn, Z
        history.append(objective)
        progress(it + 1, objective, opt, t)

    progress(len(history), objective, opt, t, last=True)
    return SolverResult(x, len(history), False, opt, history, t)


def solve_lbfgs(problem, w0, *, max_iter, tol, memory=10, verbose=0):
    """Limited-memory BFGS on the smooth objective (l2 penalty or none).

    The two-loop recursion (Nocedal & Wright, Algorithm 7.4) on the last
    ``memory`` pairs, initial matrix ``(s.y / y.y) I``; an Armijo search from
    the unit step on logits ``Z + a X~D`` (one fused kernel call per trial,
    two matrix products per iteration). Pairs with ``s.y <= 0`` (possible
    with an Armijo-only search) are skipped so the matrix stays positive
    definite.

    Parameters
    ----------
    problem : _Problem
        Its penalty must be smooth.
    w0 : ndarray of shape (n_rows, n_outputs)
    max_iter, tol : as :func:`solve_agd`
    memory : int, default=10
    verbose : int, default=0

    Returns
    -------
    SolverResult

    References
    ----------
    J. Nocedal and S. J. Wright, "Numerical Optimization", 2nd ed.,
    Springer, 2006, chapter 7.
    """
    datafit = problem.datafit
    progress = _Progress("lbfgs", verbose, max_iter)

    x, x_new, g, g_new, Z, Zn, XD, objective = _line_search_state(problem, w0)
    pairs = _CurvaturePairs(memory, x.shape)
    history = []
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
        _lbfgs.two_loop(
            g.ravel(), self.S, self.Y, self.rho, self.head, self.count,
            self.gamma, self._alpha, out,
        )  # fmt: skip
        return out.reshape(self.shape)


def solve_sgd(
    problem,
    w0,
    *,
    max_iter,
    tol,
    batch_size,
    random_state,
    step=None,
    fixed_step=False,
    verbose=0,
):
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

    References
    ----------
    R. M. Gower, N. Loizou, X. Qian, A. Sailanbayev, E. Shulgin and
    P. Richtarik, "SGD: general analysis and improved rates", ICML 2019.
    """
    datafit, penalty = problem.datafit, problem.penalty
    progress = _Progress("sgd", verbose, max_iter)
    n = datafit.n_samples
    batch_size = max(1, min(batch_size, n))
    if step is None:
        lip_full = datafit.lipschitz()
        lip_row = datafit.lipschitz_max_row()
        b = batch_size
        expected = (
            lip_full
            if n == 1
            else (n * (b - 1) * lip_full + (n - b) * lip_row) / (b * (n - 1))
        )
        step = 1.0 / (expected + penalty.curvature)
    t = float(step)

    w = np.array(w0, dtype=np.float64)
    grad = np.empty_like(w)
    Z = datafit.logits(w, problem.new_logits())
    objective = problem.smooth_value(w, Z, with_grad=False) + penalty.nonsmooth_value(w)
    history = []
    opt = np.inf
    for epoch in range(1, max_iter + 1):
        shuffled = datafit.subset(random_state.permutation(n))
        for start in range(0, n, batch_size):
            batch = shuffled.subset(slice(start, start + batch_size))
            Zb = batch.logits(w, np.empty((batch.n_samples, batch.n_outputs)))
            Gb = np.empty_like(Zb)
            batch.value_grad(Zb, Gb)
            batch.backprop(Gb, grad)
            penalty.add_smooth_gradient(w, grad)
            w -= t * grad
            penalty.prox(w, t, out=w)
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
