"""The Python API: the README's example runs as written, defaults and errors are the command line's,
and ``import pixelboard`` / ``import pixelboard.cli`` stay light."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import write_embedding_project

import pixelboard
from pixelboard import api
from pixelboard.cli import main
from pixelboard.errors import PixelboardError

ROOT = Path(__file__).resolve().parents[1]
GRAY = ["grayscale20"]


def readme_api_example() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README.md's Python API section has no python code block"
    return blocks[0]


def test_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's code, executed literally in an empty folder (bundled sample, grayscale20)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(readme_api_example(), "README.md (Python API)", "exec"), namespace)
    board, submission = namespace["board"], namespace["submission"]
    assert isinstance(board, pixelboard.Leaderboard) and board.best["id"] == board.frame["Model ID"][0]
    assert list(submission.columns) == ["ID", "target"] and len(submission) == 200
    assert (tmp_path / "submission.csv").read_text().count("\n") == 201
    project = Path(namespace["project"].path)
    assert (project / "runs" / "leaderboard" / "run.log").is_file()
    assert (project / "embeddings" / "train" / "featurize.log").is_file()
    out = capsys.readouterr().out
    assert "Baseline Image Classifier" in out and "5-fold accuracy:" in out


def test_public_names():
    assert set(pixelboard.__all__) >= {"Project", "Leaderboard", "ImageEmbedder", "PixelboardError", "__version__"}
    assert pixelboard.PixelboardError is PixelboardError
    assert pixelboard.ImageEmbedder.__module__ == "pixelboard.embedder"
    assert "ImageEmbedder" in dir(pixelboard)
    with pytest.raises(AttributeError):
        pixelboard.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("module, absent", [
    ("pixelboard", ("torch", "timm", "sklearn", "pandas")),
    ("pixelboard.cli", ("torch", "timm", "sklearn", "pandas")),
])
def test_imports_stay_light(module, absent):
    """`pixelboard --help` and `import pixelboard` must not pay for torch (seconds) before they need it."""
    code = f"import sys, {module}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"import {module} loads {loaded}"


def test_copied_defaults_match_their_sources():
    from pixelboard.datasets.images import DEFAULT_MAX_PIXELS
    from pixelboard.featurizers.base import RESIZE_MODES
    from pixelboard.leaderboard.export import FORMATS
    from pixelboard.leaderboard.runner import LeaderboardOptions
    from pixelboard.project import DEFAULT_PROJECT

    assert api.DEFAULT_PROJECT == DEFAULT_PROJECT and api.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS
    assert api.RESIZE_MODES == RESIZE_MODES and api.TABLE_FORMATS == FORMATS
    assert list(api.DEFAULT_BLENDERS) == LeaderboardOptions().blenders
    from pixelboard.featurizers import runtimes

    assert api.RUNTIMES == tuple(runtimes.RUNTIMES) and api.PRECISIONS == runtimes.PRECISIONS
    assert (api.DEFAULT_RUNTIME, api.DEFAULT_PRECISION) == (runtimes.DEFAULT_RUNTIME, runtimes.DEFAULT_PRECISION)


# The API's keyword for a command-line option whose parameter is named differently.
RENAMED = {"labels_csv": "labels", "meta_csv": "meta", "train_set": "train", "test_set": "test", "fmt": "format"}
PAIRS = [("featurize", "featurize"), ("leaderboard", "leaderboard"), ("deploy", "deploy"),
         ("predict", "predict_images"), ("shift", "shift"), ("export-model", "export_model"), ("export", "export"),
         ("report", "report"), ("document", "document")]


@pytest.mark.parametrize("command, method", PAIRS)
def test_api_defaults_are_the_command_line_defaults(command, method):
    signature = inspect.signature(getattr(pixelboard.Project, method))
    context = click.Context(main.commands[command])
    compared = 0
    for param in main.commands[command].params:
        if not isinstance(param, click.Option) or param.required or param.name in ("verbose", "quiet", "project_dir"):
            continue
        name = RENAMED.get(param.name, param.name)
        if name not in signature.parameters:
            continue
        api_default, cli_default = signature.parameters[name].default, param.get_default(context)
        if isinstance(api_default, (tuple, list)):
            assert api.split_list(api_default) == api.split_list(cli_default), name
        else:
            assert api_default == cli_default, f"{command} --{param.name}: API {api_default!r}, CLI {cli_default!r}"
        compared += 1
    assert compared >= 3


def test_no_amp_and_quiet_map_to_amp_and_progress():
    featurize = inspect.signature(pixelboard.Project.featurize).parameters
    assert featurize["amp"].default is True and featurize["progress"].default is True
    assert inspect.signature(pixelboard.Project).parameters["path"].default == "pixelboard-project"


def test_errors_are_the_command_lines(tmp_path, class_folder, competition_folder):
    project = pixelboard.Project(tmp_path / "p")
    with pytest.raises(PixelboardError, match="no backbone given"):
        project.featurize(class_folder, backbones=[])
    with pytest.raises(PixelboardError, match="unknown backbone 'resnet9000'"):
        project.featurize(class_folder, backbones="grayscale20,resnet9000")
    with pytest.raises(PixelboardError, match="not a plain name"):
        project.featurize(class_folder, backbones=GRAY, set_name="../x")
    assert not (tmp_path / "p").exists()  # checked before any work
    with pytest.raises(PixelboardError, match="--augment applies to labelled"):
        project.featurize(class_folder / "cat", unlabelled=True, augment=["rot90"], backbones=GRAY)
    with pytest.raises(PixelboardError, match="a --bundle holds one model"):
        project.predict(class_folder, bundle="model.pbz", model="M1")
    with pytest.raises(PixelboardError, match="folds must be at least 2"):
        project.leaderboard(folds=1)
    with pytest.raises(PixelboardError, match="no leaderboard in"):
        project.load_leaderboard()
    with pytest.raises(PixelboardError, match="unknown format 'pdf'"):
        api.Leaderboard([], "macro_f1", tmp_path).render("pdf")


def test_featurize_returns_one_result_per_backbone(tmp_path, competition_folder):
    cf = competition_folder
    project = pixelboard.Project(tmp_path / "p")
    results = project.featurize(cf.images, cf.train_csv, meta=cf.meta_csv, backbones=GRAY, workers=0, progress=False)
    assert [r.name for r in results] == ["grayscale20"] and results[0].n_computed == len(cf.ids)
    assert project.files.load_image_set("train").class_names == {"0": "cat", "1": "dog", "2": "fox"}
    again = project.featurize(cf.images, cf.train_csv, backbones="grayscale20", workers=0, progress=False)
    assert again[0].n_cached == len(cf.ids) and again[0].n_computed == 0


def test_leaderboard_object_and_its_command_line_twins(tmp_path):
    from pixelboard.leaderboard.table import to_frame

    root = write_embedding_project(tmp_path / "p")
    project = pixelboard.Project(root)
    board = project.leaderboard(blueprints=["majority", "lr_l2"], jobs=1, progress=False)
    assert board.n_fitted == 4 and board.directory == root / "runs" / "leaderboard"
    assert board.frame.equals(to_frame(board.rows, "macro_f1"))
    # separable blobs: the top blend ties its best member, so that single model is the one recommended
    assert board.rows[0]["kind"] == "blend" and not board.rows[0]["beats_members"]
    assert board.best is board.rows[1] and board.best["blueprint"] == "lr_l2"
    assert str(board) == board.render("text") and "<table" in board._repr_html_()
    assert set(board.tables) == {"csv", "md", "html", "json"}
    reloaded = project.load_leaderboard()
    assert [r["id"] for r in reloaded.rows] == [r["id"] for r in board.rows] and reloaded.n_fitted == 0
    again = project.leaderboard(blueprints="majority,lr_l2", jobs=1, progress=False)
    assert again.n_fitted == 0  # resumed: every row reused
    cli = CliRunner().invoke(main, ["export", "--project", str(root), "--format", "md"])
    assert cli.exit_code == 0 and cli.stdout == project.export("md")
    assert project.export("csv", tmp_path / "board.csv") == (tmp_path / "board.csv").read_text()
