"""Embed the missing images as a Ray Data ``map_batches`` job on an actor pool (``featurize --backend ray``).

A drop-in for :func:`pixelboard.featurizers.extract.extract` (same arguments, same result): the
driver keeps the cache, the stat index and the project lock, and commits each batch of results as
it streams back, so a stopped run resumes like a local one. Each actor rebuilds the featurizer
from its registry name and creation options (refusing another fingerprint: other weights or
library versions on that machine) and runs the same pure steps as a local decode worker: read the
bytes once, hash them, decode, preprocess, embed. Each dataset row is one batch of the local
backend (same items, same order), so the embeddings are those of the local backend.

One actor per GPU when the cluster has GPUs, else a small CPU pool. The image paths must be
readable from every node (a shared file system) when the cluster has more than one machine.
Ray is an optional extra (``pip install 'pixelboard[ray]'``): only this module imports it.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.base import Featurizer
from pixelboard.featurizers.extract import Hashed, WorkItem

log = logging.getLogger(__name__)

EXTRA_HINT = "install it with: pip install 'pixelboard[ray]'"
MAX_CPU_ACTORS = 4


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the data extra)
    except ImportError:
        raise PixelboardError(f"--backend ray needs Ray Data, which is not installed; {EXTRA_HINT}") from None
    return ray


def connect(address: str | None = None):
    """The ``ray`` module, connected to ``address`` (else ``RAY_ADDRESS``, else a new local instance);
    a process that already called ``ray.init`` keeps its connection."""
    ray = import_ray()
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise PixelboardError(f"cannot start or reach Ray at {address or 'a local instance'}: "
                                  f"{str(exc).strip().splitlines()[0]} (start one with `ray start --head`, or "
                                  "check --ray-address / RAY_ADDRESS)") from None
    return ray


class _EmbedActor:
    """One featurizer per actor; ``__call__`` embeds one batch of work items (a dataset row each)."""

    def __init__(self, backbone: str, create_options: dict, fingerprint: str, items: list[WorkItem],
                 max_pixels: int, seed: int, cached: frozenset[str]):
        from pixelboard.featurizers import create_featurizer
        from pixelboard.featurizers.extract import _DecodeDataset

        self.featurizer = create_featurizer(backbone, device="auto", **create_options)
        if self.featurizer.fingerprint() != fingerprint:
            raise PixelboardError(f"{backbone} on this Ray worker has fingerprint {self.featurizer.fingerprint()}, "
                                  f"not the driver's {fingerprint}: other weights or library versions there")
        self.dataset = _DecodeDataset(items, self.featurizer.preprocessor, max_pixels, seed, cached)

    def __call__(self, batch: dict) -> dict:
        import torch

        indices, status, reasons, keys, sizes, mtimes = [], [], [], [], [], []
        arrays = []
        for start, stop in zip(batch["start"], batch["stop"]):
            for index in range(int(start), int(stop)):
                _, array, reason, hashed = self.dataset[index]
                indices.append(index)
                status.append(0 if array is not None else (1 if reason else 2))  # 0 embedded, 1 bad, 2 cached
                reasons.append(reason)
                keys.append(hashed.content_key if hashed else "")
                sizes.append(hashed.stat[0] if hashed else -1)
                mtimes.append(hashed.stat[1] if hashed else -1)
                if array is not None:
                    arrays.append(array)
        n_features = self.featurizer.n_features
        embedded = self.featurizer.embed(torch.from_numpy(np.stack(arrays))) if arrays else \
            np.zeros((0, n_features), np.float32)
        rows = np.zeros((len(indices), n_features), np.float32)
        rows[np.asarray(status) == 0] = embedded
        return {"index": np.asarray(indices, np.int64), "status": np.asarray(status, np.int8), "embedding": rows,
                "reason": np.asarray(reasons, dtype=object), "content_key": np.asarray(keys, dtype=object),
                "size": np.asarray(sizes, np.int64), "mtime_ns": np.asarray(mtimes, np.int64)}


class RayBackend:
    """``extract`` on a Ray cluster: ``address`` (or ``RAY_ADDRESS``), else a local Ray instance."""

    def __init__(self, address: str | None = None, actors: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.actors = actors

    def _connect(self):
        return connect(self.address)

    def pool(self, ray) -> tuple[int, float]:
        """(actors, GPUs per actor): one per GPU, else a small CPU pool."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            return (self.actors or gpus), 1.0
        return (self.actors or max(1, min(MAX_CPU_ACTORS, int(resources.get("CPU", 1)) // 2))), 0.0

    def __call__(self, featurizer: Featurizer, items: list[WorkItem], *, batch_size: int = 32,
                 workers: int | None = None, max_pixels: int, seed: int = 0,
                 on_batch: Callable[[list[int], np.ndarray], None], progress=None,
                 cached: frozenset[str] = frozenset(), hashes: dict[int, Hashed] | None = None) -> dict[int, str]:
        if not items:
            return {}
        hashes = {} if hashes is None else hashes
        ray = self._connect()
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        actors, gpus = self.pool(ray)
        bounds = [{"start": s, "stop": min(s + batch_size, len(items))} for s in range(0, len(items), batch_size)]
        dataset = ray.data.from_items(bounds, override_num_blocks=len(bounds))
        results = dataset.map_batches(
            _EmbedActor, batch_size=1, batch_format="numpy", concurrency=actors, num_gpus=gpus,
            fn_constructor_kwargs={"backbone": featurizer.name, "create_options": featurizer.create_options,
                                   "fingerprint": featurizer.fingerprint(), "items": items,
                                   "max_pixels": max_pixels, "seed": seed, "cached": frozenset(cached)})
        bad: dict[int, str] = {}
        try:
            for out in results.iter_batches(batch_size=None, batch_format="numpy"):
                status = out["status"]
                for j, key, size, mtime in zip(out["index"], out["content_key"], out["size"], out["mtime_ns"]):
                    if key:
                        hashes[int(j)] = Hashed(str(key), (int(size), int(mtime)))
                for j, reason in zip(out["index"][status == 1], out["reason"][status == 1]):
                    bad[int(j)] = str(reason)
                done = status == 0
                if done.any():
                    on_batch([int(j) for j in out["index"][done]], np.ascontiguousarray(out["embedding"][done]))
                if progress is not None:
                    progress.update(len(status))
        except ray.exceptions.RayError as exc:
            raise PixelboardError(f"the Ray featurize job failed: {str(exc).strip().splitlines()[-1]}") from None
        return bad
