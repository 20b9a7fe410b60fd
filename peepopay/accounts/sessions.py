"""Who a session belongs to, ending a tradie's sessions, and the cookie of a known device.

Every session and remember-me cookie carries the tradie's session token (`Tradie.get_id`), so a
new token ends them all at once. The device cookie marks a browser that has logged in to an
account before; it lets that browser past the per-account login limit (never the per-IP one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Response, after_this_request, current_app, request, session
from flask_login import current_user, login_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from peepopay.accounts.models import Tradie
from peepopay.accounts.services import normalize_email
from peepopay.db_setup import DbSession


def tradie_for_session(session: DbSession, user_id: str) -> Tradie | None:
    """The tradie a session or remember-me cookie names, unless their sessions ended since."""
    tradie_id, _, token = user_id.partition(":")
    if not tradie_id.isdigit() or not token:
        return None
    tradie = session.get(Tradie, int(tradie_id))
    if tradie is None or not hmac.compare_digest(tradie.session_token.encode(), token.encode()):
        return None
    return tradie


def keep_signed_in() -> None:
    """After `services.end_sessions`, sign this browser in again (remembered if it was)."""
    tradie = current_user._get_current_object()  # the tradie, not the proxy that reads it back
    remembered = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
    login_user(tradie, remember=remembered)
    remember_device(tradie)


# --- between the first factor and the second ------------------------------------------------

PENDING_KEY = "second_factor"


@dataclass
class PendingLogin:
    tradie: Tradie
    remember: bool
    target: str | None


def begin_second_factor(tradie: Tradie, remember: bool, target: str | None) -> None:
    """The password (or Google) was right and the tradie uses two-factor: remember who, in a
    fresh session, until the code is given. Nobody is signed in yet."""
    session.clear()
    session[PENDING_KEY] = {
        "id": tradie.id,
        "token": tradie.session_token,
        "remember": remember,
        "next": target,
        "login": secrets.token_urlsafe(16),  # names this pending login for its rate limit
    }


def second_factor_limit_key(part: str) -> str:
    """What wrong second-factor codes are counted by: the account (`id`) or this one pending
    login (`login`), whatever address they come from."""
    data = session.get(PENDING_KEY)
    value = data.get(part) if isinstance(data, dict) else None
    return f"second-factor-{part}:{value}"


def pending_second_factor(db_session: DbSession) -> PendingLogin | None:
    """Who is half-way through logging in on this browser, unless their sessions ended since."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    tradie = tradie_for_session(db_session, f"{data.get('id')}:{data.get('token')}")
    if tradie is None or not tradie.two_factor_on:
        return None
    return PendingLogin(tradie, bool(data.get("remember")), data.get("next"))


# --- the device cookie -------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="device")


def _fingerprint(tradie: Tradie) -> str:
    # Names one account without saying which: the id and a secret only the database knows.
    return hashlib.sha256(f"device:{tradie.id}:{tradie.session_token}".encode()).hexdigest()


def remember_device(tradie: Tradie) -> None:
    """Mark this browser as one the tradie has logged in from (set on this response)."""
    value = _serializer().dumps({"d": _fingerprint(tradie)})
    config = current_app.config

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            config["DEVICE_COOKIE_NAME"],
            value,
            max_age=config["DEVICE_COOKIE_MAX_AGE"],
            path="/",
            secure=config["DEVICE_COOKIE_SECURE"] or request.is_secure,
            httponly=True,
            samesite=config["DEVICE_COOKIE_SAMESITE"],
        )
        return response


def is_known_device(session: DbSession, email: str) -> bool:
    """True when this request carries a valid device cookie for the account of `email`."""
    value = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not value:
        return False
    try:
        data = _serializer().loads(value, max_age=current_app.config["DEVICE_COOKIE_MAX_AGE"])
    except BadSignature:  # forged, altered or expired
        return False
    fingerprint = data.get("d") if isinstance(data, dict) else None
    if not isinstance(fingerprint, str):
        return False
    tradie = session.scalar(sa.select(Tradie).where(Tradie.email == normalize_email(email)))
    return tradie is not None and hmac.compare_digest(
        fingerprint.encode(), _fingerprint(tradie).encode()
    )
