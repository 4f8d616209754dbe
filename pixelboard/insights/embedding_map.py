"""A 2-D map of the embeddings (t-SNE after PCA), for a scatter plot coloured by class.

PCA to 50 dimensions first is the usual t-SNE recipe: it removes the noise directions and makes the
neighbour search cheap. Above ``max_points`` images a seeded sample keeps the map to seconds.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np

from pixelboard.errors import PixelboardError

PCA_DIMS = 50
PERPLEXITY = 30.0
TSNE_ITERATIONS = 1000  # scikit-learn's default


def embedding_map(X: np.ndarray, seed: int = 0, max_points: int = 2000,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
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
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=1,
                max_iter=TSNE_ITERATIONS, verbose=2 if progress else 0)
    with _TSNEProgress(f"embedding map (t-SNE, {len(rows):,} images)", progress) as bar:
        coords = tsne.fit_transform(reduced)
        bar.finish()
    return rows, coords.astype(np.float32)


class _TSNEProgress(io.TextIOBase):
    """A tqdm bar over t-SNE's iterations. scikit-learn's TSNE has no callback; with ``verbose=2`` it
    prints "[t-SNE] Iteration 50: ..." every 50 iterations, so its stdout is read for the count
    (the verbose lines themselves are not shown)."""

    _ITERATION = re.compile(r"\[t-SNE\] Iteration (\d+)")

    def __init__(self, desc: str, enabled: bool):
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.bar = tqdm(total=TSNE_ITERATIONS, desc=desc, unit="iteration", disable=not enabled)
        self._redirect = contextlib.redirect_stdout(self) if enabled else contextlib.nullcontext()

    def __enter__(self):
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc):
        self._redirect.__exit__(*exc)
        self.bar.close()
        return False

    def write(self, text: str) -> int:
        for match in self._ITERATION.finditer(text):
            self.bar.update(max(0, int(match.group(1)) - self.bar.n))
        return len(text)

    def finish(self) -> None:  # t-SNE may stop early (no progress): the bar ends full
        self.bar.update(self.bar.total - self.bar.n)
