"""The layers of ARCHITECTURE.md: evaluation/ and checkpoints/ never import training/, and
only cli/ imports cli/.

Read from the source (every ``import`` and ``from ... import``, also inside functions) and
checked at run time (importing every module of those packages loads no training module),
so a lazy import cannot hide the dependency either."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pdesurr

ROOT = Path(pdesurr.__file__).parent
BELOW_TRAINING = ("evaluation", "checkpoints")


def imported_modules(file: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("package", BELOW_TRAINING)
def test_no_source_line_imports_training(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules in pdesurr/{package}"
    bad = {
        f"{f.relative_to(ROOT)}: {m}"
        for f in files
        for m in imported_modules(f)
        if m == "pdesurr.training" or m.startswith("pdesurr.training.")
    }
    assert not bad, f"pdesurr/{package} imports training/: {sorted(bad)}"


@pytest.mark.parametrize("package", ["training", "evaluation", "checkpoints", "data", "stream",
                                     "models", "physics", "solvers", "spectral"])  # fmt: skip
def test_only_the_cli_imports_the_cli(package):
    # the CLI is the edge (command line, environment, terminal): the library never calls up
    bad = {
        f"{f.relative_to(ROOT)}: {m}"
        for f in sorted((ROOT / package).rglob("*.py"))
        for m in imported_modules(f)
        if m == "pdesurr.cli" or m.startswith("pdesurr.cli.")
    }
    assert not bad, f"pdesurr/{package} imports the CLI: {sorted(bad)}"


def test_the_ast_walk_sees_a_lazy_import(tmp_path):
    # the check above must be able to fail: an import inside a function is found
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from pdesurr.training.fit import fit\n    return fit\n")
    assert "pdesurr.training.fit" in imported_modules(f)


def test_importing_evaluation_and_checkpoints_loads_no_training_module():
    code = (
        "import importlib, pkgutil, sys\n"
        f"for pkg in {BELOW_TRAINING!r}:\n"
        "    p = importlib.import_module('pdesurr.' + pkg)\n"
        "    for m in pkgutil.iter_modules(p.__path__):\n"
        "        importlib.import_module(f'pdesurr.{pkg}.{m.name}')\n"
        "print(sorted(k for k in sys.modules if k.startswith('pdesurr.training')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
