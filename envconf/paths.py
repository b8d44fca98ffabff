"""Where a run keeps its files: the checkout it runs from, or the current directory when installed.

From a checkout (``pyproject.toml`` beside the packages) that is the repository, as always.
Installed as a package (site-packages), the packages' parent is no place for environments,
reports or the local stack's state: the user's current directory is.
"""

from __future__ import annotations

from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent
PROJECT_ROOT = _SOURCE if (_SOURCE / "pyproject.toml").is_file() else Path.cwd()
