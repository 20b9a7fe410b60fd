"""Client addresses and safe redirects."""

import hashlib
import hmac
import ipaddress
from functools import lru_cache
from typing import TypeGuard
from urllib.parse import urlsplit

from flask import current_app, request


def client_ip() -> str:
    """The client's address; ProxyFix has already replaced it with the one our proxy forwarded."""
    return request.remote_addr or "unknown"


# An IPv6 subscriber is given a whole /64 (often more), so every limit counts a /64 as one client.
IPV6_CLIENT_PREFIX = 64


@lru_cache(maxsize=4096)
def network_of(address: str) -> str:
    """The unit limits count for an address: an IPv4 address itself (also when written as an
    IPv4-mapped IPv6 one), an IPv6 address's /64; anything unparsable as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # no zone id: fe80::1%eth0
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def client_network() -> str:
    """The client as every rate and hold limit counts it (`network_of` its address)."""
    return network_of(client_ip())


def client_key() -> str:
    """The client's network (`client_network`) as a keyed hash: enough to count what one client
    does, without storing its address."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, client_network().encode(), hashlib.sha256).hexdigest()[:32]


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """True for a path on this site (no scheme, no host, no protocol-relative `//`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
