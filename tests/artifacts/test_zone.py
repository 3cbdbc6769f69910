"""The BIND zone fragment is accepted by named-checkzone.

The prod fragment's golden copy is part of the synth goldens
(tests/golden/prod/dns/zone.db, compared by test_golden, rewritten by `make golden`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.artifacts.zone_resolver import wrap_in_zone
from tests.conftest import RunStack
from tools.harness import ROOT

GOLDEN = ROOT / "tests" / "golden" / "prod" / "dns" / "zone.db"
# Every warning is an error, including MX/NS targets and CNAMEs that break the rules.
STRICT = ["-k", "fail", "-n", "fail", "-m", "fail", "-M", "fail", "-S", "fail", "-i", "full"]


def checkzone(domain: str, fragment: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    checker = shutil.which("named-checkzone")
    assert checker, "named-checkzone is missing: apt-get install bind9-utils"
    zone = tmp_path / f"{domain}.zone"
    zone.write_text(wrap_in_zone(domain, fragment))
    return subprocess.run(
        [checker, *STRICT, domain, str(zone)], capture_output=True, text=True, check=False
    )


def test_golden_prod_zone_passes_named_checkzone(tmp_path: Path) -> None:
    result = checkzone("example.com", GOLDEN.read_text(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "edits",
    [
        {
            "proxyWeb": True,
            "wwwRedirect": True,
            "receivesMail": True,
            "mtaSts": True,
            "tlsRptEmail": "tls@dev.example.com",
            "nullMxNames": ["app.dev.example.com", "static.dev.example.com"],
            "dkimSelectors": ["ms202606", "ms202611"],
        },
        {"sesDkimTokens": ["a" * 32, "b" * 32, "c" * 32], "spfServerIps": True},
    ],
    ids=["every-feature", "ses-signs"],
)
def test_other_configs_pass_named_checkzone(
    run_stack: RunStack, edits: dict[str, object], tmp_path: Path
) -> None:
    fragment = run_stack("dev", set=edits).artifacts["dns/zone.db"].text
    result = checkzone("dev.example.com", fragment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_named_checkzone_catches_a_cname_beside_other_data(tmp_path: Path) -> None:
    """The checker is strict enough to catch the collisions the config rules prevent."""
    bad = GOLDEN.read_text() + "mail.example.com.\t3600\tIN\tCNAME\tapp.example.com.\n"
    result = checkzone("example.com", bad, tmp_path)
    assert result.returncode != 0 and "CNAME and other data" in result.stdout + result.stderr
