"""Property: no hostile config value escapes into a rendered file (issue 13).

For every string and list-of-strings key (`key_specs()`), hypothesis feeds a
valid base value spliced with hostile text: line breaks, carriage returns,
quotes, `$`, braces, backticks, Unicode line separators, NUL, `%`
specifiers, very long runs, and shell/Caddy/YAML injections that try to
create a marker file. Each example must end one of two ways:

- a ConfigError that names the key, with zero resources registered; or
- the program runs, and every artifact that differs from the unmodified
  stack's passes its real consumer (caddy validate, docker compose config -q,
  shellcheck, systemd-analyze verify, cloud-init schema, a DNS zone parser,
  bash sourcing backup.conf), the marker file never appears, and the value
  (when it carries a special character) appears in no artifact except in one
  of its encoded forms.

Only the artifacts an example changed go to the real tools, so each tool runs
on exactly the outputs the hostile value reached; the unmodified stack's are
checked by tests/artifacts. The profile is derandomized (same examples on
every run) with a fixed example count, and no deadline. For a deeper run by
hand: `HOSTILE_EXAMPLES=5000 pytest tests/unit/test_hostile_config.py`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import dns.zone
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from common import encode
from components.monitoring import paths
from mailstack.config import PROJECT, ConfigError, KeySpec, key_specs
from mailstack.config.model import _unwrap
from tests.caddy import CADDY
from tests.conftest import stack_config
from tools.harness import MailstackMocks, RecordingMonitor, Run, run_program

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "400"))
"""Enough to reach every key (44) with most fragments and all four splices."""

STACK = "dev"
MARKER = Path(tempfile.gettempdir()) / f"mailstack-hostile-marker-{os.getpid()}"

FRAGMENTS = [
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\t",
    "'",
    '"',
    "`",
    "\\",
    "$",
    "$HOME",
    "${HOME}",
    "$$",
    "{$HOME}",
    "{env.HOME}",
    "{",
    "}",
    "%n%i",
    "#",
    " ",
    "x" * 4000,
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"'; touch {MARKER}; '",
    f'"; touch {MARKER}; "',
    f"\ntouch {MARKER}\n",
    "\n\t}\n\thandle /metrics {\n\t\treverse_proxy node-exporter:9100\n\t}\n#",
    " } handle /metrics { respond 200 } ",
    "\nExecStartPre=/bin/touch /tmp/x",
    "\n- evil: true",
    "ü✓",
]
SPLICES = ["suffix", "prefix", "middle", "alone"]

# A valid value per key, spliced with the hostile text (or the key's own example).
BASE: dict[str, str] = {
    "expiresAt": "2026-12-31",
    "domain": "dev.example.com",
    "appSubdomain": "app",
    "mailSubdomain": "mail",
    "serverLabels": "owner=ops",
    "adminUser": "mailadmin",
    "sshPublicKeys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther other@laptop",
    "adminCidrs": "198.51.100.7/32",
    "spfIncludes": "_spf.google.com",
    "dkimSelectors": "ms202611",
    "dmarcRua": "dmarc@example.com",
    "dmarcRuf": "ruf@example.com",
    "tlsRptEmail": "tls@example.com",
    "caaIssuer": "letsencrypt.org",
    "caaIodef": "iodef@example.com",
    "nullMxNames": "old.example.com",
    "fromAddress": "noreply@dev.example.com",
    "alertEmail": "ops@dev.example.com",
    "smtpHost": "smtp.example.com",
    "smtpUsername": "AKIAEXAMPLE",
    "sesMailFromSubdomain": "bounce",
    "appImage": "ghcr.io/me/app:1.0",
    "appAdminPaths": "/admin/*",
    "appHealthCommand": "curl",
    "appWebImage": "ghcr.io/me/web:1.0",
    "appWebHealthCommand": "wget",
    "appEnv": "LOG_LEVEL=info",
    "imageRegistry": "ghcr.io",
    "imageRegistryUsername": "my-org-bot",
    "imageRegistryPassword": "ghp_token123",
    "imageRepository": "ghcr.io/acme/mailstack",
    "appImageBuild": "assets/images/mailwizz-php",
    "mailwizzArchiveSha256": "0" * 64,
    "mailwizzArchiveUrl": "https://files.example.com/mailwizz-2.6.0.zip",
    "appDataPaths": "/data",
    "appSqliteFiles": "/data/app.db",
    "appSecretEnv": '{"API_KEY": "k-123"}',
    "minioBuckets": "uploads",
    "storageBuckets": "uploads",
    "storageSubdomain": "files",
    "backupRepository": "s3:https://s3.example.com/bucket/restic",
    "backupS3AccessKeyId": "EXAMPLEKEY",
    "backupSchedule": "*-*-* 03:15:00",
    "backupCheckSchedule": "Sun *-*-* 05:30:00",
    "smtpPassword": "smtp-pass",
    "backupPassword": "restic-pass",
    "backupS3SecretAccessKey": "s3-secret",
    "tailscaleAuthKey": "tskey-auth-abc",
    "backupHeartbeatUrl": "https://hc-ping.com/abc",
}
_WEB_API = {"app": "web-api", "appImage": "ghcr.io/me/api:1.0", "appWebImage": "ghcr.io/me/web:1.0"}
_MAILWIZZ_BUILD = {
    "app": "mailwizz",
    "appImageBuild": "assets/images/mailwizz-php",
    "imageRepository": "ghcr.io/acme/mailstack",
    "imageRegistryUsername": "my-org-bot",
}
_TRANSACTIONAL = {"app": "transactional-api", "appImage": "ghcr.io/me/api:1.0"}
# The features that make a key reach a file at all.
CONTEXT: dict[str, dict[str, Any]] = {
    "smtpHost": {"mailRelay": "smtp"},
    "appImage": {"app": "custom"},
    "appHealthCommand": {"app": "custom", "appImage": "ghcr.io/me/app:1.0"},
    "appWebImage": _WEB_API,
    "appWebHealthCommand": _WEB_API,
    "appDataPaths": _TRANSACTIONAL,
    "appSqliteFiles": _TRANSACTIONAL,
    "storageBuckets": {"storage": True},
    "imageRegistry": {"imageRegistryUsername": "my-org-bot"},
    "imageRegistryUsername": {"imageRegistry": "ghcr.io"},
    "imageRepository": _MAILWIZZ_BUILD,
    "appImageBuild": _MAILWIZZ_BUILD,
    "mailwizzArchiveSha256": {"app": "mailwizz"},
    "mailwizzArchiveUrl": {"app": "mailwizz", "mailwizzArchiveSha256": "0" * 64},
    "storageSubdomain": {"storage": True},
    "tailscaleAuthKey": {"tailscale": True},
    "tlsRptEmail": {"receivesMail": True},
}


def _is_text(spec: KeySpec) -> bool:
    kind = _unwrap(spec.info.annotation)
    if kind is str:
        return True
    return get_origin(kind) is list and _unwrap(get_args(kind)[0]) is str


TEXT_KEYS = [spec for spec in key_specs() if _is_text(spec)]


def _base(spec: KeySpec) -> str:
    return BASE.get(spec.alias) or spec.example


def test_every_text_key_has_a_base_value() -> None:
    assert len(TEXT_KEYS) >= 40
    assert [s.alias for s in TEXT_KEYS if not _base(s)] == []


def _splice(base: str, fragment: str, how: str) -> str:
    if how == "alone":
        return fragment
    if how == "prefix":
        return fragment + base
    if how == "middle":
        return base[: len(base) // 2] + fragment + base[len(base) // 2 :]
    return base + fragment


# --- the real consumers -----------------------------------------------------------


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{done.args[0]}: {done.stdout[-1500:]}{done.stderr[-1500:]}"


def _caddy(root: Path, rel: str) -> None:
    _ok(_run([CADDY, "validate", "--config", rel, "--adapter", "caddyfile"], root))


def _compose(root: Path, rel: str) -> None:
    _ok(_run(["docker", "compose", "-f", rel, "config", "-q"], root))


def _shellcheck(root: Path, rel: str) -> None:
    _ok(_run(["shellcheck", "-S", "error", "-s", "bash", rel], root))


def _backup_conf(root: Path, rel: str) -> None:
    # Sourcing is the consumer's own reading; an injection would touch MARKER.
    _shellcheck(root, rel)
    _ok(_run(["bash", "-euc", f'source "{rel}"; declare -p RESTIC_REPOSITORY >/dev/null'], root))


def _systemd(root: Path, rel: str) -> None:
    done = _run(["systemd-analyze", "verify", "--man=no", rel], root)
    # ExecStart points at the host's paths, absent here: only that may be reported.
    errors = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "is not executable" not in line and "mailstack-backup" in line
    ]
    assert errors == [], done.stderr


def _cloud_init(root: Path, rel: str) -> None:
    _ok(_run(["cloud-init", "schema", "--config-file", rel], root))


def _zone(root: Path, rel: str) -> None:
    dns.zone.from_text((root / rel).read_text(), origin="example.com.", check_origin=False)


def _yaml(root: Path, rel: str) -> None:
    yaml.safe_load((root / rel).read_text())


def _json(root: Path, rel: str) -> None:
    json.loads((root / rel).read_text())


def _amtool(root: Path, rel: str) -> None:
    _ok(_run(["amtool", "check-config", rel], root))


def _promtool_rules(root: Path, rel: str) -> None:
    _ok(_run(["promtool", "check", "rules", rel], root))


def _prometheus(root: Path, rel: str) -> None:
    # The rule file's path is the container's: point it at the one written here.
    config = root / rel
    rules = config.with_name("rules.yml")
    config.write_text(config.read_text().replace(paths.PROMETHEUS_RULES, str(rules)))
    _ok(_run(["promtool", "check", "config", rel], root))


def _env_file(root: Path, rel: str) -> None:
    # Compose reads the env files it names when it resolves the project.
    _compose(root, str(Path(rel).parent.parent / "compose.yaml"))


VALIDATORS: list[tuple[Callable[[str], bool], str, Callable[[Path, str], None]]] = [
    (lambda rel: rel.endswith("Caddyfile"), CADDY, _caddy),
    (lambda rel: rel.endswith("compose.yaml"), "docker", _compose),
    (lambda rel: rel.endswith("backup.conf"), "shellcheck", _backup_conf),
    (lambda rel: rel.endswith(".sh"), "shellcheck", _shellcheck),
    (lambda rel: rel.endswith((".service", ".timer")), "systemd-analyze", _systemd),
    (lambda rel: rel.startswith("cloud-init/"), "cloud-init", _cloud_init),
    (lambda rel: rel.endswith("zone.db"), "", _zone),
    (lambda rel: rel.endswith((".yaml", ".yml")), "", _yaml),
    (lambda rel: rel.endswith(".json"), "", _json),
    (lambda rel: rel.endswith("alertmanager.yml"), "amtool", _amtool),
    (lambda rel: rel.endswith("rules.yml"), "promtool", _promtool_rules),
    (lambda rel: rel.endswith("prometheus.yml"), "promtool", _prometheus),
    (lambda rel: rel.endswith(".env"), "docker", _env_file),
]


def _validate_changed(run: Run, base: Mapping[str, str], root: Path) -> list[str]:
    """Write every artifact, run the real tools on those that changed; their names."""
    for rel, artifact in run.artifacts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.text)
    changed = sorted(rel for rel, a in run.artifacts.items() if base.get(rel) != a.text)
    for rel in changed:
        for applies, tool, check in VALIDATORS:
            if applies(rel) and (not tool or shutil.which(tool)):
                check(root, rel)
                event(f"checked by {check.__name__}")
    return changed


# --- where the value may appear ---------------------------------------------------

SPECIAL = set("\n\r\u2028\u2029\x85\t'\"`\\${}%# ")


def _yaml_forms(text: str) -> set[str]:
    return {
        yaml.safe_dump(text, width=100).removesuffix("\n...\n").strip(),
        encode.yaml_scalar(text),
    }


def _try(encoder: Callable[[str], str], value: str) -> set[str]:
    try:
        return {encoder(value)}
    except encode.UnencodableError:
        return set()


def _encodings(value: str, rel: str) -> list[str]:
    """The encoded forms the value may take in artifact `rel`, longest first."""
    forms: set[str] = set()
    if rel.endswith("compose.yaml"):
        forms = _yaml_forms(encode.compose_literal(value))
    elif rel.endswith((".yaml", ".yml")):
        forms = _yaml_forms(value)
    elif rel.endswith("Caddyfile"):
        forms = _try(encode.caddy_token, value)
    elif rel.endswith((".sh", ".conf")) or "/bin/" in rel:
        forms = {encode.shell(value)}
    elif rel.endswith(".env"):
        forms = {encode.env_file_line("X", value).removeprefix("X=")}
    elif rel.endswith((".service", ".timer")):
        forms = _try(encode.systemd_value, value) | _try(encode.systemd_exec_word, value)
    elif rel.endswith(".db"):
        forms = {encode.dns_txt(value)}
    return sorted(forms, key=len, reverse=True)


def _raw_occurrences(
    artifacts: Mapping[str, str], value: str, base: Mapping[str, str] | None = None
) -> list[str]:
    """Artifacts that hold `value` outside every encoded form of it more often
    than the unmodified stack's do (a value like `\n` is everywhere already)."""
    if not SPECIAL & set(value) or "\x00" in value:
        return []

    def raw_count(rel: str, text: str) -> int:
        for form in _encodings(value, rel):
            text = text.replace(form, "")
        return text.count(value)

    before = base or {}
    return [
        rel
        for rel, text in artifacts.items()
        if raw_count(rel, text) > raw_count(rel, before.get(rel, ""))
    ]


@functools.cache
def _base_artifacts(edits: str) -> dict[str, str]:
    """The artifacts of the stack with `edits` (JSON; the key's base value)."""
    config, secret_keys = stack_config(STACK, **json.loads(edits))
    return {k: a.text for k, a in run_program(STACK, config, secret_keys).artifacts.items()}


def _edits(spec: KeySpec, value: str | None) -> dict[str, Any]:
    """`stack_config` edits that give `spec` the value (None: its base value
    alone), with the features it needs."""
    context = dict(CONTEXT.get(spec.alias, {}))
    plain = _base(spec) if value is None else value
    if spec.secret:
        return {"set": context, "secrets": {spec.alias: plain}}
    if spec.is_list:
        items = [_base(spec)] if value is None else [_base(spec), value]
        return {"set": {**context, spec.alias: items}}
    return {"set": {**context, spec.alias: plain}}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spec=st.sampled_from(TEXT_KEYS),
    fragment=st.sampled_from(FRAGMENTS) | st.text(min_size=1, max_size=8),
    how=st.sampled_from(SPLICES),
)
def test_hostile_value_is_refused_by_key_or_reaches_files_only_encoded(
    spec: KeySpec, fragment: str, how: str
) -> None:
    value = _splice(_base(spec), fragment, how)
    edits = _edits(spec, value)
    config, secret_keys = stack_config(STACK, **edits)
    monitor = RecordingMonitor(MailstackMocks())
    MARKER.unlink(missing_ok=True)
    try:
        run = run_program(STACK, config, secret_keys, monitor=monitor)
    except ConfigError as err:
        named = [p.key for p in err.problems if p.namespace == PROJECT]
        assert any(k == spec.alias or k.startswith(f"{spec.alias}[") for k in named), (
            f"{spec.alias}={value!r}: the error names {named}, not the key"
        )
        assert monitor.registrations == []
        if spec.secret:
            assert value not in str(err) or len(value) < 3
        event("refused by its key")
        return
    base = _base_artifacts(json.dumps(_edits(spec, None), sort_keys=True))
    with tempfile.TemporaryDirectory() as tmp:
        changed = _validate_changed(run, base, Path(tmp))
    event(f"accepted, {len(changed)} artifact(s) changed")
    assert not MARKER.exists(), f"{spec.alias}={value!r} ran a command"
    texts = {rel: a.text for rel, a in run.artifacts.items()}
    assert _raw_occurrences(texts, value, base) == [], f"{spec.alias}={value!r} appears unencoded"


def test_the_raw_occurrence_check_can_fail() -> None:
    """The oracle itself: a value written raw is found, an encoded one is not."""

    value = "a b $c"
    assert _raw_occurrences({"x.sh": f"x={value}\n"}, value) == ["x.sh"]
    assert _raw_occurrences({"x.sh": f"x={encode.shell(value)}\n"}, value) == []
    assert _raw_occurrences({"x.sh": "\n\n"}, "\n", {"x.sh": "\n"}) == ["x.sh"]


def test_the_caddy_check_catches_an_injected_route(tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(":80 {\n\thandle /a {\n\t\trespond 200\n\t}\n\t}\n}\n")
    with pytest.raises(AssertionError):
        _caddy(tmp_path, "Caddyfile")
