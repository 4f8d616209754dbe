"""A finished leaderboard run as the report and the model documents read it.

:func:`load_run` gathers, once, what every insight needs: the ranked rows and their metric, the run's
options, the labels and the image manifest of the training set, the saved partition and readable
class names. Every problem (no leaderboard, a training set that changed, an unknown model id, a
missing image file) is one :class:`~pixelboard.errors.PixelboardError` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pixelboard import atomic
from pixelboard.datasets.sources import ImageSet
from pixelboard.errors import PixelboardError
from pixelboard.insights.cache import InsightCache
from pixelboard.leaderboard.data import Labels, load_feature_rows, load_labels
from pixelboard.leaderboard.partition import Partition
from pixelboard.leaderboard.store import RunStore
from pixelboard.project import Project

LEARNING_CURVE = "learning_curve.json"
BASELINE_PREFIX = "grayscale"


@dataclass
class RunData:
    files: Project
    run: str
    store: RunStore
    rows: list[dict]  # ranked, best first (each row's result.json)
    metric: str
    config: dict
    labels: Labels
    image_set: ImageSet
    partition: Partition
    class_names: list[str]  # readable name per class index
    _thumbs: dict = field(default_factory=dict, repr=False)
    _sets: dict = field(default_factory=dict, repr=False)
    cache: InsightCache = field(init=False, repr=False)  # activation maps, t-SNE, data quality: once per key

    def __post_init__(self):
        self.cache = InsightCache(self.store.directory)

    @property
    def directory(self) -> Path:
        return self.store.directory

    @property
    def set_name(self) -> str:
        return self.image_set.name

    def row(self, model: str) -> dict:
        """``best`` (rank 1), ``blend`` (the best blend) or a model id such as ``M3``."""
        from pixelboard.predict import choose_model

        return choose_model(self.rows, model)

    def leaf_rows(self, row: dict) -> list[dict]:
        """The row itself (a single model), or a blend's member rows (recursively), best-ranked first."""
        if row["kind"] != "blend":
            return [row]
        by_id = {r["id"]: r for r in self.rows}
        leaves = []
        for member in row["members"]:
            member_row = by_id.get(member) or self.store.read_result(member)
            leaves += [leaf for leaf in self.leaf_rows(member_row) if leaf not in leaves]
        return leaves

    def out_of_sample(self, model_id: str) -> np.ndarray:
        """Probabilities of every labelled image from models that did not train on it: out-of-fold for the
        cross-validation rows, the fold models' average for the holdout rows."""
        oof, holdout = self.store.load_arrays(model_id)
        proba = np.array(oof, dtype=float)
        if len(self.partition.holdout):
            proba[self.partition.holdout] = holdout
        return proba

    def fitted_for_predict(self, row: dict):
        """The FittedModel ``predict`` uses for ``row``: its 100% refit when `pixelboard deploy` made one
        of this very row (same key), else its fold models."""
        deployed = self.store.deployed()
        refit = bool(deployed and deployed.get("model") == row["id"] and deployed.get("key") == row.get("key"))
        return self.store.load_fitted(row["id"], deployed=refit)

    def learning_curve(self) -> dict | None:
        """``<run>/learning_curve.json`` (sample-size stages), or None when the run has none."""
        path = self.directory / LEARNING_CURVE
        if not path.is_file():
            return None
        data = atomic.read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise atomic.damaged(path, "not a learning curve (expected {\"metric\": ..., \"rows\": [...]})")
        return data

    # --- featurizers and embeddings -------------------------------------------------------------------
    def main_featurizer(self, row: dict | None = None) -> str:
        """The embeddings the maps and the data-quality checks use: the first CNN featurizer of ``row``
        (default: the recommended model), else of the training set."""
        available = self.files.featurizer_names(self.set_name)
        used = [leaf["featurizer"] for leaf in self.leaf_rows(row or self.rows[0])]
        for names in (used, available):
            for name in names:
                if name in available and not name.startswith(BASELINE_PREFIX):
                    return name
        if not available:
            raise PixelboardError(f"no embeddings for set {self.set_name!r} in {self.files.root}")
        return next((n for n in used if n in available), available[0])

    def train_embeddings(self, featurizer: str) -> np.ndarray:
        """One row per labelled image (originals only), in the labels' order."""
        rows = load_feature_rows(self.files, featurizer, self.labels, self.set_name)
        return np.asarray(rows.X[rows.original_rows(np.arange(len(self.labels.ids)))], dtype=np.float32)

    def other_sets(self, featurizer: str) -> list[str]:
        """Other image sets of the project (a test set) that have ``featurizer`` embeddings."""
        folder = self.files.root / "datasets"
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        return [n for n in names if n != self.set_name and featurizer in self.files.featurizer_names(n)]

    def set_embeddings(self, set_name: str, featurizer: str) -> tuple[np.ndarray, list[str]]:
        """The original (not augmented) rows of another set and their image ids."""
        embeddings = self.files.load_embeddings(set_name, featurizer)
        keep = [i for i, a in enumerate(embeddings.augmentations) if not a]
        return np.asarray(embeddings.matrix[keep], dtype=np.float32), [embeddings.sources[i] for i in keep]

    # --- images ---------------------------------------------------------------------------------------
    def image_set_named(self, set_name: str) -> ImageSet:
        if set_name == self.set_name:
            return self.image_set
        if set_name not in self._sets:
            self._sets[set_name] = self.files.load_image_set(set_name)
        return self._sets[set_name]

    def image(self, image_id: str, set_name: str | None = None) -> Image.Image:
        """The decoded RGB image (as featurize read it); a missing or unreadable file is a one-line error."""
        from pixelboard.datasets.images import ImageDecodeError, load_rgb

        image_set = self.image_set_named(set_name or self.set_name)
        try:
            path = image_set.image_dir / image_set.files[image_set.ids.index(image_id)]
        except ValueError:
            raise PixelboardError(f"image {image_id!r} is not in set {image_set.name!r}") from None
        try:
            return load_rgb(path)
        except ImageDecodeError as exc:
            raise PixelboardError(f"cannot read image {image_id} of set {image_set.name!r} at {path}: {exc}; the "
                                  "report shows the images where `pixelboard featurize` read them") from None

    def thumbnail(self, image_id: str, set_name: str | None = None) -> bytes:
        """A small PNG of the image (cached: an image shown in several sections is read once)."""
        from pixelboard.insights.figures import image_png, thumbnail

        key = (set_name or self.set_name, image_id)
        if key not in self._thumbs:
            self._thumbs[key] = image_png(thumbnail(self.image(image_id, set_name)))
        return self._thumbs[key]


def load_run(files: Project, run: str = "leaderboard") -> RunData:
    store = RunStore(files.run_dir(run))
    rows, metric = store.ranked_rows()  # "no leaderboard in ...: run `pixelboard leaderboard` first"
    if not rows:
        raise PixelboardError(f"the leaderboard in {store.directory} has no rows; run `pixelboard leaderboard`")
    config = store.config()
    set_name = config.get("options", {}).get("set_name", "train")
    labels = load_labels(files, set_name)
    if [str(c) for c in labels.classes] != [str(c) for c in config.get("classes", labels.classes)]:
        raise PixelboardError(f"the classes of set {set_name!r} changed since run {run!r} was fitted; re-run "
                              "`pixelboard leaderboard` (or use a new --run)")
    partition = Partition.load(store.partition_dir)
    if partition.n_rows != len(labels.ids):
        raise PixelboardError(f"run {run!r} was fitted on {partition.n_rows} images but set {set_name!r} now has "
                              f"{len(labels.ids)}; re-run `pixelboard leaderboard` (or use a new --run)")
    names = [labels.class_names.get(str(c), str(c)) for c in labels.classes]
    return RunData(files, run, store, rows, metric, config, labels, files.load_image_set(set_name), partition, names)
