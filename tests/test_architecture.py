"""ARCHITECTURE.md matches the tree: every folder it names exists, and every package is named in it.

The arrows themselves are import-linter's contracts (``[tool.importlinter]`` in pyproject.toml,
run by ``make lint``); this keeps the page that explains them from drifting.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
TOP_LEVEL = ("envconf", "clients", "fixtures", "deployer", "suites", "slack_mock", "canary")
# a code span holding a folder: `deployer/targets/kwok/`
FOLDER_SPAN = re.compile(r"`([A-Za-z0-9_.][A-Za-z0-9_./-]*/)`")


def named_folders() -> set[str]:
    return set(FOLDER_SPAN.findall(ARCHITECTURE.read_text()))


def packages() -> set[str]:
    return {
        f"{init.parent.relative_to(ROOT).as_posix()}/"
        for top in TOP_LEVEL
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_every_named_folder_exists() -> None:
    named = named_folders()
    assert named, f"{ARCHITECTURE}: no folder named as a `path/` code span"
    missing = sorted(folder for folder in named if not (ROOT / folder).is_dir())
    assert not missing, f"{ARCHITECTURE.name} names folders that do not exist: {missing}"


def test_every_package_is_named() -> None:
    found = packages()
    assert {f"{top}/" for top in TOP_LEVEL} <= found, f"top-level packages not found under {ROOT}: {sorted(found)}"
    unnamed = sorted(found - named_folders())
    assert not unnamed, f"{ARCHITECTURE.name} does not name these packages (as `path/` code spans): {unnamed}"
