"""Parsing of the shell-style ``KEY="value"`` files the design's deploy script sources.

The format stays sourceable by bash (the design loads it with ``source``), so only
the subset both bash and this parser read the same way is accepted: one assignment
per line, optional double or single quotes, ``#`` comments, no expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from obs_conformance.envconf.errors import EnvFileError

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Z][A-Z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class Entry:
    """One assignment, with the line it came from so errors can point at it."""

    key: str
    value: str
    line: int


def _unquote(raw: str, path: Path, line: int, key: str) -> str:
    raw = raw.strip()
    if raw[:1] in {'"', "'"}:
        quote = raw[0]
        end = raw.find(quote, 1)
        if end == -1:
            raise EnvFileError(path, line, key, f"unterminated {quote} quote")
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise EnvFileError(path, line, key, f"unexpected text after the quoted value: {rest!r}")
        value = raw[1:end]
        if quote == '"' and ("$" in value or "`" in value):
            raise EnvFileError(path, line, key, "shell expansion ($ or `) is not supported")
        return value
    value = raw.split(" #", 1)[0].strip()
    if any(c in value for c in " \t$`\"'"):
        raise EnvFileError(path, line, key, "unquoted value with spaces, quotes or expansion")
    return value


def parse_env_file(path: Path) -> dict[str, Entry]:
    """Read ``path`` into entries keyed by name; a repeated key is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise EnvFileError(path, None, None, f"cannot read: {e.strerror}") from e
    entries: dict[str, Entry] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _ASSIGNMENT.match(stripped)
        if match is None:
            raise EnvFileError(path, number, None, f'not a KEY="value" line: {stripped[:60]!r}')
        key = match.group(1)
        if key in entries:
            raise EnvFileError(path, number, key, f"set twice (first on line {entries[key].line})")
        entries[key] = Entry(key, _unquote(match.group(2), path, number, key), number)
    return entries
