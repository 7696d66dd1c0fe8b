"""``LogisticRegression``: the scikit-learn front of datafit + penalty + solver.

The class checks its parameters (``_params.py``), asks the backend of its
data (``_backend.py``: in memory or dask) to check and encode them, builds a
datafit (``_datafit.py``) over a design (``_design.py``) from the backend's
classes and a penalty (``_penalty.py``), and runs a solver (``_solvers/``);
everything numerical lives there. The backend is chosen once per ``fit``
and per prediction.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, TypeAlias

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from fastxent._typing import ArrayLike, FloatArray, Solver
from fastxent.linear_model._backend import backend_for
from fastxent.linear_model._blas import blas_limit
from fastxent.linear_model._params import (
    DEFAULT_BATCH_SIZE,
    check_params,
    fit_solver,
    refuse_penalty,
    refuse_penalty_param,
)
from fastxent.linear_model._penalty import ElasticNet
from fastxent.linear_model._solvers import (
    _Problem,
    solve_agd,
    solve_gd,
    solve_lbfgs,
    solve_sgd,
)

# X of the estimator: {array-like, sparse matrix}. A string, read by type
# checkers and typing.get_type_hints only: scipy.sparse.sparray, the base
# of the sparse array classes, is public from SciPy 1.11 on, and this
# module imports with SciPy 1.10 too.
MatrixLike: TypeAlias = "ArrayLike | sp.spmatrix | sp.sparray"
_SOLVE = {"agd": solve_agd, "gd": solve_gd, "lbfgs": solve_lbfgs, "sgd": solve_sgd}


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression trained by gradient descent on fastxent's kernels.

    Minimises scikit-learn's objective for the same ``C`` and ``l1_ratio``,

        sum_i s_i loss_i + (l1_ratio ||W||_1 + (1 - l1_ratio) ||W||_F^2 / 2) / C,

    with ``loss_i`` the cross-entropy of the softmax of ``x_i W^T + b``
    (multiclass, one row of ``W`` per class) or of the sigmoid of a single
    logit (two classes), ``s_i`` the sample weight times the class weight,
    and the intercept ``b`` not penalised. ``coef_`` can be compared with
    scikit-learn's ``LogisticRegression`` directly.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength; ``np.inf`` for no penalty (which
        warns when the fit separates the training data perfectly: the
        unpenalised optimum is then at infinity).
    l1_ratio : float in [0, 1], default=0.0
        Elastic-net mixing: 0 is the l2 penalty, 1 the l1 penalty. The l1
        part is applied by proximal steps (soft-thresholding), so l1 fits
        have exact zeros.
    fit_intercept : bool, default=True
        Fit an (unpenalised) intercept.
    solver : {"auto", "agd", "gd", "sgd", "lbfgs"}, default="auto"
        ``"auto"``: ``"lbfgs"`` for a smooth objective (``l1_ratio=0``, or
        ``C=np.inf``), where its curvature pairs take fewer evaluations than
        gradient steps need (2 to 5 times fewer on the bundled datasets);
        ``"agd"`` when there is an l1 part, which L-BFGS cannot handle.
        ``"agd"``: accelerated proximal gradient (FISTA) with backtracking
        and adaptive restart. ``"gd"``: proximal gradient descent with an
        Armijo line search. ``"sgd"``: mini-batch proximal SGD (the one
        :meth:`partial_fit` uses). ``"lbfgs"``: limited-memory BFGS written on
        the same kernels, for ``l1_ratio=0`` only.
    max_iter : int, default=1000
        Maximum iterations (epochs for ``"sgd"``).
    tol : float, default=1e-4
        The fit has converged, and stops, at the first iterate where
        ``max_j |g_j| <= tol``, ``g`` the gradient of the objective above
        divided by ``sum_i s_i``, with respect to every entry of ``coef_``
        and ``intercept_`` (the user's coordinates, not the standardised
        ones). With an l1 part, ``|g_j|`` for an entry of ``coef_`` becomes
        the distance of ``-g_j`` to the l1 subdifferential:
        ``|g_j + a sign(w_j)|`` where the coefficient ``w_j`` is nonzero,
        ``max(|g_j| - a, 0)`` where it is zero, ``a = l1_ratio / (C sum_i
        s_i)``. The measure is 0 exactly at the minimum. It is tested at the
        start and after every iteration (after every epoch for ``"sgd"``;
        for ``"agd"`` with an l1 part, at the iterates where a cheaper
        estimate says it may hold). It is the quantity scikit-learn's lbfgs
        compares with its ``tol`` (the largest projected gradient entry, on
        the same per-sample objective); a small decrease of the objective,
        which also stops scikit-learn's lbfgs, does not stop this one. The fit
        also ends, unconverged and with a ``ConvergenceWarning``, after
        ``max_iter`` iterations or, for the full-batch solvers, where no
        step decreases the objective any more (its rounding level); with
        ``tol=0`` one of these ends every fit.
    learning_rate : "auto" or float, default="auto"
        Step size. ``"auto"`` starts from the inverse of the Lipschitz bound
        of the gradient (power iteration on X) and adapts it (line search;
        per epoch for ``"sgd"``); a float is used throughout without
        adaptation. Steps are taken in the standardised coordinates described
        in the Notes. Ignored by ``"lbfgs"``.
    batch_size : int, default=None
        Mini-batch size of ``"sgd"`` and :meth:`partial_fit`; None means
        ``min(256, n_samples)``. The full-batch solvers ignore it.
    class_weight : dict or "balanced", default=None
        Multiplies each sample's weight by its class's weight; ``"balanced"``
        uses ``n_samples / (n_classes * np.bincount(y))`` (weighted by
        ``sample_weight``), as scikit-learn does.
    warm_start : bool, default=False
        Start from the previous ``coef_`` and ``intercept_``.
    verbose : int, default=0
        1: print one line (objective, optimality, step) about every
        ``max_iter / 20`` iterations (at most every 50); 2: every iteration.
    random_state : int, RandomState instance or None, default=None
        Shuffling of ``"sgd"``.
    n_threads : int, default=None
        Threads of fastxent's kernels and of BLAS during the fit; None uses
        every core. Small work runs on fewer threads, where threads would
        cost more than they save: BLAS on one thread for X under 1,000,000
        entries, each kernel call on one thread per 32,768 logits at most
        (mini-batches included). The kernels' results do not depend on it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, in the dtype of the training X (float32 or float64).
        One row for two classes (the logit of ``classes_[1]``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_iter_ : ndarray of shape (1,)
        Iterations (epochs for ``"sgd"``) of the last fit, as int32, one
        entry for any number of classes, as scikit-learn's
        ``LogisticRegression`` reports them; ``[1]`` after
        :meth:`partial_fit`.
    loss_curve_ : list of float
        Objective divided by ``sum_i s_i`` after each iteration; for
        :meth:`partial_fit`, after each call, on that call's data.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when X had string column names.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model, solved by
        quasi-Newton and coordinate methods.

    Notes
    -----
    The solvers step in standardised coordinates: features implicitly
    centred (with an intercept) and divided by ``sqrt(var_j + r)``, ``r``
    the l2 penalty's curvature relative to the loss's, with the result
    mapped back exactly. This diagonal preconditioning changes the path, not
    the minimiser, and never copies X; it is what lets gradient descent cope
    with unscaled features. The one visible difference: with ``C=np.inf`` and
    collinear features the minimiser is not unique, and the one reached is
    not scikit-learn's (which stays in the row space of X); the objective is
    the same.

    Each full-batch iteration costs one fused loss-and-gradient kernel call
    and two products with X; line-search trials reuse ``X @ D`` and cost one
    kernel call each.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastxent.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(C=1.0).fit(X, y)
    >>> clf.predict(X[:2])
    array([0, 0])
    """

    @refuse_penalty
    def __init__(
        self,
        *,
        C: float = 1.0,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        solver: Solver = "auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        learning_rate: float | Literal["auto"] = "auto",
        batch_size: int | None = None,
        class_weight: dict[Any, float] | Literal["balanced"] | None = None,
        warm_start: bool = False,
        verbose: int = 0,
        random_state: int | np.random.RandomState | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def set_params(self, **params: Any) -> LogisticRegression:
        """Set parameters, as scikit-learn's ``set_params`` does.

        Parameters
        ----------
        **params : dict
            Estimator parameters; ``penalty`` raises ``ValueError`` naming
            ``l1_ratio`` and ``C``, which replace it.

        Returns
        -------
        self : LogisticRegression
        """
        refuse_penalty_param(params)
        return super().set_params(**params)

    def fit(
        self, X: MatrixLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> LogisticRegression:
        """Fit the model to ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept (``coef_`` in float32), other
            dtypes become float64. CSC is converted to CSR once.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : LogisticRegression
            Fitted estimator.
        """
        check_params(self)
        # Data of another array library (dask) is checked and encoded by its
        # backend, before validate_data would pull it into memory.
        backend = backend_for(X, y)
        X, targets = backend.prepare_fit(self, X, y, sample_weight)
        initial = self._warm_start(X, targets.classes)
        self.classes_ = targets.classes
        solver = fit_solver(self)
        result = self._solve(
            backend,
            X,
            targets,
            initial,
            solver=solver,
            max_iter=self.max_iter,
            step=None if self.learning_rate == "auto" else self.learning_rate,
        )
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.loss_curve_ = list(result.history)
        self._sgd_step = result.step if solver == "sgd" else None
        if np.isinf(self.C):
            backend.warn_if_separated(self, X, targets)
        if not result.converged:
            # Worded as scikit-learn's lbfgs warning, which users search for.
            warnings.warn(
                f"{solver} failed to converge after {result.n_iter} iteration(s) "
                f"(max_iter={self.max_iter}): optimality {result.optimality:.3e} "
                f"> tol={self.tol:g} (see tol). Increase max_iter or loosen tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _warm_start(self, X, classes):
        """The previous ``(coef_, intercept_)`` to start from, or None."""
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and np.array_equal(getattr(self, "classes_", None), classes)
            and self.coef_.shape[1] == X.shape[1]
        ):
            return self.coef_, self.intercept_
        return None

    def partial_fit(
        self,
        X: MatrixLike,
        y: ArrayLike,
        classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> LogisticRegression:
        """One epoch of mini-batch SGD on ``(X, y)``, continuing the last fit.

        The penalty is scaled to this call's data, as if ``(X, y)`` were the
        whole training set: repeated calls on one data set approach
        ``fit(X, y)``. The step size carries over between calls: halved when a
        call's epoch raised the objective on its data, grown by 20% otherwise.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every label the stream will contain; required on the first call,
            checked against ``classes_`` on later ones.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LogisticRegression
        """
        check_params(self)
        backend = backend_for(X, y)
        first_call = not hasattr(self, "classes_")
        X, targets = backend.prepare_partial_fit(self, X, y, classes, sample_weight)
        initial = None if first_call else (self.coef_, self.intercept_)
        self.classes_ = targets.classes
        step = getattr(self, "_sgd_step", None)
        if self.learning_rate != "auto":
            step = self.learning_rate
        result = self._solve(
            backend, X, targets, initial, solver="sgd", max_iter=1, step=step
        )
        self.n_iter_ = np.array([1], dtype=np.int32)
        self.loss_curve_ = (
            [] if first_call else list(getattr(self, "loss_curve_", []))
        ) + result.history
        self._sgd_step = result.step
        return self

    def _solve(self, backend, X, targets, initial, *, solver, max_iter, step):
        """Build datafit and penalty, run ``solver``, set coef_ and intercept_."""
        n_features = X.shape[1]
        alpha = 0.0 if np.isinf(self.C) else 1.0 / (self.C * targets.total_weight())
        l1_ratio = float(self.l1_ratio)
        datafit = self._datafit(backend, X, targets, alpha * (1.0 - l1_ratio))
        design = datafit.design
        penalty = ElasticNet.from_params(
            alpha, l1_ratio, n_features, self.fit_intercept
        )
        original = np.zeros(datafit.coef_shape)
        if initial is not None:
            coef, intercept = initial
            original[:n_features] = np.asarray(coef, dtype=np.float64).T
            if self.fit_intercept:
                original[n_features] = intercept
        problem = _Problem(datafit, penalty)
        result = self._run(
            problem, X, design.from_original(original), solver, max_iter, step
        )
        original = design.to_original(result.coef)
        self.coef_ = np.ascontiguousarray(original[:n_features].T, dtype=X.dtype)
        if self.fit_intercept:
            self.intercept_ = original[n_features].astype(X.dtype)
        else:
            self.intercept_ = np.zeros(datafit.n_outputs, dtype=X.dtype)
        return result

    def _datafit(self, backend, X, targets, l2):
        """The datafit of ``targets`` over the design of ``X``, from the
        backend's classes; ``l2`` is the penalty's l2 strength."""
        design_class, binomial_class, multinomial_class = backend.datafit_classes()
        n_classes = len(targets.classes)
        binary = n_classes == 2
        # The l2 curvature in units of the loss's bounds the preconditioner's
        # scales (see _design.py).
        ridge = l2 / (binomial_class if binary else multinomial_class).curvature
        weights = targets.row_weights()
        design = design_class(X, weights, fit_intercept=self.fit_intercept, ridge=ridge)
        if binary:
            target = targets.binary_targets()
            return binomial_class(design, target, weights, n_threads=self.n_threads)
        return multinomial_class(
            design,
            targets.class_codes(),
            weights,
            n_classes=n_classes,
            n_threads=self.n_threads,
        )

    def _run(self, problem, X, w0, solver, max_iter, step):
        """``solver`` on ``problem`` from ``w0``, with BLAS threads pinned."""
        random_state = check_random_state(self.random_state)
        options = {"max_iter": max_iter, "tol": float(self.tol)}
        if solver != "lbfgs":
            options.update(step=step, fixed_step=self.learning_rate != "auto")
        if solver == "sgd":
            options.update(
                batch_size=self.batch_size or DEFAULT_BATCH_SIZE,
                random_state=random_state,
            )
        try:
            with blas_limit(X, self.n_threads):
                return _SOLVE[solver](problem, w0, verbose=self.verbose, **options)
        except ValueError as exc:
            # The kernels refuse non-finite logits: only a diverging fit
            # (a fixed learning_rate too large) produces them from finite X.
            if "logits" not in str(exc):
                raise
            raise ValueError(
                f"LogisticRegression(solver={solver!r}) diverged: the logits "
                f"overflowed with learning_rate={self.learning_rate!r}; use "
                "learning_rate='auto' or a smaller step"
            ) from exc

    def decision_function(self, X: MatrixLike) -> FloatArray:
        """Logits of the model: ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column (flattened) for two classes: the logit of
            ``classes_[1]``.
        """
        return backend_for(X).decision_function(self, X)

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return backend_for(X).predict(self, X)

    def predict_proba(self, X: MatrixLike) -> FloatArray:
        """Class probabilities, the softmax (sigmoid) of the decision values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        return backend_for(X).predict_proba(self, X)

    def predict_log_proba(self, X: MatrixLike) -> FloatArray:
        """Log of the class probabilities, computed as a log-softmax.

        Finite (about minus the logit gap) where :meth:`predict_proba`
        underflows to 0.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return backend_for(X).predict_log_proba(self, X)
