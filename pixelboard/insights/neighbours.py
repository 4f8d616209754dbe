"""k nearest neighbours by cosine similarity for the data-quality scans: exact on small sets, HNSW on large ones.

Exact search compares every row with every other (n^2 d multiply-adds: a few seconds at 2,000 images,
minutes at 70,000 on 2 cores). Above ``EXACT_UP_TO`` rows an HNSW graph (hnswlib, the ``report`` extra:
Malkov & Yashunin 2018) answers the same queries in about n log n; it is built with one thread and a
fixed seed, so the same embeddings give the same neighbours. Its recall is not 1: a scan built on it
may miss a few pairs that exact search would find (``benchmarks/insights.py --scan-sizes`` measures its
recall against exact search). Without hnswlib, large sets are searched exactly, with a log line saying so.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

log = logging.getLogger(__name__)

EXACT_UP_TO = 20_000  # rows; above, HNSW (measured: benchmarks/results/insights.json, "scans")
HNSW_M = 16  # graph degree (hnswlib's recommended range 12-48)
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 64  # candidates kept per query (at least 2 k)


def use_index(n_rows: int) -> bool:
    """Whether a scan over ``n_rows`` base rows should use the HNSW index (large, and hnswlib installed)."""
    if n_rows <= EXACT_UP_TO:
        return False
    if _hnswlib() is None:
        log.info("%d rows searched exactly: pip install hnswlib (the report extra) for the fast approximate index",
                 n_rows)
        return False
    return True


def nearest(queries: np.ndarray, base: np.ndarray, k: int, *, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``base`` most similar to each query row, by the HNSW index (unit rows: similarity =
    dot product). ``same``: ``queries`` is ``base`` and a row is not its own neighbour. Returns
    (similarities (n, k), indices into base (n, k)), most similar first."""
    k = min(k, len(base) - (1 if same else 0))
    if k <= 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    # The report scans one matrix twice (near-duplicates with 16 neighbours, outliers with 10): the last
    # answer is kept (by content; a few MB, never the index) and its first k columns serve the next ask.
    key = (_digest(queries), _digest(base), same)
    cached = _LAST.get(key)
    if cached is None or cached[0].shape[1] < k:
        _LAST.clear()
        _LAST[key] = cached = _hnsw(queries, base, max(k, CACHED_NEIGHBOURS), same)
    return cached[0][:, :k].copy(), cached[1][:, :k].copy()


CACHED_NEIGHBOURS = 16  # asked once for this many: data_quality's largest k
_LAST: dict = {}


def _digest(X: np.ndarray) -> str:
    X = np.ascontiguousarray(X, np.float32)
    return hashlib.blake2b(X.data, digest_size=16).hexdigest() + str(X.shape)


def _hnsw(queries: np.ndarray, base: np.ndarray, k: int, same: bool) -> tuple[np.ndarray, np.ndarray]:
    hnswlib = _hnswlib()
    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(max_elements=len(base), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M, random_seed=0)
    index.add_items(np.ascontiguousarray(base, np.float32), np.arange(len(base)), num_threads=1)  # reproducible
    wanted = k + (1 if same else 0)
    index.set_ef(max(HNSW_EF_SEARCH, 2 * wanted))
    labels, distances = index.knn_query(np.ascontiguousarray(queries, np.float32), k=wanted)
    sims = (1.0 - distances).astype(np.float32)  # hnswlib's "ip" distance is 1 - dot
    labels = labels.astype(np.int64)
    if same:  # drop each row's own entry (or, where it was not found, its k+1-th neighbour)
        own = labels == np.arange(len(queries))[:, None]
        own[~own.any(axis=1), -1] = True
        keep = ~own
        labels = labels[keep].reshape(len(queries), k)
        sims = sims[keep].reshape(len(queries), k)
    return sims, labels


def _hnswlib():
    try:
        import hnswlib
    except ImportError:
        return None
    return hnswlib
