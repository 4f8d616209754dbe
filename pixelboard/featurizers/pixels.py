"""The input of the fine-tuned image blueprints: each image's RGB pixels at a fixed size, in [0, 1].

A fine-tuned network needs the images, not their embeddings. Storing the resized pixels as a
featurizer's "embeddings" lets that blueprint reuse everything the embedding blueprints have: the
cache, the identity groups, the partition, views (train-time copies, TTA, ``--validate-under``),
``deploy``, bundles and ``predict``. Columns are the (H, W, 3) pixels flattened in that order
(:func:`pixels_to_images` undoes it). The price is memory: ``3 * size**2`` float32 columns per image
(192 KiB at the default 128 px), so this suits sets of thousands of images, not millions.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import RESIZE_MODES, Featurizer, Preprocessor
from pixelboard.featurizers.registry import register_featurizer

DEFAULT_SIZE = 128  # small enough to fine-tune on a CPU; pass --input-size 224 (or more) on a GPU
KIND = "pixels"  # the sidecar's description.kind, which pairs these rows with the image blueprints


class PixelFeaturizer(Featurizer):
    name = "pixels"

    def __init__(self, *, size: int = DEFAULT_SIZE, resize: str = "squash"):
        if resize not in RESIZE_MODES:
            raise PixelboardError(f"unknown resize mode {resize!r}; choose from {', '.join(RESIZE_MODES)}")
        if size < 32:
            raise PixelboardError(f"--input-size must be at least 32 pixels, got {size}")
        super().__init__(("pixels",))
        self.size = int(size)
        # crop_pct 1.0: the whole image is kept (crop mode still crops to the square, like timm's eval).
        self._preprocessor = Preprocessor(height=self.size, width=self.size, resize=resize, interpolation="bicubic",
                                          crop_pct=1.0, fill=(255, 255, 255))

    @property
    def preprocessor(self) -> Preprocessor:
        return self._preprocessor

    def level_widths(self) -> dict[str, int]:
        return {"pixels": 3 * self.size * self.size}

    def entry_name(self) -> str:
        resize = self._preprocessor.resize
        return f"{self.name}{self.size}" + ("" if resize == "squash" else f"-{resize}")

    def describe(self) -> dict:
        return {"kind": KIND, "backbone": self.name, "size": self.size, "preprocess": asdict(self._preprocessor)}

    def embed(self, batch: torch.Tensor) -> np.ndarray:
        return batch.reshape(len(batch), -1).numpy().astype(np.float32) / 255.0


def pixels_to_images(X: np.ndarray) -> np.ndarray:
    """``(n, 3 * s * s)`` rows of this featurizer -> ``(n, 3, s, s)`` float32 images in [0, 1]."""
    X = np.asarray(X, dtype=np.float32)
    side = int(round((X.shape[1] / 3) ** 0.5)) if X.ndim == 2 else 0
    if X.ndim != 2 or 3 * side * side != X.shape[1]:
        raise PixelboardError(f"expected rows of the pixels featurizer (3 x size x size columns), got shape {X.shape}: "
                              "fine-tuned blueprints train on `featurize --backbone pixels` rows")
    return X.reshape(len(X), side, side, 3).transpose(0, 3, 1, 2)


@register_featurizer("pixels")  # its facts (summary, size, licence) are in registry.py's table
def _create(*, levels=None, resize="squash", device="auto", weights=None, random_weights=False, amp=True,
            input_size=None):
    if weights:
        raise PixelboardError("the pixels featurizer has no weights; drop --weights (the fine-tuned blueprint "
                              "loads its backbone's weights itself)")
    if levels and set(levels) - {"pixels"}:
        raise PixelboardError("the pixels featurizer has a single level ('pixels'); drop --levels")
    return PixelFeaturizer(size=input_size or DEFAULT_SIZE, resize=resize)
