"""Views computed once: invariant (view-pooled) embeddings, shift-aware validation, invariant prediction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from pixelboard.cli import main
from pixelboard.featurizers.views import pool_views, variant_name
from pixelboard.project import Project

SHAPES = 3  # classes: an L, a bar and a corner block; each drawn at a random orientation-free size


def _shape_image(path, label: int, seed: int, size: int = 32):
    rng = np.random.default_rng(seed)
    array = np.full((size, size, 3), 235, dtype=np.uint8)
    a, b = 4 + rng.integers(0, 4), 20 + rng.integers(0, 6)
    if label == 0:
        array[a:b, a:a + 5] = 30
        array[b - 5:b, a:b] = 30  # an L: its orientation changes under rotation
    elif label == 1:
        array[a:b, a + 6:a + 10] = 60  # a bar
    else:
        array[:b // 2, :b // 2] = 90  # a block in a corner
    array = np.clip(array.astype(int) + rng.integers(-15, 16, size=array.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def viewed(tmp_path_factory):
    """36 training images featurized (grayscale20) with --views dihedral and both poolings."""
    root = tmp_path_factory.mktemp("views")
    rows = []
    for n in range(36):
        _shape_image(root / "train" / f"t{n:02d}.png", n % SHAPES, n)
        rows.append({"ID": f"t{n:02d}", "target": n % SHAPES})
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    for n in range(6):
        _shape_image(root / "test" / f"q{n}.png", n % SHAPES, 100 + n)
        image = Image.open(root / "test" / f"q{n}.png")
        (root / "turned").mkdir(exist_ok=True)
        image.transpose(Image.Transpose.ROTATE_90).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            root / "turned" / f"q{n}.png")
    project = str(root / "project")
    result = CliRunner().invoke(main, ["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                                       "--project", project, "--backbone", "grayscale20", "--views", "dihedral",
                                       "--pool", "mean,meanmax", "--quiet", "--workers", "0"])
    assert result.exit_code == 0, result.output
    return root, project, result.output


def test_views_write_plain_and_invariant_embeddings_and_the_view_rows(viewed):
    root, project, output = viewed
    names = Project(project).featurizer_names("train")
    assert names == ["grayscale20", "grayscale20+d4mean", "grayscale20+d4meanmax"]
    assert "invariant: grayscale20+d4mean, grayscale20+d4meanmax" in output
    p = Project(project)
    plain = p.load_embeddings("train", "grayscale20")
    mean = p.load_embeddings("train", "grayscale20+d4mean")
    meanmax = p.load_embeddings("train", "grayscale20+d4meanmax")
    stack, sidecar = p.load_view_embeddings("train", "grayscale20")
    assert plain.matrix.shape == (36, 400)  # views never become training rows of the plain featurizer
    assert stack.shape == (8, 36, 400) and len(sidecar["views"]) == 7
    np.testing.assert_array_equal(stack[0], plain.matrix)
    np.testing.assert_allclose(mean.matrix, stack.mean(axis=0), rtol=1e-6)
    assert meanmax.matrix.shape == (36, 800) and meanmax.sidecar["level_slices"]["pixels_max"] == [400, 800]
    assert mean.sidecar["views"] == sidecar["views"] and mean.sidecar["pool"] == "mean"


def test_views_are_written_in_chunks_with_the_same_bits(viewed, tmp_path, monkeypatch):
    """The view rows and the pooled variants stream through memory maps a few images at a time (never
    the whole (views, images, d) stack in RAM): chunks that do not divide the set change no bit."""
    from pixelboard.featurizers import pipeline

    root, project, _ = viewed
    monkeypatch.setattr(pipeline, "_CHUNK_ROWS", 5)
    chunked = str(tmp_path / "chunked")
    result = CliRunner().invoke(main, ["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                                       "--project", chunked, "--backbone", "grayscale20", "--views", "dihedral",
                                       "--pool", "mean,meanmax", "--quiet", "--workers", "0"])
    assert result.exit_code == 0, result.output
    whole, parts = Project(project), Project(chunked)
    for name in ("grayscale20+d4mean", "grayscale20+d4meanmax"):
        np.testing.assert_array_equal(parts.load_embeddings("train", name).matrix,
                                      whole.load_embeddings("train", name).matrix)
    np.testing.assert_array_equal(parts.load_view_embeddings("train", "grayscale20")[0],
                                  whole.load_view_embeddings("train", "grayscale20")[0])


def test_invariant_variants_pool_the_views_of_every_damaged_copy(viewed, tmp_path, monkeypatch):
    """``--augment noise+blur,hflip --views c4``: the variant has a row per original and per copy that is
    not one of the views, each the mean of that copy's own rotations; the copies are drawn once and
    stacked in one draw (``noise+blur``), and a row is the same whether the decode worker reused the
    copy for its views or drew it again."""
    from pixelboard.featurizers.augment import apply_tag
    from pixelboard.featurizers.registry import create_featurizer

    root, _, _ = viewed
    project = str(tmp_path / "copies")
    args = ["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"), "--project", project,
            "--backbone", "grayscale20", "--set", "aug", "--augment", "noise+blur,rot90,hflip", "--views",
            "rot90,rot180,rot270", "--quiet"]
    result = CliRunner().invoke(main, args + ["--workers", "1"])
    assert result.exit_code == 0, result.output
    p = Project(project)
    plain, variant = p.load_embeddings("aug", "grayscale20"), p.load_embeddings("aug", "grayscale20+c4mean")
    assert plain.matrix.shape == (36 * 4, 400)
    tags = variant.sidecar["rows"]["augmentations"]
    assert variant.matrix.shape == (36 * 3, 400)  # originals, noise+blur#0 and hflip copies; rot90 is a view
    assert sorted(set(tags)) == ["", "hflip", "noise+blur#0"]
    assert variant.sidecar["augment"]["transforms"] == ["noise+blur", "rot90", "hflip"]
    # The view rows: the originals for validation and the shift check, with the copies for the canonicalizer.
    originals, sidecar = p.load_view_embeddings("aug", "grayscale20")
    everything, full = p.load_view_embeddings("aug", "grayscale20", copies=True)
    assert originals.shape == (4, 36, 400) and everything.shape == (4, 36 * 3, 400)
    assert not any(sidecar["rows"]["augmentations"]) and full["rows"]["augmentations"] == tags
    np.testing.assert_array_equal(everything[:, :36], originals)
    np.testing.assert_allclose(everything.mean(axis=0), variant.matrix, rtol=1e-6)

    featurizer = create_featurizer("grayscale20")
    row = tags.index("noise+blur#0")
    image_id = variant.sidecar["rows"]["sources"][row]
    key = variant.sidecar["rows"]["content"][row]
    image = Image.open(root / "train" / f"{image_id}.png").convert("RGB")
    copy = apply_tag(image, "noise+blur#0", 0, key)
    turns = [copy] + [apply_tag(copy, t) for t in ("rot90", "rot180", "rot270")]
    np.testing.assert_allclose(variant.matrix[row], featurizer.transform(turns).mean(axis=0), rtol=1e-5, atol=1e-6)
    copy_row = plain.matrix[plain.sidecar["rows"]["ids"].index(f"{image_id}#noise+blur#0")]
    np.testing.assert_allclose(copy_row, featurizer.transform([copy])[0], rtol=1e-5, atol=1e-6)

    from pixelboard.featurizers import extract

    class DrawsEveryTime(extract._DecodeDataset):  # keeps no copy: every view draws its copy again
        _last_copy = property(lambda self: None, lambda self, value: None)

    monkeypatch.setattr(extract, "_DecodeDataset", DrawsEveryTime)
    again = str(tmp_path / "again")
    assert CliRunner().invoke(main, args[:6] + [again] + args[7:] + ["--workers", "0"]).exit_code == 0
    np.testing.assert_array_equal(Project(again).load_embeddings("aug", "grayscale20+c4mean").matrix, variant.matrix)


def test_pooling_and_names():
    stack = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    np.testing.assert_array_equal(pool_views(stack, "mean"), stack.mean(axis=0))
    np.testing.assert_array_equal(pool_views(stack, "meanmax")[:, 4:], stack[2])
    assert variant_name("efficientnet_lite0", ["rot90", "rot180", "rot270"], "mean") == "efficientnet_lite0+c4mean"


def test_validate_under_scores_both_ways_and_invariant_rows_do_not_move(viewed):
    root, project, _ = viewed
    result = CliRunner().invoke(main, ["leaderboard", "--project", project, "--run", "shifted", "--quiet", "--jobs", "1",
                                       "--blueprints", "lr_l2", "--blenders", "avg", "--validate-under", "dihedral"])
    assert result.exit_code == 0, result.output
    assert "CV (shifted)" in result.output and "ranked by CV (shifted)" in result.output
    rows = json.loads((root / "project" / "runs" / "shifted" / "leaderboard.json").read_text())["rows"]
    by_featurizer = {r["featurizer"]: r for r in rows if r["kind"] == "model" and r["blueprint"] == "lr_l2"}
    for name in ("grayscale20+d4mean", "grayscale20+d4meanmax"):
        clean, shifted = by_featurizer[name]["scores"]["macro_f1"], by_featurizer[name]["scores_shifted"]["macro_f1"]
        assert abs(clean["cv_mean"] - shifted["cv_mean"]) < 1e-9
    plain = by_featurizer["grayscale20"]
    assert plain["scores_shifted"]["macro_f1"]["cv_mean"] < plain["scores"]["macro_f1"]["cv_mean"]
    blend = next(r for r in rows if r["kind"] == "blend")
    assert "scores_shifted" in blend
    order = [r["scores_shifted"]["macro_f1"]["cv_mean"] for r in rows]
    assert order[0] == max(order)  # ranked by the shifted score


def test_validate_under_without_views_is_one_line(tmp_path, viewed):
    root, _, _ = viewed
    project = str(tmp_path / "noviews")
    CliRunner().invoke(main, ["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                              "--project", project, "--backbone", "grayscale20", "--quiet", "--workers", "0"])
    result = CliRunner().invoke(main, ["leaderboard", "--project", project, "--quiet", "--jobs", "1",
                                       "--blueprints", "lr_l2", "--validate-under", "dihedral"])
    assert result.exit_code == 1 and "featurize --views" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_invariant_model_predicts_turned_images_like_upright_ones(viewed):
    root, project, _ = viewed
    run = CliRunner().invoke(main, ["leaderboard", "--project", project, "--run", "inv", "--quiet", "--jobs", "1",
                                    "--blueprints", "lr_l2", "--blenders", "", "--featurizers", "grayscale20+d4mean"])
    assert run.exit_code == 0, run.output
    outputs = {}
    for folder in ("test", "turned"):
        out = root / f"{folder}.csv"
        result = CliRunner().invoke(main, ["predict", "--images", str(root / folder), "--project", project, "--run", "inv",
                                           "--set", folder, "--probabilities", "--out", str(out), "--quiet",
                                           "--workers", "0"])
        assert result.exit_code == 0, result.output
        assert "grayscale20+d4mean" in result.output
        outputs[folder] = pd.read_csv(out).drop(columns="ID").to_numpy()
    np.testing.assert_allclose(outputs["test"], outputs["turned"], atol=1e-6)


@pytest.fixture(scope="module")
def shifted_project(tmp_path_factory):
    """90 upright training images (views cached) and two test sets: turned/flipped at random, and upright."""
    root = tmp_path_factory.mktemp("shift")
    rng = np.random.default_rng(7)
    pd.DataFrame({"ID": [f"t{n:03d}" for n in range(90)], "target": [n % SHAPES for n in range(90)]}).to_csv(
        root / "train.csv", index=False)
    for n in range(90):
        _shape_image(root / "train" / f"t{n:03d}.png", n % SHAPES, n)
        _shape_image(root / "upright" / f"u{n:03d}.png", n % SHAPES, 500 + n)
        image = Image.open(root / "upright" / f"u{n:03d}.png").rotate(90 * int(rng.integers(0, 4)))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        (root / "turned").mkdir(exist_ok=True)
        image.save(root / "turned" / f"u{n:03d}.png")
    project = str(root / "project")
    common = ["--project", project, "--backbone", "grayscale20", "--quiet", "--workers", "0"]
    for args in (["--images", str(root / "train"), "--labels", str(root / "train.csv"), "--views", "dihedral"],
                 ["--images", str(root / "turned"), "--unlabelled", "--set", "turned"],
                 ["--images", str(root / "upright"), "--unlabelled", "--set", "upright"]):
        result = CliRunner().invoke(main, ["featurize", *args, *common])
        assert result.exit_code == 0, result.output
    return root, project


def test_shift_names_the_rotation_of_a_turned_test_set(shifted_project, tmp_path):
    root, project = shifted_project
    out = tmp_path / "shift.json"
    result = CliRunner().invoke(main, ["shift", "--project", project, "--test", "turned", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["shifted"] and report["auc"] > 0.75
    best = report["hypotheses"][0]
    assert best["name"] in ("rotated by 90/180/270 and flipped", "rotated by 90/180/270"), report["hypotheses"]
    assert abs(best["auc"] - 0.5) < abs(report["auc"] - 0.5) - 0.15
    assert "--validate-under" in report["advice"] and "best explanation: the test set looks rotated" in result.output


def test_shift_finds_an_upright_test_set_alike(shifted_project):
    root, project = shifted_project
    result = CliRunner().invoke(main, ["shift", "--project", project, "--test", "upright"])
    assert result.exit_code == 0, result.output
    assert "(alike;" in result.output and "no shift-specific option needed" in result.output


def test_shift_before_the_test_set_is_featurized_says_what_to_run(shifted_project):
    _, project = shifted_project
    result = CliRunner().invoke(main, ["shift", "--project", project, "--test", "nothing"])
    assert result.exit_code == 1 and "featurize the test images first" in result.output


def test_composition_table_is_the_dihedral_group():
    from pixelboard.canonical import composition_table
    from pixelboard.errors import PixelboardError
    from pixelboard.featurizers.augment import DIHEDRAL

    table = composition_table(list(DIHEDRAL))
    assert table.shape == (8, 8)
    assert list(table[0]) == list(range(8))  # turning by the identity changes nothing
    assert all(sorted(row) == list(range(8)) for row in table)  # every turn permutes the views
    assert all(0 in row for row in table)  # every turned image has an upright view
    with pytest.raises(PixelboardError, match="not closed"):
        composition_table(["rot90"])


def test_canonicalizer_finds_the_upright_view_of_held_out_images(shifted_project):
    from pixelboard.canonical import held_out_accuracy

    _, project = shifted_project
    stack, sidecar = Project(project).load_view_embeddings("train", "grayscale20")
    # chance: 1/8; the bar looks the same under some flips, so no view choice can be exact for it
    assert held_out_accuracy(stack, sidecar["views"]) >= 0.7


def test_predict_upright_turns_test_images_before_the_model_sees_them(shifted_project):
    root, project = shifted_project
    board = CliRunner().invoke(main, ["leaderboard", "--project", project, "--quiet", "--jobs", "1",
                                      "--blueprints", "lr_l2", "--blenders", ""])
    assert board.exit_code == 0, board.output
    truth = np.array([n % SHAPES for n in range(90)])
    accuracy = {}
    for flag in ([], ["--upright"]):
        out = root / f"sub{len(flag)}.csv"
        result = CliRunner().invoke(main, ["predict", "--images", str(root / "turned"), "--set", "turned",
                                           "--project", project, "--out", str(out), "--quiet", "--workers", "0", *flag])
        assert result.exit_code == 0, result.output
        predicted = pd.read_csv(out).sort_values("ID")["target"].to_numpy()
        accuracy[bool(flag)] = float((predicted == truth).mean())
    assert "+ upright" in result.output
    assert accuracy[True] >= accuracy[False] + 0.15, accuracy
