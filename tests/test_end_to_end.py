"""End to end on real images: the bundled sample through `pixelboard demo` (featurize -> leaderboard -> predict).

Real EfficientNet-Lite0 weights, real Fashion-MNIST images; asserts real quality thresholds.
"""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from pixelboard.cli import main
from pixelboard.commands.demo_cmd import score_submission
from pixelboard.leaderboard.metrics import get_metric


def test_demo_workflow_on_the_bundled_sample(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--blueprints", "majority,lr_l2,mlp", "--quiet",
                                       "--jobs", "1"])
    assert result.exit_code == 0, result.output
    for name in ("train.csv", "test.csv", "meta.csv", "submission.csv", "project/runs/leaderboard/leaderboard.html",
                 "project/runs/leaderboard/report.html", "project/runs/leaderboard/label_issues.csv"):
        assert (out / name).is_file(), name
    assert "Leaderboard" in result.output and "submission:" in result.output and "insights report:" in result.output
    assert "pixelboard autopilot --images data/train" in result.output.split("the same on your own data", 1)[1]

    submission = pd.read_csv(out / "submission.csv")
    test_ids = pd.read_csv(out / "test.csv")["ID"]
    assert list(submission["ID"]) == list(test_ids) and len(submission) == 200
    assert set(submission["target"]) <= set(range(10))
    # 10 classes: chance is ~0.10 macro F1; a real CNN embedding + LR reaches ~0.8 on this sample.
    assert score_submission(out / "submission.csv", out / "test_labels.csv", get_metric("macro_f1")) > 0.7

    rows = json.loads((out / "project" / "runs" / "leaderboard" / "leaderboard.json").read_text())["rows"]
    cv = {(r["blueprint"], r["featurizer"]): r["scores"]["macro_f1"]["cv_mean"] for r in rows if r["kind"] == "model"}
    baseline = cv[("lr_l2", "grayscale20")]
    assert cv[("lr_l2", "efficientnet_lite0")] > baseline + 0.03
    assert rows[0]["scores"]["macro_f1"]["cv_mean"] > 0.75

    # Running the demo again reuses the cache and every finished model: nothing is recomputed.
    again = CliRunner().invoke(main, ["demo", "--out", str(out), "--blueprints", "majority,lr_l2,mlp", "--quiet"])
    assert again.exit_code == 0, again.output
    assert "0 computed" in again.output and "0 new model(s) fitted" in again.output
