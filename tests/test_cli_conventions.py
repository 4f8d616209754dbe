"""One set of option spellings: ``-o/--out`` on every command that writes a file (``--output`` still
accepted, hidden), ``--backbones`` beside ``--backbone``, ``PIXELBOARD_PROJECT`` for the project
directory and closed sets as choices built from the registries."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pixelboard.cli import main
from pixelboard.options import LEADERBOARD_MODES, METRIC_NAMES, PROJECT_ENV

WRITERS = {"report": "output", "document": "output", "predict": "out", "export-model": "out", "export": "out",
           "shift": "out", "demo": "out"}
REQUIRED = {"predict": ["--images", "x"]}


def params(command: str, args: list[str]) -> dict:
    return main.commands[command].make_context(command, REQUIRED.get(command, []) + args).params


@pytest.mark.parametrize("command, dest", WRITERS.items())
def test_every_writer_takes_o_and_out(command, dest):
    assert params(command, ["-o", "a.x"])[dest] == "a.x"
    assert params(command, ["--out", "b.x"])[dest] == "b.x"
    text = CliRunner().invoke(main, [command, "--help"]).output
    assert "-o, --out" in text and "--output" not in text


@pytest.mark.parametrize("command", ["report", "document"])
def test_the_old_output_spelling_is_a_hidden_alias(command):
    assert params(command, ["--output", "old.html"])["output"] == "old.html"
    assert params(command, ["--output", "old.html", "-o", "new.html"])["output"] == "new.html"
    assert params(command, [])["output"] is None


def test_backbones_beside_backbone():
    assert params("featurize", ["--images", "x", "--backbones", "a,b"])["backbones"] == "a,b"
    assert params("featurize", ["--images", "x", "--backbone", "c"])["backbones"] == "c"


def test_project_directory_from_the_environment(monkeypatch, tmp_path):
    assert params("report", [])["project_dir"] == "pixelboard-project"
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "team"))
    for command in ("report", "leaderboard", "featurize", "predict", "deploy"):
        extra = ["--images", "x"] if command == "featurize" else []
        assert params(command, extra)["project_dir"] == str(tmp_path / "team")
    assert params("report", ["--project", "here"])["project_dir"] == "here"  # the option wins
    empty = CliRunner().invoke(main, ["report"], env={PROJECT_ENV: str(tmp_path / "nothing")})
    assert empty.exit_code != 0 and f"no leaderboard in {tmp_path / 'nothing'}" in empty.output


def test_closed_sets_are_choices_from_the_registries():
    from pixelboard.leaderboard.autopilot import MODES
    from pixelboard.leaderboard.metrics import list_metrics

    assert METRIC_NAMES == tuple(list_metrics()) and LEADERBOARD_MODES == tuple(MODES)
    wrong = CliRunner().invoke(main, ["leaderboard", "--metric", "f2"])
    assert wrong.exit_code == 2 and "'f2' is not one of" in wrong.output and "macro_f1" in wrong.output
    wrong = CliRunner().invoke(main, ["leaderboard", "--mode", "fast"])
    assert wrong.exit_code == 2 and "'fast' is not one of" in wrong.output


def test_ticking_bar_redraws_while_one_long_step_runs(capsys, monkeypatch):
    """A single 30-second refit must not look hung: the bar's clock moves without an update."""
    import time

    from pixelboard import progress

    monkeypatch.setattr(progress, "TICK_SECONDS", 0.05)
    with progress.ticking_bar(total=1, desc="long step", mininterval=0) as bar:
        time.sleep(0.5)
        drawn = capsys.readouterr().err.count("long step")
        bar.update(1)
    assert drawn >= 4  # redrawn by the ticker, not only at start
    with progress.ticking_bar(total=1, desc="quiet step", disable=True) as bar:
        bar.update(1)
    assert "quiet step" not in capsys.readouterr().err
