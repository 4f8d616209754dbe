"""Line up the training labels with each featurizer's embedding rows.

The partition is defined over the original training images (the manifest's rows). Augmented
copies are extra rows of a featurizer's matrix that point at their source image: they train in
exactly the folds where their source trains, and are never validated or scored as holdout.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import numpy as np

from pixelboard.errors import PixelboardError
from pixelboard.mapped_matrix import reduce_with_mapped_arrays
from pixelboard.project import Embeddings, Project


@dataclass(frozen=True)
class Labels:
    ids: list[str]
    y: np.ndarray  # int class index per original image
    classes: list  # raw target values, index -> value
    class_names: dict[str, str]
    groups: list[str] | None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def targets(self) -> list:
        """The user's label of each image (not the internal class index)."""
        return [self.classes[i] for i in self.y]


@dataclass(frozen=True)
class FeatureRows:
    """One featurizer's matrix with, per row, the index of its original image.

    Sent to a fit worker (a local process or a Ray task), a matrix memory-mapped from the project's
    ``.npy`` file travels as its path and is mapped again on arrival (mapped_matrix.py): every worker
    slices the one file through the page cache instead of receiving its own copy of the matrix.
    """

    name: str
    X: np.ndarray
    source: np.ndarray  # int index into Labels.ids
    is_original: np.ndarray  # bool
    embeddings: Embeddings
    shifted: np.ndarray | None = None  # per original image, its row under a drawn view (shift.py)

    __reduce__ = reduce_with_mapped_arrays

    def digest(self) -> str:
        """Hash of the matrix bytes and of each row's source and augmentation: a row of the
        leaderboard fitted on other embeddings (re-featurized, replaced images) is never reused."""
        return self._digest

    @functools.cached_property  # hashing a 70,000-row matrix takes a second; every row's key asks for it
    def _digest(self) -> str:
        rows = self.embeddings.sidecar["rows"]
        return array_digest(self.X, json.dumps([rows["sources"], rows["augmentations"]]).encode())

    def content_keys(self) -> list[str]:
        """The file hash of each original image, in the labels' row order."""
        content = self.embeddings.sidecar["rows"].get("content")
        if content is None:
            raise PixelboardError(f"embeddings {self.name!r} were made by an older pixelboard (no image content "
                                  "keys); re-run `pixelboard featurize` (cached rows are reused)")
        return [content[r] for r in self._row_of_original]

    def train_rows(self, original_rows: np.ndarray) -> np.ndarray:
        """Rows (originals and their augmented copies) whose source image is in ``original_rows``."""
        return np.flatnonzero(np.isin(self.source, original_rows))

    def original_rows(self, original_rows: np.ndarray) -> np.ndarray:
        """The matrix rows of these original images, in the given order."""
        return self._row_of_original[original_rows]

    @property
    def _row_of_original(self) -> np.ndarray:
        rows = np.full(self.source.max(initial=-1) + 1, -1, dtype=np.int64)
        original = np.flatnonzero(self.is_original)
        rows[self.source[original]] = original
        return rows


def array_digest(array: np.ndarray, extra: bytes = b"") -> str:
    digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8).data, digest_size=16)
    digest.update(extra)
    return digest.hexdigest()


def load_labels(project: Project, set_name: str = "train") -> Labels:
    image_set = project.load_image_set(set_name)
    if not image_set.labelled:
        raise PixelboardError(f"image set {set_name!r} has no labels; featurize a labelled set "
                              "(class folders, or --labels CSV with a target column)")
    classes = sorted(set(image_set.labels), key=lambda v: (str(type(v)), v))
    index = {value: i for i, value in enumerate(classes)}
    y = np.array([index[v] for v in image_set.labels], dtype=np.int64)
    return Labels(image_set.ids, y, classes, image_set.class_names, image_set.groups)


def load_feature_rows(project: Project, name: str, labels: Labels, set_name: str = "train") -> FeatureRows:
    embeddings = project.load_embeddings(set_name, name)
    position = {image_id: i for i, image_id in enumerate(labels.ids)}
    unknown = sorted({s for s in embeddings.sources if s not in position})
    if unknown:
        raise PixelboardError(f"embeddings {name!r} hold images that are not in set {set_name!r} "
                              f"(e.g. {unknown[0]}); re-run `pixelboard featurize` for this set")
    source = np.array([position[s] for s in embeddings.sources], dtype=np.int64)
    is_original = np.array([not a for a in embeddings.augmentations], dtype=bool)
    missing = np.setdiff1d(np.arange(len(labels.ids)), source[is_original])
    if len(missing):
        raise PixelboardError(f"embeddings {name!r} lack {len(missing)} image(s) of set {set_name!r} "
                              f"(e.g. {labels.ids[missing[0]]}); re-run `pixelboard featurize` with the same images")
    return FeatureRows(name, embeddings.matrix, source, is_original, embeddings)


def image_content_keys(features: list[FeatureRows]) -> list[str]:
    """Each original image's content key, checked to agree across featurizers: embeddings computed
    before an image file was replaced would silently describe another image."""
    first = features[0].content_keys()
    for rows in features[1:]:
        changed = [i for i, (a, b) in enumerate(zip(first, rows.content_keys())) if a != b]
        if changed:
            raise PixelboardError(
                f"embeddings {features[0].name!r} and {rows.name!r} were computed from different files for "
                f"{len(changed)} image(s) (e.g. row {changed[0]}); re-run `pixelboard featurize` for every backbone")
    return first
