"""The featurizer contract: images in, a float32 (n, d) matrix out, with named level slices.

A featurizer is split in two so that decoding can run in DataLoader worker processes:
- a small picklable :class:`Preprocessor` (PIL RGB image -> fixed-size uint8 array), and
- ``embed`` (uint8 batch -> float32 embeddings), which runs the network in the main process.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

CNN_LEVELS = ("low", "medium", "high", "highest")  # the default levels of a CNN featurizer
# Opt-in: ``grid`` keeps the layout, the stride-16 map average-pooled over a 2x2 grid (page regions).
ALL_LEVELS = ("low", "medium", "grid", "high", "highest")
RESIZE_MODES = ("squash", "pad", "crop")

_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class Preprocessor:
    """Resize an RGB image to the network's input size and return it as uint8 (H, W, C) or (H, W).

    ``squash`` stretches to the input size (the whole image is seen, aspect ratio changes);
    ``pad`` keeps the aspect ratio and pads with ``fill``; ``crop`` is timm's evaluation transform
    (shorter side to size / crop_pct, then a centre crop).
    """

    height: int
    width: int
    resize: str = "squash"
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    fill: tuple[int, int, int] = (255, 255, 255)
    grayscale: bool = False

    def __call__(self, img: Image.Image) -> np.ndarray:
        interp = _PIL_INTERPOLATION[self.interpolation]
        if self.resize == "squash":
            out = img.resize((self.width, self.height), interp)
        elif self.resize == "pad":
            scale = min(self.width / img.width, self.height / img.height)
            size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
            out = Image.new("RGB", (self.width, self.height), self.fill)
            out.paste(img.resize(size, interp), ((self.width - size[0]) // 2, (self.height - size[1]) // 2))
        else:
            scale = max(self.width, self.height) / self.crop_pct / min(img.width, img.height)
            size = (max(self.width, round(img.width * scale)), max(self.height, round(img.height * scale)))
            resized = img.resize(size, interp)
            left, top = (size[0] - self.width) // 2, (size[1] - self.height) // 2
            out = resized.crop((left, top, left + self.width, top + self.height))
        if self.grayscale:
            out = out.convert("L")
        return np.asarray(out, dtype=np.uint8)

    @property
    def draft_size(self) -> tuple[int, int]:
        """The smallest JPEG decode size that still covers the output (see ``load_rgb``)."""
        factor = 1.0 / self.crop_pct if self.resize == "crop" else 1.0
        return (int(self.width * factor) + 1, int(self.height * factor) + 1)


class Featurizer(ABC):
    """Turns decoded images into one float32 row each; ``levels`` are named column blocks."""

    name: str = ""
    # Where a featurizer that exports its network for another runtime keeps the export (featurize_set
    # sets the project's runtimes/ folder); None: a temporary folder, exported again in each process.
    export_dir = None

    def __init__(self, levels: tuple[str, ...]):
        self.levels = tuple(levels)
        self.create_options: dict = {}  # set by registry.create_featurizer

    @property
    @abstractmethod
    def preprocessor(self) -> Preprocessor: ...

    @abstractmethod
    def level_widths(self) -> dict[str, int]:
        """Width of each selected level, in column order."""

    @abstractmethod
    def describe(self) -> dict:
        """Everything that changes the numbers: hashed into :meth:`fingerprint`."""

    @abstractmethod
    def embed(self, batch: torch.Tensor) -> np.ndarray:
        """uint8 batch (N, H, W, C) or (N, H, W) -> float32 (N, d)."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def n_features(self) -> int:
        return sum(self.level_widths().values())

    def level_slices(self) -> dict[str, list[int]]:
        slices, start = {}, 0
        for level, width in self.level_widths().items():
            slices[level] = [start, start + width]
            start += width
        return slices

    def entry_name(self) -> str:
        """A readable name for this configuration in the project (the backbone plus what differs)."""
        return self.name

    def fingerprint(self) -> str:
        payload = json.dumps(self.describe(), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def transform(self, images: list[Image.Image]) -> np.ndarray:
        """Convenience for in-memory RGB images (the pipeline uses ``preprocessor`` + ``embed``)."""
        if not images:
            return np.zeros((0, self.n_features), dtype=np.float32)
        batch = torch.from_numpy(np.stack([self.preprocessor(img.convert("RGB")) for img in images]))
        return self.embed(batch)
