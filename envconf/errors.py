"""The config layer's errors: each one names the file, the line and the key at fault."""

from __future__ import annotations

from pathlib import Path


class EnvFileError(Exception):
    """An environment file is missing, malformed, or holds a bad value."""

    def __init__(self, path: Path, line: int | None, key: str | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{path}:{line}" if line is not None else str(path)
        what = f"{key}: " if key else ""
        super().__init__(f"{where}: {what}{problem}")
