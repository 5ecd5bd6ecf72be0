"""Which addresses a redirect must not lead to (SSRF guard): pure classification, no sockets.

A feed server can answer with a redirect to anywhere. Followed blindly, a redirect from a
public host to ``169.254.169.254`` or ``10.0.0.1`` has feedhub fetch the cloud metadata
service or the operator's intranet on the attacker's behalf (server-side request forgery),
and whatever parses as a feed gets published. Like Miniflux, feedhub judges the resolved
address of every hop; ``http.py`` does the resolving and calls these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Issue 6 item 2's list, plus what also reaches this host or a non-public service:
# 0.0.0.0/8 and :: (Linux connects 0.0.0.0 to localhost), IPv6 link-local, and the shared
# address space 100.64/10 (carrier-grade NAT, Tailscale, Alibaba's metadata 100.100.100.200).
# IPv4 addresses inside IPv6 ones (::ffff:10.0.0.1, 64:ff9b::a00:1) are judged by the IPv4
# part, see ``embedded_ipv4``.
DEFAULT_PRIVATE_NETWORKS: tuple[Network, ...] = tuple(
    ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, with the metadata service 169.254.169.254
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",  # unspecified
        "::1/128",  # loopback
        "fc00::/7",  # unique local, with AWS's IPv6 metadata fd00:ec2::254
        "fe80::/10",  # link-local
    )
)

_MAPPED = ip_network("::ffff:0:0/96")  # IPv4-mapped: the socket talks IPv4
_NAT64 = ip_network("64:ff9b::/96")  # well-known NAT64 prefix: a gateway talks IPv4


def parse_address(text: str) -> Address | None:
    """``text`` as an IP address (IPv6 zone ids and brackets allowed), or None for a name."""
    try:
        return ip_address(text.strip("[]"))
    except ValueError:
        return None


def embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped or NAT64), else None."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_private(
    address: Address | str, networks: Iterable[Network] = DEFAULT_PRIVATE_NETWORKS
) -> bool:
    """Whether ``address`` (or the IPv4 address inside it) lies in one of ``networks``.

    A string that is not an IP address counts as private: what cannot be judged is refused.
    """
    addr = parse_address(address) if isinstance(address, str) else address
    if addr is None:
        return True
    candidates: list[Address] = [addr]
    inner = embedded_ipv4(addr)
    if inner is not None:
        candidates.append(inner)
    # Versions are compared first: ipaddress does not refuse an IPv4-in-IPv6 membership test.
    return any(a.version == n.version and a in n for a in candidates for n in networks)


def first_private(
    addresses: Iterable[Address | str], networks: Iterable[Network] = DEFAULT_PRIVATE_NETWORKS
) -> Address | str | None:
    """The first of ``addresses`` that is private, or None when all are public."""
    nets = tuple(networks)
    return next((a for a in addresses if is_private(a, nets)), None)


def refusal(url: str, address: Address | str, how: str = "resolves to") -> str:
    """The one-line error for a redirect hop refused by the guard."""
    return (
        f"redirect to a private address refused: {url} {how} {address} "
        "(fetch.allow_private_redirects allows it)"
    )
