"""Retrain at 100% ("prepare for deployment"): refit a leaderboard row on every labelled image.

A leaderboard row's fold models each train on 80% x 4/5 = 64% of the labelled images; the holdout
and the validation folds are there to score, not to learn from. Once a model is chosen, refitting it
once on all labelled images (training folds + holdout, with their augmented copies) gives the
deployed model more data for the same recipe: same blueprint, parameters, seed and embeddings. A
blend keeps the blender it learned on out-of-fold probabilities and refits each member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from pixelboard.errors import PixelboardError
from pixelboard.fitted import FittedModel
from pixelboard.leaderboard.data import FeatureRows, image_content_keys, load_feature_rows, load_labels
from pixelboard.leaderboard.evaluate import fit_with_groups
from pixelboard.leaderboard.identity import identity_groups
from pixelboard.leaderboard.runner import FIT_THREADS
from pixelboard.leaderboard.store import RunStore
from pixelboard.models import create_blueprint
from pixelboard.predict import choose_model
from pixelboard.progress import ticking_bar
from pixelboard.project import Project


@dataclass(frozen=True)
class DeployResult:
    model: FittedModel
    n_images: int
    n_rows: int  # training rows including augmented copies
    seconds: float


def deploy(project: Project, run: str = "leaderboard", model: str = "best", jobs: int | None = None,
           progress: bool = False) -> DeployResult:
    """Refit ``model`` (``best``, ``blend`` or an id) on 100% of the run's labelled images and save it;
    a blend's members refit in up to ``jobs`` parallel processes (``progress``: a bar over them whose
    clock keeps moving while a long fit runs)."""
    started = time.perf_counter()
    store = RunStore(project.run_dir(run))
    rows, _ = store.ranked_rows()
    chosen = store.read_result(choose_model(rows, model)["id"])
    config = store.config()
    set_name, seed = config["options"]["set_name"], int(config["options"]["seed"])
    labels = load_labels(project, set_name)
    if labels.classes != config["classes"]:
        raise PixelboardError(f"the classes of set {set_name!r} changed since run {run!r} was fitted; "
                              "re-run the leaderboard before deploying")
    fitted = store.load_fitted(chosen["id"])  # the fold-model version: its leaves name blueprint + featurizer
    leaves = fitted.leaves()
    features: dict[str, FeatureRows] = {}
    for leaf in leaves:
        if leaf.featurizer.name not in features:
            features[leaf.featurizer.name] = load_feature_rows(project, leaf.featurizer.name, labels, set_name)
    groups = identity_groups(image_content_keys(list(features.values())), labels.groups)
    blueprints = []
    for leaf in leaves:
        result = store.read_result(leaf.model_id)
        if features[leaf.featurizer.name].digest() != result["spec"]["rows"]:
            raise PixelboardError(f"the embeddings {leaf.featurizer.name!r} changed since {leaf.model_id} was "
                                  "scored; re-run the leaderboard before deploying")
        blueprints.append(result["blueprint"])
    # A blend's members refit in parallel processes, each on one thread like every leaderboard fit
    # (a fit's numbers depend on its thread count: see runner.FIT_THREADS).
    fits = Parallel(n_jobs=min(jobs or 1, len(leaves)), return_as="generator")(
        delayed(_refit)(leaf, blueprint, features[leaf.featurizer.name], labels.y, groups, seed)
        for leaf, blueprint in zip(leaves, blueprints))
    refitted = []
    with ticking_bar(total=len(leaves), desc=f"deploy {chosen['id']}: refit on 100%", unit="model",
                     disable=not progress) as bar:
        for refit in fits:
            refitted.append(refit)
            bar.update(1)
    deployed = _with_refits(fitted, {leaf.model_id: refit for leaf, refit in zip(leaves, refitted)})
    n_rows = sum(int(features[leaf.featurizer.name].X.shape[0]) for leaf in leaves)
    seconds = time.perf_counter() - started
    store.save_deployed(chosen["id"], deployed, {"model": chosen["id"], "key": chosen["key"],
                                                 "members": [leaf.model_id for leaf in leaves],
                                                 "n_images": len(labels.ids), "seconds": round(seconds, 3)})
    return DeployResult(deployed, len(labels.ids), n_rows, seconds)


def _refit(leaf: FittedModel, blueprint: str, rows: FeatureRows, y: np.ndarray, groups: np.ndarray,
           seed: int) -> FittedModel:
    # Every labelled row trains, copies included: there is nothing left to score, so nothing to leak.
    estimator = create_blueprint(blueprint, random_state=seed, n_jobs=FIT_THREADS)
    with threadpool_limits(limits=FIT_THREADS):
        fit_with_groups(estimator, np.asarray(rows.X, dtype=np.float32), y[rows.source], groups[rows.source])
    return FittedModel(leaf.model_id, leaf.label, leaf.classes, leaf.class_names,
                       trained_on="1 model refitted on 100% of the labelled images", featurizer=leaf.featurizer,
                       estimators=[estimator])


def _with_refits(model: FittedModel, refits: dict[str, FittedModel]) -> FittedModel:
    if model.kind == "model":
        return refits[model.model_id]
    return FittedModel(model.model_id, model.label, model.classes, model.class_names,
                       trained_on="blender over members refitted on 100% of the labelled images",
                       blender=model.blender, members=[_with_refits(m, refits) for m in model.members])
