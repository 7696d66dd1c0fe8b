"""fastxent's kernels as PyTorch operators, with autograd, on CPU tensors.

Drop-ins for their ``torch.nn.functional`` namesakes (same signatures, same
semantics), registered with ``torch.library`` so that ``torch.compile``
sees them as single operators::

    import fastxent.torch as fxt

    loss = fxt.cross_entropy(logits, labels)   # as F.cross_entropy
    loss.backward()

Needs PyTorch (``pip install torch``); ``import fastxent`` alone never
imports it.
"""

from fastxent._optional import require

require("torch", "fastxent.torch")

from fastxent.torch._binary import binary_cross_entropy_with_logits  # noqa: E402
from fastxent.torch._cross_entropy import cross_entropy  # noqa: E402
from fastxent.torch._linear import linear_cross_entropy  # noqa: E402
from fastxent.torch._log_softmax import log_softmax  # noqa: E402
from fastxent.torch._modules import BCEWithLogitsLoss, CrossEntropyLoss  # noqa: E402

__all__ = [
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "linear_cross_entropy",
    "log_softmax",
]
