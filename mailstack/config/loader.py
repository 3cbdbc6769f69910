"""Reading and validating a stack's config: every problem in one error, by key path.

`load_config` reads the keys, validates everything at once and raises one
`ConfigError` listing every problem, each named by its key path in Pulumi's
notation, before any resource exists.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import pulumi
from pydantic import TypeAdapter, ValidationError

from common.encode import line_breaking
from mailstack.config.advice import advice
from mailstack.config.model import (
    PROJECT,
    ConfigError,
    KeySpec,
    Problem,
    Secrets,
    StackConfig,
    key_specs,
)
from mailstack.config.rules import (
    RULES,
    stack_name_is_a_project_name,
    stack_name_matches_environment,
)
from mailstack.config.rules.placeholders import placeholder_values
from mailstack.config.run_mode import is_real_up
from mailstack.config.secret_env import SECRET_ENV_KEY, read_secret_env
from mailstack.config.sections import SECTIONS, Section


def _pulumi_path(spec: KeySpec, loc: tuple[int | str, ...]) -> str:
    """`serverLabels[1]` style path for an error inside a list value."""
    path = spec.alias
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(err: Mapping[str, Any], spec: KeySpec) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return f"got {err['input']!r}; expected one of {expected}"
    if kind == "string_pattern_mismatch":
        example = f"expected e.g. {spec.example!r}, " if spec.example else ""
        return f"got {err['input']!r}; {example}matching {err['ctx']['pattern']}"
    if kind == "missing":
        example = f", e.g. `pulumi config set {spec.alias} {spec.example}`" if spec.example else ""
        return f"is required but not set{example}"
    return msg


def _parse_raw(spec: KeySpec, raw: Any) -> tuple[Any, Problem | None]:
    """Pulumi hands the program strings; arrays arrive as JSON text."""
    if spec.is_list and isinstance(raw, str):
        try:
            return json.loads(raw), None
        except json.JSONDecodeError:
            return None, Problem(spec.alias, f"expected a YAML/JSON array, got {raw!r}")
    return raw, None


def _check_secret(spec: KeySpec, full_key: str, raw: Any) -> Problem | None:
    """A secret's value against its type, with a message that never shows it.

    Synth's stand-in (`<secret:KEY>`, tools.harness) is not checked.
    """
    if raw in (None, "") or raw == f"<secret:{full_key}>" or not spec.info.metadata:
        return None
    try:
        TypeAdapter(Annotated[(spec.info.annotation, *spec.info.metadata)]).validate_python(raw)
    except ValidationError:
        example = f"; expected e.g. {spec.example!r}" if spec.example else ""
        return Problem(spec.alias, f"is malformed (the value is a secret, so not shown){example}")
    return None


@dataclass
class _Reading:
    """What one pass over the raw keys found, before the sections are validated."""

    specs: dict[str, KeySpec]
    problems: list[Problem] = field(default_factory=list)
    sections: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: {} for name in SECTIONS}
    )
    present: dict[str, bool] = field(default_factory=dict)
    """Secret keys: whether each holds a value."""
    refused: set[str] = field(default_factory=set)
    """Keys whose value was refused."""
    secret_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Secret object keys: their member names."""


def _foreign_key(namespace: str, name: str) -> Problem | None:
    """Other namespaces belong to providers (`hcloud:token`); one that is a
    near-miss of ours is a typo whose value would be silently ignored."""
    if difflib.get_close_matches(namespace, [PROJECT], n=1, cutoff=0.75):
        return Problem(name, f"unknown namespace; did you mean '{PROJECT}:{name}'?", namespace)
    return None


def _read_secret(
    spec: KeySpec, full_key: str, raw: Any, secret_keys: Collection[str]
) -> Problem | None:
    # An empty plain value holds nothing to hide (a throwaway clears dev's
    # heartbeat URL so).
    if full_key not in secret_keys and raw not in (None, ""):
        return Problem(
            spec.alias,
            f"is a secret: set it with `pulumi config set --secret {spec.alias} ...`, "
            "not as plain text",
        )
    return _check_secret(spec, full_key, raw)


def _read(raw_config: Mapping[str, Any], secret_keys: Collection[str]) -> _Reading:
    """Sort every raw key into its section, noting unknown keys and secret misuse."""
    reading = _Reading({spec.alias: spec for spec in key_specs()})
    for full_key, raw in sorted(raw_config.items()):
        namespace, _, name = full_key.partition(":")
        if namespace != PROJECT:
            if problem := _foreign_key(namespace, name):
                reading.problems.append(problem)
            continue
        spec = reading.specs.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, reading.specs, n=1)
            hint = f"; did you mean '{PROJECT}:{close[0]}'?" if close else ""
            reading.problems.append(Problem(name, f"unknown config key{hint}"))
        elif spec.secret:
            if problem := _read_secret(spec, full_key, raw, secret_keys):
                reading.problems.append(problem)
            reading.present[name] = raw not in (None, "")
            if name == SECRET_ENV_KEY:
                names, problems = read_secret_env(raw, f"<secret:{full_key}>")
                reading.secret_names[name] = names
                reading.problems += problems
        else:
            value, problem = _parse_raw(spec, raw)
            problems = [problem] if problem else _line_breaks(spec, value)
            if problems:
                reading.problems += problems
                reading.refused.add(name)
            else:
                reading.sections[spec.section][name] = value
    return reading


def _line_breaks(spec: KeySpec, value: Any) -> list[Problem]:
    """Every plain string, and every string in a list, is one line of text.

    Checked for every key before its own type, so no value can carry a line
    break, a control character or a Unicode line separator into any file,
    command or record, whatever its type's pattern forgot. (Python's `$` also
    matches before a final newline.)
    """
    items = [(spec.alias, value)]
    if spec.is_list and isinstance(value, list):
        items = [(f"{spec.alias}[{i}]", v) for i, v in enumerate(value)]
    return [
        Problem(path, f"holds {bad!r}, a control character or line break: {text!r}")
        for path, text in items
        if isinstance(text, str) and (bad := line_breaking(text))
    ]


def _validate_sections(reading: _Reading) -> dict[str, Section]:
    """Each section's model; a refused key is reported and replaced by its default."""
    parsed: dict[str, Section] = {}
    for section, model in SECTIONS.items():
        if section == "secrets":
            continue
        try:
            parsed[section] = model.model_validate(reading.sections[section])
        except ValidationError as err:
            for e in err.errors():
                alias = str(e["loc"][0])
                spec = reading.specs[alias]
                path = _pulumi_path(spec, tuple(e["loc"][1:]))
                reading.problems.append(Problem(path, _message(e, spec)))
                reading.refused.add(alias)
            # Validate the rest of the section again, with defaults for the
            # refused keys, so the cross-field rules can still report in this
            # same error instead of one fix-and-retry later.
            rest = {k: v for k, v in reading.sections[section].items() if k not in reading.refused}
            with contextlib.suppress(ValidationError):
                parsed[section] = model.model_validate(rest)
    return parsed


def validate(
    raw_config: Mapping[str, Any],
    secret_keys: Collection[str] = frozenset(),
    stack: str | None = None,
) -> StackConfig:
    """Validate raw `mailstack:*` config values; raise ConfigError with every problem.

    `stack` is the Pulumi stack's name, checked against `environment`.
    """
    reading = _read(raw_config, secret_keys)
    parsed = _validate_sections(reading)
    problems = reading.problems
    # Every other rule depends on these two: with a default in place of a
    # refused one, the rules would report problems the user does not have.
    if len(parsed) == len(SECTIONS) - 1 and not reading.refused & {"environment", "target"}:
        secrets = Secrets(reading.present, reading.secret_names)
        config = StackConfig(secrets=secrets, **parsed)
        found = [p for rule in RULES for p in rule(config)]
        if stack is not None:
            found += stack_name_matches_environment(stack, config)
            found += stack_name_is_a_project_name(stack)
        problems += [p for p in found if re.split(r"[\[.]", p.key)[0] not in reading.refused]
    if problems:
        raise ConfigError(problems)
    return config


def load_config() -> StackConfig:
    """Read and validate this stack's Pulumi config (the program's entry point)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env()) | set(
        runtime_config._SECRET_KEYS.get()
    )
    config = validate(raw, secret, stack=pulumi.get_stack())
    placeholders = placeholder_values(config)
    if placeholders and is_real_up():
        raise ConfigError(placeholders)
    for problem in [*placeholders, *advice(config)]:
        pulumi.log.warn(str(problem))
    return config
