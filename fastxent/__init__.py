"""fastxent: fast, accurate cross-entropy for Python on the CPU.

Fused Cython kernels for log-sum-exp, softmax and the categorical and binary
cross-entropies (loss and gradient in one pass), a functional API over them,
and scikit-learn pieces built on it.

This module sits above every layer, so it is where optional backends are
wired in: dask arrays are served by ``fastxent.dask``, registered here by
import path only (see ``_dispatch.py``), so that ``import fastxent`` does not
import dask.
"""

from fastxent._binary import binary_cross_entropy, binary_cross_entropy_with_grad
from fastxent._categorical import cross_entropy, cross_entropy_with_grad
from fastxent._config import show_config
from fastxent._dispatch import register_backend
from fastxent._information import entropy, kl_divergence
from fastxent._logsumexp import log_softmax, logsumexp, softmax

__version__ = "0.1.0"

register_backend(
    "dask",
    functions="fastxent.dask._functional",
    estimator="fastxent.dask._estimator",
)

__all__ = [
    "LogisticRegression",
    "binary_cross_entropy",
    "binary_cross_entropy_with_grad",
    "cross_entropy",
    "cross_entropy_with_grad",
    "entropy",
    "kl_divergence",
    "log_softmax",
    "logsumexp",
    "show_config",
    "softmax",
]


def __getattr__(name):
    # The estimator needs scikit-learn, an optional extra: import it on first
    # use so that ``import fastxent`` works without scikit-learn.
    if name == "LogisticRegression":
        from fastxent.linear_model import LogisticRegression

        return LogisticRegression
    raise AttributeError(f"module 'fastxent' has no attribute {name!r}")
