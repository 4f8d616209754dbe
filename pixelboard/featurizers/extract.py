"""Stream images through a featurizer: decode in DataLoader workers while the network runs.

Workers return uint8 arrays (4x less to pass between processes than float tensors); scaling and
normalisation happen on the device inside ``Featurizer.embed``. A file that cannot be decoded
does not stop the stream: it is reported back with its reason, and every good image is still
embedded and committed, so fixing one bad file never costs the work already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pixelboard.datasets.images import DEFAULT_MAX_PIXELS, ImageDecodeError, load_rgb
from pixelboard.featurizers.augment import apply_tag
from pixelboard.featurizers.base import Featurizer, Preprocessor
from pixelboard.featurizers.cache import read_and_hash


@dataclass(frozen=True)
class WorkItem:
    path: Path
    augmentation: str = ""  # a tag from augment.augmentation_tags, "" for the original image
    content_key: str = ""  # the image's content hash: seeds its random augmentations
    # Unknown content (no stat-index entry): the worker reads the bytes once, hashes them and decodes
    # the same bytes, or skips the decode when that hash is already cached.
    hash: bool = False


@dataclass(frozen=True)
class Hashed:
    """What a worker learnt about a ``hash`` item's file: its content key and the stat of the bytes read."""
    content_key: str
    stat: tuple[int, int]


class _DecodeDataset(Dataset):
    def __init__(self, items: list[WorkItem], preprocessor: Preprocessor, max_pixels: int, seed: int,
                 cached: frozenset[str] = frozenset()):
        self.items, self.preprocessor, self.max_pixels, self.seed = items, preprocessor, max_pixels, seed
        self.cached = cached
        # The last augmented copy drawn in this worker: the views of a copy (``copy>view`` tags, queued
        # one after another) draw it once, not once per view (an Augraphy effect takes ~0.2 s a page).
        self._last_copy: tuple[tuple, object] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        hashed, data = None, None
        try:
            if item.hash:
                try:
                    data, key, stat = read_and_hash(item.path)
                except OSError as exc:
                    raise ImageDecodeError("file not found" if isinstance(exc, FileNotFoundError)
                                           else (exc.strerror or type(exc).__name__)) from None
                hashed = Hashed(key, stat)
                if key in self.cached:  # a renamed or copied image: cached under its content
                    return index, None, "", hashed
            # Draft decoding is only safe when no augmentation needs the full-resolution pixels.
            draft = None if item.augmentation else self.preprocessor.draft_size
            kwargs = {"data": data} if data is not None else {}
            content_key = hashed.content_key if hashed else item.content_key
            copy, _, view = item.augmentation.rpartition(">")
            if copy and self._last_copy and self._last_copy[0] == (item.path, content_key, copy):
                img = self._last_copy[1]
            else:
                img = load_rgb(item.path, max_pixels=self.max_pixels, draft_size=draft, **kwargs)
                if copy:
                    img = apply_tag(img, copy, self.seed, content_key)
                    self._last_copy = ((item.path, content_key, copy), img)
            return index, self.preprocessor(apply_tag(img, view, self.seed, content_key)), "", hashed
        except ImageDecodeError as exc:
            return index, None, str(exc), hashed


def _collate(samples):
    good = [(i, a) for i, a, _, _ in samples if a is not None]
    bad = [(i, reason) for i, a, reason, _ in samples if a is None and reason]
    hashed = {i: h for i, _, _, h in samples if h is not None}
    arrays = torch.from_numpy(np.stack([a for _, a in good])) if good else None
    return [i for i, _ in good], arrays, bad, hashed


def default_workers() -> int:
    """One decoding worker per spare core, at most 8; none on a single-core machine (cores as
    ``joblib.cpu_count`` counts them: the container's CPU quota and the process's affinity)."""
    from joblib import cpu_count

    return max(0, min(8, cpu_count() - 1))


def extract(featurizer: Featurizer, items: list[WorkItem], *, batch_size: int = 32, workers: int | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS, seed: int = 0,
            on_batch: Callable[[list[int], np.ndarray], None], progress=None,
            cached: frozenset[str] = frozenset(), hashes: dict[int, Hashed] | None = None) -> dict[int, str]:
    """Embed ``items`` batch by batch; ``on_batch(indices, rows)`` commits each batch as it finishes.

    ``hash`` items are hashed by the decode workers; their results go into ``hashes`` (filled before
    ``on_batch`` sees the batch), and those whose content key is in ``cached`` are not decoded.
    Returns ``{item index: reason}`` for the files that could not be decoded.
    """
    if not items:
        return {}
    hashes = {} if hashes is None else hashes
    workers = default_workers() if workers is None else workers
    loader = DataLoader(
        _DecodeDataset(items, featurizer.preprocessor, max_pixels, seed, frozenset(cached)), batch_size=batch_size,
        shuffle=False,
        num_workers=workers, collate_fn=_collate, pin_memory=featurizer.device.type == "cuda",
        prefetch_factor=4 if workers else None, persistent_workers=False)
    bad: dict[int, str] = {}
    for indices, arrays, failures, hashed in loader:
        bad.update(failures)
        hashes.update(hashed)
        if indices:
            on_batch(indices, featurizer.embed(arrays))
        if progress is not None:
            progress.update(len(set(indices) | set(dict(failures)) | set(hashed)))
    return bad
