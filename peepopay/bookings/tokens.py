"""Signed references to a booking for pages that have no session: the widget's payment and
confirmation steps, and the deposit link a tradie sends for a booking made by hand."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

TOKEN_SALT = "peepopay.widget.booking"  # noqa: S105  (a namespace, not a secret)
TOKEN_MAX_AGE = 30 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def booking_token(booking_id: int) -> str:
    """A signed reference to a held booking, so later steps need no cookie or session."""
    return _serializer().dumps(booking_id)


def read_booking_token(token: str) -> int | None:
    try:
        value = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None
