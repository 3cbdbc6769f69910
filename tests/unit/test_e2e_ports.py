"""Every e2e stack binds host ports of its own.

Docker tests run one after another on one xdist worker, but a module's stack
(a module-scoped fixture) can still be up while another module's starts, and
then the second `compose up` fails on "port is already allocated".
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "e2e"


def test_no_two_e2e_stacks_share_a_host_port() -> None:
    ports = Counter(
        port
        for path in E2E.glob("*.py")
        for port in re.findall(r"\b\w*_port=(\d{4,5})\b", path.read_text())
    )
    assert len(ports) > 6
    assert [p for p, n in ports.items() if n > 1] == []


ENGINE = re.compile(r"from tests\.e2e\.(localstack|swarm_support|start_first) import|\"docker\",")


def test_every_module_that_drives_the_engine_is_marked_e2e() -> None:
    # Only `e2e` tests share the Docker worker (tests/conftest.py); an unmarked one
    # runs beside them and loads the machine their timing checks run on.
    driving = [p for p in E2E.glob("test_*.py") if ENGINE.search(p.read_text())]
    assert len(driving) > 10
    unmarked = [p.name for p in driving if "pytest.mark.e2e" not in p.read_text()]
    assert unmarked == []
