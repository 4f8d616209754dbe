"""A timm-style registry of featurizers: ``@register_featurizer`` + ``list_featurizers`` / ``create_featurizer``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import Featurizer


@dataclass(frozen=True)
class FeaturizerEntry:
    name: str
    factory: Callable[..., Featurizer]  # factory(**options) -> Featurizer
    summary: str  # one line for `pixelboard list backbones`
    weights_source: str  # where real weights come from, in words


_REGISTRY: dict[str, FeaturizerEntry] = {}


def register_featurizer(name: str, *, summary: str, weights_source: str):
    def decorate(factory: Callable[..., Featurizer]) -> Callable[..., Featurizer]:
        if name in _REGISTRY:
            raise ValueError(f"featurizer {name!r} registered twice")
        _REGISTRY[name] = FeaturizerEntry(name, factory, summary, weights_source)
        return factory
    return decorate


def list_featurizers() -> list[str]:
    return sorted(_REGISTRY)


def get_featurizer_entry(name: str) -> FeaturizerEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PixelboardError(f"unknown backbone {name!r}; choose one of: {', '.join(list_featurizers())}") from None


def create_featurizer(name: str, **options) -> Featurizer:
    """Build a ready-to-use featurizer; options are those of the registered factory."""
    return get_featurizer_entry(name).factory(**options)
