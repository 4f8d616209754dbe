"""``pixelboard document``: one model's documentation in Markdown, HTML and DOCX, with the hyper-parameters
the fitted estimators actually used (read back from the saved models, not from defaults)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from insights_project import insights_project  # noqa: F401 (the session fixture)

from pixelboard.cli import main
from pixelboard.errors import PixelboardError
from pixelboard.insights.model_card import describe_model, format_value
from pixelboard.leaderboard.metrics import get_metric
from pixelboard.leaderboard.store import RunStore


@pytest.fixture(scope="module")
def project(insights_project):
    return insights_project


def row_of(project, blueprint: str) -> dict:
    return next(r for r in project.load_leaderboard().rows if r["blueprint"] == blueprint)


def fitted_of(project, model_id: str):
    return RunStore(project.path / "runs" / "leaderboard").load_fitted(model_id)


def test_markdown_document_of_the_logistic_regression(project, tmp_path):
    row = row_of(project, "lr_l2")
    result = project.document(row["id"], format="md", output=tmp_path / "lr.md", per_class=1, device="cpu",
                              progress=False)
    text = result.path.read_text(encoding="utf-8")
    assert result.path == tmp_path / "lr.md" and result.model_id == row["id"]
    for heading in (f"# Model documentation: {row['id']}", f"## Blueprint steps — {row['id']}", "### Featurizer",
                    f"### Hyper-parameters — {row['id']}", "## Partition", "## Scores",
                    "## Insights (out-of-fold predictions)", "### Activation maps"):
        assert f"\n{heading}" in "\n" + text, heading
    assert "1. Featurize: grayscale20" in text and "2. Standardize every column" in text
    # The C each fold's inner cross-validation chose, as saved in the fitted models.
    chosen = [e.C_ for e in fitted_of(project, row["id"]).estimators]
    expected = format_value(chosen[0]) if len(set(chosen)) == 1 else \
        "; ".join(f"fold {i + 1}: {format_value(c)}" for i, c in enumerate(chosen))
    assert f"| C chosen by inner cross-validation | {expected} | fitted |" in text
    assert "| max_iter | 200 | blueprint |" in text and "| LogisticRegressionCV.Cs |" in text
    # The inner CV's precomputed group-aware splits are summarised, not pasted as index lists.
    assert re.search(r"\| LogisticRegressionCV\.cv \| (fold 1: )?\d precomputed \(train, validation\) index splits", text)
    assert max(len(line) for line in text.splitlines()) < 1200
    # Every metric with the scores result.json holds.
    for name, score in row["scores"].items():
        assert f"| {get_metric(name).label} | {score['validation']:.4f} | {score['cv_mean']:.4f} ± " in text
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {"lr_files/confusion_counts.png", "lr_files/roc.png", "lr_files/activation_maps.png"} <= set(pictures)
    for picture in pictures:
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.files) == {tmp_path / p for p in pictures} | {result.path}


def test_html_document_is_one_self_contained_page(project, tmp_path):
    row = row_of(project, "lr_l2")
    page = project.document(row["id"], format="html", output=tmp_path / "lr.html", per_class=1, device="cpu",
                            progress=False).path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Hyper-parameters" in page and "C chosen by inner" in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) >= 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page


def test_docx_document_reads_back(project, tmp_path):
    docx = pytest.importorskip("docx", reason="python-docx is the docx extra")
    row = row_of(project, "lightgbm")
    result = project.document(row["id"], format="docx", output=tmp_path / "gbm.docx", per_class=1, device="cpu",
                              progress=False)
    document = docx.Document(str(result.path))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert f"Model documentation: {row['id']} — {row['label']}" in headings
    assert {f"Blueprint steps — {row['id']}", "Partition", "Scores", "Activation maps"} <= set(headings)
    cells = {}
    for table in document.tables:
        for line in table.rows:
            texts = [c.text for c in line.cells]
            cells[texts[0]] = texts[1:]
    rounds = [e.n_rounds_ for e in fitted_of(project, row["id"]).estimators]
    shown = cells["boosting rounds used (after early stopping)"][0]
    assert shown == (str(rounds[0]) if len(set(rounds)) == 1
                     else "; ".join(f"fold {i + 1}: {r}" for i, r in enumerate(rounds)))
    assert cells["LGBMClassifier.max_bin"][0] == "15" and cells["n_estimators"][:2] == ["500", "blueprint"]
    assert len(document.inline_shapes) >= 4  # confusion x2, ROC, activation maps (+ misclassified)


def test_blend_document_lists_members_weights_and_their_cards(project, tmp_path):
    row = row_of(project, "glm")
    text = project.document(row["id"], format="md", output=tmp_path / "blend.md", per_class=1, device="cpu",
                            progress=False).path.read_text(encoding="utf-8")
    weights = fitted_of(project, row["id"]).blender.weights_
    assert "### Members" in text and "multinomial logistic regression on the members' log-probabilities" in text
    for member, weight in weights.items():
        assert re.search(rf"\| {member} \| [^|]+ \| {weight:.4f} \|", text)
        assert f"Blueprint steps — {member}" in text


def test_shifted_scores_are_listed_when_the_row_has_them(project):
    from pixelboard.insights.document import Table, _score_blocks
    from pixelboard.insights.run_data import load_run

    data = load_run(project.files)
    row = dict(row_of(project, "lr_l2"))
    row["scores_shifted"] = {"macro_f1": {"validation": 0.5, "cv_mean": 0.25, "cv_std": 0.125, "holdout": 0.75}}
    table = next(b for b in _score_blocks(data, row) if isinstance(b, Table))
    assert ["Macro F1 (shifted)", "0.5000", "0.2500 ± 0.1250", "0.7500"] in table.rows
    assert len(table.rows) == len(row["scores"]) + 1


def test_mlp_card_reads_the_epochs_it_trained():
    from pixelboard.fitted import FittedModel
    from pixelboard.models.mlp import SlimResidualMLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)).astype(np.float32), np.arange(60) % 3
    estimators = [SlimResidualMLPClassifier(epochs=epochs, random_state=0).fit(X, y) for epochs in (3, 4)]
    card = describe_model(FittedModel("M9", "Slim Residual MLP", [0, 1, 2], estimators=estimators))
    values = {p.name: (p.value, p.source) for p in card.parameters}
    assert values["epochs"] == ("fold 1: 3; fold 2: 4", "blueprint")
    trained, source = values["epochs trained (final training loss)"]
    assert source == "fitted" and re.fullmatch(r"fold 1: 3 \(\d\.\d{4}\); fold 2: 4 \(\d\.\d{4}\)", trained)
    assert any("Train 3 epochs with AdamW" in step for step in card.steps)


def test_document_command_and_its_errors(project, tmp_path):
    row = row_of(project, "majority")
    out = tmp_path / "m.md"
    run = CliRunner().invoke(main, ["document", row["id"], "--project", str(project.path), "--format", "md", "-o",
                                    str(out), "--per-class", "1", "--device", "cpu", "--quiet"])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith(f"documented {row['id']}: {out} (+ ") and out.is_file()
    assert "Predict the training class frequencies" in out.read_text(encoding="utf-8")
    bad = CliRunner().invoke(main, ["document", "M99", "--project", str(project.path)])
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: unknown model id 'M99'")
    assert "Traceback" not in bad.output
    with pytest.raises(PixelboardError, match="unknown format 'pdf'"):
        project.document(row["id"], format="pdf")
    default = project.document("best", format="html", per_class=1, device="cpu", progress=False)
    best = project.load_leaderboard().best["id"]
    assert default.path == project.path / "runs" / "leaderboard" / "documents" / f"{best}.html" and default.model_id == best


def test_the_command_line_copy_of_the_formats_matches():
    """The command module keeps its own copy (its import stays light); it must not drift."""
    from pixelboard.commands.document_cmd import DOCUMENT_FORMATS
    from pixelboard.insights.document import FORMATS

    assert DOCUMENT_FORMATS == FORMATS
