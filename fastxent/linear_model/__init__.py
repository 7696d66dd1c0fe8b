"""Linear models trained on fastxent's fused cross-entropy kernels.

``LogisticRegression`` is a composition of a datafit (``_datafit.py``: the
weighted cross-entropy of a linear model, its gradient and Lipschitz bound,
over the implicitly standardised design of ``_design.py``), a penalty
(``_penalty.py``: l2, l1, elastic net, with proximal operator and optimality
measure) and a solver (``_solvers/``: agd, gd, sgd, lbfgs), in the style of
skglm; ``_logistic.py`` is the scikit-learn front.

Needs scikit-learn (``pip install "fastxent[sklearn]"``).
"""

from fastxent._optional import require

require("sklearn", "fastxent.linear_model")

from fastxent.linear_model._logistic import LogisticRegression  # noqa: E402

__all__ = ["LogisticRegression"]
