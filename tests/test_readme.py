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


def _readme_commands(text: str) -> list[list[str]]:
    """Every `pixelboard ...` command in the README's bash blocks, as argument lists (continuation lines
    joined, comments dropped, `&&` chains split)."""
    import shlex

    commands = []
    for block in text.split("```bash\n")[1:]:
        body = block.split("```", 1)[0].replace("\\\n", " ")
        for line in body.splitlines():
            for part in line.split("#", 1)[0].split("&&"):
                words = shlex.split(part)
                if words[:1] == ["pixelboard"]:
                    commands.append(words[1:])
    return commands


def test_every_readme_command_names_real_options():
    """Each command the README shows parses as written: a real command, real options, values where they
    take one (a renamed or removed option fails here, not in a newcomer's shell)."""
    commands = _readme_commands(README)
    assert len(commands) >= 8, commands
    for words in commands:
        name, args = words[0], words[1:]
        assert name in main.commands, f"README runs unknown command 'pixelboard {name}'"
        command = main.commands[name]
        if isinstance(command, click.Group):
            assert args and args[0] in command.commands, f"README: pixelboard {name} {args}"
            continue
        known = {opt: param for param in command.params for opt in param.opts if isinstance(param, click.Option)}
        i = 0
        while i < len(args):
            word = args[i].split("=", 1)[0]
            if word.startswith("-"):
                assert word in known, f"README: 'pixelboard {name}' has no option {word}"
                if not known[word].is_flag and "=" not in args[i]:
                    i += 1
                    assert i < len(args), f"README: 'pixelboard {name} {word}' lacks its value"
            i += 1
