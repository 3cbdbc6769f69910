"""One encoder per context a value can land in: shell (a word, a comment, a
heredoc's body), YAML, Caddyfile, systemd, Compose, DNS TXT, sudoers.

Every renderer writes a value through the encoder of the context it lands in,
never by hand. An encoder either returns text its consumer reads back as
exactly `value`, or raises `UnencodableError` (a ValueError) for what the context
cannot carry at all (a newline in a Caddyfile token, a NUL anywhere), so a
bad value fails loudly instead of changing the meaning of the file. Config
validation refuses such values earlier, naming the key; these are the last
line. Bottom layer: imports nothing of the project.

Makefiles have no encoder on purpose: make expands `$(...)` in any text it
reads, so values (STACK, SNAPSHOT) reach recipes only as environment
variables holding their raw text (see the Makefile), never inside make text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

# Characters that end or split a line for some consumer: C0 controls, DEL, C1
# controls (U+0085 NEL) and Unicode's own line and paragraph separators, which
# YAML, Caddy's lexer and editors all treat as line breaks in some version.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnencodableError(ValueError):
    """A value its target context cannot carry."""


def line_breaking(value: str) -> str | None:
    """The first control or line-separator character in `value`, or None."""
    found = _LINE_BREAKING.search(value)
    return found.group() if found else None


def _refuse_controls(value: str, context: str) -> None:
    bad = line_breaking(value)
    if bad:
        raise UnencodableError(f"{context} cannot carry the control character {bad!r}: {value!r}")


# --- shell (bash, POSIX sh) -----------------------------------------------------------


def shell(value: object) -> str:
    """One shell word that expands to exactly `value` (single-quoted when needed)."""
    text = str(value)
    if "\x00" in text:
        raise UnencodableError(f"a shell word cannot carry NUL: {text!r}")
    return shlex.quote(text)


def shell_comment(value: object) -> str:
    """Text inside a `# ...` shell comment: as it is, or refused when a line break
    would end the comment and run the rest as commands."""
    text = str(value)
    _refuse_controls(text, "a shell comment")
    return text


def heredoc_body(text: str, end: str) -> str:
    """The body of a quoted heredoc (`<<'END'`) ending in `end`: the text as it is,
    when the shell reads it back byte for byte.

    The shell stops at the first line that is exactly `end`, and the template
    writes `end` right after the body, so the body must end with a line break.
    """
    if "\x00" in text:
        raise UnencodableError(f"a heredoc cannot carry NUL (ending {end!r})")
    if not text.endswith("\n") or end in text.split("\n"):
        raise UnencodableError(f"not a heredoc body ending in {end!r}: {text[:80]!r}")
    return text


# --- YAML -----------------------------------------------------------------------------


def yaml_scalar(value: str | int | bool | None) -> str:
    """A YAML flow scalar that loads back as `value` (for templates that write YAML)."""
    text = _yaml_dump(value, None)
    if "\n" in text:
        # Plain and single-quoted scalars fold line breaks: double quotes escape them.
        text = _yaml_dump(value, '"')
    return text


def _yaml_dump(value: str | int | bool | None, style: str | None) -> str:
    text = yaml.safe_dump(value, default_style=style, width=2**31, allow_unicode=False)
    return text.removesuffix("\n").removesuffix("\n...")


# --- Caddyfile ------------------------------------------------------------------------

# Caddy expands `{$ENV}` and `{env.X}` while it reads the file, and `{...}`
# placeholders in most directive arguments at request time; there is no escape
# for the first, so braces are refused rather than quoted.
_CADDY_REFUSED = re.compile(r"[{}\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CADDY_PLAIN = re.compile(r"[^\s\"'`#\\]+")


def caddy_token(value: str) -> str:
    """One Caddyfile token: bare when it is a plain word, else double-quoted."""
    bad = _CADDY_REFUSED.search(value)
    if bad:
        raise UnencodableError(f"a Caddyfile token cannot carry {bad.group()!r}: {value!r}")
    if _CADDY_PLAIN.fullmatch(value) and not value.startswith("<<"):
        return value
    # Caddy's lexer keeps a backslash inside quotes except before a quote or a
    # line break, so no spelling of `\"` survives: refuse backslashes.
    if "\\" in value:
        raise UnencodableError(f"a Caddyfile token cannot carry a backslash: {value!r}")
    return '"' + value.replace('"', '\\"') + '"'


def caddy_word(value: str) -> str:
    """A bare Caddyfile word, for joining with other text (`https://{host}{uri}`)."""
    token = caddy_token(value)
    if token != value or not value:
        raise UnencodableError(f"not a bare Caddyfile word: {value!r}")
    return token


def caddy_tokens(values: Sequence[str]) -> str:
    return " ".join(caddy_token(v) for v in values)


# --- systemd unit files ---------------------------------------------------------------


def systemd_value(value: str) -> str:
    """A unit setting's value: `%` specifiers escaped; no line breaks, no trailing `\\`."""
    _refuse_controls(value, "a systemd unit setting")
    if value.endswith("\\"):
        raise UnencodableError(f"a trailing backslash continues a systemd line: {value!r}")
    if value != value.strip():
        raise UnencodableError(f"systemd strips a setting's surrounding whitespace: {value!r}")
    return value.replace("%", "%%")


_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def systemd_exec_word(value: str) -> str:
    """One word of an `Exec*=` command line (quoting, `%` and `$` escaped)."""
    _refuse_controls(value, "a systemd command line")
    text = value.replace("%", "%%")
    if _SYSTEMD_PLAIN.fullmatch(value):
        return text
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{text}"'


# --- Docker Compose -------------------------------------------------------------------


def compose_literal(value: str) -> str:
    """A string Compose interpolates (`${VAR}`): every `$` doubled, so none expands."""
    return value.replace("$", "$$")


def compose_literals(value: Any) -> Any:
    """`compose_literal` on every string inside `value` (dicts, lists, scalars)."""
    if isinstance(value, str):
        return compose_literal(value)
    if isinstance(value, Mapping):
        return {k: compose_literals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compose_literals(v) for v in value]
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "$": "\\$"}


def env_file_line(name: str, value: str) -> str:
    """`NAME='value'` for Compose's `env_file`, read back as exactly `value`.

    Single quotes (literal, no interpolation) when the value has no quote and
    no line break; otherwise double quotes with Compose's escapes.
    """
    if not _ENV_NAME.fullmatch(name):
        raise UnencodableError(f"not an environment variable name: {name!r}")
    if "\x00" in value:
        raise UnencodableError(f"an environment variable cannot carry NUL (for {name})")
    if "'" not in value and not line_breaking(value):
        return f"{name}='{value}'"
    return f'{name}="' + "".join(_ENV_ESCAPES.get(c, c) for c in value) + '"'


def cli_env_file_line(name: str, value: str) -> str:
    """`NAME=value` for the Docker CLI's `--env-file` format, which `docker stack
    deploy` reads `env_file` with: no quotes and no escapes (a quote would be part
    of the value), so a line break cannot be carried at all."""
    if not _ENV_NAME.fullmatch(name):
        raise UnencodableError(f"not an environment variable name: {name!r}")
    if "\x00" in value or line_breaking(value):
        raise UnencodableError(f"{name}: a Swarm env file cannot carry a line break or NUL")
    return f"{name}={value}"


# --- DNS TXT --------------------------------------------------------------------------

TXT_STRING_MAX = 255
"""RFC 1035 §3.3: one TXT character-string holds at most 255 octets."""


def _txt_quote(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def dns_txt(value: str) -> str:
    """A TXT value as RFC 1035 quoted character-strings of at most 255 octets each.

    Quotes and backslashes are escaped, other non-printable octets written as
    `\\DDD`; the value is UTF-8 encoded and split on octets.
    """
    raw = value.encode("utf-8")
    chunks = [raw[i : i + TXT_STRING_MAX] for i in range(0, len(raw), TXT_STRING_MAX)] or [b""]
    return " ".join(_txt_quote(chunk) for chunk in chunks)


# --- sudoers ---------------------------------------------------------------------------

_SUDOERS_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def sudoers_user(name: str) -> str:
    """A user name as a sudoers User_List item.

    sudoers gives `!`, `%`, `+`, `#`, `,`, `:`, `=`, `\\` and spaces meaning;
    only the portable Debian user names need no escaping, so only they pass.
    """
    if not _SUDOERS_USER.fullmatch(name):
        raise UnencodableError(f"not a user name sudoers can take unescaped: {name!r}")
    return name
