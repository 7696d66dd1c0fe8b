"""Type aliases of the public signatures, one home for each.

The modules that annotate with them import them at run time, so that
``typing.get_type_hints`` resolves every public signature; this module
imports nothing beyond numpy and ``typing``. The enumerated options are
``Literal`` types, and the checks that accept them read their values from
here (``typing.get_args``), so each list of names is written once. The
estimator's ``X``, which may be a scipy sparse matrix, has its alias in
``linear_model/_logistic.py``, a module that imports scipy.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

# How per-sample losses are combined.
Reduction: TypeAlias = Literal["mean", "sum", "none"]
# Axes of the log-sum-exp family: one, several, or None for every axis.
Axes: TypeAlias = int | tuple[int, ...] | None
FloatArray: TypeAlias = NDArray[np.floating]
# A numpy float scalar where no axis is left (reduction="mean" or "sum", a
# reduction over every axis, a 0-d input), else an array.
FloatResult: TypeAlias = np.floating | NDArray[np.floating]

# LogisticRegression's solvers.
Solver: TypeAlias = Literal["auto", "agd", "gd", "sgd", "lbfgs"]
# The prediction methods a cross-entropy scorer can score, in the order
# response_method="auto" tries them.
ResponseMethod: TypeAlias = Literal[
    "decision_function", "predict_log_proba", "predict_proba"
]

__all__ = [
    "ArrayLike",
    "Axes",
    "FloatArray",
    "FloatResult",
    "Reduction",
    "ResponseMethod",
    "Solver",
]
