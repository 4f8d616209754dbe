"""Run logs and verbosity: a log file per run in the project, -v/--quiet on every command, no prints."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import featurize_cli, write_embedding_project

import pixelboard
from pixelboard.cli import main
from pixelboard.errors import PixelboardError
from pixelboard.logs import run_log

ROOT = Path(__file__).resolve().parents[1]
GRAY = ["--backbone", "grayscale20"]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_takes_verbose_and_quiet(name):
    options = {opt for param in main.commands[name].params if isinstance(param, click.Option) for opt in param.opts}
    assert {"-v", "--verbose", "--quiet"} <= options


def test_no_print_calls_in_the_library():
    """The library logs (logging.getLogger(__name__)); the commands' output is click.echo."""
    offenders = []
    for path in (ROOT / "pixelboard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_featurize_writes_its_log_beside_the_embeddings(tmp_path, class_folder):
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY)
    assert result.exit_code == 0, result.output
    assert "train: 12 images" in result.stdout and "grayscale20: 12 rows" in result.stdout
    text = (tmp_path / "p" / "embeddings" / "train" / "featurize.log").read_text()
    assert "== featurize train: grayscale20" in text and "torch " in text  # title and library versions
    assert "train: 12 images" in text and "grayscale20: 12 rows (12 computed" in text and "finished in" in text
    assert featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY).exit_code == 0
    text = (tmp_path / "p" / "embeddings" / "train" / "featurize.log").read_text()
    assert text.count("== featurize train") == 2 and "(0 computed, 12 from cache)" in text  # appended


def test_a_failed_run_is_logged_and_still_one_error_line(tmp_path, class_folder):
    assert featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY).exit_code == 0
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", "--backbone", "mobilenetv3_small",
                           "--random-weights", "--levels", "low,ultra")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if line.startswith("Error:")]
    text = (tmp_path / "p" / "embeddings" / "train" / "featurize.log").read_text()
    assert "ERROR" in text and "failed after" in text and "unknown level(s) ultra" in text
    assert "Traceback" not in text  # a user error is one line in the log too


def test_leaderboard_writes_run_log_with_the_ranking(tmp_path):
    root = write_embedding_project(tmp_path / "p")
    args = ["leaderboard", "--project", str(root), "--blueprints", "majority,lr_l2", "--jobs", "1", "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert CliRunner().invoke(main, [*args[:-1], "--run", "second", "--quiet"]).exit_code == 0
    text = (root / "runs" / "leaderboard" / "run.log").read_text()
    assert "== leaderboard leaderboard on set train" in text and "blueprints=['majority', 'lr_l2']" in text
    assert "4 new model(s) fitted" in text and "ranking:" in text and "Majority Class Classifier" in text
    assert (root / "runs" / "second" / "run.log").is_file()


def test_verbose_shows_the_log_on_stderr_and_quiet_only_drops_progress(tmp_path, class_folder):
    quiet = featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY)  # featurize_cli: --quiet
    assert "train: 12 images" in quiet.stdout and "options:" not in quiet.stderr
    runner = CliRunner()
    base = ["featurize", "--workers", "0", "--images", str(class_folder), "--project", str(tmp_path / "p"), *GRAY]
    plain = runner.invoke(main, base)
    assert plain.exit_code == 0 and "[info]" not in plain.stderr and "train: 12 images" in plain.stdout
    verbose = runner.invoke(main, [*base, "-v"])
    assert verbose.exit_code == 0 and "[info] pixelboard.api: options: FeaturizeOptions(" in verbose.stderr
    assert "train: 12 images" in verbose.stdout and "train: 12 images" not in verbose.stderr  # said once


def test_skipped_images_are_warnings_on_stderr(tmp_path, class_folder):
    (class_folder / "cat" / "broken.png").write_bytes(b"not an image")
    result = featurize_cli("--images", class_folder, "--project", tmp_path / "p", *GRAY, "--skip-bad-images")
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and "broken.png" in result.stderr and "broken.png" not in result.stdout


def test_run_log_is_restored_and_never_breaks_the_run(tmp_path):
    logger = logging.getLogger("pixelboard")
    level, handlers = logger.level, list(logger.handlers)
    with pytest.raises(PixelboardError):
        with run_log(tmp_path / "x" / "run.log", "test run") as run:
            logging.getLogger("pixelboard.something").info("inside")
            run._handler.stream.close()  # a log that cannot be written (full disk, vanished folder)...
            logging.getLogger("pixelboard.something").warning("lost")  # ...drops the record silently
            raise PixelboardError("boom")
    assert logger.level == level and logger.handlers == handlers
    text = (tmp_path / "x" / "run.log").read_text()
    assert "== test run" in text and "inside" in text


def test_api_runs_log_to_the_project_without_any_logging_setup(tmp_path, competition_folder):
    cf = competition_folder
    project = pixelboard.Project(tmp_path / "p")
    project.featurize(cf.images, cf.train_csv, backbones=["grayscale20"], workers=0, progress=False)
    text = (tmp_path / "p" / "embeddings" / "train" / "featurize.log").read_text()
    assert "train: 12 images" in text and "finished in" in text
