"""The runner's address as Cloudflare's trace reports it, checked before it reaches config."""

from __future__ import annotations

import pytest

from tools.runner_address import runner_cidr


@pytest.mark.parametrize(
    "trace,cidr",
    [
        ("fl=1\nip=20.51.7.9\nts=1\n", "20.51.7.9/32"),
        ("ip=2a01:4f8:c0c:1234::1\n", "2a01:4f8:c0c:1234::1/128"),
    ],
)
def test_a_public_address_becomes_a_single_host_cidr(trace: str, cidr: str) -> None:
    assert runner_cidr(trace) == cidr


@pytest.mark.parametrize(
    "trace",
    [
        "",
        "ip=\n",
        "ip=20.51.7.9\nip=20.51.7.10\n",
        "ip=20.51.7.0/24\n",
        "ip=10.1.2.3\n",
        "ip=100.64.0.1\n",
        "ip=192.0.2.1\n",
        "ip=224.0.0.1\n",
        "ip=::1\n",
        "ip=20.51.7.9 0.0.0.0/0\n",
        "xip=20.51.7.9\n",
    ],
)
def test_anything_but_one_public_address_is_refused(trace: str) -> None:
    with pytest.raises(ValueError):
        runner_cidr(trace)
