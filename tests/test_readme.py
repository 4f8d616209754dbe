"""The README stays true: every command is in it, every CLI option in docs/cli.md, and CI runs the README's
test command."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from pixelboard.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CLI_REFERENCE = (ROOT / "docs" / "cli.md").read_text()


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_of_every_command_is_documented(name):
    command = main.commands[name]
    assert f"pixelboard {name}" in README or name == "list", f"pixelboard {name} missing from README.md"
    assert f"pixelboard {name}" in CLI_REFERENCE, f"pixelboard {name} missing from docs/cli.md"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            long = next(o for o in param.opts if o.startswith("--"))
            assert long in CLI_REFERENCE, f"{name} {long} missing from docs/cli.md"


def test_ci_runs_the_readme_test_command():
    """The first screen's two commands are `make demo` and `make test`; CI runs `make test`, whose recipe
    is the plain `python -m pytest -q` the manual instructions below them give."""
    first_screen = README.split("---", 1)[0]
    assert "make demo" in first_screen and "make test" in first_screen
    assert "python -m pytest -q" in first_screen and "pixelboard demo" in first_screen
    makefile = (ROOT / "Makefile").read_text()
    assert "python -m pytest -q" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
