"""Issue 13's examples, each as a regression test: no config value escapes into a
rendered file, and no secret is written in plain text.

A refused value is a ConfigError naming its key with nothing registered; a
value that is legal reaches its file encoded and reads back unchanged through
the real consumer (docker compose, caddy) where one is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from common import encode
from components.access import AccessParams, render_access_script, render_fail2ban_jail
from components.firewall import inbound_rules
from components.services.caddyfile import Route, Site, render_caddyfile
from components.services.compose import render_env_file, service_dict
from components.services.model import Healthcheck, Image, Limits, Role, Service
from mailstack.config import ConfigError, validate
from tests.conftest import stack_config
from tools.harness import (
    ROOT,
    MailstackMocks,
    RecordingMonitor,
    read_stack_config,
    run_program,
)
from tools.synth import with_placeholder_secrets

# (id, stack, edits, the key path the error must name)
REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "admin path that adds a public /metrics route",
        "dev",
        {
            "set": {
                "appAdminPaths": [
                    "/admin/*\n\t\t\tnot remote_ip 0.0.0.0/0\n\t\t}\n"
                    "\t\thandle /metrics {\n\t\t\treverse_proxy node-exporter:9100\n\t\t}\n#"
                ]
            }
        },
        "appAdminPaths[0]",
    ),
    (
        "admin path on one line with braces",
        "dev",
        {"set": {"appAdminPaths": ["/ok", "/admin/* } handle /metrics { reverse_proxy x:1 }"]}},
        "appAdminPaths[1]",
    ),
    (
        "admin path without its slash",
        "dev",
        {"set": {"appAdminPaths": ["admin/*"]}},
        "appAdminPaths[0]",
    ),
    (
        "admin path with a placeholder",
        "dev",
        {"set": {"appAdminPaths": ["/{$HOME}"]}},
        "appAdminPaths[0]",
    ),
    ("trailing newline in appSubdomain", "dev", {"set": {"appSubdomain": "app\n"}}, "appSubdomain"),
    (
        "newline in mailSubdomain with Tailscale",
        "dev",
        {"set": {"mailSubdomain": "mail\nid", "tailscale": True}},
        "mailSubdomain",
    ),
    ("U+2028 in a domain", "dev", {"set": {"domain": "dev.example.com\u2028"}}, "domain"),
    ("adminUser root", "dev", {"set": {"adminUser": "root"}}, "adminUser"),
    ("adminUser nobody", "dev", {"set": {"adminUser": "nobody"}}, "adminUser"),
    ("adminUser systemd-network", "dev", {"set": {"adminUser": "systemd-network"}}, "adminUser"),
    ("adminUser sudo (a group)", "dev", {"set": {"adminUser": "sudo"}}, "adminUser"),
    (
        "two keys on two lines",
        "dev",
        {
            "set": {
                "sshPublicKeys": [
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin me@laptop\n"
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil evil@host"
                ]
            }
        },
        "sshPublicKeys[0]",
    ),
    (
        "two keys on one line",
        "dev",
        {
            "set": {
                "sshPublicKeys": [
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin me@laptop",
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk ok ssh-rsa AAAAB3NzaC1yc2EAAAAEvil",
                ]
            }
        },
        "sshPublicKeys[1]",
    ),
    (
        "password in a rest: repository URL",
        "dev",
        {"set": {"backupRepository": "rest:https://user:pass@backup.example.com/"}},
        "backupRepository",
    ),
    (
        "password in an s3: repository URL",
        "dev",
        {"set": {"backupRepository": "s3:https://key:secret@s3.example.com/bucket"}},
        "backupRepository",
    ),
    (
        "password in the heartbeat URL",
        "dev",
        {"secrets": {"backupHeartbeatUrl": "https://user:pass@hc-ping.com/x"}},
        "backupHeartbeatUrl",
    ),
    (
        "smtpHost with a password",
        "dev",
        {"set": {"smtpHost": "user:pw@smtp.example.com"}},
        "smtpHost",
    ),
    ("$ in an image name", "dev", {"set": {"appImage": "ghcr.io/me/app:${TAG}"}}, "appImage"),
    (
        "restic check subset 0%",
        "dev",
        {"set": {"backupCheckReadDataSubset": "0%"}},
        "backupCheckReadDataSubset",
    ),
    (
        "restic check subset 0.0%",
        "dev",
        {"set": {"backupCheckReadDataSubset": "0.0%"}},
        "backupCheckReadDataSubset",
    ),
    (
        "restic check subset 3/2",
        "dev",
        {"set": {"backupCheckReadDataSubset": "3/2"}},
        "backupCheckReadDataSubset",
    ),
    (
        "max backup age that overflows",
        "dev",
        {"set": {"backupMaxAgeHours": 2**62}},
        "backupMaxAgeHours",
    ),
    ("impossible expiry date", "dev", {"set": {"expiresAt": "2026-02-30"}}, "expiresAt"),
    ("expiry date with a newline", "dev", {"set": {"expiresAt": "2026-12-31\n"}}, "expiresAt"),
    ("world SSH in dev", "dev", {"set": {"adminCidrs": ["0.0.0.0/0"]}}, "adminCidrs[0]"),
    (
        "world SSH v6 in dev",
        "dev",
        {"set": {"adminCidrs": ["198.51.100.7/32", "::/0"]}},
        "adminCidrs[1]",
    ),
    (
        "allowWorldSsh in prod",
        "prod",
        {"set": {"allowWorldSsh": True, "adminCidrs": ["0.0.0.0/0"]}},
        "allowWorldSsh",
    ),
]
if shutil.which("systemd-analyze"):
    REFUSED.append(
        (
            "calendar systemd refuses",
            "dev",
            {"set": {"backupCheckSchedule": "Sun *-*-* 25:99:00"}},
            "backupCheckSchedule",
        )
    )


@pytest.mark.parametrize(
    ("stack", "edits", "key_path"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_hostile_value_is_a_config_error_before_any_resource(
    stack: str, edits: dict[str, Any], key_path: str
) -> None:
    config, secret_keys = stack_config(stack, **edits)
    monitor = RecordingMonitor(MailstackMocks())
    with pytest.raises(ConfigError) as caught:
        run_program(stack, config, secret_keys, monitor=monitor)
    assert f"mailstack:{key_path}" in [str(p).split(": ", 1)[0] for p in caught.value.problems]
    assert monitor.registrations == []


def test_admin_path_without_slash_suggests_the_fix() -> None:
    config, secret_keys = stack_config("dev", set={"appAdminPaths": ["admin/*"]})
    with pytest.raises(ConfigError, match="did you mean '/admin/\\*'"):
        validate(config, secret_keys)


def test_secret_heartbeat_url_is_never_shown_in_the_error() -> None:
    url = "https://user:hunter2@hc-ping.com/x"
    config, secret_keys = stack_config("dev", secrets={"backupHeartbeatUrl": url})
    with pytest.raises(ConfigError) as caught:
        validate(config, secret_keys)
    assert "hunter2" not in str(caught.value)


def test_stack_name_that_is_no_compose_project_name() -> None:
    config, secret_keys = stack_config("dev")
    with pytest.raises(ConfigError, match=re.escape("pulumi:stack: the stack name 'Dev.Test'")):
        validate(config, secret_keys, stack="Dev.Test")
    validate(config, secret_keys, stack="dev")


def test_world_ssh_in_dev_is_allowed_when_the_stack_says_so() -> None:
    config, secret_keys = stack_config(
        "dev", set={"adminCidrs": ["0.0.0.0/0"], "allowWorldSsh": True}
    )
    assert validate(config, secret_keys).admin.allow_world_ssh


def test_fail2ban_never_ignores_the_whole_internet() -> None:
    params = AccessParams(
        admin_user="mailadmin",
        ssh_public_keys=("ssh-ed25519 AAAA x",),
        rules=inbound_rules(("0.0.0.0/0", "::/0", "198.51.100.7/32")),
        admin_cidrs=("0.0.0.0/0", "::/0", "198.51.100.7/32"),
    )
    jail = render_fail2ban_jail(params)
    (ignoreip,) = [line for line in jail.splitlines() if line.startswith("ignoreip")]
    assert ignoreip == "ignoreip = 127.0.0.1/8 ::1 198.51.100.7/32"


def test_caddyfile_renderer_refuses_a_crafted_admin_path_itself() -> None:
    # The config refuses it first; the renderer is the last line.
    site = Site(
        project="p",
        app_host="app.example.com",
        routes=(Route("app", 9000),),
        admin_paths=("/admin/* }\nhandle /metrics {",),
        admin_cidrs=("198.51.100.7/32",),
    )
    with pytest.raises(encode.UnencodableError):
        render_caddyfile(site)


# --- secrets ------------------------------------------------------------------------


def _project_copy(tmp_path: Path, stack_text: str, stack: str = "dev") -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_text)
    return tmp_path


def test_synth_refuses_a_plain_text_secret_with_ups_error(tmp_path: Path) -> None:
    dev = (ROOT / "Pulumi.dev.yaml").read_text()
    root = _project_copy(tmp_path, dev + "  mailstack:smtpPassword: hunter2-plain\n")
    config, secret_keys = read_stack_config("dev", root)
    with_placeholder_secrets(config, secret_keys)
    with pytest.raises(ConfigError) as synth_error:
        validate(config, secret_keys, stack="dev")
    # What `pulumi up` gets: the CLI passes the plain value without a secret mark.
    up_config, _ = read_stack_config("dev", root)
    with pytest.raises(ConfigError) as up_error:
        validate(up_config, set(), stack="dev")
    synth_problems = [str(p) for p in synth_error.value.problems if "smtpPassword" in p.key]
    up_problems = [str(p) for p in up_error.value.problems if "smtpPassword" in p.key]
    assert synth_problems == up_problems
    assert synth_problems and "pulumi config set --secret smtpPassword" in synth_problems[0]
    assert "hunter2-plain" not in str(synth_error.value)


def test_duplicate_keys_in_a_stack_file_are_a_config_error(tmp_path: Path) -> None:
    dev = (ROOT / "Pulumi.dev.yaml").read_text()
    text = (
        dev.replace("config:\n", "config:\n  mailstack:serverType: cx23\n", 1)
        + "  mailstack:serverType: cx53\n"
    )
    root = _project_copy(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_stack_config("dev", root)
    (problem,) = caught.value.problems
    assert problem.key == "serverType"
    assert "set twice in Pulumi.dev.yaml" in problem.message


def test_quote_and_newline_in_smtp_password_reach_the_env_file_intact() -> None:
    password = 'it\'s a "pass"\nline two $HOME ${X} `id` \\ end'
    config, secret_keys = stack_config("dev", secrets={"smtpPassword": password})
    run = run_program("dev", config, secret_keys)
    env_files = {k: a for k, a in run.artifacts.items() if k.endswith(".env")}
    # The app's env file, and Alertmanager's (it mails alerts through the relay).
    lines = [
        line
        for a in env_files.values()
        for line in a.text.splitlines()
        if line.startswith("SMTP_PASSWORD=")
    ]
    assert lines
    assert set(lines) == {encode.env_file_line("SMTP_PASSWORD", password)}
    assert all(a.secret for a in env_files.values())


needs_compose = pytest.mark.skipif(
    not shutil.which("docker")
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="needs the docker compose v2 plugin",
)


@needs_compose
def test_dollar_in_env_values_and_image_names_survives_compose(tmp_path: Path) -> None:
    service = Service(
        name="app",
        role=Role.APP,
        image=Image("registry.example/app", "1.0"),
        limits=Limits(memory_mb=64),
        healthcheck=Healthcheck(("CMD-SHELL", 'test -n "$HOME"')),
        environment={"GREETING": "p$ss ${HOME} $$", "PATH_LIKE": "$PATH"},
        command=("sh", "-c", 'echo "$GREETING"'),
        labels={"org.example.note": "costs $5"},
    )
    definition = service_dict(service)
    definition["image"] = encode.compose_literal("registry.example/app:v$1")
    (tmp_path / "env").mkdir()
    secret = "quote ' and \" and $HOME\nand a newline"
    (tmp_path / "env" / "app.env").write_text(render_env_file({"SECRET": secret}))
    definition["env_file"] = ["env/app.env"]
    (tmp_path / "compose.yaml").write_text(
        json.dumps({"services": {"app": definition}, "networks": {"internal": {}}})
    )
    out = subprocess.run(
        ["docker", "compose", "-f", "compose.yaml", "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    resolved = json.loads(out.stdout)["services"]["app"]
    # `config` prints its result escaped for compose again: `$$` is one `$`.
    back = {k: v.replace("$$", "$") for k, v in resolved["environment"].items()}
    assert back == {"GREETING": "p$ss ${HOME} $$", "PATH_LIKE": "$PATH", "SECRET": secret}
    assert resolved["image"].replace("$$", "$") == "registry.example/app:v$1"
    assert [w.replace("$$", "$") for w in resolved["command"]] == ["sh", "-c", 'echo "$GREETING"']
    assert resolved["healthcheck"]["test"][1].replace("$$", "$") == 'test -n "$HOME"'
    assert resolved["labels"]["org.example.note"].replace("$$", "$") == "costs $5"


def test_access_script_refuses_a_key_with_a_line_break() -> None:
    params = AccessParams(
        admin_user="mailadmin",
        ssh_public_keys=("ssh-ed25519 AAAA a\nssh-ed25519 BBBB evil",),
        rules=inbound_rules(("198.51.100.7/32",)),
        admin_cidrs=("198.51.100.7/32",),
    )
    with pytest.raises(ValueError, match="line break"):
        render_access_script(params)
