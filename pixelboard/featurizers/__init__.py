"""Featurizers: pretrained timm CNNs and a grayscale baseline, in a registry, plus the embedding cache."""

from pixelboard.featurizers import grayscale, timm_backbones  # noqa: F401  (fill the registry)
from pixelboard.featurizers.base import CNN_LEVELS, Featurizer, Preprocessor
from pixelboard.featurizers.registry import create_featurizer, get_featurizer_entry, list_featurizers

__all__ = ["CNN_LEVELS", "Featurizer", "Preprocessor", "create_featurizer", "get_featurizer_entry",
           "list_featurizers"]
