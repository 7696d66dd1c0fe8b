"""``LogisticRegression``: the scikit-learn front of datafit + penalty + solver.

The class validates, encodes the labels and weights, builds a datafit
(``_datafit.py``), a penalty (``_penalty.py``) and calls a solver
(``_solvers/``); everything numerical lives there. Predictions go through
fastxent's ``log_softmax`` / ``softmax``.
"""

from __future__ import annotations

import functools
import numbers
import os
import warnings
from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeAlias, TypeVar, get_args

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from fastxent._dispatch import find_backend
from fastxent._logsumexp import log_softmax, softmax
from fastxent._typing import ArrayLike, FloatArray, Solver
from fastxent.linear_model._datafit import (
    BinomialCrossEntropy,
    MultinomialCrossEntropy,
)
from fastxent.linear_model._design import StandardizedDesign
from fastxent.linear_model._penalty import ElasticNet
from fastxent.linear_model._solvers import (
    _Problem,
    solve_agd,
    solve_gd,
    solve_lbfgs,
    solve_sgd,
)

_SOLVERS = get_args(Solver)
# X of the estimator: {array-like, sparse matrix}. A string, read by type
# checkers and typing.get_type_hints only: scipy.sparse.sparray, the base
# of the sparse array classes, is public from SciPy 1.11 on, and this
# module imports with SciPy 1.10 too.
MatrixLike: TypeAlias = "ArrayLike | sp.spmatrix | sp.sparray"
# Mini-batch size of "sgd" when batch_size is None.
_DEFAULT_BATCH_SIZE = 256
# Below this size BLAS threads cost more than they save, and far more when a
# core is busy with something else: a digits-sized product ran many times
# slower on 2 OpenBLAS threads than on 1. (The kernels make the same choice themselves,
# per call: one thread per 32,768 logits at most.)
_BLAS_THREADS_MIN_SIZE = 1_000_000  # entries (or nonzeros) of X

_threadpool_controller = None

# scikit-learn deprecated ``penalty`` in 1.8 (removed in 1.10) in favour of
# l1_ratio and C, the only penalty parameters here: code ported from it meets
# this instead of Python's bare "unexpected keyword argument".
_NO_PENALTY = (
    "LogisticRegression has no penalty parameter (scikit-learn deprecated it "
    "in 1.8): set l1_ratio and C instead, l1_ratio=0 for penalty='l2', "
    "l1_ratio=1 for 'l1', 0 < l1_ratio < 1 for 'elasticnet', and C=np.inf for "
    "None; got penalty={!r}"
)

_Self = TypeVar("_Self")
_P = ParamSpec("_P")


def _refuse_penalty(
    init: Callable[Concatenate[_Self, _P], None],
) -> Callable[Concatenate[_Self, _P], None]:
    """Wrap ``__init__`` so that ``penalty=`` raises ``TypeError`` naming its
    replacements; ``functools.wraps`` keeps the signature that
    ``get_params`` reads."""

    @functools.wraps(init)
    def wrapper(self: _Self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        if "penalty" in kwargs:
            raise TypeError(_NO_PENALTY.format(kwargs["penalty"]))
        init(self, *args, **kwargs)

    return wrapper


def _blas_limit(X, n_threads):
    """Context pinning BLAS threads for a fit on ``X``.

    One thread for small X; ``n_threads`` (None: BLAS's own default)
    otherwise. The kernels and BLAS run one after the other, never at the same
    time, so the two thread counts do not add up.
    """
    global _threadpool_controller
    if _threadpool_controller is None:
        # Built once: it scans the loaded libraries.
        _threadpool_controller = ThreadpoolController()
    size = X.nnz if sp.issparse(X) else X.size
    limit = 1 if size < _BLAS_THREADS_MIN_SIZE else n_threads
    return _threadpool_controller.limit(limits=limit, user_api="blas")


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

    @_refuse_penalty
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
        if "penalty" in params:
            raise ValueError(_NO_PENALTY.format(params["penalty"]))
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
        self._check_params()
        # Data of another array library (dask) is checked and encoded by its
        # backend, before validate_data would pull it into memory.
        backend = find_backend("estimator", X, y)
        if backend is None:
            prepared = self._prepare_fit(X, y, sample_weight)
        else:
            prepared = backend.prepare_fit(self, X, y, sample_weight)
        X, classes, y_index, sample_weight = prepared

        initial = None
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and np.array_equal(getattr(self, "classes_", None), classes)
            and self.coef_.shape[1] == X.shape[1]
        ):
            initial = (self.coef_, self.intercept_)
        self.classes_ = classes

        solver = self._fit_solver()
        result = self._solve(
            X,
            y_index,
            sample_weight,
            initial,
            solver=solver,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            step=None if self.learning_rate == "auto" else self.learning_rate,
            fixed_step=self.learning_rate != "auto",
            random_state=check_random_state(self.random_state),
        )
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.loss_curve_ = list(result.history)
        self._sgd_step = result.step if solver == "sgd" else None
        if np.isinf(self.C) and backend is None:
            # In memory only: the test needs every sample's logits at hand.
            _warn_if_separated(self, X, y_index, sample_weight)
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

    def _prepare_fit(self, X, y, sample_weight):
        """Validate in-memory training data; encode labels, apply class weights.

        Returns
        -------
        X, classes, y_index, sample_weight
        """
        X, y = self._validate_X_y(X, y, reset=True)
        _check_class_labels(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                "LogisticRegression needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {classes[0]!r}"
            )
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        sample_weight = self._apply_class_weight(sample_weight, classes, y, y_index)
        return X, classes, y_index, sample_weight

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
        self._check_params()
        backend = find_backend("estimator", X, y)
        if backend is not None:
            return backend.partial_fit(self, X, y, classes, sample_weight)
        first_call = not hasattr(self, "classes_")
        if first_call:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit"
                )
            classes = np.unique(np.asarray(classes))
            if len(classes) < 2:
                raise ValueError(
                    f"classes must hold at least 2 labels, got {classes.tolist()!r}"
                )
        elif classes is not None and not np.array_equal(
            self.classes_, np.unique(np.asarray(classes))
        ):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()!r} differs from classes_ "
                f"{self.classes_.tolist()!r} of the previous partial_fit calls"
            )
        else:
            classes = self.classes_
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole y and cannot be used in "
                "partial_fit; pass a dict, e.g. from "
                "sklearn.utils.compute_class_weight('balanced', classes=classes, y=y)"
            )
        X, y = self._validate_X_y(X, y, reset=first_call)
        _check_class_labels(y)
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown.tolist()!r} not in classes "
                f"{classes.tolist()!r}"
            )
        y_index = np.searchsorted(classes, y)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        sample_weight = self._apply_class_weight(sample_weight, classes, y, y_index)

        initial = None if first_call else (self.coef_, self.intercept_)
        self.classes_ = classes
        step = getattr(self, "_sgd_step", None)
        if self.learning_rate != "auto":
            step = self.learning_rate
        result = self._solve(
            X,
            y_index,
            sample_weight,
            initial,
            solver="sgd",
            max_iter=1,
            batch_size=self.batch_size,
            step=step,
            fixed_step=self.learning_rate != "auto",
            random_state=check_random_state(self.random_state),
        )
        self.n_iter_ = np.array([1], dtype=np.int32)
        self.loss_curve_ = (
            [] if first_call else list(getattr(self, "loss_curve_", []))
        ) + result.history
        self._sgd_step = result.step
        return self

    def _apply_class_weight(self, sample_weight, classes, y, y_index):
        """Sample weights times class weights, checked to have a positive sum.

        "balanced" is computed here, from the weighted class counts
        (``sum(s) / (n_classes * sum_{i in class} s_i)``, scikit-learn 1.6+'s
        rule), so it does not depend on ``compute_class_weight``'s signature.
        """
        if self.class_weight == "balanced":
            counts = np.bincount(y_index, weights=sample_weight, minlength=len(classes))
            with np.errstate(divide="ignore"):
                class_weight = counts.sum() / (len(classes) * counts)
        elif self.class_weight is not None:
            class_weight = compute_class_weight(self.class_weight, classes=classes, y=y)
        else:
            return _check_weight_sum(sample_weight)
        return _check_weight_sum(sample_weight * class_weight[y_index])

    def _fit_solver(self) -> str:
        """The solver ``fit`` runs: ``solver``, with "auto" resolved."""
        if self.solver != "auto":
            return self.solver
        smooth = self.l1_ratio == 0 or np.isinf(self.C)
        return "lbfgs" if smooth else "agd"

    def _check_params(self):
        """Raise ``ValueError`` for a hyper-parameter outside its range."""
        if not _is_real(self.C) or not self.C > 0:
            raise ValueError(f"C must be a positive float or np.inf, got {self.C!r}")
        if not _is_real(self.l1_ratio) or not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(
                f"l1_ratio must be a float in [0, 1], got {self.l1_ratio!r}"
            )
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if self.solver == "lbfgs" and self.l1_ratio > 0 and np.isfinite(self.C):
            raise ValueError(
                "solver='lbfgs' handles the l2 penalty only (l1_ratio=0), got "
                f"l1_ratio={self.l1_ratio!r}; use solver='agd' for l1 and "
                "elastic-net penalties"
            )
        if not _is_int(self.max_iter) or self.max_iter < 0:
            raise ValueError(
                f"max_iter must be a non-negative int, got {self.max_iter!r}"
            )
        if not _is_real(self.tol) or not self.tol >= 0:
            raise ValueError(f"tol must be a non-negative float, got {self.tol!r}")
        if not (
            (isinstance(self.learning_rate, str) and self.learning_rate == "auto")
            or (
                _is_real(self.learning_rate)
                and np.isfinite(self.learning_rate)
                and self.learning_rate > 0
            )
        ):
            raise ValueError(
                "learning_rate must be 'auto' or a positive float, got "
                f"{self.learning_rate!r}"
            )
        _check_positive_int_or_none(self.batch_size, "batch_size")
        if self.class_weight is not None and not (
            isinstance(self.class_weight, dict) or self.class_weight == "balanced"
        ):
            raise ValueError(
                "class_weight must be a dict, 'balanced' or None, got "
                f"{self.class_weight!r}"
            )
        _check_positive_int_or_none(self.n_threads, "n_threads")

    def _validate_X_y(self, X, y, *, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            order="C",
            reset=reset,
        )
        if sp.issparse(X):
            X = X.tocsr()
        return X, y

    def _solve(
        self,
        X,
        y_index,
        sample_weight,
        initial,
        *,
        solver,
        max_iter,
        batch_size,
        step,
        fixed_step,
        random_state,
    ):
        """Build datafit and penalty, run ``solver``, set coef_ and intercept_."""
        n_classes = len(self.classes_)
        n_features = X.shape[1]
        binary = n_classes == 2
        total_weight = float(sample_weight.sum())
        alpha = 0.0 if np.isinf(self.C) else 1.0 / (self.C * total_weight)
        l1_ratio = float(self.l1_ratio)
        design_class, binomial_class, multinomial_class = _datafit_classes(X)
        if design_class is StandardizedDesign:
            # In-memory logits only: a dask fit keeps them on the workers.
            _check_logits_fit_in_memory(X.shape[0], 1 if binary else n_classes)
        datafit_class = binomial_class if binary else multinomial_class
        # The l2 curvature in units of the loss's bounds the preconditioner's
        # scales (see _design.py).
        ridge = alpha * (1.0 - l1_ratio) / datafit_class.curvature
        design = design_class(
            X, sample_weight, fit_intercept=self.fit_intercept, ridge=ridge
        )
        if binary:
            datafit = binomial_class(
                design,
                (y_index == 1).astype(np.float64),
                sample_weight,
                n_threads=self.n_threads,
            )
        else:
            datafit = multinomial_class(
                design,
                y_index.astype(np.intp),
                sample_weight,
                n_classes=n_classes,
                n_threads=self.n_threads,
            )
        penalty = ElasticNet.from_params(
            alpha, l1_ratio, n_features, self.fit_intercept
        )
        problem = _Problem(datafit, penalty)

        original = np.zeros(datafit.coef_shape)
        if initial is not None:
            coef, intercept = initial
            original[:n_features] = np.asarray(coef, dtype=np.float64).T
            if self.fit_intercept:
                original[n_features] = intercept
        w0 = design.from_original(original)

        options = {"max_iter": max_iter, "tol": float(self.tol)}
        if solver != "lbfgs":
            options.update(step=step, fixed_step=fixed_step)
        if solver == "sgd":
            options.update(
                batch_size=batch_size or _DEFAULT_BATCH_SIZE, random_state=random_state
            )
        run = {
            "agd": solve_agd,
            "gd": solve_gd,
            "lbfgs": solve_lbfgs,
            "sgd": solve_sgd,
        }[solver]
        try:
            with _blas_limit(X, self.n_threads):
                result = run(problem, w0, verbose=self.verbose, **options)
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

        original = design.to_original(result.coef)
        self.coef_ = np.ascontiguousarray(original[:n_features].T, dtype=X.dtype)
        if self.fit_intercept:
            self.intercept_ = original[n_features].astype(X.dtype)
        else:
            self.intercept_ = np.zeros(datafit.n_outputs, dtype=X.dtype)
        return result

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
        check_is_fitted(self)
        if (backend := find_backend("estimator", X)) is not None:
            return backend.decision_function(self, X)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            reset=False,
        )
        scores = X @ self.coef_.T + self.intercept_
        scores = np.asarray(scores)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def _logits_all_classes(self, X):
        """Decision values with one column per class (binary: ``[0, z]``)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return np.ascontiguousarray(scores)

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
        if (backend := find_backend("estimator", X)) is not None:
            return backend.predict(self, X)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            index = (scores > 0).astype(np.intp)
        else:
            index = scores.argmax(axis=1)
        return self.classes_[index]

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
        if (backend := find_backend("estimator", X)) is not None:
            return backend.predict_proba(self, X)
        return softmax(self._logits_all_classes(X), axis=1)

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
        if (backend := find_backend("estimator", X)) is not None:
            return backend.predict_log_proba(self, X)
        return log_softmax(self._logits_all_classes(X), axis=1)


def _datafit_classes(X):
    """Design, binomial and multinomial datafit classes for ``X``: the in-memory
    ones, or those of the backend registered for X's array type (dask)."""
    backend = find_backend("estimator", X)
    if backend is None:
        return StandardizedDesign, BinomialCrossEntropy, MultinomialCrossEntropy
    return backend.datafit_classes()


def _check_class_labels(y):
    """scikit-learn's check that ``y`` holds classes, not continuous values.

    ``y`` is 1-D (validate_data made it so); integer and bool labels are
    classes whatever their values, so only other dtypes need
    ``check_classification_targets``, whose scan costs a tiny fit more than
    its solver.
    """
    if y.dtype.kind not in "biu":
        check_classification_targets(y)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int_or_none(value, name):
    """Raise ``ValueError`` unless ``value`` is None or an int >= 1."""
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def _check_sample_weight(sample_weight, n_samples):
    """Sample weights as a fresh float64 vector: ones for None, checked otherwise."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        weight = np.full(n_samples, float(sample_weight))
    else:
        weight = check_array(
            sample_weight,
            ensure_2d=False,
            dtype=np.float64,
            copy=True,
            input_name="sample_weight",
        )
        if weight.ndim != 1 or weight.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight.shape == {weight.shape}, expected ({n_samples},)"
            )
    if np.any(weight < 0):
        raise ValueError("Negative values in data passed to sample_weight")
    return weight


def _check_weight_sum(sample_weight):
    if not sample_weight.sum() > 0:
        raise ValueError(
            "Sample weights must contain at least one non-zero number "
            "(after multiplying by class_weight)"
        )
    return sample_weight


def _physical_memory_bytes():
    """Physical memory of the machine, or None where POSIX cannot tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _check_logits_fit_in_memory(n_samples, n_outputs):
    """Refuse a fit whose logits cannot fit in the machine's memory.

    Every solver keeps at least the logits and their gradient, two float64
    arrays of ``n_samples x n_outputs`` (the full-batch solvers three more).
    With as many classes as y can hold (10**6 labels, one sample each) that
    is terabytes: a clear error up front beats a ``MemoryError`` (or the
    out-of-memory killer) halfway through the fit.
    """
    needed = 2 * 8 * n_samples * n_outputs
    available = _physical_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(
            f"y has {n_outputs} classes: fitting {n_samples} samples needs at "
            f"least two float64 arrays of n_samples x n_classes = {n_samples} x "
            f"{n_outputs} ({needed / 2**30:.1f} GiB), more than this machine's "
            f"{available / 2**30:.1f} GiB of memory. Merge rare classes or fit "
            "on fewer samples."
        )


def _warn_if_separated(model, X, y_index, sample_weight):
    """Warn when an unpenalised fit separates its training data perfectly.

    If ``X @ coef_.T + intercept_`` ranks every (weighted) sample's own class
    strictly first, scaling the coefficients up lowers the loss for ever: the
    objective of ``C=np.inf`` has no minimiser, and the fit stops only when
    the gradient falls below ``tol``, at coefficients that depend on ``tol``
    and ``max_iter``.
    """
    scores = np.asarray(X @ model.coef_.T + model.intercept_, dtype=np.float64)
    counted = sample_weight > 0
    if scores.shape[1] == 1:
        signed = np.where(y_index == 1, scores[:, 0], -scores[:, 0])
        separated = bool(np.all(signed[counted] > 0))
    else:
        rows = np.arange(len(y_index))
        own = scores[rows, y_index].copy()
        scores[rows, y_index] = -np.inf
        separated = bool(np.all((own > scores.max(axis=1))[counted]))
    if separated:
        warnings.warn(
            "The training data are perfectly separable: without a penalty "
            "(C=np.inf) the loss decreases as the coefficients grow without "
            "bound, so coef_ has no finite optimum and depends on tol and "
            "max_iter. Use a finite C (an l2 penalty) for finite, "
            "well-defined coefficients.",
            UserWarning,
            stacklevel=3,
        )
