"""Featurizers: pretrained timm CNNs and a grayscale baseline, in a registry, plus the embedding cache.

The registry lists every featurizer from static facts; the modules that build them (and torch) are
imported on first use, so listing backbones stays fast.
"""

from pixelboard.featurizers.registry import create_featurizer, get_featurizer_entry, list_featurizers

_FROM_BASE = ("CNN_LEVELS", "Featurizer", "Preprocessor")  # base.py imports torch: loaded when first asked for

__all__ = [*_FROM_BASE, "create_featurizer", "get_featurizer_entry", "list_featurizers"]


def __getattr__(name: str):
    if name in _FROM_BASE:
        from pixelboard.featurizers import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
