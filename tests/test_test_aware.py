"""The test-aware autopilot: damage hypotheses in the shift check, the recipe they give, the one command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter

from pixelboard.adversarial import Hypothesis, ShiftReport
from pixelboard.cli import main
from pixelboard.featurizers.augment import DIHEDRAL
from pixelboard.recipe import Inputs, damage_copies, hand_commands, make_recipe
from pixelboard.shift_probe import DamageHypothesis

SHAPES = 3
N_TRAIN, N_TEST, PROBE = 60, 45, 40


def _shape_image(path, label: int, seed: int, size: int = 48):
    """An L, a bar or a corner block (as tests/test_views.py draws them), at a seeded size and place."""
    rng = np.random.default_rng(seed)
    array = np.full((size, size, 3), 235, dtype=np.uint8)
    a, b = 4 + rng.integers(0, 6), 28 + rng.integers(0, 10)
    if label == 0:
        array[a:b, a:a + 7] = 30
        array[b - 7:b, a:b] = 30
    elif label == 1:
        array[a:b, a + 8:a + 14] = 60
    else:
        array[:b // 2, :b // 2] = 90
    array = np.clip(array.astype(int) + rng.integers(-15, 16, size=array.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    """Upright training shapes; test shapes upright, blurred, and turned/mirrored at random."""
    root = tmp_path_factory.mktemp("test_aware")
    rng = np.random.default_rng(3)
    pd.DataFrame({"ID": [f"t{n:03d}" for n in range(N_TRAIN)], "target": [n % SHAPES for n in range(N_TRAIN)]}
                 ).to_csv(root / "train.csv", index=False)
    for n in range(N_TRAIN):
        _shape_image(root / "train" / f"t{n:03d}.png", n % SHAPES, n)
    for folder in ("blurred", "turned"):
        (root / folder).mkdir()
    for n in range(N_TEST):
        _shape_image(root / "upright" / f"u{n:03d}.png", n % SHAPES, 500 + n)
        image = Image.open(root / "upright" / f"u{n:03d}.png")
        image.filter(ImageFilter.GaussianBlur(1.5)).save(root / "blurred" / f"u{n:03d}.png")
        turned = image.rotate(90 * int(rng.integers(0, 4)))
        if rng.random() < 0.5:
            turned = turned.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        turned.save(root / "turned" / f"u{n:03d}.png")
    truth = pd.DataFrame({"ID": [f"u{n:03d}.png" for n in range(N_TEST)], "target": [n % SHAPES for n in range(N_TEST)]})
    return root, truth


def _shift_project(root, test: str) -> str:
    project = str(root / f"shift_{test}")
    common = ["--project", project, "--backbone", "grayscale20", "--quiet", "--workers", "0"]
    for args in (["--images", str(root / "train"), "--labels", str(root / "train.csv")],
                 ["--images", str(root / test), "--unlabelled", "--set", "test"]):
        result = CliRunner().invoke(main, ["featurize", *args, *common])
        assert result.exit_code == 0, result.output
    return project


@pytest.mark.parametrize("test, views, damage", [("blurred", [], ["blur"]),
                                                 ("turned", "turned", []),
                                                 ("upright", [], [])])
def test_shift_probe_names_the_damage_and_the_turns(image_sets, tmp_path, test, views, damage):
    root, _ = image_sets
    project = _shift_project(root, test)
    out = tmp_path / "shift.json"
    result = CliRunner().invoke(main, ["shift", "--project", project, "--probe", str(PROBE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["damage_found"] == damage, result.output
    assert len(report["damage"]) == 7 and report["probe_images"] == PROBE  # every family was tested
    if test == "upright":
        assert not report["shifted"], result.output
    else:
        assert report["shifted"], result.output
    if views:
        assert report["hypotheses"][0]["name"].startswith("rotated by 90/180/270"), result.output
    if damage:
        blur = next(h for h in report["damage"] if h["family"] == "blur")
        assert blur["share"] >= 0.8 and blur["auc"] <= blur["baseline_auc"] - 0.1, blur
        assert "damage found: blur" in result.output and "blurred" in report["advice"]


def _report(auc=0.9, hypotheses=(), damage=()):
    return ShiftReport("f", 10, 10, auc, [], list(hypotheses), list(damage), 10)


def test_recipe_of_a_test_set_like_training_is_the_plain_autopilot():
    blur = DamageHypothesis("blur", "blurred", 0.5, 0.9, 0.8)  # would count, were the sets told apart
    recipe = make_recipe(_report(auc=0.55, damage=[blur]))
    assert recipe.plain and not recipe.shifted and not recipe.tta and "looks like the training set" in recipe.describe()


def test_recipe_of_a_turned_test_set_caches_the_orientations_and_validates_under_them():
    hypotheses = [Hypothesis("rotated by 90/180/270", ["rot90", "rot180", "rot270"], 0.52),
                  Hypothesis("rotated by 90/180/270 and flipped", list(DIHEDRAL), 0.55),
                  Hypothesis("not turned or flipped", [], 0.9)]
    recipe = make_recipe(_report(hypotheses=hypotheses))
    # the 8 orientations explain almost as well as the 4 rotations: the larger group is cached
    assert recipe.views == list(DIHEDRAL) and recipe.validate_under == list(DIHEDRAL) and recipe.pools == ["mean"]
    assert recipe.tta == list(DIHEDRAL) and not recipe.augment and not recipe.align
    far = [hypotheses[0], Hypothesis("rotated by 90/180/270 and flipped", list(DIHEDRAL), 0.7), hypotheses[2]]
    assert make_recipe(_report(hypotheses=far)).views == ["rot90", "rot180", "rot270"]
    assert make_recipe(_report(hypotheses=[hypotheses[2]])).plain  # no orientation explains it


def test_recipe_of_a_damaged_test_set_adds_copies_of_the_damage_it_explains():
    found = [DamageHypothesis("blur", "blurred", 0.55, 0.6, 0.8), DamageHypothesis("jpeg", "JPEG", 0.6, 0.3, 0.8)]
    weak = [DamageHypothesis("noise", "noisy", 0.79, 0.5, 0.8),  # no AUC gain: not acted on
            DamageHypothesis("shadow", "shadowed", 0.5, 0.05, 0.8)]  # too few test images
    recipe = make_recipe(_report(damage=found + weak))
    assert recipe.damage == ["blur", "jpeg"] and recipe.augment == ["blur", "jpeg", "blur+jpeg"]
    assert not recipe.views and not recipe.validate_under and "blurred 60%" in recipe.describe()
    assert recipe.align and "predict --align" in recipe.describe()  # damage moves the features as a whole


def test_damage_copies_stack_the_diagnosed_kinds():
    assert damage_copies(["blur"]) == (["blur"], 3)
    assert damage_copies(["blur", "noise", "jpeg"]) == (["damage"], 3)
    assert damage_copies(["blur", "noise", "jpeg", "ink"]) == (["damage+ink", "damage+dirt", "damage+lowink"], 1)
    assert damage_copies(["ink"]) == (["ink", "dirt", "lowink"], 1)
    assert damage_copies(["contrast", "ink"]) == (["brightness+ink", "brightness+dirt", "brightness+lowink"], 1)


def test_hand_commands_carry_the_recipe():
    hypotheses = [Hypothesis("rotated by 90/180/270 and flipped", list(DIHEDRAL), 0.52)]
    recipe = make_recipe(_report(hypotheses=hypotheses, damage=[DamageHypothesis("blur", "blurred", 0.5, 0.9, 0.8)]))
    inputs = Inputs("proj", "train dir", "train.csv", "test", None, "sub.csv", ["efficientnet_lite0"],
                    "efficientnet_lite0")
    commands = hand_commands(recipe, inputs, tta=[])
    assert "--views dihedral --pool mean --augment blur --augment-copies 3" in commands[0]
    assert "'train dir'" in commands[0]  # quoted for the shell
    assert commands[3].endswith("--validate-under dihedral") and "--tta" not in commands[5]
    assert commands[5].endswith("--align")


def _autopilot(root, test: str, extra=()):
    project, out = root / f"auto_{test}", root / f"auto_{test}.csv"
    result = CliRunner().invoke(main, ["autopilot", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                                       "--test-images", str(root / test), "--out", str(out), "--project", str(project),
                                       "--backbone", "grayscale20", "--probe", str(PROBE), "--mode", "quick",
                                       "--jobs", "1", "--workers", "0", "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return project, out, result.output


def _accuracy(out, truth) -> float:
    merged = pd.read_csv(out).merge(truth, on="ID", suffixes=("_pred", ""))
    assert len(merged) == len(truth)
    return float((merged["target_pred"] == merged["target"]).mean())


def test_autopilot_on_a_turned_test_set_trains_for_the_turns(image_sets):
    root, truth = image_sets
    project, out, output = _autopilot(root, "turned")
    recipe = json.loads((project / "runs" / "leaderboard" / "recipe.json").read_text())
    assert recipe["views"] == list(DIHEDRAL) and recipe["validate_under"] == list(DIHEDRAL) and not recipe["plain"]
    assert "looks rotated by 90/180/270" in output and "--validate-under dihedral" in output
    board = json.loads((project / "runs" / "leaderboard" / "leaderboard.json").read_text())["rows"]
    assert any("+d4mean" in row["featurizer"] for row in board)  # the invariant rows were offered
    assert recipe["tta_used"] in ([], list(DIHEDRAL))
    # the hand commands it saved name the same recipe
    assert any("--views dihedral" in c for c in recipe["commands"]) and recipe["commands"][-1].count("--out") == 1
    assert _accuracy(out, truth) >= 0.8


def test_autopilot_on_a_clean_test_set_is_the_plain_autopilot(image_sets):
    root, truth = image_sets
    project, out, output = _autopilot(root, "upright")
    recipe = json.loads((project / "runs" / "leaderboard" / "recipe.json").read_text())
    assert recipe["plain"] and recipe["augment"] == [] and recipe["views"] == []
    assert "the plain autopilot" in output
    # one line per reason (an escaped newline would print as a literal backslash-n), and --quiet: no bars
    assert "\\n" not in output and "refit on 100%" not in output, output
    # the same submission as the plain workflow by hand
    plain, sub = root / "plain", root / "plain.csv"
    common = ["--project", str(plain), "--quiet"]
    for args in (["featurize", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                  "--backbone", "grayscale20", "--workers", "0"],
                 ["leaderboard", "--mode", "quick", "--jobs", "1"], ["deploy"],
                 ["predict", "--images", str(root / "upright"), "--out", str(sub), "--workers", "0"]):
        result = CliRunner().invoke(main, [*args, *common])
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(sub))


def test_autopilot_without_test_images_is_one_line(image_sets, tmp_path):
    root, _ = image_sets
    result = CliRunner().invoke(main, ["autopilot", "--images", str(root / "train"), "--labels", str(root / "train.csv"),
                                       "--test-images", str(tmp_path / "missing"), "--project", str(tmp_path / "p"),
                                       "--backbone", "grayscale20", "--quiet", "--workers", "0"])
    assert result.exit_code == 1 and result.output.count("Error:") == 1 and "Traceback" not in result.output


def test_align_gives_the_test_rows_the_training_moments():
    from pixelboard.align import Moments, align
    from pixelboard.errors import PixelboardError

    rng = np.random.default_rng(0)
    train = rng.normal(2.0, 3.0, size=(200, 5))
    test = rng.normal(-1.0, 0.5, size=(50, 5))
    test[:, 4] = 7.0  # a constant column stays finite: only moved to the training mean
    moved = align(test, Moments.of(train))
    np.testing.assert_allclose(moved[:, :4].mean(axis=0), train[:, :4].mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(moved[:, :4].std(axis=0), train[:, :4].std(axis=0), rtol=1e-4)
    assert np.allclose(moved[:, 4], train[:, 4].mean(), atol=1e-4)
    # the order of the test rows within a column is kept (a monotone map per column)
    assert (np.argsort(moved[:, 0]) == np.argsort(test[:, 0])).all()
    with pytest.raises(PixelboardError, match="at least 8 test images"):
        align(test[:3], Moments.of(train))


def test_predict_align_moves_a_uniformly_shifted_test_set_back(image_sets, tmp_path):
    root, truth = image_sets
    project = _shift_project(root, "upright")
    board = CliRunner().invoke(main, ["leaderboard", "--project", project, "--quiet", "--jobs", "1", "--mode", "quick",
                                      "--blueprints", "lr_l2", "--blenders", ""])
    assert board.exit_code == 0, board.output
    darker = tmp_path / "darker"
    darker.mkdir()
    for path in sorted((root / "upright").glob("*.png")):  # every test image much darker: a whole-set shift
        Image.fromarray((np.asarray(Image.open(path)) * 0.45).astype(np.uint8)).save(darker / path.name)
    accuracy = {}
    for flag in ([], ["--align"]):
        out = tmp_path / f"sub{len(flag)}.csv"
        result = CliRunner().invoke(main, ["predict", "--images", str(darker), "--set", f"darker{len(flag)}",
                                           "--project", project, "--out", str(out), "--quiet", "--workers", "0", *flag])
        assert result.exit_code == 0, result.output
        accuracy[bool(flag)] = _accuracy(out, truth)
    assert "+ aligned" in result.output
    assert accuracy[True] >= accuracy[False] + 0.2, accuracy


def test_a_damage_family_that_cannot_be_drawn_is_left_untested(caplog):
    from pixelboard.shift_probe import Sample, damage_hypotheses

    rng = np.random.default_rng(1)

    class Embedder:  # rows by tag; Augraphy's effects fail as they do on 28-px images
        def embed(self, sample, tags):
            if any(t.split("#")[0] in ("ink", "lowink", "dirt", "photocopy") for t in tags):
                raise ValueError("OpenCV(5.1.0) resize: !ssize.empty()")
            shift = 2.0 if any(t.startswith("blur") for t in tags) else 0.0
            return rng.normal(shift, 1.0, size=(len(tags), 4))

    sample = Sample([f"p{i}" for i in range(30)], [f"c{i}" for i in range(30)])
    base = rng.normal(0, 1, size=(30, 4))
    test = rng.normal(2.0, 1.0, size=(30, 4))  # looks blurred
    found = damage_hypotheses(Embedder(), sample, base, [""] * 30, test, 0,
                              lambda rows, t: 0.5 + 0.4 * abs(rows.mean() - t.mean()) / 2)
    assert [h.family for h in found if h.family == "ink"] == [] and len(found) == 6
    assert "ink damage cannot be drawn" in caplog.text
    assert max(found, key=lambda h: h.share).family == "blur"
