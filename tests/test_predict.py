"""predict: output format and label space, models and blends, TTA averaging, mismatch errors, deploy
(100% refit), portable bundles and their safe loading."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import write_image
from PIL import Image

from pixelboard.cli import main
from pixelboard.leaderboard.store import RunStore

COLORS = {3: (60, 20, 20), 7: (30, 220, 30), 11: (250, 250, 200)}  # class id -> colour (distinct in grayscale)


def _coloured(path, colour, seed):
    rng = np.random.default_rng(seed)
    array = np.clip(np.array(colour) + rng.normal(0, 25, size=(24, 30, 3)), 0, 255).astype(np.uint8)
    array[: 4 + seed % 6] = 255  # an asymmetric white band: flips and rotations change the pixels
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A competition folder with int class ids, featurized with grayscale20 and a small leaderboard."""
    root = tmp_path_factory.mktemp("competition")
    rows = []
    for n in range(45):
        target = list(COLORS)[n % 3]
        _coloured(root / "train" / f"tr{n:03d}.png", COLORS[target], n)
        rows.append({"ID": f"tr{n:03d}", "target": target})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    test_ids = []
    for n in range(9):
        target = list(COLORS)[n % 3]
        _coloured(root / "test" / f"te{n}.png", COLORS[target], 100 + n)
        test_ids.append({"ID": f"te{n}.png", "truth": target})
    pd.DataFrame(test_ids)[["ID"]].to_csv(root / "test.csv", index=False)
    project = str(root / "project")
    runner = CliRunner()
    out = runner.invoke(main, ["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                               "--backbone", "grayscale20", "--project", project, "--quiet", "--workers", "0"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["leaderboard", "--project", project, "--blueprints", "majority,lr_l2,mlp", "--quiet"])
    assert out.exit_code == 0, out.output
    return root, project, pd.DataFrame(test_ids)


def _predict(trained, *extra, out_name="submission.csv"):
    root, project, _ = trained
    out = root / out_name
    result = CliRunner().invoke(main, ["predict", "--images", str(root / "test"), "--labels", str(root / "test.csv"),
                                       "--project", project, "--out", str(out), "--quiet", "--workers", "0", *extra])
    return result, out


def test_submission_has_ids_in_order_and_training_label_space(trained):
    result, out = _predict(trained)
    assert result.exit_code == 0, result.output
    submission = pd.read_csv(out)
    truth = trained[2]
    assert list(submission.columns) == ["ID", "target"]
    assert list(submission["ID"]) == list(truth["ID"])
    assert set(submission["target"]) <= set(COLORS)  # class ids as in train.csv, not 0..K-1
    assert (submission["target"].to_numpy() == truth["truth"].to_numpy()).mean() >= 0.8


def test_probabilities_one_column_per_class(trained):
    result, out = _predict(trained, "--probabilities", out_name="proba.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["ID"] + [str(c) for c in COLORS]
    np.testing.assert_allclose(table.drop(columns="ID").sum(axis=1), 1.0, atol=1e-6)


def test_model_choice_blend_and_id(trained):
    for choice in ("M2", "best"):
        result, out = _predict(trained, "--model", choice, out_name=f"{choice}.csv")
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(out)) == 9
    # grayscale20 only: its L2 LR is the baseline, which joins no blend unless greedy picks it, and greedy
    # keeps one model on these colours -- so there is no blend to choose (tests/test_defaults.py chooses one)
    result, _ = _predict(trained, "--model", "blend")
    assert result.exit_code == 1 and "the leaderboard has no blend" in result.output
    result, _ = _predict(trained, "--model", "M99")
    assert result.exit_code == 1 and "unknown model id 'M99'" in result.output


def test_tta_averages_the_probabilities_of_the_transformed_copies(trained):
    root, project, truth = trained
    plain, plain_out = _predict(trained, "--probabilities", "--model", "M2", out_name="plain.csv")
    tta, tta_out = _predict(trained, "--probabilities", "--model", "M2", "--tta", "hflip", out_name="tta.csv")
    assert plain.exit_code == 0 and tta.exit_code == 0, tta.output
    # Predict the flipped images on their own, as a separate image set, with the same model.
    flipped = root / "flipped"
    for image_id in truth["ID"]:
        flipped.mkdir(exist_ok=True)
        Image.open(root / "test" / image_id).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped / image_id)
    out = root / "flipped.csv"
    result = CliRunner().invoke(main, ["predict", "--images", str(flipped), "--labels", str(root / "test.csv"),
                                       "--project", project, "--set", "flipped", "--model", "M2", "--probabilities",
                                       "--out", str(out), "--quiet", "--workers", "0"])
    assert result.exit_code == 0, result.output
    p_plain, p_tta, p_flip = (pd.read_csv(p).drop(columns="ID").to_numpy() for p in (plain_out, tta_out, out))
    assert not np.allclose(p_plain, p_flip)
    np.testing.assert_allclose(p_tta, (p_plain + p_flip) / 2, atol=1e-5)


def test_featurizer_mismatch_is_a_clear_error(trained, tmp_path):
    """A model whose featurizer would not reproduce its training embeddings is refused, not used."""
    root, project, _ = trained
    model_json = root / "project" / "runs" / "leaderboard" / "models" / "M2" / "model" / "model.json"
    original = model_json.read_text()
    meta = json.loads(original)
    meta["featurizer"]["fingerprint"] = "0000000000000000"
    model_json.write_text(json.dumps(meta))
    try:
        result, _ = _predict(trained, "--model", "M2", out_name="mismatch.csv")
    finally:
        model_json.write_text(original)
    assert result.exit_code == 1
    assert "no longer matches" in result.output and len(result.output.strip().splitlines()) == 1


def test_predict_uses_the_runs_classes_not_the_current_manifest(trained):
    """Re-featurizing the training set with another class list must not relabel the model's columns."""
    root, project, truth = trained
    before, out = _predict(trained, "--model", "M2", "--probabilities", out_name="classes_before.csv")
    assert before.exit_code == 0, before.output
    manifest_path = root / "project" / "datasets" / "train.json"
    original = manifest_path.read_text()
    manifest = json.loads(original)
    manifest["labels"] = [f"other-{v}" for v in manifest["labels"]]
    manifest_path.write_text(json.dumps(manifest))
    try:
        after, out_after = _predict(trained, "--model", "M2", "--probabilities", out_name="classes_after.csv")
    finally:
        manifest_path.write_text(original)
    assert after.exit_code == 0, after.output
    assert list(pd.read_csv(out).columns) == list(pd.read_csv(out_after).columns) == ["ID"] + [str(c) for c in COLORS]


def test_predict_without_a_leaderboard_says_what_to_run(tmp_path):
    write_image(tmp_path / "imgs" / "a.png")
    result = CliRunner().invoke(main, ["predict", "--images", str(tmp_path / "imgs"), "--project",
                                       str(tmp_path / "empty"), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 1 and "run `pixelboard leaderboard` first" in result.output


def test_deploy_refits_on_every_image_and_predict_says_so(trained):
    root, project, truth = trained
    result = CliRunner().invoke(main, ["deploy", "--project", project, "--model", "M2", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "deployed M2" in result.output and "all 45 labelled images" in result.output
    fitted = RunStore(Path(project) / "runs" / "leaderboard").load_fitted("M2", deployed=True)
    assert len(fitted.estimators) == 1 and "100%" in fitted.trained_on
    predicted, out = _predict(trained, out_name="deployed.csv")  # no --model: the deployed model
    assert predicted.exit_code == 0, predicted.output
    assert "M2" in predicted.output and "100% of the labelled images" in predicted.output
    assert (pd.read_csv(out)["target"].to_numpy() == truth["truth"].to_numpy()).mean() >= 0.8


def test_bundle_round_trip_in_an_empty_directory_gives_identical_probabilities(trained, tmp_path, monkeypatch):
    root, project, _ = trained
    bundle = tmp_path / "model.pbz"
    exported = CliRunner().invoke(main, ["export-model", "--project", project, "--model", "M2", "--out", str(bundle)])
    assert exported.exit_code == 0, exported.output
    reference, ref_out = _predict(trained, "--model", "M2", "--probabilities", out_name="reference.csv")
    assert reference.exit_code == 0, reference.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a fresh directory: no project, no run, only the bundle
    result = CliRunner().invoke(main, ["predict", "--bundle", str(bundle), "--images", str(root / "test"),
                                       "--labels", str(root / "test.csv"), "--probabilities", "--out", "s.csv",
                                       "--quiet", "--workers", "0"])
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(ref_out)
    got = pd.read_csv(elsewhere / "s.csv")
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got.drop(columns="ID").to_numpy(), expected.drop(columns="ID").to_numpy())


def test_tampered_bundles_are_refused_without_running_their_code(trained, tmp_path):
    import skops.io as sio

    root, project, _ = trained
    bundle = tmp_path / "model.pbz"
    assert CliRunner().invoke(main, ["export-model", "--project", project, "--model", "M2",
                                     "--out", str(bundle)]).exit_code == 0
    hostile = tmp_path / "hostile.pbz"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(hostile, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("estimator_0.skops"):
                data = sio.dumps(PurePosixPath("a type pixelboard does not trust"))
            dst.writestr(item, data)
    truncated = tmp_path / "truncated.pbz"
    truncated.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    not_a_zip = tmp_path / "labels.pbz"
    not_a_zip.write_text("ID,target\n1,2\n")
    for path, message in ((hostile, "refusing to load"), (truncated, "not a readable model bundle"),
                          (not_a_zip, "not a readable model bundle")):
        result, _ = _predict(trained, "--bundle", str(path), out_name="never.csv")
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_predict_refuses_to_overwrite_the_training_set(trained):
    result, _ = _predict(trained, "--set", "train", out_name="never.csv")
    assert result.exit_code == 1 and "labelled training set" in result.output
