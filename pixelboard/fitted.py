"""A fitted leaderboard row as one object: what ``predict``, ``deploy`` and ``export-model`` share.

A :class:`FittedModel` is either a *leaf* (one blueprint on one featurizer: its fold models, or one
model refitted on every labelled image) or a *blend* (a blender over member leaves). It carries the
run's classes, so predictions never depend on the project's current manifests, and the
:class:`FeaturizerSpec` of every featurizer it needs, so new images get the same embeddings.

On disk a model is a folder::

    model.json            kind, classes, featurizer spec, estimator / blender files, member ids
    estimator_<k>.skops   fitted estimators (averaged at predict time)
    blender.skops         a blend's blender
    members/<id>/         a blend's members (in a bundle; in a run they are the sibling rows)

Estimators are saved with ``skops.io``, which stores data, not code. Loading checks every type a
file names against :data:`TRUSTED_TYPES` and refuses anything else, so opening a project or a bundle
someone sent you cannot run code hidden in it (a pickle could).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pixelboard import atomic
from pixelboard.errors import PixelboardError

FORMAT_VERSION = 1

# Every type a pixelboard model file may hold beyond skops' own defaults (numpy, plain sklearn).
TRUSTED_TYPES = frozenset({
    "pixelboard.models.logistic.TunedLogisticRegression",
    "pixelboard.models.mlp.SlimResidualMLPClassifier",
    "pixelboard.models.lightgbm_gbt.LightGBMClassifier",
    "pixelboard.models.xgboost_gbt.XGBoostClassifier",
    "pixelboard.models.catboost_gbt.CatBoostClassifier",
    "pixelboard.models.finetune.FineTunedCNNClassifier",
    "pixelboard.leaderboard.blenders.AverageBlender",
    "pixelboard.leaderboard.blenders.GLMStacker",
    "pixelboard.leaderboard.blenders.GreedyEnsemble",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "catboost.core.CatBoostClassifier",
    "collections.OrderedDict",
})


@dataclass(frozen=True)
class FeaturizerSpec:
    """How to rebuild a featurizer for new images, and the fingerprint its embeddings must have."""

    name: str  # the embeddings' name, e.g. efficientnet_lite0
    backbone: str  # registry entry passed to create_featurizer
    create_options: dict
    fingerprint: str
    levels: list
    description: dict  # weights identity, preprocessing, versions (what the fingerprint hashes)
    views: list = field(default_factory=list)  # an invariant variant: pooled over these views ...
    pool: str = ""  # ... with this pooling (featurizers/views.py)

    @classmethod
    def from_sidecar(cls, sidecar: dict) -> FeaturizerSpec:
        return cls(sidecar["featurizer"], sidecar["backbone"], dict(sidecar.get("create_options", {})),
                   sidecar["fingerprint"], list(sidecar["levels"]), dict(sidecar.get("description", {})),
                   list(sidecar.get("views") or []), str(sidecar.get("pool") or ""))

    def create(self, device: str = "auto"):
        """The featurizer, refusing one whose fingerprint differs (other weights or library versions)."""
        from pixelboard.featurizers import create_featurizer

        featurizer = create_featurizer(self.backbone, device=device, **self.create_options)
        if featurizer.fingerprint() != self.fingerprint:
            raise PixelboardError(
                f"featurizer {self.name} no longer matches the one the model was trained with (fingerprint "
                f"{featurizer.fingerprint()} vs {self.fingerprint}: weights or library versions changed; "
                f"trained with {self.description.get('weights', 'unknown weights')})")
        return featurizer


@dataclass
class FittedModel:
    model_id: str
    label: str
    classes: list  # raw target values, column order of predict_proba
    class_names: dict = field(default_factory=dict)
    trained_on: str = ""  # e.g. "5 fold models, 64% of the labelled images each" or "100% of ..."
    featurizer: FeaturizerSpec | None = None  # leaves only
    estimators: list = field(default_factory=list)  # leaves: averaged
    blender: object | None = None  # blends only
    members: list[FittedModel] = field(default_factory=list)  # blends only

    @property
    def kind(self) -> str:
        return "blend" if self.blender is not None else "model"

    def leaves(self) -> list[FittedModel]:
        return [self] if self.kind == "model" else [leaf for m in self.members for leaf in m.leaves()]

    def featurizers(self) -> dict[str, FeaturizerSpec]:
        return {leaf.featurizer.name: leaf.featurizer for leaf in self.leaves()}

    def predict_proba(self, embedded: dict[str, tuple[np.ndarray, np.ndarray]], n_images: int) -> np.ndarray:
        """Class probabilities per image from ``{featurizer name: (rows, image index of each row)}``.

        An image may have several rows (test-time augmentation copies): their probabilities are
        averaged, per leaf, before any blending.
        """
        if self.kind == "blend":
            probas = {m.model_id: m.predict_proba(embedded, n_images) for m in self.members}
            return self.blender.predict_proba(probas)
        from pixelboard.leaderboard.evaluate import full_proba

        X, image_of_row = embedded[self.featurizer.name]
        rows = np.mean([full_proba(e, X, len(self.classes)) for e in self.estimators], axis=0)
        sums = np.zeros((n_images, rows.shape[1]))
        np.add.at(sums, image_of_row, rows)
        return sums / np.maximum(np.bincount(image_of_row, minlength=n_images), 1)[:, None]

    # --- persistence ----------------------------------------------------------------------
    def save(self, folder: str | Path, nest_members: bool = False) -> None:
        """Write the model folder (``model.json`` last: it marks a complete model)."""
        import skops.io as sio

        folder = Path(folder)
        files = []
        for k, estimator in enumerate(self.estimators):
            files.append(f"estimator_{k}.skops")
            atomic.write_bytes(folder / files[-1], sio.dumps(estimator))
        if self.blender is not None:
            atomic.write_bytes(folder / "blender.skops", sio.dumps(self.blender))
        if nest_members:
            for member in self.members:
                member.save(folder / "members" / member.model_id, nest_members=True)
        atomic.write_json(folder / "model.json", {
            "format_version": FORMAT_VERSION, "id": self.model_id, "label": self.label, "kind": self.kind,
            "classes": self.classes, "class_names": self.class_names, "trained_on": self.trained_on,
            "featurizer": asdict(self.featurizer) if self.featurizer else None, "estimators": files,
            "blender": "blender.skops" if self.blender is not None else None,
            "members": [m.model_id for m in self.members]})

    @classmethod
    def load(cls, folder: str | Path, member_folder: Callable[[str], Path] | None = None) -> FittedModel:
        """Read a model folder; a blend's members from ``member_folder(id)`` (default: ``members/<id>``)."""
        folder = Path(folder)
        meta = _read_meta(folder / "model.json")
        try:
            featurizer = FeaturizerSpec(**meta["featurizer"]) if meta["featurizer"] else None
            resolve = member_folder or (lambda mid: folder / "members" / mid)
            return cls(model_id=str(meta["id"]), label=str(meta["label"]), classes=list(meta["classes"]),
                       class_names=dict(meta.get("class_names") or {}), trained_on=str(meta.get("trained_on", "")),
                       featurizer=featurizer,
                       estimators=[load_skops(folder / _safe_file(f, folder)) for f in meta["estimators"]],
                       blender=load_skops(folder / _safe_file(meta["blender"], folder)) if meta["blender"] else None,
                       members=[cls.load(resolve(_safe_id(m, folder)), member_folder) for m in meta["members"]])
        except (KeyError, TypeError) as exc:
            raise PixelboardError(f"{folder / 'model.json'} is damaged (bad or missing field {exc})") from None


def load_skops(path: Path):
    """Load a skops file whose every type is in :data:`TRUSTED_TYPES`; anything else is refused."""
    import skops.io as sio

    # The row is fitted again when a model file is gone (RunStore.load_result), so the advice holds.
    rerun = "pixelboard deploy" if "deployed" in Path(path).parts else "pixelboard leaderboard"
    try:
        data = path.read_bytes()
        untrusted = sio.get_untrusted_types(data=data)
    except FileNotFoundError:
        raise PixelboardError(f"model file {path} is missing: run `{rerun}` again") from None
    except Exception as exc:  # skops raises zipfile/JSON/type errors for a damaged file
        raise PixelboardError(f"model file {path} is damaged or not a skops file ({type(exc).__name__}): "
                              f"delete it and run `{rerun}` again") from None
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise PixelboardError(f"refusing to load {path}: it names types pixelboard does not trust "
                              f"({', '.join(refused[:3])}); it was not written by pixelboard or was tampered with")
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as exc:
        raise PixelboardError(f"model file {path} is damaged ({type(exc).__name__}: {exc})") from None


def _read_meta(path: Path) -> dict:
    if not path.is_file():
        raise PixelboardError(f"no fitted model at {path.parent} (model.json missing); re-run the leaderboard")
    rerun = "pixelboard deploy" if "deployed" in path.parts else "pixelboard leaderboard"
    meta = atomic.read_record(path, {"format_version": int}, "fitted model", fix=f"delete it and run `{rerun}` again")
    if meta["format_version"] != FORMAT_VERSION:
        raise PixelboardError(f"{path} is not a pixelboard model (format_version {meta['format_version']!r}, "
                              f"expected {FORMAT_VERSION})")
    return meta


def _safe_file(name: str, folder: Path) -> str:
    """A file name inside the model folder only: a damaged or hostile model.json cannot point elsewhere."""
    if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
        raise PixelboardError(f"{folder / 'model.json'} names an invalid file {name!r} (a path out of the model "
                              "folder is refused, as in bundles)")
    return name


_safe_id = _safe_file
