"""The registries' static tables: they match the code they describe, and reading them stays light.

``pixelboard list backbones|blueprints`` answer from the tables alone (issue 11: under a second), so
a table line that drifted from its network or its blueprint module would mislead silently: here every
line is checked against the real thing.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import timm

from conftest import random_featurizer, write_embedding_project
from pixelboard.featurizers import registry as featurizers
from pixelboard.featurizers.base import CNN_LEVELS
from pixelboard.models import registry as blueprints

HEAVY = ("torch", "timm", "sklearn", "pandas", "ray")


@pytest.mark.parametrize("name", list(featurizers._TABLE))  # all eleven build in a few seconds on a CPU
def test_backbone_table_matches_the_built_network(name):
    entry = featurizers.get_featurizer_entry(name)
    featurizer = random_featurizer(name)
    assert featurizer.level_widths() == entry.level_widths()  # default levels, their order and widths
    pre = featurizer.preprocessor
    assert (pre.height, pre.width) == entry.input_size
    if entry.timm_name:
        assert list(entry.level_widths()) == list(CNN_LEVELS)
        assert timm.is_model(entry.timm_name) and entry.factory.timm_name == entry.timm_name
        assert entry.licence and entry.weights_source


def test_blueprint_table_matches_its_modules():
    for name, spec in blueprints._TABLE.items():
        module = importlib.import_module(spec.module)
        factory = spec.factory
        assert factory.__module__ == module.__name__ and blueprints._FACTORIES[name] is factory
        assert spec.inputs in blueprints.INPUT_KINDS and spec.label and spec.short
    assert blueprints.list_blueprints()[:len(blueprints._TABLE)] == list(blueprints._TABLE)  # table order


def test_register_blueprint_checks_the_table_and_adds_new_names(monkeypatch):
    monkeypatch.setattr(blueprints, "_REGISTRY", dict(blueprints._REGISTRY))
    blueprints.get_blueprint("lr_l2").factory  # noqa: B018  (its module registers it)
    with pytest.raises(ValueError, match="already registered"):
        blueprints.register_blueprint("lr_l2")(lambda random_state=0, n_jobs=1: None)
    monkeypatch.delitem(blueprints._FACTORIES, "majority", raising=False)
    with pytest.raises(ValueError, match="disagrees with the table"):
        blueprints.register_blueprint("majority", "Another Label", short="MAJ")(lambda random_state=0, n_jobs=1: None)
    with pytest.raises(ValueError, match="not in the table"):
        blueprints.register_blueprint("plugin")(lambda random_state=0, n_jobs=1: None)

    @blueprints.register_blueprint("plugin", "A Plugin", short="PLG", default=False, inputs="pixels")
    def plugin(random_state=0, n_jobs=1):
        return ("plugin", random_state)

    spec = blueprints.get_blueprint("plugin")
    assert (spec.label, spec.short, spec.default, spec.inputs) == ("A Plugin", "PLG", False, "pixels")
    assert blueprints.create_blueprint("plugin", random_state=3) == ("plugin", 3)
    assert "plugin" in blueprints.list_blueprints() and "plugin" not in blueprints.list_blueprints(default_only=True)


def test_register_featurizer_checks_the_table_and_adds_new_names(monkeypatch):
    monkeypatch.setattr(featurizers, "_REGISTRY", dict(featurizers._REGISTRY))
    monkeypatch.delitem(featurizers._FACTORIES, "grayscale20", raising=False)
    with pytest.raises(ValueError, match="disagrees with the table"):
        featurizers.register_featurizer("grayscale20", summary="something else")(lambda **options: None)
    featurizers.register_featurizer("plugin_net", summary="a plugin", weights_source="none")(lambda **options: None)
    entry = featurizers.get_featurizer_entry("plugin_net")
    assert entry.weights_source == "none" and entry.input_size is None and entry.factory(x=1) is None


def test_a_blueprint_module_is_imported_when_its_factory_is_first_read(tmp_path, monkeypatch):
    (tmp_path / "lazy_probe_module.py").write_text(
        "from pixelboard.models.registry import register_blueprint\n\n"
        "@register_blueprint('lazy_probe', 'Lazy Probe', short='LP')\n"
        "def lazy_probe(random_state=0, n_jobs=1):\n"
        "    return ('probe', random_state, n_jobs)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe_module", raising=False)
    spec = blueprints.BlueprintSpec("lazy_probe", "Lazy Probe", short="LP", module="lazy_probe_module")
    monkeypatch.setattr(blueprints, "_TABLE", {**blueprints._TABLE, "lazy_probe": spec})
    monkeypatch.setattr(blueprints, "_REGISTRY", {**blueprints._REGISTRY, "lazy_probe": spec})
    monkeypatch.setattr(blueprints, "_FACTORIES", dict(blueprints._FACTORIES))
    assert blueprints.get_blueprint("lazy_probe").label == "Lazy Probe" and "lazy_probe_module" not in sys.modules
    assert blueprints.create_blueprint("lazy_probe", random_state=2, n_jobs=3) == ("probe", 2, 3)
    assert "lazy_probe_module" in sys.modules


LIGHT = """
import sys
from pixelboard.cli import main
for what in ("blueprints", "backbones"):
    main(["list", what], standalone_mode=False)
from pixelboard.featurizers import get_featurizer_entry, list_featurizers
from pixelboard.models import get_blueprint, list_blueprints
facts = [(get_blueprint(n).label, get_blueprint(n).inputs) for n in list_blueprints()]
facts += [(get_featurizer_entry(n).level_widths(), get_featurizer_entry(n).input_size) for n in list_featurizers()]
print("heavy:", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def test_listing_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", LIGHT.format(heavy=HEAVY)], capture_output=True, text=True,
                         check=True).stdout
    assert "heavy: []" in out, out
    assert "efficientnet_lite0" in out and "Regularized Logistic Regression (L2)" in out


EXPORT = """
import sys
from pixelboard.cli import main
for fmt in ("csv", "md", "html", "json"):
    main(["export", "--project", {project!r}, "--format", fmt], standalone_mode=False)
print("heavy:", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def test_export_imports_no_heavy_library(tmp_path):
    """`pixelboard export` of a finished leaderboard renders from plain records (issue 11: under a second)."""
    import pixelboard

    root = write_embedding_project(tmp_path / "project")
    pixelboard.Project(root).leaderboard(blueprints=["majority"], blenders=[], folds=2, jobs=1, progress=False)
    out = subprocess.run([sys.executable, "-c", EXPORT.format(project=str(root), heavy=HEAVY)],
                         capture_output=True, text=True, check=True).stdout
    assert "heavy: []" in out, out
    assert "Model ID" in out and "| M1 |" in out  # the Markdown table
