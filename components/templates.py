"""The one Jinja setup every renderer uses, for shell, config and unit files.

Strict (an unknown name is an error, not an empty string), trailing newlines
kept, no HTML escaping, and one filter per context a value lands in (the
encoders of `common.encode`): `q` shell-quotes, `comment` writes text into a
line comment (`# ...`, in shell and Caddyfiles alike), `heredoc(end)` a quoted
heredoc's body; `caddy` writes Caddyfile tokens, `caddy_word` a bare one to join
with other text; `systemd` a unit setting's value, `systemd_exec` one word of a
command line; `sudoers_user` a user name as sudoers takes it; `yaml` a YAML scalar.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import jinja2

from common import encode


@cache
def environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (shell, config and unit files, not HTML)
    )
    env.filters["q"] = encode.shell
    env.filters["comment"] = encode.shell_comment
    env.filters["heredoc"] = encode.heredoc_body
    env.filters["caddy"] = _caddy
    env.filters["caddy_word"] = encode.caddy_word
    env.filters["systemd"] = encode.systemd_value
    env.filters["systemd_exec"] = encode.systemd_exec_word
    env.filters["sudoers_user"] = encode.sudoers_user
    env.filters["yaml"] = encode.yaml_scalar
    return env


def _caddy(value: str | Sequence[str]) -> str:
    """One Caddyfile token, or several separated by spaces."""
    return encode.caddy_token(value) if isinstance(value, str) else encode.caddy_tokens(value)
