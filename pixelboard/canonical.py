"""Orientation canonicalizer: learned without labels, turns each test image upright before it is used.

Invariant embeddings (``+d4mean``) cannot be fooled by a turned image, but they also throw away the
orientation information a classifier could use. The canonicalizer gives it back: from the training
images' own views (``featurize --views``), a standardized L2 logistic regression learns which view of
an image is the upright one (the class of a view row is the view's index; no class labels are
used). For a test image, every view of it is scored and the one that looks most upright replaces
it, so a model trained on upright images sees upright images.

Views here are transforms that form a group with the identity (the 8 orientations, or the 4
rotations): the views of a turned image are then the views of the upright image in another order,
which is what makes the held-out check exact: :func:`held_out_accuracy` turns held-out training
images by every group element and counts how often the chosen view is the true upright one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from pixelboard.errors import PixelboardError
from pixelboard.featurizers.augment import TRANSFORMS


def composition_table(views: list[str]) -> np.ndarray:
    """``table[g, v]`` = index of the view equal to "view ``v`` of the image turned by ``g``".

    Found by applying the transforms to a small random square image rather than written by hand, so
    any group of the registered geometric transforms works; a set that is not closed is an error.
    """
    names = [""] + list(views)
    probe = Image.fromarray(np.random.default_rng(0).integers(0, 255, (5, 5), dtype=np.uint8))
    apply = lambda img, name: TRANSFORMS[name].fn(img, None) if name else img  # noqa: E731
    images = [np.asarray(apply(probe, n)) for n in names]
    table = np.empty((len(names), len(names)), dtype=np.int64)
    for g, turn in enumerate(names):
        for v, view in enumerate(names):
            seen = np.asarray(apply(apply(probe, turn), view))
            match = [w for w, image in enumerate(images) if np.array_equal(image, seen)]
            if not match:
                raise PixelboardError(f"views {', '.join(views)} are not closed under composition (turning by {turn} "
                                      f"then {view} is none of them): use dihedral or rot90,rot180,rot270")
            table[g, v] = match[0]
    return table


@dataclass
class Canonicalizer:
    views: list[str]
    model: object  # fitted sklearn pipeline: view row -> view index

    def upright_view(self, stack: np.ndarray) -> np.ndarray:
        """Per image of a ``(views, images, d)`` stack, the index of the view that looks upright."""
        n_views, n_images, _ = stack.shape
        p_upright = self.model.predict_proba(stack.reshape(n_views * n_images, -1))[:, 0].reshape(n_views, n_images)
        return np.argmax(p_upright, axis=0)

    def canonical_rows(self, stack: np.ndarray) -> np.ndarray:
        """The upright-looking view of each image: ``(images, d)``."""
        chosen = self.upright_view(stack)
        return np.asarray(stack[chosen, np.arange(stack.shape[1])])


def fit_canonicalizer(stack: np.ndarray, views: list[str], seed: int = 0) -> Canonicalizer:
    """Learn the upright view from a training ``(1 + len(views), images, d)`` stack (identity first)."""
    composition_table(views)  # refuse view sets that are not a group before fitting anything
    n_views, n_images, d = stack.shape
    X = np.asarray(stack, dtype=np.float32).reshape(n_views * n_images, d)
    y = np.repeat(np.arange(n_views), n_images)
    # max_iter 1000: at 300, 16,000 view rows x 1,280 columns stopped short of lbfgs's tolerance (ConvergenceWarning
    # in the robustness benchmark); a converged fit stops early, so small sets pay nothing.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000, random_state=seed))
    with threadpool_limits(1):
        model.fit(X, y)
    return Canonicalizer(list(views), model)


def held_out_accuracy(stack: np.ndarray, views: list[str], seed: int = 0, folds: int = 3) -> float:
    """Share of held-out (image, turn) pairs whose chosen view is the true upright one.

    For every fold of images, a canonicalizer fitted on the other images sees each held-out image
    turned by each group element (its view stack re-ordered by the composition table).
    """
    table = composition_table(views)
    hits, total = 0, 0
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(np.arange(stack.shape[1])):
        canonicalizer = fit_canonicalizer(stack[:, train], views, seed)
        for g in range(table.shape[0]):
            turned = stack[table[g]][:, held]  # views of the held-out images turned by g
            chosen = canonicalizer.upright_view(turned)
            hits += int(np.sum(table[g][chosen] == 0))
            total += held.size
    return hits / total
