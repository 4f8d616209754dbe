"""The embedding cache: one append-only store of rows per featurizer fingerprint.

Rows are keyed by image identity (a hash of the file's bytes, plus the augmentation applied), so a
renamed or re-copied image is still a hit, and an edited image is recomputed. Each finished batch
is committed as a shard: ``shard-N.npy`` is written first, then ``shard-N.json`` (its keys), both
atomically; a shard without its JSON is ignored. An interrupted run therefore loses at most the
batch in flight, and the next run computes only what no shard holds. ``compact`` deletes shards, so
one process at a time may use a store: callers hold ``Project.lock``.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError


def image_key(path: str | os.PathLike, augmentation: str = "") -> str:
    """Content hash of the file (not its name or mtime), plus the augmentation tag."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() + (f"|{augmentation}" if augmentation else "")


class EmbeddingStore:
    """Rows of one featurizer, addressable by image key; safe to interrupt at any point."""

    def __init__(self, directory: str | os.PathLike, n_features: int, description: dict | None = None):
        self.directory = Path(directory)
        self.n_features = n_features
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / "featurizer.json"
        if description is not None and not meta.exists():
            atomic.write_json(meta, description)
        self._index: dict[str, tuple[str, int]] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._added: list[str] = []  # shards written by this object: what compact() merges
        for manifest in sorted(self.directory.glob("shard-*.json")):
            keys = atomic.read_json(manifest, fix=self._fix(manifest.stem))
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise atomic.damaged(manifest, "not a list of image keys", self._fix(manifest.stem))
            for row, key in enumerate(keys):
                self._index[key] = (manifest.stem, row)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def missing(self, keys: list[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self._index]

    def add(self, keys: list[str], rows: np.ndarray) -> None:
        """Commit one batch as a new shard (array first, keys second: the keys file is the commit)."""
        rows = np.asarray(rows, dtype=np.float32)
        if rows.shape != (len(keys), self.n_features):
            raise ValueError(f"expected {(len(keys), self.n_features)} rows, got {rows.shape}")
        stem = f"shard-{uuid.uuid4().hex}"
        atomic.write_npy(self.directory / f"{stem}.npy", rows)
        atomic.write_json(self.directory / f"{stem}.json", list(keys))
        for row, key in enumerate(keys):
            self._index[key] = (stem, row)
        self._added.append(stem)

    def get(self, keys: list[str]) -> np.ndarray:
        out = np.empty((len(keys), self.n_features), dtype=np.float32)
        for i, key in enumerate(keys):
            stem, row = self._index[key]
            shard = self._shard(stem)
            if row >= len(shard):
                raise atomic.damaged(self.directory / f"{stem}.npy", f"{len(shard)} rows, its keys file names more",
                                     self._fix(stem))
            out[i] = shard[row]
        return out

    def compact(self) -> None:
        """Merge the per-batch shards of this run into one, so a big image set leaves few files.

        Only this run's shards are rewritten: earlier runs' shards are already merged, and
        rewriting the whole cache on every incremental run would make small additions slow.
        """
        if len(self._added) <= 1:
            return
        stems = set(self._added)
        keys = [key for key, (stem, _) in self._index.items() if stem in stems]
        rows = self.get(keys)
        old = [self.directory / f"{s}{ext}" for s in sorted(stems) for ext in (".json", ".npy")]
        for stem in stems:
            self._arrays.pop(stem, None)
        self._added = []
        self.add(keys, rows)
        for path in old:  # keys files first (see order above): a crash here leaves only harmless duplicates
            path.unlink(missing_ok=True)

    def _shard(self, stem: str) -> np.ndarray:
        if stem not in self._arrays:
            path = self.directory / f"{stem}.npy"
            try:
                array = atomic.read_npy(path, mmap_mode="r", fix=self._fix(stem))
            except FileNotFoundError:
                raise PixelboardError(f"embedding cache shard {path} disappeared while this run used it (another "
                                      "pixelboard process on the same cache?); run the command again") from None
            if array.ndim != 2 or array.shape[1] != self.n_features:
                raise atomic.damaged(path, f"shape {array.shape}, expected (*, {self.n_features})", self._fix(stem))
            self._arrays[stem] = array
        return self._arrays[stem]

    def _fix(self, stem: str) -> str:
        """Advice for a damaged shard: only its own rows are lost, never the rest of the cache."""
        return (f"delete {self.directory / stem}.npy and {stem}.json and run the command again "
                "(only that shard's images are recomputed)")
