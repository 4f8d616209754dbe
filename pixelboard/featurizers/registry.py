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
    licence: str = ""  # of the weights, for `pixelboard list backbones`


_REGISTRY: dict[str, FeaturizerEntry] = {}


def register_featurizer(name: str, *, summary: str, weights_source: str, licence: str = ""):
    def decorate(factory: Callable[..., Featurizer]) -> Callable[..., Featurizer]:
        if name in _REGISTRY:
            raise ValueError(f"featurizer {name!r} registered twice")
        _REGISTRY[name] = FeaturizerEntry(name, factory, summary, weights_source, licence)
        return factory
    return decorate


# ``timm:<model name>`` builds an entry on demand (timm_backbones.py registers the builder).
_DYNAMIC: dict[str, Callable[[str], FeaturizerEntry]] = {}


def register_prefix(prefix: str, builder: Callable[[str], FeaturizerEntry]) -> None:
    _DYNAMIC[prefix] = builder


def list_featurizers() -> list[str]:
    return sorted(_REGISTRY)


def get_featurizer_entry(name: str) -> FeaturizerEntry:
    prefix, _, rest = name.partition(":")
    if rest and prefix in _DYNAMIC:
        return _DYNAMIC[prefix](rest)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PixelboardError(f"unknown backbone {name!r}; choose one of: {', '.join(list_featurizers())}, "
                              "or timm:<any timm model name>") from None


# Options that change where the network runs, not the numbers it produces.
RUNTIME_OPTIONS = ("device", "amp")


def create_featurizer(name: str, **options) -> Featurizer:
    """Build a ready-to-use featurizer; options are those of the registered factory.

    The options that define the embeddings are kept on the featurizer (``create_options``) and
    written to every sidecar, so ``predict`` can rebuild exactly the same featurizer later.
    """
    featurizer = get_featurizer_entry(name).factory(**options)
    featurizer.create_options = {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS}
    return featurizer
