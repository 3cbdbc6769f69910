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
