"""Every third-party package that ``src/`` imports is declared in ``pyproject.toml``, and
each module ``modelbay.extras`` checks for comes with the extra it names."""

from __future__ import annotations

import ast
import functools
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from modelbay.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]


def imported_packages() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in src/ (at any depth of the code),
    each with the files importing it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "src" / "modelbay").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops = {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = {node.module.partition(".")[0]}
            else:
                continue
            for top in tops - set(sys.stdlib_module_names) - {"modelbay"}:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def declared() -> dict[str, set[str]]:
    """Each declared distribution with the groups declaring it ("" for the dependencies)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    out: dict[str, set[str]] = {}
    for group, requirements in groups.items():
        for text in requirements:
            out.setdefault(canonicalize_name(Requirement(text).name), set()).add(group)
    return out


@functools.cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def distributions_of(module: str) -> set[str]:
    """The installed distributions that provide top-level ``module``."""
    return {canonicalize_name(d) for d in _installed().get(module, [])}


def test_every_imported_package_is_declared() -> None:
    imports = imported_packages()
    assert {"sqlalchemy", "typer", "fastapi"} <= imports.keys()  # the walk sees the code
    deps = declared()
    undeclared = {
        module: sorted(files)
        for module, files in imports.items()
        if not distributions_of(module) & deps.keys()
    }
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_each_extra_brings_what_modelbay_extras_checks_for() -> None:
    deps = declared()
    for extra, modules in EXTRAS.items():
        in_pyproject = {name for name, groups in deps.items() if extra in groups}
        for module in modules:
            assert distributions_of(module) & in_pyproject, (extra, module)
    # Nothing an extra brings is also a plain dependency, or the extra would be moot.
    optional = set().union(*(distributions_of(m) for ms in EXTRAS.values() for m in ms))
    assert not {name for name in optional if "" in deps.get(name, set())}
