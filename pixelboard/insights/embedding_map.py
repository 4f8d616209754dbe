"""A 2-D map of the embeddings (t-SNE after PCA), for a scatter plot coloured by class.

PCA to 50 dimensions first is the usual t-SNE recipe: it removes the noise directions and makes the
neighbour search cheap. Above ``max_points`` images a seeded sample keeps the map to seconds.
"""

from __future__ import annotations

import numpy as np

from pixelboard.errors import PixelboardError

PCA_DIMS = 50
PERPLEXITY = 30.0


def embedding_map(X: np.ndarray, seed: int = 0, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """``(row indices used, sorted; (m, 2) float32 coordinates)``; the same seed gives the same map."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise PixelboardError(f"embedding map: expected a finite (images, features) matrix, got shape {X.shape}")
    if len(X) < 3:
        raise PixelboardError(f"an embedding map needs at least 3 images, got {len(X)}")
    rng = np.random.default_rng(seed)
    rows = np.arange(len(X)) if len(X) <= max_points else np.sort(rng.choice(len(X), max_points, replace=False))
    sample = X[rows]
    dims = min(PCA_DIMS, sample.shape[0], sample.shape[1])
    reduced = PCA(n_components=dims, svd_solver="full").fit_transform(sample.astype(np.float64))
    # Perplexity must stay below the number of points; 30 is t-SNE's usual default.
    perplexity = min(PERPLEXITY, (len(rows) - 1) / 3)
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                  n_jobs=1).fit_transform(reduced)
    return rows, coords.astype(np.float32)
