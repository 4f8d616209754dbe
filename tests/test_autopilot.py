"""Autopilot: screening samples, promotion, stage rows (ranked below, never blended), the learning curve,
the modes, the pairing of blueprints with featurizers, reuse and reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_embedding_project

from pixelboard.api import Project as ApiProject
from pixelboard.cli import main
from pixelboard.errors import PixelboardError
from pixelboard.leaderboard import autopilot
from pixelboard.leaderboard.autopilot import MODES, Candidate, get_mode, plan_candidates, screening_samples
from pixelboard.leaderboard.budget import prior_cost
from pixelboard.leaderboard.promotion import (SCREEN_SHARE, projected_score, promote_screened, promotion_bar,
                                              split_sure, within_allowance)
from pixelboard.leaderboard.data import load_feature_rows, load_labels
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.partition import make_partition
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.models import list_blueprints, registry
from pixelboard.project import Project

SCREENED = ["majority", "lr_l2", "mlp", "lightgbm"]  # 8 rows on 2 featurizers: more than can be promoted


def run(root, **overrides):
    options = LeaderboardOptions(blueprints=overrides.pop("blueprints", SCREENED), progress=False, **overrides)
    return run_leaderboard(Project(root), options)


def as_text(rows):
    """Rows as comparable text: screening rows hold NaN (no CV), which never equals itself."""
    return json.dumps([(r["id"], r["scores"]) for r in rows])


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    """One autopilot run on blobs hard enough that the blueprints differ (shared: fitting is the slow part)."""
    root = write_embedding_project(tmp_path_factory.mktemp("auto") / "p", per_class=30, separation=0.8)
    return root, run(root)


# --- screening samples ----------------------------------------------------------------------------
def grouped_labels(n=300, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    groups = np.arange(n)
    groups[1::4] = groups[0::4][: groups[1::4].size]  # every 4th image shares a group with its neighbour
    y[1::4] = y[0::4][: y[1::4].size]
    return y, groups


def test_screening_samples_nest_in_fold_0_training_part_stratified_group_aware_deterministic():
    y, groups = grouped_labels()
    partition = make_partition(y, groups=groups, seed=0)
    small, large = screening_samples(partition, y, groups, [16.0, 32.0], seed=0)
    train = partition.folds[0][0]
    assert set(small) < set(large) < set(train)
    assert not set(large) & set(partition.folds[0][1]) and not set(large) & set(partition.holdout)
    for sample, pct in ((small, 16.0), (large, 32.0)):
        assert abs(sample.size - pct / 64 * train.size) <= 2 * 3  # at most a group of 2 per class over
        for c in range(3):  # each class keeps its share of the training part
            share = np.mean(y[sample] == c) - np.mean(y[train] == c)
            assert abs(share) < 0.05, (pct, c, share)
        in_sample = np.isin(train, sample)  # a group is drawn whole
        for g in np.unique(groups[train]):
            assert len(set(in_sample[groups[train] == g])) == 1
    again = screening_samples(partition, y, groups, [16.0, 32.0], seed=0)
    assert all(np.array_equal(a, b) for a, b in zip((small, large), again))
    other = screening_samples(partition, y, groups, [16.0, 32.0], seed=1)
    assert not np.array_equal(small, other[0])


def test_a_small_class_keeps_two_groups_in_every_sample():
    y = np.array([0] * 200 + [1] * 200 + [2] * 6)
    partition = make_partition(y, seed=0)
    assert np.sum(y[partition.folds[0][0]] == 2) == 4
    small, _ = screening_samples(partition, y, np.arange(y.size), [16.0, 32.0], seed=0)
    assert np.sum(y[small] == 2) == 2  # 25% of 4 training images is 1; the inner splits need 2


# --- promotion ------------------------------------------------------------------------------------
def embeddings(_name):
    return "embeddings"


def test_the_cheap_winners_on_every_cnn_featurizer_and_the_baseline_are_sure_the_rest_screened():
    a = [Candidate(b, "cnn") for b in ("majority", "lr_l2", "mlp", "lightgbm", "catboost")]
    g = [Candidate(b, "grayscale20") for b in ("lr_l2", "mlp", "xgboost")]
    p = [Candidate("finetune_lite0", "pix"), Candidate("mlp", "pix")]
    sure, screened = split_sure(a + g + p, lambda f: "pixels" if f == "pix" else "embeddings")
    assert sure == [a[1], a[2], g[0]]  # LR + MLP on the CNN, the baseline; never the grayscale MLP or pixel rows
    assert screened == [a[0], a[3], a[4], g[1], g[2], *p]


def test_screening_is_admitted_cheapest_first_within_a_share_of_the_sure_rows_cost():
    sure = [Candidate("lr_l2", "cnn"), Candidate("mlp", "cnn")]
    screened = [Candidate(b, "cnn") for b in ("catboost", "majority", "xgboost", "lightgbm")]
    cost = {"lr_l2": 1.0, "mlp": 1.0, "majority": 0.0, "lightgbm": 2.0, "xgboost": 3.0, "catboost": 5.0}
    by_cost = lambda c: cost[c.blueprint]  # noqa: E731
    # allowance = SCREEN_SHARE x 5 folds x 2 = 1.5 (at SCREEN_SHARE 0.15); a screened row costs 0.75 of its fold
    assert SCREEN_SHARE == 0.15
    admitted, passed = within_allowance(screened, sure, by_cost, 0.75, folds=5)
    assert admitted == [screened[1], screened[3]] and passed == [screened[0], screened[2]]  # plan order kept
    admitted, _ = within_allowance(screened, sure * 3, by_cost, 0.75, folds=5)  # allowance 4.5: + xgboost
    assert admitted == [screened[1], screened[2], screened[3]]
    assert within_allowance(screened, [], by_cost, 0.75, folds=5) == (screened, [])  # nothing sure: screen all


def test_projection_follows_the_slope_per_doubling_and_never_extrapolates_a_fall():
    assert projected_score([(16.0, 0.70), (32.0, 0.80)], 64.0) == pytest.approx(0.90)
    assert projected_score([(32.0, 0.80), (16.0, 0.70)], 128.0) == pytest.approx(1.00)  # order does not matter
    assert projected_score([(16.0, 0.85), (32.0, 0.80)], 64.0) == 0.80  # falling: stays at its last point
    assert projected_score([(16.0, 0.6)], 64.0) == 0.6


def test_a_screened_row_joins_only_when_its_curve_beats_the_sure_rows_best_by_more_than_the_noise():
    climbing, flat, high = Candidate("xgboost", "cnn"), Candidate("lightgbm", "cnn"), Candidate("catboost", "cnn")
    curves = {climbing: [(16.0, 0.70), (32.0, 0.80)], flat: [(16.0, 0.84), (32.0, 0.845)],
              high: [(16.0, 0.86), (32.0, 0.86)]}
    assert promote_screened(curves, 64.0, bar=0.87) == [climbing]  # 0.90: still climbing at 32%, it may overtake
    assert promote_screened(curves, 64.0, bar=0.80) == [climbing, high]  # at most PROMOTE_SCREENED, best first
    assert promote_screened(curves, 64.0, bar=0.95) == []
    assert promote_screened(curves, 64.0, bar=None, top=3) == [climbing, high, flat]  # nothing sure: the best
    m = get_metric("macro_f1")
    rows = [{"scores": {"macro_f1": {"validation": v, "cv_std": sd}}, "spec": {"folds": 4}}
            for v, sd in ((0.80, 0.02), (0.85, 0.04))]
    assert promotion_bar(rows, m, shifted=False) == pytest.approx(0.85 + 0.04 / 2)
    loss = get_metric("log_loss")  # lower is better: the bar is oriented (higher is better)
    rows = [{"scores": {"log_loss": {"validation": v, "cv_std": 0.0}}, "spec": {"folds": 5}} for v in (0.3, 0.2)]
    assert promotion_bar(rows, loss, shifted=False) == pytest.approx(-0.2)


def curves_of(rows):
    curves = {}
    for r in rows:
        if r["kind"] == "stage":
            curves.setdefault(Candidate(r["blueprint"], r["featurizer"]), []).append(
                (r["sample_pct"], r["scores"]["macro_f1"]["validation"]))
    return curves


def test_autopilot_fits_the_sure_rows_screens_the_rest_and_promotes_by_the_curves(screened):
    root, result = screened
    stages = {pct: [r for r in result.rows if r["kind"] == "stage" and r["sample_pct"] == pct] for pct in (16.0, 32.0)}
    full = [r for r in result.rows if r["kind"] == "model"]
    pair = lambda r: (r["blueprint"], r["featurizer"])  # noqa: E731
    sure = {(b, f) for b in ("lr_l2", "mlp") for f in ("fake_a", "fake_b")}
    assert sure <= {pair(r) for r in full}  # the cheap winners: full CV, never screened
    project = Project(root)
    labels = load_labels(project)
    features = {f: load_feature_rows(project, f, labels) for f in ("fake_a", "fake_b")}
    cost = lambda c: prior_cost(c.blueprint, *features[c.featurizer].X.shape)  # noqa: E731
    planned = [Candidate(b, f) for f in ("fake_a", "fake_b") for b in SCREENED]
    admitted, _ = within_allowance([c for c in planned if (c.blueprint, c.featurizer) not in sure],
                                   [Candidate(*p) for p in sorted(sure)], cost, 0.75, folds=5)
    assert admitted and all(c.blueprint in ("majority", "lightgbm") for c in admitted)
    for pct in (16.0, 32.0):  # every admitted row at both stages, nothing else
        assert sorted(map(pair, stages[pct])) == sorted((c.blueprint, c.featurizer) for c in admitted)
    bar = promotion_bar([r for r in full if pair(r) in sure], get_metric("macro_f1"), shifted=False)
    promoted = promote_screened(curves_of(result.rows), 64.0, bar)
    assert {pair(r) for r in full} == sure | {(c.blueprint, c.featurizer) for c in promoted}
    assert {r["sample_pct"] for r in full} == {64.0}
    for row in stages[16.0]:  # one fold: Validation and Holdout, no Cross Validation
        score = row["scores"]["macro_f1"]
        assert np.isnan(score["cv_mean"]) and not np.isnan(score["validation"])
        assert row["fit_seconds"] >= 0 and row["train_rows"] < full[0]["train_rows"] / 3


def test_stage_rows_rank_below_full_rows_and_never_reach_blends_or_best(screened):
    root, result = screened
    kinds = [r["kind"] for r in result.rows]
    first_stage = kinds.index("stage")
    assert set(kinds[first_stage:]) == {"stage"} and "blend" in kinds[:first_stage]
    stage_ids = {r["id"] for r in result.rows if r["kind"] == "stage"}
    full_ids = {r["id"] for r in result.rows if r["kind"] == "model"}
    for blend in (r for r in result.rows if r["kind"] == "blend"):
        assert set(blend["members"]) <= full_ids
    assert ApiProject(root).load_leaderboard().best["id"] not in stage_ids
    pcts = [r["sample_pct"] for r in result.rows if r["kind"] == "stage"]
    assert pcts == sorted(pcts, reverse=True)  # larger samples first
    frame = ApiProject(root).load_leaderboard().frame
    assert set(frame["Sample %"]) == {16.0, 32.0, 64.0}
    assert frame["Recommended"].sum() == 1 and frame["Recommended"].iloc[0]


def test_stage_scores_are_fold_1_validation_scores(screened):
    root, result = screened
    labels = load_labels(Project(root))
    partition = make_partition(labels.y, seed=0)
    valid = partition.folds[0][1]
    metric = get_metric("macro_f1")
    for row in result.rows:
        if row["kind"] == "stage":
            oof = np.load(result.directory / "models" / row["id"] / "oof.npy")
            assert np.isnan(oof[partition.folds[1][1]]).all() and not np.isnan(oof[valid]).any()
            assert metric(labels.y[valid], oof[valid]) == pytest.approx(row["scores"]["macro_f1"]["validation"])


def test_learning_curve_is_saved_and_rendered(screened):
    root, result = screened
    curve = json.loads((result.directory / "learning_curve.json").read_text())
    assert curve["metric"] == "macro_f1" and curve == result.learning_curve
    points = {(p["blueprint"], p["featurizer"], p["sample_pct"]): p["score"] for p in curve["rows"]}
    for row in result.rows:
        if row["kind"] in ("model", "stage"):
            key = (row["blueprint"], row["featurizer"], row["sample_pct"])
            assert points[key] == row["scores"]["macro_f1"]["validation"]
    assert len(points) == sum(r["kind"] != "blend" for r in result.rows)
    markdown = (result.directory / "learning_curve.md").read_text()
    assert "| Blueprint | Featurizer | 16% | 32% | 64% |" in markdown


def test_stage_rows_are_reused_on_rerun_and_a_lost_one_is_refitted(screened, tmp_path):
    root, result = screened
    again = run(root)
    assert again.n_fitted == 0 and as_text(again.rows) == as_text(result.rows)
    lost = next(r for r in result.rows if r["kind"] == "stage" and r["sample_pct"] == 16.0)
    (result.directory / "models" / lost["id"] / "result.json").unlink()
    resumed = run(root)
    assert resumed.n_fitted == 1 and as_text(resumed.rows) == as_text(result.rows)
    keys = {r["key"] for r in result.rows}
    assert len(keys) == len(result.rows)  # the stage is part of the key: 16%, 32% and 64% rows differ


def test_same_seed_same_autopilot_leaderboard(screened, tmp_path):
    _, result = screened
    other = run(write_embedding_project(tmp_path / "q", per_class=30, separation=0.8))
    assert as_text(other.rows) == as_text(result.rows)


# --- modes and pairing ----------------------------------------------------------------------------
def test_quick_fits_the_usual_winners_with_full_cv_and_a_handful_of_rows_skips_screening(tmp_path):
    root = write_embedding_project(tmp_path / "p", per_class=15)
    quick = run(root, run="quick", mode="quick", blueprints=[], blenders=[])
    assert sorted((r["blueprint"], r["featurizer"]) for r in quick.rows) == sorted(
        (b, f) for b in ("lr_l2", "mlp") for f in ("fake_a", "fake_b"))
    few = run(root, run="few", blueprints=["lr_l2", "mlp", "majority"], blenders=[])  # autopilot, 6 rows: too few
    assert {r["kind"] for r in few.rows} == {"model"} and len(few.rows) == 6


def test_comprehensive_plans_every_registered_embedding_blueprint(tmp_path):
    root = write_embedding_project(tmp_path / "p", featurizers=("fake_a",))
    project = Project(root)
    rows = [load_feature_rows(project, "fake_a", load_labels(project))]
    planned = plan_candidates(get_mode("comprehensive"), [], rows, cuda=lambda: True)
    embedding = [n for n in list_blueprints() if registry.get_blueprint(n).inputs == "embeddings"]
    assert [c.blueprint for c in planned] == embedding
    assert [c.blueprint for c in plan_candidates(get_mode("autopilot"), [], rows)] == [
        n for n in list_blueprints(default_only=True) if registry.get_blueprint(n).inputs == "embeddings"]
    assert set(MODES) == {"quick", "autopilot", "comprehensive"}


@pytest.fixture
def pixels_blueprint(monkeypatch):
    spec = registry.BlueprintSpec("test_pixels", "Test Pixel Net", factory=lambda **_: None, default=True,
                                  short="TPX", inputs="pixels")
    monkeypatch.setitem(registry._REGISTRY, "test_pixels", spec)
    return spec.name


def test_blueprints_pair_only_with_featurizers_of_their_input_kind(tmp_path, pixels_blueprint):
    root = write_embedding_project(tmp_path / "p", featurizers=("fake_a", "pix"))
    project = Project(root)
    embeddings = project.load_embeddings("train", "pix")
    sidecar = {**embeddings.sidecar, "description": {"kind": "pixels", "backbone": "pixels"}}
    project.save_embeddings("train", "pix", embeddings.matrix, sidecar)
    labels = load_labels(project)
    rows = [load_feature_rows(project, name, labels) for name in ("fake_a", "pix")]
    pixels = [n for n in list_blueprints() if registry.get_blueprint(n).inputs == "pixels"]
    assert pixels_blueprint in pixels
    planned = plan_candidates(get_mode("comprehensive"), [], rows, cuda=lambda: True)
    assert [c for c in planned if c.featurizer == "pix"] == [Candidate(n, "pix") for n in pixels]
    assert all(c.featurizer == "fake_a" for c in planned if c.blueprint not in pixels)
    without_gpu = plan_candidates(get_mode("comprehensive"), [], rows, cuda=lambda: False)
    assert not {c.blueprint for c in without_gpu} & set(pixels)  # comprehensive: on a GPU only ...
    listed = plan_candidates(get_mode("comprehensive"), [pixels_blueprint, "lr_l2"], rows, cuda=lambda: False)
    assert set(listed) == {Candidate(pixels_blueprint, "pix"), Candidate("lr_l2", "fake_a")}  # ... unless named
    with pytest.raises(PixelboardError, match="takes pixels and no featurizer"):
        plan_candidates(get_mode("quick"), [pixels_blueprint], rows[:1])


def test_bad_mode_and_budget_are_one_line_errors(embedding_project):
    for args, message in ((["--time-budget", "0"], "time_budget must be more than 0 seconds, got 0.0"),):
        out = CliRunner().invoke(main, ["leaderboard", "--project", str(embedding_project), "--quiet", *args])
        assert out.exit_code == 1 and out.output.strip() == f"Error: {message}", out.output
    # --mode is a click.Choice of the registered modes: a usage error naming them all.
    out = CliRunner().invoke(main, ["leaderboard", "--project", str(embedding_project), "--quiet", "--mode", "turbo"])
    assert out.exit_code == 2 and "'turbo' is not one of 'quick', 'autopilot', 'comprehensive'" in out.output
    with pytest.raises(PixelboardError, match="unknown mode"):
        autopilot.get_mode("fast")


def test_cli_prints_the_learning_curve_next_to_the_leaderboard(screened):
    root, _ = screened
    args = ["leaderboard", "--project", str(root), "--quiet", "--blueprints", ",".join(SCREENED)]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "0 new model(s)" in out.output
    assert out.output.index("Leaderboard") < out.output.index("Learning curve") and "| 16% | 32% | 64% |" in out.output


def test_the_api_copies_of_the_modes_match_the_library():
    from pixelboard import api

    assert api.LEADERBOARD_MODES == tuple(MODES) and api.DEFAULT_MODE == LeaderboardOptions().mode == "autopilot"
