"""Views: an image under named transforms (rotations, flips, ...), embedded once and used three ways.

``featurize --views dihedral`` caches the embedding of every training image under each view, like
any augmented row. From those rows come:

* **invariant embeddings**: the mean (``mean``) or mean and max (``meanmax``) of an image's
  embeddings over the identity and its views, one row per image, saved as their own featurizer
  variant (``efficientnet_lite0+d4mean``) so the leaderboard ranks invariant and plain embeddings
  side by side at the cost of a plain leaderboard. Averaging features over a group of transforms
  gives what augmentation gives to a convex model at a fraction of the rows (Lyle et al. 2020,
  "On the benefits of invariance in neural networks");
* **shift-aware validation** (``leaderboard --validate-under``): validation and holdout images
  replaced by one of their views, so the scores estimate a test set that comes rotated or flipped;
* train-time augmentation and TTA, which use the same cache keys (``--augment``, ``--tta``).

The view rows of a set live beside its embeddings in ``embeddings/<set>/views/<featurizer>.npy``
(not in the featurizer list: they never train a model by themselves).
"""

from __future__ import annotations

import hashlib

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import DIHEDRAL

POOLS = ("mean", "meanmax")
ROTATIONS = ("rot90", "rot180", "rot270")


def views_tag(views: list[str]) -> str:
    """``d4`` for the 8 orientations of a page, ``c4`` for the 4 rotations, else a short hash."""
    chosen = set(views)
    if chosen == set(DIHEDRAL):
        return "d4"
    if chosen == set(ROTATIONS):
        return "c4"
    return "v" + hashlib.blake2b(",".join(sorted(chosen)).encode(), digest_size=3).hexdigest()


def variant_name(entry: str, views: list[str], pool: str) -> str:
    """The featurizer name of the invariant variant, e.g. ``efficientnet_lite0+d4mean``."""
    return f"{entry}+{views_tag(views)}{pool}"


def check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise PixelboardError(f"unknown view pooling {pool!r}; choose from {', '.join(POOLS)}")
    return pool


def pool_views(stack: np.ndarray, pool: str) -> np.ndarray:
    """``(views, images, d)`` -> ``(images, d)`` for ``mean``, ``(images, 2d)`` for ``meanmax``.

    Summed in float64 in a fixed order, so the result does not depend on how the views were batched.
    """
    mean = stack.astype(np.float64).mean(axis=0).astype(np.float32)
    if check_pool(pool) == "mean":
        return mean
    return np.concatenate([mean, stack.max(axis=0)], axis=1)


def pooled_width(width: int, pool: str) -> int:
    """Columns of the pooled matrix: ``width`` for ``mean``, twice that for ``meanmax``."""
    return width if check_pool(pool) == "mean" else 2 * width


def pooled_slices(level_slices: dict[str, list[int]], width: int, pool: str) -> dict[str, list[int]]:
    """Column slices of the pooled matrix: the same levels for ``mean``; ``meanmax`` adds ``<level>_max``."""
    if pool == "mean":
        return dict(level_slices)
    return {**level_slices, **{f"{level}_max": [start + width, stop + width]
                               for level, (start, stop) in level_slices.items()}}


def is_group(views: list[str]) -> bool:
    """Whether ``views`` and the identity form a group of transforms (all 8 orientations, or the 4
    rotations): turning an image then only permutes its views."""
    return views_tag(views) in ("d4", "c4")


def invariant_to(sidecar: dict, views: list[str]) -> bool:
    """True when a featurizer variant was pooled over a whole group of transforms that holds these
    views: turning the image only permutes the pooled rows."""
    pooled = list(sidecar.get("views") or [])
    return bool(pooled) and is_group(pooled) and set(views) <= set(pooled)
