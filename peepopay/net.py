"""Client addresses and safe redirects."""

import hashlib
import hmac
from typing import TypeGuard
from urllib.parse import urlsplit

from flask import current_app, request


def client_ip() -> str:
    """The client's address; ProxyFix has already replaced it with the one our proxy forwarded."""
    return request.remote_addr or "unknown"


def client_key() -> str:
    """The client's address as a keyed hash: enough to count what one address does, without
    storing the address."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, client_ip().encode(), hashlib.sha256).hexdigest()[:32]


def is_safe_next(target: str | None) -> TypeGuard[str]:
    """True for a path on this site (no scheme, no host, no protocol-relative `//`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
