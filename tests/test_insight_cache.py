"""One cache of insight computations: activation maps, the embedding map and the data-quality scans are
computed once per (run, model, settings) and reused by ``report``, ``document`` and the API; a changed
setting (or a damaged entry) computes again. ``document`` describes the model ``predict`` uses."""

from __future__ import annotations

import shutil

import pytest
from insights_project import insights_project  # noqa: F401 (the session fixture)

import pixelboard
from pixelboard.insights import activation_maps, data_quality, embedding_map


@pytest.fixture
def project(insights_project, tmp_path):
    """A copy of the session's project without the insight entries other tests made (this test deploys
    and counts what it computes)."""
    from pixelboard.insights.cache import FOLDER

    shutil.copytree(insights_project.path, tmp_path / "project", ignore=shutil.ignore_patterns(FOLDER))
    return pixelboard.Project(tmp_path / "project")


@pytest.fixture
def calls(monkeypatch):
    """How often each expensive computation ran (the real functions still run)."""
    counts = {"maps": 0, "tsne": 0, "label_issues": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(activation_maps, "activation_maps", counting("maps", activation_maps.activation_maps))
    monkeypatch.setattr(embedding_map, "embedding_map", counting("tsne", embedding_map.embedding_map))
    monkeypatch.setattr(data_quality, "find_label_issues", counting("label_issues", data_quality.find_label_issues))
    return counts


def test_document_after_report_reuses_the_maps_and_a_changed_setting_recomputes(project, calls, tmp_path):
    from pixelboard.insights.run_data import load_run
    from pixelboard.insights.sections import activation_model_row

    first = project.report(per_class=2, progress=False, device="cpu")
    assert calls == {"maps": 4, "tsne": 1, "label_issues": 1}  # one activation_maps call per class (4 classes)
    explained = activation_model_row(load_run(project.files))["id"]  # the model whose maps the report drew
    cache = project.path / "runs" / "leaderboard" / "insights"
    assert (cache / f"activation-maps-{explained}-2-per-class.json").is_file()

    for fmt in ("md", "html"):
        project.document(explained, format=fmt, output=tmp_path / f"doc.{fmt}", per_class=2, progress=False)
    assert calls["maps"] == 4, "document recomputed the activation maps the report had just made"

    second = project.report(per_class=2, progress=False, device="cpu")
    assert calls == {"maps": 4, "tsne": 1, "label_issues": 1}
    assert second.counts == first.counts

    project.document(explained, format="md", output=tmp_path / "one.md", per_class=1, progress=False)
    assert calls["maps"] == 8, "a changed setting (1 image per class) must compute new maps"

    # A damaged entry is a cache miss, never an error.
    (cache / "data-quality.json").write_text("{ not json")
    project.report(per_class=2, progress=False, device="cpu")
    assert calls["label_issues"] == 2 and calls["tsne"] == 1 and calls["maps"] == 8


def test_changed_embeddings_recompute_the_map(project, calls):
    """The key hashes what the value was computed from: other embeddings, another map."""
    from pixelboard.insights.run_data import load_run
    from pixelboard.insights.sections import embedding_section

    data = load_run(project.files)
    embedding_section(data, progress=False)
    embedding_section(data, progress=False)
    assert calls["tsne"] == 1
    data.train_embeddings = lambda name, original=data.train_embeddings: original(name) * 2.0
    embedding_section(data, progress=False)
    assert calls["tsne"] == 2


def test_document_describes_the_deployed_refit(project, tmp_path):
    best = project.load_leaderboard().rows[0]["id"]
    before = project.document(best, format="md", output=tmp_path / "before.md", per_class=1, progress=False)
    assert "100% of the labelled images" not in before.path.read_text(encoding="utf-8")
    project.deploy(model=best)
    after = project.document(best, format="md", output=tmp_path / "after.md", per_class=1, progress=False)
    text = after.path.read_text(encoding="utf-8")
    assert "The model described (the one `pixelboard predict` uses):" in text
    assert "refitted on 100% of the labelled images" in text and "5-fold cross-validation models" in text
