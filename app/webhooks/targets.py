"""Where a webhook may be sent: public addresses only, unless a network is allowed.

Checked when a subscription is saved and again before every send, since DNS answers
change. A name that resolves to several addresses is refused if any one is refused.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedTarget(Exception):
    """The URL is malformed, does not resolve, or resolves to a non-public address."""


def networks(allowed: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(n, strict=False) for n in allowed]


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _translated_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translating form carries, reachable through it: NAT64
    (``64:ff9b::a.b.c.d``), 6to4 (``2002:AABB:CCDD::``) and the deprecated IPv4-compatible
    ``::a.b.c.d``."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        # ::1 (loopback) and :: are IPv6 addresses of their own, judged as such.
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _permitted(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the same socket on a dual-stack host
    if any(address in network for network in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _translated_ipv4(address)
        if embedded is not None:
            # Judged by where the packets end up: http://[64:ff9b::7f00:1]/ is 127.0.0.1.
            # An allowed IPv4 network does not extend to its translated spellings.
            return embedded.is_global and not embedded.is_multicast
    # is_global excludes private, loopback, link-local, shared (CGNAT), reserved and
    # documentation ranges; multicast is global for some groups but never a web server.
    return address.is_global and not address.is_multicast


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedTarget(f"host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class Pinned:
    """A request to a checked address, for the host named in the URL.

    Connecting to the address that was checked, rather than resolving the name again,
    closes the gap a DNS answer changing between check and connect would open. The Host
    header and the TLS server name (and so certificate verification) stay the URL's.
    """

    url: str
    headers: dict[str, str]
    extensions: dict[str, object]


def pin(url: str, address: IPAddress) -> Pinned:
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return Pinned(url=url, headers={}, extensions={})
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    host_header = f"{hostname}:{parts.port}" if parts.port else hostname
    extensions: dict[str, object] = {"sni_hostname": hostname} if parts.scheme == "https" else {}
    return Pinned(
        url=urlunsplit(parts._replace(netloc=netloc)),
        headers={"host": host_header},
        extensions=extensions,
    )


async def check(url: str, allowed: Sequence[IPNetwork]) -> IPAddress:
    """The address to connect to for ``url``.

    Raises ``RefusedTarget`` unless every address ``url`` resolves to is permitted.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("only http and https URLs with a host are accepted")
    if parts.username or parts.password:
        raise RefusedTarget("credentials in the URL are not accepted")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedTarget("the port is not valid") from exc
    addresses = await _resolve(parts.hostname, port)
    if not addresses:
        raise RefusedTarget(f"host {parts.hostname!r} does not resolve")
    for address in addresses:
        if not _permitted(address, allowed):
            raise RefusedTarget(
                f"{parts.hostname} resolves to {address}, which is not a public address"
            )
    return addresses[0]
