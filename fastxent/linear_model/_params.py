"""The hyper-parameters of ``LogisticRegression``: their checks and defaults.

Beside the estimator rather than inside it: ``__init__`` only stores the
parameters (scikit-learn's convention), and ``fit`` and ``partial_fit`` call
:func:`check_params` first, whatever the data. Each message names the
parameter, the value received and what is expected.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar, get_args

import numpy as np

from fastxent._typing import Solver

SOLVERS = get_args(Solver)
# Mini-batch size of "sgd" when batch_size is None.
DEFAULT_BATCH_SIZE = 256

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


def refuse_penalty(
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


def refuse_penalty_param(params):
    """``set_params``'s check: ``ValueError`` for ``penalty``, naming its
    replacements."""
    if "penalty" in params:
        raise ValueError(_NO_PENALTY.format(params["penalty"]))


def fit_solver(estimator) -> str:
    """The solver ``fit`` runs: ``estimator.solver``, with "auto" resolved."""
    if estimator.solver != "auto":
        return estimator.solver
    smooth = estimator.l1_ratio == 0 or np.isinf(estimator.C)
    return "lbfgs" if smooth else "agd"


def check_params(estimator):
    """Raise ``ValueError`` for a hyper-parameter outside its range."""
    C, l1_ratio, solver = estimator.C, estimator.l1_ratio, estimator.solver
    if not _is_real(C) or not C > 0:
        raise ValueError(f"C must be a positive float or np.inf, got {C!r}")
    if not _is_real(l1_ratio) or not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be a float in [0, 1], got {l1_ratio!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "lbfgs" and l1_ratio > 0 and np.isfinite(C):
        raise ValueError(
            "solver='lbfgs' handles the l2 penalty only (l1_ratio=0), got "
            f"l1_ratio={l1_ratio!r}; use solver='agd' for l1 and "
            "elastic-net penalties"
        )
    if not _is_int(estimator.max_iter) or estimator.max_iter < 0:
        raise ValueError(
            f"max_iter must be a non-negative int, got {estimator.max_iter!r}"
        )
    if not _is_real(estimator.tol) or not estimator.tol >= 0:
        raise ValueError(f"tol must be a non-negative float, got {estimator.tol!r}")
    _check_learning_rate(estimator.learning_rate)
    _check_positive_int_or_none(estimator.batch_size, "batch_size")
    class_weight = estimator.class_weight
    if class_weight is not None and not (
        isinstance(class_weight, dict) or class_weight == "balanced"
    ):
        raise ValueError(
            f"class_weight must be a dict, 'balanced' or None, got {class_weight!r}"
        )
    _check_positive_int_or_none(estimator.n_threads, "n_threads")


def _check_learning_rate(learning_rate):
    if isinstance(learning_rate, str) and learning_rate == "auto":
        return
    if not (
        _is_real(learning_rate) and np.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(
            f"learning_rate must be 'auto' or a positive float, got {learning_rate!r}"
        )


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int_or_none(value, name):
    """Raise ``ValueError`` unless ``value`` is None or an int >= 1."""
    if value is not None and (not _is_int(value) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
