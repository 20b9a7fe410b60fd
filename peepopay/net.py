"""Client addresses and safe redirects."""

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, TypeGuard
from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(setting: str) -> list[Network]:
    """FORWARDED_ALLOW_IPS as networks; ValueError for anything else, "*" included (anyone
    could then choose the address the app sees)."""
    entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
    if not entries:
        raise ValueError("it names no address")
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


class ProxyFixFrom:
    """werkzeug's ProxyFix for requests from our proxy (Caddy) only: for any other direct peer
    the X-Forwarded-* headers are left unread, so the app sees that peer's own address and
    scheme. (ProxyFix alone believes whoever connects.)"""

    def __init__(self, app: "WSGIApplication", proxies: Iterable[Network], hops: int) -> None:
        self.direct = app
        self.fixed = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.proxies = tuple(proxies)

    def from_proxy(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.proxies)

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        if self.from_proxy(environ.get("REMOTE_ADDR") or ""):
            return self.fixed(environ, start_response)
        return self.direct(environ, start_response)


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
