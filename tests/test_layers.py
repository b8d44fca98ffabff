"""Layers point one way: suites -> fixtures -> (deployer, clients) -> envconf. Checked from the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("envconf", "clients", "deployer", "fixtures", "suites")
# what each package may import from the project
ALLOWED = {
    "envconf": {"envconf"},
    "clients": {"clients", "envconf"},
    "deployer": {"deployer", "envconf"},
    "fixtures": {"fixtures", "clients", "deployer", "envconf"},
    "suites": {"suites", "fixtures", "clients", "deployer", "envconf"},
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_lower_layers(package: str) -> None:
    violations = {
        str(path.relative_to(ROOT)): sorted(project_imports(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
        if project_imports(path) - ALLOWED[package]
    }
    assert not violations, f"{package} imports layers above it: {violations}"
