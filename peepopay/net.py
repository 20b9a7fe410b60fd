"""Client addresses and safe redirects."""

from typing import TypeGuard
from urllib.parse import urlsplit

from flask import request


def client_ip() -> str:
    """The client's address; ProxyFix has already replaced it with the one our proxy forwarded."""
    return request.remote_addr or "unknown"


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """True for a path on this site (no scheme, no host, no protocol-relative `//`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
