"""Where HTTP tools may connect: operator allow/deny lists, and cloud metadata never.

Host patterns: `example.com` (that host), `*.example.com` (its subdomains), or a CIDR such as
`10.0.0.0/8` (matched against IP hosts and the addresses a name resolves to). Deny wins over
allow; an empty allow list allows every host. The check runs for every request, redirects
included. A name is resolved once for the check and again by the HTTP client, so a DNS server
that changes its answer in between is not stopped (operators who need that use an egress proxy).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from ordinaut.core.settings import Settings
from ordinaut.pipeline.registry import ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
METADATA_HOSTS = frozenset({"metadata.google.internal"})
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _as_address(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class HostPattern:
    text: str
    network: IPNetwork | None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        text = _normalise_host(text)
        try:
            return cls(text, ipaddress.ip_network(text, strict=False))
        except ValueError:
            return cls(text, None)

    def matches_name(self, host: str) -> bool:
        if self.network is not None:
            address = _as_address(host)
            return address is not None and address in self.network
        if self.text.startswith("*."):
            return host.endswith(self.text[1:])
        return host == self.text

    def matches_address(self, address: IPAddress) -> bool:
        return self.network is not None and address in self.network


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[HostPattern, ...] = ()
    deny: tuple[HostPattern, ...] = ()

    @classmethod
    def from_hosts(cls, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> EgressPolicy:
        return cls(
            tuple(HostPattern.parse(text) for text in allow),
            tuple(HostPattern.parse(text) for text in deny),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return cls.from_hosts(settings.egress_allow_hosts, settings.egress_deny_hosts)

    async def check(self, host: str, port: int | None) -> None:
        """Raise a non-retryable ToolError when a request to `host` is not allowed."""
        name = _normalise_host(host)
        self._check_name(name)
        addresses = await _resolve(name, port)
        for address in addresses:
            if address in METADATA_ADDRESSES or any(p.matches_address(address) for p in self.deny):
                raise _refused(host, f"it resolves to {address}, which is denied")
        cidrs = [pattern for pattern in self.allow if pattern.network is not None]
        by_name = any(pattern.matches_name(name) for pattern in self.allow)
        by_address = bool(addresses) and all(
            any(pattern.matches_address(address) for pattern in cidrs) for address in addresses
        )
        if self.allow and not by_name and not by_address:
            raise _refused(host, "it is not in EGRESS_ALLOW_HOSTS")

    def _check_name(self, name: str) -> None:
        address = _as_address(name)
        if name in METADATA_HOSTS or (address is not None and address in METADATA_ADDRESSES):
            raise _refused(name, "cloud metadata addresses are always denied")
        if any(pattern.matches_name(name) for pattern in self.deny):
            raise _refused(name, "it is in EGRESS_DENY_HOSTS")


def _refused(host: str, why: str) -> ToolError:
    return ToolError(f"egress to {host!r} refused: {why}", retryable=False)


async def _resolve(name: str, port: int | None) -> list[IPAddress]:
    """The addresses of `name`; none when it does not resolve (the HTTP client reports that)."""
    literal = _as_address(name)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    found = (_as_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
    return [address for address in found if address is not None]
