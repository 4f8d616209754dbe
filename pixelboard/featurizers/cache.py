"""The embedding cache: one append-only store of rows per featurizer fingerprint.

Rows are keyed by image identity (a hash of the file's bytes, plus the augmentation applied), so a
renamed or re-copied image is still a hit, and an edited image is recomputed. Each finished batch
is committed as a shard: ``shard-N.npy`` is written first, then ``shard-N.json`` (its keys), both
atomically; a shard without its JSON is ignored. With ``commit_seconds`` > 0 finished batches are
gathered and committed together at most that often (two fsyncs per commit, not per batch of 32);
``flush`` commits what is pending (callers do it in ``finally``), so only a kill -9 loses work, at
most the last ``commit_seconds`` of it. The next run computes only what no shard holds.
``compact`` deletes shards, so one process at a time may use a store: callers hold ``Project.lock``.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError

READ_ONCE_BYTES = 64 << 20  # files up to this size are read into memory once, for hashing and decoding


def image_key(path: str | os.PathLike, augmentation: str = "") -> str:
    """Content hash of the file (not its name or mtime), plus the augmentation tag."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() + (f"|{augmentation}" if augmentation else "")


def read_and_hash(path: str | os.PathLike) -> tuple[bytes | None, str, tuple[int, int]]:
    """``(bytes, image_key, (size, mtime_ns))`` of a file read once; the bytes are None for a file over
    :data:`READ_ONCE_BYTES` (hashed in chunks: a huge scan is decoded from its path, never held twice)."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        if st.st_size <= READ_ONCE_BYTES:
            data = handle.read()
            return data, hashlib.blake2b(data, digest_size=16).hexdigest(), (st.st_size, st.st_mtime_ns)
        digest = hashlib.blake2b(digest_size=16)
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
        return None, digest.hexdigest(), (st.st_size, st.st_mtime_ns)


class EmbeddingStore:
    """Rows of one featurizer, addressable by image key; safe to interrupt at any point."""

    def __init__(self, directory: str | os.PathLike, n_features: int, description: dict | None = None,
                 commit_seconds: float = 0.0, commit_rows: int = 8192):
        self.directory = Path(directory)
        self.n_features = n_features
        self.commit_seconds, self.commit_rows = commit_seconds, commit_rows
        self._pending: list[tuple[list[str], np.ndarray]] = []
        self._pending_rows = 0
        self._last_commit = time.monotonic()
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
        return key in self._index or any(key in keys for keys, _ in self._pending)

    def __len__(self) -> int:
        return len(self._index)

    def keys(self) -> set[str]:
        """Every committed key (e.g. for decode workers that skip what is cached)."""
        return set(self._index)

    def missing(self, keys: list[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self._index]

    def add(self, keys: list[str], rows: np.ndarray) -> None:
        """Add one batch: committed now, or with the next ones when ``commit_seconds`` > 0 (see ``flush``)."""
        rows = np.asarray(rows, dtype=np.float32)
        if rows.shape != (len(keys), self.n_features):
            raise ValueError(f"expected {(len(keys), self.n_features)} rows, got {rows.shape}")
        self._pending.append((list(keys), rows))
        self._pending_rows += len(keys)
        if (self.commit_seconds <= 0 or self._pending_rows >= self.commit_rows
                or time.monotonic() - self._last_commit >= self.commit_seconds):
            self.flush()

    def flush(self) -> None:
        """Commit the pending batches as one shard."""
        if not self._pending:
            return
        keys = [key for batch, _ in self._pending for key in batch]
        rows = np.concatenate([rows for _, rows in self._pending]) if len(self._pending) > 1 else self._pending[0][1]
        self._pending, self._pending_rows = [], 0
        self._commit(keys, rows)
        self._last_commit = time.monotonic()

    def _commit(self, keys: list[str], rows: np.ndarray) -> None:
        """Write one shard (array first, keys second: the keys file is the commit)."""
        stem = f"shard-{uuid.uuid4().hex}"
        atomic.write_npy(self.directory / f"{stem}.npy", rows)
        atomic.write_json(self.directory / f"{stem}.json", list(keys))
        for row, key in enumerate(keys):
            self._index[key] = (stem, row)
        self._added.append(stem)

    def get(self, keys: list[str], out: np.ndarray | None = None) -> np.ndarray:
        """The rows of ``keys``, into ``out`` when given (e.g. a memory-mapped file: nothing else is held)."""
        self.flush()
        out = np.empty((len(keys), self.n_features), dtype=np.float32) if out is None else out
        for i, key in enumerate(keys):
            stem, row = self._index[key]
            shard = self._shard(stem)
            if row >= len(shard):
                raise atomic.damaged(self.directory / f"{stem}.npy", f"{len(shard)} rows, its keys file names more",
                                     self._fix(stem))
            out[i] = shard[row]
        return out

    def check(self, keys: list[str]) -> None:
        """Open (memory-map) every shard that holds ``keys`` and check its rows, without reading them:
        a damaged shard is reported even when a no-change run has nothing to copy from it."""
        last: dict[str, int] = {}
        for key in keys:
            stem, row = self._index[key]
            last[stem] = max(row, last.get(stem, -1))
        for stem, row in last.items():
            if row >= len(self._shard(stem)):
                raise atomic.damaged(self.directory / f"{stem}.npy", "fewer rows than its keys file names",
                                     self._fix(stem))

    def compact(self) -> None:
        """Merge the per-batch shards of this run into one, so a big image set leaves few files.

        Only this run's shards are rewritten: earlier runs' shards are already merged, and
        rewriting the whole cache on every incremental run would make small additions slow.
        """
        self.flush()
        if len(self._added) <= 1:
            return
        stems = set(self._added)
        keys = [key for key, (stem, _) in self._index.items() if stem in stems]
        stem = f"shard-{uuid.uuid4().hex}"
        with atomic.write_npy_memmap(self.directory / f"{stem}.npy", (len(keys), self.n_features)) as merged:
            for start in range(0, len(keys), 4096):  # through a memory map: never the whole cache in RAM
                self.get(keys[start:start + 4096], out=merged[start:start + 4096])
        atomic.write_json(self.directory / f"{stem}.json", keys)
        old = [self.directory / f"{s}{ext}" for s in sorted(stems) for ext in (".json", ".npy")]
        for s in stems:
            self._arrays.pop(s, None)
        for row, key in enumerate(keys):
            self._index[key] = (stem, row)
        self._added = [stem]
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
