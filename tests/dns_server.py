"""A small authoritative DNS server on loopback, built on dnspython, for offline checks.

    with ZoneServer([zone_a, zone_b]) as server:
        resolver.nameservers, resolver.port = ["127.0.0.1"], server.port

It answers from the zones it holds (AA set) over UDP and TCP on the same
port: NXDOMAIN for a name that is not in a zone, an empty NOERROR answer for
a name without that type, REFUSED outside its zones. Answers too long for
the query's UDP size come back truncated, so resolvers retry over TCP, as
they do with real servers.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import dns.zone


def zone_from_text(origin: str, text: str) -> dns.zone.Zone:
    """A zone from master-file text; the SOA and NS it needs are added here."""
    apex = origin.rstrip(".")
    head = f"$TTL 300\n@ SOA ns.{apex}. hostmaster.{apex}. 1 3600 600 86400 300\n@ NS ns.{apex}.\n"
    return dns.zone.from_text(head + text, origin=origin, relativize=False, check_origin=False)


class ZoneServer:
    def __init__(self, zones: Sequence[dns.zone.Zone]) -> None:
        self.zones = sorted(zones, key=lambda z: -len(z.origin.labels if z.origin else ()))
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = server.reply(data, udp=True)
                if reply:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (length,) = struct.unpack("!H", head)
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = server.reply(data, udp=False)
                if reply:
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
        self.port = self.udp.server_address[1]
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Tcp)
        self.threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self.udp, self.tcp)
        ]

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        for zone in self.zones:
            if zone.origin is not None and name.is_subdomain(zone.origin):
                return zone
        return None

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        zone = self._zone_for(question.name)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        node = zone.get_node(question.name)
        if node is None:
            # An empty non-terminal (a name with only names below it) exists.
            if not any(n.is_subdomain(question.name) for n in zone.nodes):
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        rdataset = node.get_rdataset(zone.rdclass, question.rdtype)
        if rdataset is not None:
            response.answer.append(
                dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset))
            )
        return response

    def reply(self, data: bytes, udp: bool) -> bytes:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return b""
        response = self.answer(query)
        if not udp:
            return response.to_wire()
        limit = max(query.payload, 512) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def __enter__(self) -> ZoneServer:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
