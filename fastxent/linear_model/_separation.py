"""The warning of an unpenalised fit whose optimum lies at infinity."""

from __future__ import annotations

import warnings

import numpy as np


def warn_if_separated(estimator, X, targets):
    """Warn when an unpenalised fit separates its training data perfectly.

    If ``X @ coef_.T + intercept_`` ranks every (weighted) sample's own class
    strictly first, scaling the coefficients up lowers the loss for ever: the
    objective of ``C=np.inf`` has no minimiser, and the fit stops only when
    the gradient falls below ``tol``, at coefficients that depend on ``tol``
    and ``max_iter``.

    Parameters
    ----------
    estimator : LogisticRegression
        Fitted on ``X``, from whose ``fit`` this is called.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    targets : EncodedTargets
        Its ``codes`` and ``weights``; samples of weight 0 do not count.
    """
    codes = targets.codes
    scores = np.asarray(X @ estimator.coef_.T + estimator.intercept_, dtype=np.float64)
    counted = targets.weights > 0
    if scores.shape[1] == 1:
        signed = np.where(codes == 1, scores[:, 0], -scores[:, 0])
        separated = bool(np.all(signed[counted] > 0))
    else:
        rows = np.arange(len(codes))
        own = scores[rows, codes].copy()
        scores[rows, codes] = -np.inf
        separated = bool(np.all((own > scores.max(axis=1))[counted]))
    if separated:
        warnings.warn(
            "The training data are perfectly separable: without a penalty "
            "(C=np.inf) the loss decreases as the coefficients grow without "
            "bound, so coef_ has no finite optimum and depends on tol and "
            "max_iter. Use a finite C (an l2 penalty) for finite, "
            "well-defined coefficients.",
            UserWarning,
            stacklevel=3,  # the line that called fit
        )
