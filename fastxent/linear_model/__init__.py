"""Linear models trained on fastxent's fused cross-entropy kernels.

``LogisticRegression`` is a composition of a datafit (``_datafit.py``: the
weighted cross-entropy of a linear model, its gradient and Lipschitz bound,
over the implicitly standardised design of ``_design.py``), a penalty
(``_penalty.py``: l2, l1, elastic net, with proximal operator and optimality
measure) and a solver (``_solvers/``: agd, gd, sgd, lbfgs), in the style of
skglm; ``_logistic.py`` is the scikit-learn front. Beside it, one concept
per file:

- ``_params.py``: the checks of its hyper-parameters;
- ``_backend.py``: the interfaces of the backends that check, encode and
  predict the data where they live, and the choice of one per call;
  ``_in_memory.py`` is the in-memory backend (``fastxent/dask`` has the
  other), ``_targets.py`` the encoded targets and the rules both apply;
- ``_blas.py``, ``_memory.py``, ``_separation.py``: the BLAS threads of a
  fit, the memory check before an in-memory fit, the warning after an
  unpenalised one that separates its data.

Needs scikit-learn (``pip install "fastxent[sklearn]"``).
"""

from fastxent._optional import require

require("sklearn", "fastxent.linear_model")

from fastxent.linear_model._logistic import LogisticRegression  # noqa: E402

__all__ = ["LogisticRegression"]
