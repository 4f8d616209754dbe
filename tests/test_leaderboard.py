"""The leaderboard run: rows, scores, blends, resume, reproducibility, leakage, tables and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_embedding_project

from pixelboard.cli import main
from pixelboard.leaderboard.data import load_feature_rows, load_labels
from pixelboard.leaderboard.evaluate import assemble, fit_fold, score_model
from pixelboard.leaderboard.partition import make_partition
from pixelboard.leaderboard.runner import LeaderboardOptions, run_leaderboard
from pixelboard.project import Project

FAST = ["majority", "lr_l2", "mlp"]


def run(root, **overrides):
    # comprehensive: every row with full CV (autopilot's screening has tests/test_autopilot.py)
    options = LeaderboardOptions(**{"blueprints": FAST, "progress": False, "mode": "comprehensive", **overrides})
    return run_leaderboard(Project(root), options)


def by_id(result):
    return {row["id"]: row for row in result.rows}


def test_every_blueprint_on_every_featurizer_plus_blends(embedding_project):
    result = run(embedding_project)
    models = [r for r in result.rows if r["kind"] == "model"]
    assert sorted((r["blueprint"], r["featurizer"]) for r in models) == sorted(
        (b, f) for b in FAST for f in ("fake_a", "fake_b"))
    blends = [r for r in result.rows if r["kind"] == "blend"]
    # greedy keeps one model on these separable blobs: a one-member blend is that model again, so it is dropped
    assert {b["blueprint"] for b in blends} == {"avg", "glm"}
    assert all(len(b["members"]) >= 2 and all(m.startswith("M") for m in b["members"]) for b in blends)
    assert len({frozenset(b["members"]) for b in blends}) == len(blends)  # no two blends of the same members
    best = result.rows[0]["scores"]["macro_f1"]
    majority = next(r for r in models if r["blueprint"] == "majority")["scores"]["macro_f1"]
    assert best["cv_mean"] > 0.8 > majority["cv_mean"]
    for row in result.rows:
        for metric in ("macro_f1", "accuracy", "balanced_accuracy", "log_loss", "roc_auc"):
            assert set(row["scores"][metric]) == {"validation", "cv_mean", "cv_std", "holdout"}


def test_ranking_uses_cross_validation_not_holdout(embedding_project):
    rows = run(embedding_project).rows
    cv = [r["scores"]["macro_f1"]["cv_mean"] for r in rows]
    assert cv == sorted(cv, reverse=True)
    rows = run(embedding_project, run="by_logloss", metric="log_loss").rows
    losses = [r["scores"]["log_loss"]["cv_mean"] for r in rows]
    assert losses == sorted(losses)


def test_outputs_written(embedding_project):
    result = run(embedding_project)
    folder = result.directory
    for name in ("config.json", "partition/partition.json", "ids.json"):
        assert (folder / name).is_file(), name
    model = folder / "models" / "M2"
    assert {p.name for p in model.iterdir()} >= {"result.json", "oof.npy", "holdout.npy", "model"}
    assert {p.name for p in (model / "model").iterdir()} == {"model.json"} | {f"estimator_{k}.skops" for k in range(5)}
    config = json.loads((folder / "config.json").read_text())
    assert config["options"]["seed"] == 0 and config["versions"]["scikit-learn"]


def test_second_run_fits_nothing_and_reprints_the_same_table(embedding_project):
    first = run(embedding_project)
    second = run(embedding_project)
    assert first.n_fitted > 0 and second.n_fitted == 0
    assert [(r["id"], r["scores"]) for r in first.rows] == [(r["id"], r["scores"]) for r in second.rows]


def test_interrupted_run_resumes_only_the_missing_rows(embedding_project):
    first = run(embedding_project)
    (first.directory / "models" / "M3" / "result.json").unlink()  # as if killed while fitting M3
    again = run(embedding_project)
    assert again.n_fitted == 1
    assert by_id(again)["M3"]["scores"] == by_id(first)["M3"]["scores"]


def test_new_featurizer_or_blueprint_fits_only_what_is_new(tmp_path):
    root = write_embedding_project(tmp_path / "p", featurizers=("fake_a",))
    run(root)
    write_embedding_project(tmp_path / "p", featurizers=("fake_a", "fake_c"))  # same fake_a, one more
    assert run(root).n_fitted == len(FAST)
    extended = run(root, blueprints=FAST + ["lightgbm"])
    assert extended.n_fitted == 2


def test_same_seed_same_leaderboard(tmp_path):
    a = run(write_embedding_project(tmp_path / "a"))
    b = run(write_embedding_project(tmp_path / "b"))
    assert [(r["id"], r["scores"]) for r in a.rows] == [(r["id"], r["scores"]) for r in b.rows]


def test_same_seed_same_leaderboard_whatever_the_jobs(tmp_path):
    """Every fit runs on one thread: a fit's numbers depend on its thread count (the MLP's by up to
    6e-3 between 1 and 2 threads), and --jobs used to decide that count."""
    root = write_embedding_project(tmp_path / "p", dims=1024, per_class=60, featurizers=("fake_a",))
    serial = run(root, run="serial", jobs=1, blenders=[])
    parallel = run(root, run="parallel", jobs=2, blenders=[])
    assert [(r["id"], r["scores"]) for r in serial.rows] == [(r["id"], r["scores"]) for r in parallel.rows]
    for row in serial.rows:  # the probabilities themselves, to the last bit
        a, b = (np.load(result.directory / "models" / row["id"] / "oof.npy") for result in (serial, parallel))
        np.testing.assert_array_equal(a, b)


def test_holdout_labels_never_reach_cross_validation(embedding_project):
    """Permuting the holdout labels leaves every fold model, and so every CV score, unchanged."""
    project = Project(embedding_project)
    labels = load_labels(project)
    rows = load_feature_rows(project, "fake_a", labels)
    partition = make_partition(labels.y, seed=0)
    permuted = labels.y.copy()
    permuted[partition.holdout] = np.random.default_rng(1).permutation(permuted[partition.holdout])[::-1]
    assert (permuted != labels.y).any()
    scores = []
    for y in (labels.y, permuted):
        groups = np.arange(len(y))
        folds = [fit_fold("lr_l2", rows, np.arange(rows.X.shape[1]), y, groups, labels.n_classes, partition, f, 0, 1)
                 for f in range(partition.n_folds)]
        oof, holdout = assemble(folds, partition, labels.n_classes)
        scores.append(score_model(oof, holdout, y, partition, labels.n_classes))
    for metric in scores[0]:
        assert scores[0][metric]["cv_mean"] == scores[1][metric]["cv_mean"]
        assert scores[0][metric]["validation"] == scores[1][metric]["validation"]
    assert scores[0]["accuracy"]["holdout"] != scores[1]["accuracy"]["holdout"]


def test_augmented_copies_train_with_their_source_and_are_never_scored(tmp_path):
    root = write_embedding_project(tmp_path / "p", featurizers=("fake_a",), augment_copies=2)
    project = Project(root)
    labels = load_labels(project)
    rows = load_feature_rows(project, "fake_a", labels)
    partition = make_partition(labels.y, seed=0)
    for train, valid in partition.folds:
        train_rows = rows.train_rows(train)
        assert set(rows.source[train_rows]) == set(train)  # copies follow their source only
        assert not set(rows.source[train_rows]) & set(valid)
        assert rows.is_original[rows.original_rows(valid)].all()
    result = run(root)
    assert result.rows[0]["scores"]["macro_f1"]["cv_mean"] > 0.8


def test_too_small_class_is_a_one_line_error(tmp_path):
    root = write_embedding_project(tmp_path / "p", per_class=3, featurizers=("fake_a",))
    out = CliRunner().invoke(main, ["leaderboard", "--project", str(root), "--blueprints", "majority", "--quiet"])
    assert out.exit_code == 1
    assert out.output.startswith("Error: class ") and "has 3 images" in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_changed_partition_options_on_an_existing_run_are_refused(embedding_project):
    run(embedding_project)
    with pytest.raises(Exception, match="partitioned with seed 0"):
        run(embedding_project, seed=1)


def test_cli_prints_table_writes_files_and_exports(embedding_project):
    runner = CliRunner()
    out = runner.invoke(main, ["leaderboard", "--project", str(embedding_project), "--blueprints", "majority,lr_l2",
                               "--quiet"])
    assert out.exit_code == 0, out.output
    assert "Leaderboard" in out.output and "Regularized Logistic Regression (L2)" in out.output
    folder = embedding_project / "runs" / "leaderboard"
    for ext in ("csv", "md", "html", "json"):
        assert (folder / f"leaderboard.{ext}").is_file()
    html = (folder / "leaderboard.html").read_text()
    assert "Recommended" in html and "sortBy" in html and "<script src" not in html
    for fmt in ("csv", "md", "html", "json"):
        exported = runner.invoke(main, ["export", "--project", str(embedding_project), "--format", fmt])
        assert exported.exit_code == 0
        assert exported.output == (folder / f"leaderboard.{fmt}").read_text()
    assert "Rank,Model ID,Blueprint" in (folder / "leaderboard.csv").read_text()


def test_embeddings_that_do_not_match_the_images_are_a_one_line_error(embedding_project):
    project = Project(embedding_project)
    image_set = project.load_image_set("train")
    image_set.ids.append("new.png")
    image_set.files.append("new.png")
    image_set.labels.append(0)
    project.save_image_set(image_set)  # as if images were added without re-running featurize
    out = CliRunner().invoke(main, ["leaderboard", "--project", str(embedding_project), "--quiet"])
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1
    assert "embeddings 'fake_a' lack 1 image(s) of set 'train' (e.g. new.png)" in out.output


def test_kill_9_mid_leaderboard_then_rerun_gives_the_uninterrupted_numbers(tmp_path):
    """SIGKILL leaves at most a row in flight unfinished; the rerun fits the rest, and every score equals
    the one an uninterrupted run gets."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = write_embedding_project(tmp_path / "project", per_class=30)
    command = [sys.executable, "-m", "pixelboard.cli", "leaderboard", "--project", str(root), "--quiet",
               "--jobs", "1", "--blueprints", ",".join(FAST), "--blenders", "avg,greedy", "--mode", "comprehensive"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = root / "runs" / "leaderboard" / "models"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(models.glob("*/result.json"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(list(models.glob("M*/result.json")))
    assert 0 < finished_before < 6, "the kill should land mid-run (6 model rows)"
    resumed = CliRunner().invoke(main, command[3:])
    assert resumed.exit_code == 0, resumed.output
    assert f"{6 - finished_before} new model(s)" in resumed.output
    uninterrupted = CliRunner().invoke(main, command[3:] + ["--run", "clean"])
    assert uninterrupted.exit_code == 0, uninterrupted.output
    a = json.loads((root / "runs" / "leaderboard" / "leaderboard.json").read_text())["rows"]
    b = json.loads((root / "runs" / "clean" / "leaderboard.json").read_text())["rows"]
    assert [(r["id"], r["scores"]) for r in a] == [(r["id"], r["scores"]) for r in b]


def test_leaderboard_before_featurize_says_what_to_run(tmp_path):
    result = CliRunner().invoke(main, ["leaderboard", "--project", str(tmp_path / "empty"), "--quiet"])
    assert result.exit_code == 1 and "featurize" in result.output and "Traceback" not in result.output


def test_fit_workers_receive_the_matrix_file_not_a_copy(tmp_path):
    """A fold fit's rows pickle (for a worker process or a Ray task) as the .npy path, and map the
    same file again on arrival; a matrix that is not a whole mapped file still travels whole."""
    import pickle
    from dataclasses import replace

    root = write_embedding_project(tmp_path / "project", per_class=400, dims=256)  # a 1.2 MB matrix
    project = Project(root)
    labels = load_labels(project)
    rows = load_feature_rows(project, "fake_a", labels)
    sent = pickle.dumps(rows)
    assert len(sent) < rows.X.nbytes / 5
    arrived = pickle.loads(sent)
    assert isinstance(arrived.X.base, np.memmap) and str(arrived.X.base.filename) == str(rows.X.base.filename)
    np.testing.assert_array_equal(arrived.X, rows.X)
    np.testing.assert_array_equal(arrived.train_rows(np.arange(5)), rows.train_rows(np.arange(5)))
    assert arrived.digest() == rows.digest()
    for not_the_file in (np.array(rows.X), rows.X[:, :8], rows.X[10:]):  # a copy, slices
        sent = pickle.dumps(replace(rows, X=not_the_file))
        assert len(sent) > not_the_file.nbytes
        np.testing.assert_array_equal(pickle.loads(sent).X, not_the_file)
