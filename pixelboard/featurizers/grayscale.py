"""The Baseline Image Classifier's featurizer: a 20x20 grayscale thumbnail, flattened, in [0, 1].

No network at all: it tells how much a pretrained CNN adds over raw pixels.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import RESIZE_MODES, Featurizer, Preprocessor
from pixelboard.featurizers.registry import register_featurizer

SIDE = 20


class GrayscaleFeaturizer(Featurizer):
    name = "grayscale20"

    def __init__(self, *, resize: str = "squash"):
        if resize not in RESIZE_MODES:
            raise PixelboardError(f"unknown resize mode {resize!r}; choose from {', '.join(RESIZE_MODES)}")
        super().__init__(("pixels",))
        # BOX averages every source pixel into the thumbnail: the fairest 20x20 summary of a page.
        self._preprocessor = Preprocessor(height=SIDE, width=SIDE, resize=resize, interpolation="box",
                                          crop_pct=1.0, fill=(255, 255, 255), grayscale=True)

    @property
    def preprocessor(self) -> Preprocessor:
        return self._preprocessor

    def level_widths(self) -> dict[str, int]:
        return {"pixels": SIDE * SIDE}

    def entry_name(self) -> str:
        return self.name if self._preprocessor.resize == "squash" else f"{self.name}-{self._preprocessor.resize}"

    def describe(self) -> dict:
        return {"kind": "grayscale", "backbone": self.name, "preprocess": asdict(self._preprocessor)}

    def embed(self, batch: torch.Tensor) -> np.ndarray:
        return batch.reshape(len(batch), -1).numpy().astype(np.float32) / 255.0


@register_featurizer("grayscale20", summary="20x20 grayscale pixels (baseline, no network)",
                     weights_source="none needed")
def _create(*, levels=None, resize="squash", device="auto", weights=None, random_weights=False, amp=True):
    if weights:
        raise PixelboardError("grayscale20 has no weights; drop --weights")
    if levels and set(levels) - {"pixels"}:
        raise PixelboardError("grayscale20 has a single level ('pixels'); drop --levels")
    return GrayscaleFeaturizer(resize=resize)
