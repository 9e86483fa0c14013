"""Which addresses the web browser may connect to, and looking names up once.

The browser opens pages the model chooses, so a page or a redirect could send
it to this machine (127.0.0.1, ::1), the local network (10.x, 192.168.x,
fc00::/7), a cloud's metadata service (169.254.169.254) or other addresses that
are not on the public internet. ``public_addresses`` resolves a host name once
and refuses it when any of its addresses is such a one; the caller connects to
an address it returned, so a second lookup cannot answer differently (DNS
rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable

from .backend import BrowserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> the addresses it resolves to

ALLOW_PRIVATE_FLAG = "--browser-allow-private"
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: the provider's network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the system's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why the browser must not connect to ``address`` (``"a loopback address (this machine)"``),
    or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner)
            return f"{why}, inside an IPv6 address" if why else None
    if address.is_unspecified:
        return "the unspecified address (this machine)"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address (the local link; cloud metadata services live there)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared address (a provider's internal network)"
    if address.is_reserved:
        return "a reserved address, not on the public internet"
    if address.is_private:
        return "a private address (a local network)"
    if not address.is_global:
        return "a special-purpose address, not on the public internet"
    return None


def public_addresses(host: str, port: int, resolver: Resolver, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``; BrowserError saying why when one is refused.

    A name with any refused address is refused whole: the answer could point
    anywhere on the next lookup, so one good address proves nothing.
    """
    host = host.strip("[]")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        found = [host]
    else:
        try:
            found = resolver(host, port)
        except (OSError, UnicodeError) as error:
            raise BrowserError(f"the host name {host} could not be resolved: {error}") from error
        if not found:
            raise BrowserError(f"the host name {host} resolves to no address")
    if allow_private:
        return found
    for text in found:
        try:
            why = refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            why = "not an IP address"
        if why is not None:
            named = f"{host} resolves to {text}," if literal is None else f"{host} is"
            raise BrowserError(
                f"refused: {named} {why}; the browser opens only public internet addresses "
                f"unless the app is started with {ALLOW_PRIVATE_FLAG}"
            )
    return found
