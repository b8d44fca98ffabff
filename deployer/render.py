"""Rendering of configs from the env, with Jinja2 (not sed): one renderer for local and clusters.

Delimiters are ``[[ ]]`` and ``[% %]`` so the Go templates of Alertmanager and
Helm (``{{ }}``) pass through untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


def templates(folder: Path) -> jinja2.Environment:
    """The templates under ``folder`` with this project's delimiters; an unset variable is an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders YAML configs, not HTML
    )


_jinja = templates(TEMPLATES)


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a path under deployer/templates); an unset variable is an error."""
    return _jinja.get_template(template).render(**context)
