"""Encrypting secrets at rest (CalDAV app passwords) with Fernet keys from the environment.

`CALENDAR_SECRET_KEYS` holds one or more Fernet keys, comma-separated, newest first: the first
encrypts, any of them decrypts, so a key can be rotated. Development and tests have a fixed
default; production has none, and storing a secret without a key is refused.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class NoKey(RuntimeError):
    """No encryption key is configured."""


def _box() -> MultiFernet:
    keys = [k.strip() for k in (current_app.config.get("CALENDAR_SECRET_KEYS") or "").split(",")]
    keys = [k for k in keys if k]
    if not keys:
        raise NoKey(
            "CalDAV calendars are not available on this server yet: no key to encrypt app "
            "passwords with (CALENDAR_SECRET_KEYS)."
        )
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt(plain: str) -> str:
    return _box().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken:
        raise NoKey("The stored secret cannot be read with the configured keys.") from None
