"""scikit-learn pieces on fastxent: a faster ``log_loss`` and cross-entropy scorers.

- :func:`log_loss`: ``sklearn.metrics.log_loss`` without its one-hot matrix.
- :data:`neg_cross_entropy_scorer`, :func:`make_cross_entropy_scorer`: score
  a classifier by the cross-entropy of its own predicted distribution, from
  its logits where they define it, with the classes it was fitted on.

Needs scikit-learn (``pip install "fastxent[sklearn]"``); ``import fastxent``
does not.
"""

from fastxent._optional import require

require("sklearn", "fastxent.metrics")

from fastxent.metrics._log_loss import log_loss  # noqa: E402
from fastxent.metrics._scorers import (  # noqa: E402
    make_cross_entropy_scorer,
    neg_cross_entropy_scorer,
)

__all__ = ["log_loss", "make_cross_entropy_scorer", "neg_cross_entropy_scorer"]
