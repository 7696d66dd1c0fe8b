"""fastxent: fast, accurate cross-entropy for Python on the CPU.

Functions of logits, each one pass over its input, accurate to a few units in
the last place for confident and extreme logits too (a loss of 1e-22 keeps
its digits):

- :func:`cross_entropy`, :func:`cross_entropy_with_grad`: the cross-entropy of
  ``softmax(logits)`` against class labels or class probabilities, and its
  gradient with respect to the logits in the same pass.
- :func:`binary_cross_entropy`, :func:`binary_cross_entropy_with_grad`: the
  same for ``sigmoid(logits)`` against targets in [0, 1].
- :func:`logsumexp`, :func:`softmax`, :func:`log_softmax`: the signatures,
  defaults and values of ``scipy.special``'s.
- :func:`entropy`, :func:`kl_divergence`: of rows of probabilities.
- :func:`linear_cross_entropy`, :func:`linear_cross_entropy_with_grad`: the
  cross-entropy of a linear layer's output, in chunks of rows, so that the
  logits of a large vocabulary are never held whole.
- :func:`show_config`: the kernel build that runs on this CPU.

They take numpy arrays and array-likes (lists, pandas objects); float32 stays
float32. Dask arrays are computed chunk by chunk (``pip install
"fastxent[dask]"``).

With scikit-learn (``pip install "fastxent[sklearn]"``, which ``import
fastxent`` does not need):

- :class:`LogisticRegression`: scikit-learn's objective for the same ``C`` and
  ``l1_ratio``, fitted on these kernels; a scikit-learn estimator.
- ``fastxent.metrics``: a drop-in ``log_loss`` and cross-entropy scorers.

With PyTorch, ``fastxent.torch`` holds drop-ins for
``torch.nn.functional.cross_entropy`` and its kin, with autograd.

``python -m fastxent`` compares the estimator with scikit-learn's; ``bench``
and ``score`` are its other commands (``python -m fastxent --help``).

Examples
--------
>>> import numpy as np
>>> import fastxent
>>> logits = np.array([[2.0, 0.5, -1.0], [0.0, -50.0, -60.0]])
>>> fastxent.cross_entropy(logits, np.array([0, 0]), reduction="none")
array([2.41311297e-01, 1.92883741e-22])
"""

from fastxent._binary import binary_cross_entropy, binary_cross_entropy_with_grad
from fastxent._categorical import cross_entropy, cross_entropy_with_grad
from fastxent._config import show_config
from fastxent._dispatch import register_backend as _register_backend
from fastxent._information import entropy, kl_divergence
from fastxent._linear_xent import linear_cross_entropy, linear_cross_entropy_with_grad
from fastxent._logsumexp import log_softmax, logsumexp, softmax
from fastxent._optional import installed as _installed
from fastxent._optional import require as _require

__version__ = "0.1.0"

# This module sits above every layer, so optional backends are wired in here,
# by import path only (see _dispatch.py): ``import fastxent`` does not import
# dask.
_register_backend(
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
    "linear_cross_entropy",
    "linear_cross_entropy_with_grad",
    "log_softmax",
    "logsumexp",
    "show_config",
    "softmax",
]


def __getattr__(name):
    # The estimator needs scikit-learn, an optional extra: import it on first
    # use so that ``import fastxent`` works without scikit-learn.
    if name == "LogisticRegression":
        _require("sklearn", "fastxent.LogisticRegression")
        from fastxent.linear_model import LogisticRegression

        globals()[name] = LogisticRegression
        return LogisticRegression
    raise AttributeError(f"module 'fastxent' has no attribute {name!r}")


def __dir__():
    # The public names (and the public subpackages imported so far), not the
    # module's machinery, so that help() lists what a user calls. The lazy
    # estimator only where it can be imported: help() fetches every name
    # dir() lists, and fetching it without scikit-learn raises ImportError.
    names = {name for name in globals() if not name.startswith("_")}
    names.add("__version__")
    if _installed("sklearn"):
        names.add("LogisticRegression")
    return sorted(names)
