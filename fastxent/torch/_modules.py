"""``nn.Module`` drop-ins: PyTorch's loss modules with fastxent's forward.

Subclasses of PyTorch's own, so constructor, buffers (``weight``,
``pos_weight``), ``state_dict`` and ``repr`` are PyTorch's; only the
forward changes.
"""

from __future__ import annotations

import torch

from fastxent.torch._binary import binary_cross_entropy_with_logits
from fastxent.torch._cross_entropy import cross_entropy


class CrossEntropyLoss(torch.nn.CrossEntropyLoss):
    """``torch.nn.CrossEntropyLoss`` computed by
    :func:`fastxent.torch.cross_entropy`; the same arguments."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class BCEWithLogitsLoss(torch.nn.BCEWithLogitsLoss):
    """``torch.nn.BCEWithLogitsLoss`` computed by
    :func:`fastxent.torch.binary_cross_entropy_with_logits`; the same
    arguments."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy_with_logits(
            input,
            target,
            weight=self.weight,
            reduction=self.reduction,
            pos_weight=self.pos_weight,
        )
