"""Fold BatchNorm into the convolution before it ("-Pruned" in DataRobot's words): faster inference.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` equals a convolution with
scaled weights and a shifted bias. Folding removes one memory-bound pass per layer. timm's CNNs keep
each BatchNorm right after its convolution among a block's children (``conv_dw``/``bn1``,
``conv_pw``/``bn2``, ...); a norm whose preceding sibling is not a matching convolution is left as
it is. ``BatchNormAct2d`` keeps its activation (and drop) and loses only the normalisation.
torch's FX fusion does the same but returns a traced module without timm's
``forward_intermediates``, which the levels need; hence this small pass.
"""

from __future__ import annotations

import torch
from torch import nn


class _ActOnly(nn.Module):
    """What remains of a BatchNormAct2d once its normalisation is folded away."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.drop = getattr(norm, "drop", nn.Identity())
        self.act = getattr(norm, "act", nn.Identity())

    def forward(self, x):
        return self.act(self.drop(x))


@torch.no_grad()
def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm that directly follows its convolution; returns how many were folded."""
    folded = 0
    for parent in list(model.modules()):
        previous = None
        for name, child in list(parent.named_children()):
            if (isinstance(child, nn.BatchNorm2d) and isinstance(previous, nn.Conv2d)
                    and previous.out_channels == child.num_features and child.track_running_stats):
                _fold(previous, child)
                setattr(parent, name, _ActOnly(child) if hasattr(child, "act") else nn.Identity())
                folded += 1
            if not isinstance(child, nn.Identity):  # timm's optional parts (aa, se off) are Identity
                previous = child
    return folded
