"""Which unit tests mutation testing runs (docs/MUTATION.md): the test files that import a
mutated module, so that the selection follows the tests' layout instead of a list kept by hand.

A file ``tests/test_*.py`` (not the folders under tests/: e2e and the fake Discord) is selected
for an entry of ``[tool.mutmut] only_mutate`` when it imports that module or a name from it,
and for a package mutated whole (``bot/storage/*.py``) when it imports anything of the package.
The tests that spawn processes, train models or start servers import none of them directly.

This module is also the pytest plugin that applies the selection: mutmut passes
``-p bench.mutation_tests`` (``pytest_add_cli_args_test_selection``) to the pytest runs that
gather its statistics, and the plugin leaves every other file uncollected.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def configured_modules(root: Path = ROOT) -> list[str]:
    """The files ``[tool.mutmut] only_mutate`` lists, e.g. ``bot/engine/sampling.py``."""
    config = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def imported(path: Path) -> set[str]:
    """Every module and name the file imports, dotted: ``from a.b import c`` gives ``a.b`` and
    ``a.b.c`` (``c`` may be a module or a name in it); relative imports (tests' own) are not."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def tests_of(module: str, root: Path = ROOT) -> list[Path]:
    """The unit test files of one ``only_mutate`` entry, sorted."""
    prefix = module.removesuffix(".py").removesuffix("/*").replace("/", ".")
    return sorted(
        path
        for path in (root / "tests").glob("test_*.py")
        if any(name == prefix or name.startswith(prefix + ".") for name in imported(path))
    )


@functools.cache
def selection(root: Path) -> frozenset[Path]:
    """The test files of every mutated module: what mutmut's test runs collect."""
    return frozenset(path for module in configured_modules(root) for path in tests_of(module, root))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip the folders under tests/ and the test files of no mutated module."""
    tests = config.rootpath / "tests"
    if collection_path.parent != tests:
        return None
    if collection_path.is_dir():
        return True
    if collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return collection_path not in selection(config.rootpath) or None
    return None
