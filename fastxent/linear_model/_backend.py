"""The estimator's backends: what ``LogisticRegression`` asks of its data's home.

A fit checks and encodes its data, builds a design and a datafit, runs a
solver and may test the result; a prediction maps ``X`` through the fitted
coefficients. Which code does each step depends on where the data live: in
memory (``_in_memory.py``, numpy arrays and scipy sparse matrices) or on a
dask cluster (``fastxent/dask/_estimator.py``). Each such module implements
:class:`EstimatorBackend`, and :func:`backend_for` picks one, once per
``fit`` or prediction, from the types of its arrays (``fastxent/_dispatch.py``
knows the foreign ones). The estimator's code is the same for both; the
solvers see only the design and datafit a backend's classes build.
"""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from fastxent._dispatch import find_backend
from fastxent.linear_model import _in_memory


@runtime_checkable
class FitTargets(Protocol):
    """The encoded targets of a fit, as the estimator hands them to the datafits.

    ``classes`` are the sorted classes; the rest is the backend's to hold
    (arrays in memory, chunks on the workers of a dask cluster).
    """

    classes: np.ndarray

    def total_weight(self) -> float:
        """Sum of the row weights (sample weights times class weights)."""

    def binary_targets(self) -> Any:
        """The binomial datafit's ``target``: whether a sample is of
        ``classes[1]``."""

    def class_codes(self) -> Any:
        """The multinomial datafit's ``target``: each sample's class code."""

    def row_weights(self) -> Any:
        """The design's and the datafits' ``sample_weight``."""


@runtime_checkable
class EstimatorBackend(Protocol):
    """The steps of ``LogisticRegression`` that depend on where its data live.

    A module implements it with functions of these names and parameters.
    """

    def prepare_fit(
        self, estimator: Any, X: Any, y: Any, sample_weight: Any
    ) -> tuple[Any, FitTargets]:
        """Check the training data of ``fit``; encode labels and weights.

        Returns ``X`` as the design takes it (float32 or float64, checked)
        and the targets.
        """

    def prepare_partial_fit(
        self, estimator: Any, X: Any, y: Any, classes: Any, sample_weight: Any
    ) -> tuple[Any, FitTargets]:
        """As :meth:`prepare_fit` for one call of ``partial_fit``."""

    def datafit_classes(self) -> tuple[type, type, type]:
        """The design, binomial and multinomial datafit classes, constructed
        as ``design_class(X, targets.row_weights(), fit_intercept=, ridge=)``
        and ``datafit_class(design, target, targets.row_weights(),
        n_threads=)`` (``n_classes=`` for the multinomial)."""

    def warn_if_separated(self, estimator: Any, X: Any, targets: FitTargets) -> None:
        """After an unpenalised fit: warn if it separates its data perfectly."""

    def decision_function(self, estimator: Any, X: Any) -> Any:
        """The fitted estimator's logits of ``X``."""

    def predict(self, estimator: Any, X: Any) -> Any:
        """The most probable class of each sample of ``X``."""

    def predict_proba(self, estimator: Any, X: Any) -> Any:
        """Class probabilities of each sample of ``X``."""

    def predict_log_proba(self, estimator: Any, X: Any) -> Any:
        """Log class probabilities of each sample of ``X``."""


def backend_for(*arrays: object) -> EstimatorBackend:
    """The backend of ``arrays``: the one registered for the type of the first
    foreign array among them (dask), else the in-memory one."""
    backend = find_backend("estimator", *arrays)
    return cast(EstimatorBackend, _in_memory if backend is None else backend)
