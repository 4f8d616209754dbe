"""The README stays true: every CLI option is documented, and CI runs the README's test command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from pixelboard.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_of_every_command_is_documented(name):
    command = main.commands[name]
    assert f"pixelboard {name}" in README
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            long = next(o for o in param.opts if o.startswith("--"))
            assert long in README, f"{name} {long} missing from README.md"


def test_ci_runs_the_readme_test_command():
    """The first screen's two commands are `make demo` and `make test`; CI runs `make test`, whose recipe
    is the plain `python -m pytest -q` the manual instructions below them give."""
    first_screen = README.split("---", 1)[0]
    assert "make demo" in first_screen and "make test" in first_screen
    assert "python -m pytest -q" in first_screen and "pixelboard demo" in first_screen
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m pytest -q" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
