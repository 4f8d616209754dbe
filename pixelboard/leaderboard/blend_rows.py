"""Blend a run's full-CV rows: each blender learns on their out-of-fold probabilities (nested CV for its
own score), is scored like a model and saved as a row (``B1``, ``B2``, ...), reused when finished.

Blends that help or stay out (issue 18): the greedy blender runs first, and the baseline joins the
other blenders' candidates only when greedy picked it (a weak row dragged into every average was the
demo's recommended blend); a blender whose members are the same as an earlier blender's is dropped
(same members, near-identical scores: a duplicate row); a blend is recommendable (``beats_members``)
only when its CV beats its best member's by more than the standard error of that gain over the folds,
otherwise that member is the simpler model to ship and as good.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from pixelboard.fitted import FittedModel
from pixelboard.leaderboard.autopilot import BASELINE_LABEL
from pixelboard.leaderboard.blenders import BLENDERS, create_blender, cross_validated_blend
from pixelboard.leaderboard.budget import blend_seconds
from pixelboard.leaderboard.evaluate import score_model
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.store import row_key
from pixelboard.leaderboard.table import rank_rows
from pixelboard.versions import library_versions

if TYPE_CHECKING:  # pragma: no cover
    from pixelboard.leaderboard.runner import LeaderboardOptions, RunContext


def blend_rows(results: list[dict], ctx: RunContext) -> list[dict]:
    """Blenders on the full-CV rows' out-of-fold probabilities. Under ``--validate-under`` they learn from
    the shifted ones (the test conditions) and are scored both ways, like every model."""
    options, labels, partition, store = ctx.options, ctx.labels, ctx.partition, ctx.store
    metric = get_metric(options.metric)
    shifted = bool(options.validate_under)
    candidates = [r for r in rank_rows(results, metric.name, shifted) if r["blueprint"] != "majority"]
    candidates = candidates[:options.blend_candidates]
    if len(candidates) < 2 or not options.blenders:
        return []
    clean = {r["id"]: store.load_arrays(r["id"]) for r in candidates}  # model id -> (oof, holdout)
    views = {r["id"]: store.load_arrays(r["id"], shifted=True) for r in candidates} if shifted else clean
    cv_rows = np.flatnonzero(partition.fold_of() >= 0)
    baseline = {r["id"] for r in candidates if r["label"].startswith(BASELINE_LABEL)}
    greedy_first = sorted(options.blenders, key=lambda name: name != "greedy")  # stable otherwise
    blends, seen_members = [], set()
    for name in greedy_first:
        params = _blender_params(name, options)
        picked_baseline = any(set(b["members"]) & baseline for b in blends if b["blueprint"] == "greedy")
        pool = [r["id"] for r in candidates if name == "greedy" or picked_baseline or r["id"] not in baseline]
        members = pool[:options.blend_top] if name == "avg" else pool
        if len(members) < 2:
            continue
        spec = {"blender": name, "params": params, "members": sorted(r["key"] for r in candidates if r["id"] in members),
                "validate_under": options.validate_under, "versions": library_versions()}
        key = row_key(spec)
        blend_id = store.model_id(key, "B")
        done = store.load_result(blend_id, key)
        if done:
            _keep_unless_duplicate(done, blends, seen_members)
            continue
        if not ctx.budget.allows(blend_seconds(name, cv_rows.size, len(members), labels.n_classes)):
            ctx.skipped_blends.append(name)
            continue
        started = time.perf_counter()
        factory = lambda: create_blender(name, **params)  # noqa: E731
        learn = {m: views[m][0] for m in members}
        blender = factory().fit({m: p[cv_rows] for m, p in learn.items()}, labels.y[cv_rows])
        fit_seconds = time.perf_counter() - started

        def blended(arrays):  # nested-CV out-of-fold and holdout probabilities of the blend
            oof = cross_validated_blend(factory, learn, labels.y, partition.fold_of(), {m: arrays[m][0] for m in members})
            holdout = blender.predict_proba({m: arrays[m][1] for m in members}) if len(partition.holdout) \
                else np.zeros((0, labels.n_classes))
            return oof, holdout

        blended_clean = blended(clean)
        blended_views = blended(views) if shifted else None
        used = [m for m in members if m in blender.members_]
        result = {
            "id": blend_id, "key": key, "kind": "blend", "blueprint": name, "label": BLENDERS[name].label,
            "featurizer": "+".join(dict.fromkeys(r["featurizer"] for r in candidates if r["id"] in used)),
            "levels": [], "members": used, "weights": {m: round(float(w), 4) for m, w in blender.weights_.items()},
            "sample_pct": candidates[0]["sample_pct"],
            "scores": score_model(*blended_clean, labels.y, partition, labels.n_classes),
            **({"scores_shifted": score_model(*blended_views, labels.y, partition, labels.n_classes)} if shifted else {}),
            "fit_seconds": round(fit_seconds, 3), "predict_seconds": 0.0, "spec": spec,
        }
        judged = blended_views if shifted else blended_clean  # ranked by the shifted scores under views
        result["beats_members"] = beats_best_member(judged[0], {m: views[m][0] for m in used}, candidates, labels.y,
                                                    partition, metric, shifted)
        fitted = FittedModel(blend_id, result["label"], labels.classes, labels.class_names,
                             trained_on="blender fitted on out-of-fold probabilities", blender=blender,
                             members=[store.load_fitted(m) for m in used])
        store.save(blend_id, result, *blended_clean, fitted, blended_views)
        _keep_unless_duplicate(result, blends, seen_members)
    order = {name: n for n, name in enumerate(options.blenders)}
    return sorted(blends, key=lambda b: order[b["blueprint"]])


def _keep_unless_duplicate(blend: dict, blends: list[dict], seen: set[frozenset]) -> None:
    members = frozenset(blend["members"])
    if len(members) >= 2 and members not in seen:  # one member: that model again, under another name
        seen.add(members)
        blends.append(blend)


def beats_best_member(blend_oof: np.ndarray, member_oof: dict[str, np.ndarray], rows: list[dict], y: np.ndarray,
                      partition, metric, shifted: bool = False) -> bool:
    """The blend's CV beats its best member's (by CV mean) by more than the standard error of that
    difference: per fold, blend score minus member score; mean > std / sqrt(folds). Paired, because a
    hard fold is hard for both: the spread of the differences is what decides whether the gain is
    noise (on 1,000 Fashion-MNIST images the unpaired CV std of the blend was 1.5-2x the paired one)."""
    key = "scores_shifted" if shifted else "scores"
    by_id = {r["id"]: r for r in rows}
    best = max(member_oof, key=lambda m: metric.oriented(by_id[m][key][metric.name]["cv_mean"]))
    gains = np.array([metric.oriented(metric(y[valid], blend_oof[valid])) -
                      metric.oriented(metric(y[valid], member_oof[best][valid])) for _, valid in partition.folds])
    return bool(gains.mean() > gains.std() / math.sqrt(gains.size))


def _blender_params(name: str, options: LeaderboardOptions) -> dict:
    return {"avg": {"k": options.blend_top, "metric": options.metric}, "glm": {"random_state": options.seed},
            "greedy": {"metric": options.metric, "rounds": 25}}[name]
