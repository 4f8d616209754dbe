"""Which training images must stay together on one side of every split.

One integer group per original image, the union of three relations:

* the user's groups (``--group-column``: pages of one document, photos of one object);
* exact duplicates: images whose files have the same bytes (same content key) are one image;
* augmented copies follow their source image (handled by ``FeatureRows.source``, so a copy's
  group is its source's group).

Connected components of those relations (scipy's graph routine, rather than a hand-written
union-find) give the group ids, numbered in order of first appearance so the same images in the
same order always give the same vector, and the partition's saved fingerprint can be compared.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _codes(values: Sequence) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int64)


def identity_groups(content_keys: Sequence[str], user_groups: Sequence | None = None) -> np.ndarray:
    """Group id per image: images sharing a user group or identical bytes get the same id."""
    n = len(content_keys)
    if user_groups is not None and len(user_groups) != n:
        raise ValueError(f"{len(user_groups)} user groups for {n} images")
    rows = np.arange(n)
    # A bipartite graph image -> key node; images joined through any key share a component.
    relations = [_codes(content_keys)]
    if user_groups is not None:
        relations.append(_codes(user_groups))
    offset, heads, tails = n, [], []
    for codes in relations:
        heads.append(rows)
        tails.append(codes + offset)
        offset += int(codes.max(initial=-1)) + 1
    heads, tails = np.concatenate(heads), np.concatenate(tails)
    graph = coo_matrix((np.ones(heads.size, dtype=np.int8), (heads, tails)), shape=(offset, offset))
    _, component = connected_components(graph, directed=False)
    return _codes(component[:n].tolist())


def groups_fingerprint(groups: np.ndarray) -> str:
    """Hash of the grouping itself (ids renumbered by first appearance), not of the group names."""
    canonical = _codes(np.asarray(groups).tolist()).astype("<i8")
    return "sha256:" + hashlib.sha256(canonical.tobytes()).hexdigest()


def n_merged(groups: np.ndarray) -> int:
    """How many images share their group with another image."""
    counts = np.bincount(np.asarray(groups, dtype=np.int64))
    return int(counts[counts > 1].sum())
