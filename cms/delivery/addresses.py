"""Webhook targets must be on the public internet: a URL whose host resolves to a loopback, private,
link-local or otherwise non-global address is refused, so a webhook cannot be pointed at the server's own
network (unless CMS_WEBHOOK_ALLOW_PRIVATE).

The name is resolved when the target is added, when the server starts, and
again before every delivery (DNS can change), and the delivery connects to
the very address that was checked (`cms.delivery.sender`), so a name that
changes between the check and the connection cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000


class TargetError(ValueError):
    """A target URL that cannot be used; the message says why."""


class UnsafeTarget(TargetError):
    """The URL is not an http(s) URL, or its host is (or resolves to) an address that is not global."""


class UnresolvedTarget(TargetError):
    """The URL's host does not resolve (now: DNS may answer later)."""


def check_url(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of an http(s) URL fit for a webhook; `UnsafeTarget` otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget(f"{url!r} has an invalid port") from None
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(f"expected an http:// or https:// URL with a host, of at most {MAX_URL_LENGTH} "
                           f"characters, not {url[:100]!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("a webhook URL may not carry a user name or password: the signature authenticates")
    return parts.scheme, parts.hostname, port


def resolve(url: str, allow_private: bool) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, every one of them global unless `allow_private`."""
    _, host, port = check_url(url)
    addresses = _addresses(host, port)
    if not allow_private:
        refused = [address for address in addresses if not is_global(address)]
        if refused:
            raise UnsafeTarget(f"{host} resolves to {', '.join(map(str, refused))}, which is not a public "
                               "address: webhooks may not reach loopback, private or link-local networks "
                               "(CMS_WEBHOOK_ALLOW_PRIVATE=true allows it)")
    return addresses


def is_global(address: IPAddress) -> bool:
    """Whether `address` is on the public internet (an IPv4-mapped IPv6 address as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvedTarget(f"{host} does not resolve: {error}") from None
    found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    return list(dict.fromkeys(found))
