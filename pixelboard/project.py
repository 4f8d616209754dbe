"""The project directory: where image-set manifests, the embedding cache, embeddings and runs live.

```
<project>/datasets/<set>.json                  image set: ids, files, labels, class names, groups
<project>/cache/<fingerprint>/                 per-featurizer row store (see featurizers/cache.py)
<project>/embeddings/<set>/<featurizer>.npy    the set's matrix, rows in manifest order (+ copies)
<project>/embeddings/<set>/<featurizer>.json   sidecar: row ids, fingerprint, level slices, versions, timings
<project>/leaderboard/                         partition, fold models, probabilities, tables
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelboard import atomic
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError

DEFAULT_PROJECT = "pixelboard-project"


@dataclass(frozen=True)
class Embeddings:
    """One featurizer's matrix for one image set, with its sidecar."""

    name: str
    matrix: np.ndarray
    sidecar: dict

    @property
    def row_ids(self) -> list[str]:
        return self.sidecar["rows"]["ids"]

    @property
    def sources(self) -> list[str]:
        return self.sidecar["rows"]["sources"]

    @property
    def augmentations(self) -> list[str]:
        return self.sidecar["rows"]["augmentations"]

    def level_columns(self, levels: list[str] | None = None) -> np.ndarray:
        slices = self.sidecar["level_slices"]
        chosen = levels or list(slices)
        unknown = [lv for lv in chosen if lv not in slices]
        if unknown:
            raise PixelboardError(f"featurizer {self.name} has no level(s) {', '.join(unknown)}; it has {', '.join(slices)}")
        return np.concatenate([np.arange(*slices[lv]) for lv in chosen])


class Project:
    def __init__(self, root: str | os.PathLike = DEFAULT_PROJECT):
        self.root = Path(root).expanduser()

    # --- image sets -----------------------------------------------------------------------
    def dataset_path(self, set_name: str) -> Path:
        return self.root / "datasets" / f"{set_name}.json"

    def save_image_set(self, image_set: ImageSet) -> None:
        atomic.write_json(self.dataset_path(image_set.name), image_set.to_dict())

    def load_image_set(self, set_name: str) -> ImageSet:
        path = self.dataset_path(set_name)
        if not path.is_file():
            raise PixelboardError(f"no image set {set_name!r} in project {self.root}: run "
                                  f"`pixelboard featurize --project {self.root} --set {set_name} --images ...` first")
        return ImageSet.from_dict(atomic.read_json(path))

    # --- cache and embeddings -------------------------------------------------------------
    def cache_dir(self, fingerprint: str) -> Path:
        return self.root / "cache" / fingerprint

    def embeddings_paths(self, set_name: str, name: str) -> tuple[Path, Path]:
        base = self.root / "embeddings" / set_name / name
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def save_embeddings(self, set_name: str, name: str, matrix: np.ndarray, sidecar: dict) -> Path:
        npy, meta = self.embeddings_paths(set_name, name)
        atomic.write_npy(npy, matrix)  # matrix first: the sidecar names only a complete matrix
        atomic.write_json(meta, sidecar)
        return npy

    def featurizer_names(self, set_name: str) -> list[str]:
        folder = self.root / "embeddings" / set_name
        return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []

    def load_embeddings(self, set_name: str, name: str) -> Embeddings:
        npy, meta = self.embeddings_paths(set_name, name)
        if not meta.is_file() or not npy.is_file():
            have = ", ".join(self.featurizer_names(set_name)) or "none"
            raise PixelboardError(f"no embeddings {name!r} for set {set_name!r} in {self.root} (have: {have})")
        sidecar = atomic.read_json(meta)
        matrix = np.load(npy, mmap_mode="r")
        if matrix.shape != (len(sidecar["rows"]["ids"]), sidecar["n_features"]):
            raise PixelboardError(f"{npy} has shape {matrix.shape} but its sidecar describes "
                                  f"{(len(sidecar['rows']['ids']), sidecar['n_features'])}; re-run featurize")
        return Embeddings(name, np.asarray(matrix), sidecar)

    @property
    def leaderboard_dir(self) -> Path:
        return self.root / "leaderboard"
