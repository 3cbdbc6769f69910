"""The one Jinja setup every renderer uses, for shell, config and unit files.

Strict (an unknown name is an error, not an empty string), trailing newlines
kept, no HTML escaping, and a `q` filter that shell-quotes a value.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

import jinja2


@cache
def environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (shell, config and unit files, not HTML)
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    return env
