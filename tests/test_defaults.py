"""Defaults that win (issue 18): blends that help or stay out, the recommendation rule, the locked holdout."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_embedding_project

from pixelboard.api import Project as ApiProject
from pixelboard.cli import main
from pixelboard.errors import PixelboardError
from pixelboard.leaderboard.blend_rows import beats_best_member
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.leaderboard.table import recommended, table_records
from pixelboard.project import Project


def row(model_id, cv, std=0.01, kind="model", members=(), holdout=0.5):
    return {"id": model_id, "kind": kind, "label": model_id, "featurizer": "f", "levels": [], "sample_pct": 64.0,
            "members": list(members), "fit_seconds": 0.0, "predict_seconds": 0.0,
            "scores": {"macro_f1": {"validation": cv, "cv_mean": math.nan if kind == "stage" else cv,
                                    "cv_std": math.nan if kind == "stage" else std, "holdout": holdout}}}


def test_a_blend_is_recommended_only_when_its_gain_over_its_best_member_beats_the_gains_standard_error():
    from pixelboard.leaderboard.partition import make_partition

    m = get_metric("macro_f1")
    y = np.repeat([0, 1], 100)
    partition = make_partition(y, seed=0)
    onehot = np.eye(2)[y]
    wrong = lambda share, seed: np.random.default_rng(seed).random(y.size) < share  # noqa: E731
    member = np.where(wrong(0.3, 1)[:, None], 1 - onehot, onehot)
    weaker = np.where(wrong(0.4, 2)[:, None], 1 - onehot, onehot)
    rows = [row("M1", 0.70), row("M2", 0.60)]
    fixed = wrong(0.5, 3) & (member.argmax(1) != y)  # the blend fixes about half the member's errors, in every fold
    better = np.where(fixed[:, None], onehot, member)
    noisy = member.copy()
    up, down = partition.folds[0][1], partition.folds[1][1]
    noisy[up] = onehot[up]  # a gain in one fold and a loss in another: a mean gain, but no steady one
    noisy[down] = np.where(wrong(0.35, 4)[down, None], 1 - onehot[down], onehot[down])
    gains = [m(y[v], noisy[v]) - m(y[v], member[v]) for _, v in partition.folds]
    assert np.mean(gains) > 0 and min(gains) < 0
    assert beats_best_member(better, {"M1": member, "M2": weaker}, rows, y, partition, m)
    assert not beats_best_member(member, {"M1": member, "M2": weaker}, rows, y, partition, m)  # no gain
    assert not beats_best_member(noisy, {"M1": member, "M2": weaker}, rows, y, partition, m)
    a, b = row("M1", 0.80), row("M2", 0.78)
    barely = {**row("B1", 0.805, kind="blend", members=("M1", "M2")), "beats_members": False}
    clearly = {**row("B2", 0.815, kind="blend", members=("M1", "M2")), "beats_members": True}
    assert recommended([barely, a, b])["id"] == "M1"  # rank 1 by CV, but the single model is as good
    assert recommended([clearly, a, b])["id"] == "B2"
    records = table_records([barely, a, b], "macro_f1")
    assert [r["Recommended"] for r in records] == [False, True, False]
    from pixelboard.predict import choose_model

    assert choose_model([barely, a, b], "best")["id"] == "M1"
    assert choose_model([a, barely, b], "blend")["id"] == "B1"  # asked for by name, a blend is still given


@pytest.fixture(scope="module")
def with_baseline(tmp_path_factory):
    """Two CNN-like featurizers and a grayscale20 whose columns are noise: the baseline is weak."""
    root = write_embedding_project(tmp_path_factory.mktemp("base") / "p", per_class=30, separation=0.9,
                                   featurizers=("fake_a", "fake_b", "grayscale20"))
    project = Project(root)
    weak = project.load_embeddings("train", "grayscale20")
    noise = np.random.default_rng(3).normal(size=np.asarray(weak.matrix).shape).astype(np.float32)
    project.save_embeddings("train", "grayscale20", noise, weak.sidecar)
    options = LeaderboardOptions(blueprints=["lr_l2", "mlp", "lightgbm", "majority"], progress=False)
    return root, run_leaderboard(project, options)


def test_the_baseline_joins_a_blend_only_when_greedy_picks_it_and_no_two_blends_share_members(with_baseline):
    _, result = with_baseline
    baseline = next(r["id"] for r in result.rows if r["label"].startswith("Baseline Image Classifier"))
    blends = {r["blueprint"]: r for r in result.rows if r["kind"] == "blend"}
    assert blends, "the run should blend"
    greedy_took_it = "greedy" in blends and baseline in blends["greedy"]["members"]
    for name, blend in blends.items():
        if name != "greedy":
            assert (baseline in blend["members"]) <= greedy_took_it, name
        assert len(blend["members"]) >= 2
    # the GLM blender stacks every candidate it is given: without the rule it would hold the baseline
    if "glm" in blends and not greedy_took_it:
        assert baseline not in blends["glm"]["members"] and len(blends["glm"]["members"]) >= 2
    assert len({frozenset(b["members"]) for b in blends.values()}) == len(blends)


def test_autopilot_gives_the_cheap_winners_full_cv_on_every_cnn_featurizer(with_baseline):
    _, result = with_baseline
    full = {(r["blueprint"], r["featurizer"]) for r in result.rows if r["kind"] == "model"}
    assert {("lr_l2", "fake_a"), ("mlp", "fake_a"), ("lr_l2", "fake_b"), ("mlp", "fake_b"),
            ("lr_l2", "grayscale20")} <= full
    screened = {(r["blueprint"], r["featurizer"]) for r in result.rows if r["kind"] == "stage"}
    assert screened and not screened & {("lr_l2", "fake_a"), ("mlp", "fake_a"), ("lr_l2", "grayscale20")}


def test_screening_rows_hold_a_locked_holdout_in_every_format_until_unlocked(with_baseline):
    root, result = with_baseline
    stage = next(r for r in result.rows if r["kind"] == "stage")
    full = next(r for r in result.rows if r["kind"] == "model")
    board = ApiProject(root).load_leaderboard()
    frame = board.frame.set_index("Model ID")
    assert np.isnan(frame.loc[stage["id"], "Holdout"])  # pandas' missing value
    assert frame.loc[full["id"], "Holdout"] == pytest.approx(full["scores"]["macro_f1"]["holdout"])
    assert board.holdout(stage["id"])["macro_f1"] == stage["scores"]["macro_f1"]["holdout"]  # the API unlocks
    text = board.render("text").splitlines()
    line = next(t for t in text if t.startswith(str(next(i for i, r in enumerate(result.rows, 1) if r is stage))))
    assert "—" in line
    payload = json.loads(board.render("json"))
    locked = {r["id"]: r for r in payload["rows"]}
    assert locked[stage["id"]]["scores"]["macro_f1"]["holdout"] is None
    assert locked[full["id"]]["scores"]["macro_f1"]["holdout"] == full["scores"]["macro_f1"]["holdout"]
    runner = CliRunner()
    csv_locked = runner.invoke(main, ["export", "--project", str(root), "--format", "csv"])
    csv_open = runner.invoke(main, ["export", "--project", str(root), "--format", "csv", "--show-holdout", stage["id"]])
    assert csv_locked.exit_code == 0 and csv_open.exit_code == 0, csv_open.output
    cell = lambda out: next(r for r in csv.DictReader(io.StringIO(out)) if r["Model ID"] == stage["id"])  # noqa: E731
    assert cell(csv_locked.output)["Holdout"] == ""
    assert float(cell(csv_open.output)["Holdout"]) == pytest.approx(stage["scores"]["macro_f1"]["holdout"])
    html = runner.invoke(main, ["export", "--project", str(root), "--format", "html"]).output
    assert "—" in html
    bad = runner.invoke(main, ["export", "--project", str(root), "--show-holdout", "M999"])
    assert bad.exit_code == 1 and "no model 'M999'" in bad.output
    with pytest.raises(PixelboardError, match="no model 'X1'"):
        board.holdout("X1")
