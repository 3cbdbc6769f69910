"""Forward and reverse DNS of the sending host match, as receivers require."""

from __future__ import annotations

import pytest

from tools.fakes import fake_id
from tools.harness import Run

RDNS = "hcloud:index/rdns:Rdns"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rdns_of_each_primary_ip_equals_the_mail_host_records(
    stack_runs: dict[str, Run], stack: str
) -> None:
    run = stack_runs[stack]
    mail_host = "mail.dev.example.com" if stack == "dev" else "mail.example.com"
    forward = {
        r.inputs["type"]: r.inputs["content"]
        for r in run.of_type(DNS_RECORD)
        if r.inputs["name"] == mail_host and r.inputs["type"] in ("A", "AAAA")
    }
    ips = {r.inputs["type"]: r for r in run.of_type(PRIMARY_IP)}
    reverse = run.of_type(RDNS)
    assert len(reverse) == 2 and set(forward) == {"A", "AAAA"}
    for rdns in reverse:
        family = "ipv4" if ":" not in rdns.inputs["ipAddress"] else "ipv6"
        record_type = "A" if family == "ipv4" else "AAAA"
        assert rdns.inputs["dnsPtr"] == mail_host
        assert rdns.inputs["ipAddress"] == forward[record_type]
        # Bound to the primary IP (which outlives a server replacement), not the server.
        ip = ips[family]
        assert int(rdns.inputs["primaryIpId"]) == int(fake_id(ip.type, ip.name))
        assert ip.urn in rdns.dependencies
        assert "serverId" not in rdns.inputs
