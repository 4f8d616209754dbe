"""Shift-aware validation: score every model on validation and holdout images as the test set shows them.

A test set whose images come rotated or flipped says little about a model scored on upright
validation images. With ``leaderboard --validate-under dihedral``, each validation and holdout image is
replaced, when scored, by one of its views (identity included), drawn uniformly per image from the run's
seed: the test conditions of the competition this project is modelled on (a random multiple of 90
degrees, mirrored half the time). Nothing ever trains on these rows; the clean scores are kept too.

The view rows come from the cache that ``featurize --views`` fills. A featurizer variant pooled over a
whole group of transforms that holds the views (``+d4mean``) is invariant to them: turning the image
only permutes the rows it averages, so its shifted rows are its clean rows.
"""

from __future__ import annotations

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.views import invariant_to
from pixelboard.leaderboard.data import FeatureRows, Labels
from pixelboard.project import Project


def view_choice(n_images: int, n_views: int, seed: int) -> np.ndarray:
    """Per image, which of ``n_views`` views it is scored under (0 = identity); same seed, same draw."""
    return np.random.default_rng([seed, 0x5EED]).integers(0, n_views, size=n_images)


def shifted_rows(project: Project, rows: FeatureRows, labels: Labels, views: list[str], seed: int,
                 set_name: str) -> np.ndarray:
    """One row per original image (labels order): its embedding under its drawn view."""
    clean = np.asarray(rows.X[rows.original_rows(np.arange(len(labels.ids)))])
    if invariant_to(rows.embeddings.sidecar, views):
        return clean
    if rows.embeddings.sidecar.get("views"):
        raise PixelboardError(f"{rows.name} is pooled over {', '.join(rows.embeddings.sidecar['views'])}, not over a "
                              f"whole group holding {', '.join(views)}: it cannot be scored under those views; "
                              "leave it out (--featurizers) or pool over dihedral")
    stack, sidecar = project.load_view_embeddings(set_name, rows.name)
    missing = [v for v in views if v not in sidecar["views"]]
    if missing:
        raise PixelboardError(f"the views of {rows.name!r} lack {', '.join(missing)}: run `pixelboard featurize "
                              f"--views {','.join(views)}` (or dihedral) for set {set_name!r} first")
    position = {image_id: i for i, image_id in enumerate(sidecar["rows"]["sources"])}
    absent = [i for i in labels.ids if i not in position]
    if absent:
        raise PixelboardError(f"the view embeddings of {rows.name!r} lack image {absent[0]}; re-run featurize --views")
    image_pos = np.array([position[i] for i in labels.ids])
    layer = np.array([0] + [1 + sidecar["views"].index(v) for v in views])  # identity + the wanted views
    chosen = layer[view_choice(len(labels.ids), len(layer), seed)]
    return np.asarray(stack[chosen, image_pos], dtype=np.float32)
