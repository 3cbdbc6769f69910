"""The shared encoders (common.encode), each checked against its real consumer.

Round trips go through the program that reads the context: bash for shell,
PyYAML for YAML, dnspython for DNS TXT, `docker compose config` for Compose,
`caddy adapt` for the Caddyfile and `systemd-analyze` for unit files. The
cheap consumers run on hypothesis examples; the slow ones on a fixed sample.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from common import encode
from tests.caddy import CADDY

HOSTILE = [
    "plain",
    "two words",
    "it's",
    'say "hi"',
    "$HOME ${HOME} $$",
    "`id` $(id)",
    "a;b|c&d>e<f",
    "{$HOME} {env.HOME}",
    "%n %% %i",
    "back\\slash",
    "tab\there",
    "new\nline",
    "cr\rhere",
    "line\u2028sep\u2029par",
    "nel\x85",
    "#comment",
    "",
    "ünïcødé ✓",
    "x" * 5000,
]
no_nul = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


def _printable(value: str) -> bool:
    return encode.line_breaking(value) is None


@given(no_nul)
def test_shell_word_expands_to_the_value(value: str) -> None:
    out = subprocess.run(
        ["bash", "-c", f"printf %s {encode.shell(value)}"], capture_output=True, check=True
    )
    assert out.stdout.decode("utf-8", "surrogateescape") == value


def test_shell_refuses_nul() -> None:
    with pytest.raises(encode.UnencodableError, match="NUL"):
        encode.shell("a\x00b")


@given(no_nul.filter(_printable))
def test_a_shell_comment_stays_a_comment(value: str) -> None:
    script = f"# {encode.shell_comment(value)}\nprintf done"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    assert out.stdout == b"done"


def test_a_shell_comment_refuses_line_breaks() -> None:
    for bad in ("a\nrm -rf /", "a\rb", "nel\x85", "a\u2028b", "nul\x00"):
        with pytest.raises(encode.UnencodableError):
            encode.shell_comment(bad)


@given(no_nul.map(lambda text: text + "\n").filter(lambda t: "END" not in t.split("\n")))
def test_a_heredoc_body_reads_back_byte_for_byte(text: str) -> None:
    script = f"cat <<'END'\n{encode.heredoc_body(text, 'END')}END\n"
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True)
    assert out.stdout.decode("utf-8", "surrogateescape") == text


def test_a_heredoc_body_refuses_its_end_line_a_missing_line_break_and_nul() -> None:
    assert encode.heredoc_body("END \n END\nEND\r\n", "END") == "END \n END\nEND\r\n"
    for bad in ("a\nEND\nb\n", "END\n", "no line break", "nul\x00\n"):
        with pytest.raises(encode.UnencodableError):
            encode.heredoc_body(bad, "END")


@given(st.one_of(st.text(), st.integers(), st.booleans(), st.none()))
def test_yaml_scalar_loads_back(value: str | int | bool | None) -> None:
    text = encode.yaml_scalar(value)
    assert "\n" not in text
    assert yaml.safe_load(f"key: {text}\n") == {"key": value}


@settings(max_examples=300)
@given(st.text(st.characters(codec="utf-8"), max_size=700))
def test_dns_txt_is_rfc1035_strings_of_at_most_255_octets(value: str) -> None:
    content = encode.dns_txt(value)
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, content)
    strings = rdata.strings  # type: ignore[attr-defined]
    assert b"".join(strings) == value.encode("utf-8")
    assert all(len(s) <= encode.TXT_STRING_MAX for s in strings)
    assert "\n" not in content and '"' not in content.replace('\\"', "")[1:-1].replace('" "', "")


@given(no_nul)
def test_compose_literal_doubles_every_dollar(value: str) -> None:
    assert encode.compose_literal(value).replace("$$", "").count("$") == 0
    assert encode.compose_literal(value).replace("$$", "$") == value


def test_compose_literals_reaches_nested_strings() -> None:
    assert encode.compose_literals({"a": ["$x", 1, {"b": "${y}"}], "c": True}) == {
        "a": ["$$x", 1, {"b": "$${y}"}],
        "c": True,
    }


def test_caddy_token_bare_quoted_or_refused() -> None:
    assert encode.caddy_token("/admin/*") == "/admin/*"
    assert encode.caddy_token("two words") == '"two words"'
    assert encode.caddy_token('say "hi"') == '"say \\"hi\\""'
    assert encode.caddy_token("#not-a-comment") == '"#not-a-comment"'
    for bad in ("{$HOME}", "{http.request.uri}", "a\nb", "a\u2028b", "back\\slash", "nul\x00"):
        with pytest.raises(encode.UnencodableError):
            encode.caddy_token(bad)


def test_systemd_value_escapes_specifiers_and_refuses_line_breaks() -> None:
    assert encode.systemd_value("*-*-* 03:15:00") == "*-*-* 03:15:00"
    assert encode.systemd_value("50%") == "50%%"
    for bad in ("a\nb", "a\rb", "a\u2028b", "trailing\\", " padded"):
        with pytest.raises(encode.UnencodableError):
            encode.systemd_value(bad)


def test_systemd_exec_word() -> None:
    assert encode.systemd_exec_word("/usr/local/sbin/x") == "/usr/local/sbin/x"
    assert encode.systemd_exec_word("a b$c%d") == '"a b$$c%%d"'


def test_env_file_line_single_quotes_when_it_can() -> None:
    assert encode.env_file_line("A", "p$ss") == "A='p$ss'"
    assert encode.env_file_line("A", "it's\n") == 'A="it\'s\\n"'
    with pytest.raises(encode.UnencodableError):
        encode.env_file_line("A B", "x")
    with pytest.raises(encode.UnencodableError):
        encode.env_file_line("A", "nul\x00")


def test_sudoers_user() -> None:
    assert encode.sudoers_user("mailadmin") == "mailadmin"
    for bad in ("ALL", "a,b", "%sudo", "a b", "root\n"):
        with pytest.raises(encode.UnencodableError):
            encode.sudoers_user(bad)


# --- the slow consumers, on a fixed sample ----------------------------------------------


needs_compose = pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="needs the docker compose v2 plugin",
)


@needs_compose
def test_compose_reads_env_files_and_literals_back(tmp_path: Path) -> None:
    values = {f"V{i}": v for i, v in enumerate([*HOSTILE, "ctl\x01\x1b[0m"])}
    (tmp_path / "e.env").write_text(
        "\n".join(encode.env_file_line(k, v) for k, v in values.items()) + "\n"
    )
    literal = {f"L{i}": v for i, v in enumerate(HOSTILE)}
    doc = {
        "services": {
            "s": {
                "image": encode.compose_literal("registry.example/app:$tag"),
                "env_file": ["e.env"],
                "environment": encode.compose_literals(literal),
                "command": encode.compose_literals(["echo", "$HOME", "${X:-y}"]),
            }
        }
    }
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(doc))
    resolved = subprocess.run(
        ["docker", "compose", "-f", "compose.yaml", "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    service = json.loads(resolved.stdout)["services"]["s"]
    env = service["environment"]
    # `config` prints the result re-escaped for compose: `$$` stands for `$`.
    unescape = encode.compose_literal
    assert {k: env[k] for k in values} == {k: unescape(v) for k, v in values.items()}
    assert {k: env[k] for k in literal} == {k: unescape(v) for k, v in literal.items()}
    assert service["image"] == unescape("registry.example/app:$tag")
    assert service["command"] == [unescape(w) for w in ["echo", "$HOME", "${X:-y}"]]


def test_caddy_reads_quoted_tokens_back(tmp_path: Path) -> None:
    values = [v for v in HOSTILE if v and _printable(v) and "{" not in v and "\\" not in v]
    site = "".join(
        f"\t@m{i} path {encode.caddy_token(v)}\n\trespond @m{i} {encode.caddy_token(v)} 200\n"
        for i, v in enumerate(values)
    )
    (tmp_path / "Caddyfile").write_text(":8080 {\n" + site + "}\n")
    out = subprocess.run(
        [CADDY, "adapt", "--config", "Caddyfile", "--adapter", "caddyfile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    text = json.dumps(json.loads(out.stdout))
    for v in values:
        assert json.dumps(v) in text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_reads_description_back(tmp_path: Path) -> None:
    value = '50% of $HOME "quoted" it\'s'
    unit = tmp_path / "x.service"
    unit.write_text(
        f"[Unit]\nDescription={encode.systemd_value(value)}\n[Service]\nType=oneshot\n"
        f"ExecStart=/bin/echo {encode.systemd_exec_word(value)}\n"
    )
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    assert "Failed" not in out.stderr and "Invalid" not in out.stderr, out.stderr


def test_caddy_word_is_bare_or_refused() -> None:
    assert encode.caddy_word("app.example.com") == "app.example.com"
    for bad in ("", "two words", '"q"', "{uri}"):
        with pytest.raises(encode.UnencodableError):
            encode.caddy_word(bad)
