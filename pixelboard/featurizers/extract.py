"""Stream images through a featurizer: decode in DataLoader workers while the network runs.

Workers return uint8 arrays (4x less to pass between processes than float tensors); scaling and
normalisation happen on the device inside ``Featurizer.embed``. A file that cannot be decoded
does not stop the stream: it is reported back with its reason, and every good image is still
embedded and committed, so fixing one bad file never costs the work already done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pixelboard.datasets.images import DEFAULT_MAX_PIXELS, ImageDecodeError, load_rgb
from pixelboard.featurizers.augment import apply_tag
from pixelboard.featurizers.base import Featurizer, Preprocessor


@dataclass(frozen=True)
class WorkItem:
    path: Path
    augmentation: str = ""  # a tag from augment.augmentation_tags, "" for the original image
    content_key: str = ""  # the image's content hash: seeds its random augmentations


class _DecodeDataset(Dataset):
    def __init__(self, items: list[WorkItem], preprocessor: Preprocessor, max_pixels: int, seed: int):
        self.items, self.preprocessor, self.max_pixels, self.seed = items, preprocessor, max_pixels, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        try:
            # Draft decoding is only safe when no augmentation needs the full-resolution pixels.
            draft = None if item.augmentation else self.preprocessor.draft_size
            img = load_rgb(item.path, max_pixels=self.max_pixels, draft_size=draft)
            return index, self.preprocessor(apply_tag(img, item.augmentation, self.seed, item.content_key)), ""
        except ImageDecodeError as exc:
            return index, None, str(exc)


def _collate(samples):
    good = [(i, a) for i, a, _ in samples if a is not None]
    bad = [(i, reason) for i, a, reason in samples if a is None]
    arrays = torch.from_numpy(np.stack([a for _, a in good])) if good else None
    return [i for i, _ in good], arrays, bad


def default_workers() -> int:
    """One decoding worker per spare core, at most 8; none on a single-core machine."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def extract(featurizer: Featurizer, items: list[WorkItem], *, batch_size: int = 32, workers: int | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS, seed: int = 0,
            on_batch: Callable[[list[int], np.ndarray], None], progress=None) -> dict[int, str]:
    """Embed ``items`` batch by batch; ``on_batch(indices, rows)`` commits each batch as it finishes.

    Returns ``{item index: reason}`` for the files that could not be decoded.
    """
    if not items:
        return {}
    workers = default_workers() if workers is None else workers
    loader = DataLoader(
        _DecodeDataset(items, featurizer.preprocessor, max_pixels, seed), batch_size=batch_size, shuffle=False,
        num_workers=workers, collate_fn=_collate, pin_memory=featurizer.device.type == "cuda",
        prefetch_factor=4 if workers else None, persistent_workers=False)
    bad: dict[int, str] = {}
    for indices, arrays, failures in loader:
        bad.update(failures)
        if indices:
            on_batch(indices, featurizer.embed(arrays))
        if progress is not None:
            progress.update(len(indices) + len(failures))
    return bad
