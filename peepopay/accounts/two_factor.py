"""Two-factor sign-in: a time-based one-time code (TOTP, RFC 6238) from an authenticator app,
or one of ten one-time recovery codes. A code's time step is remembered, so a code that was
accepted is refused if it is sent again within its window."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa

from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused

RECOVERY_CODES = 10
# Codes from the step before and after the current one are accepted: phone clocks drift.
VALID_WINDOW = 1
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(tradie: Tradie, secret: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=tradie.email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG drawn on the server (attributes only, no inline style)."""
    return str(
        segno.make(uri, error="m").svg_inline(
            scale=5, dark="#000", light="#fff", title="QR code for your authenticator app"
        )
    )


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code is `code`, within the drift window, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _clean(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def check_totp(tradie: Tradie, code: str, now: datetime) -> bool:
    """True for a current code not accepted before; it is then spent (its step recorded)."""
    code = _clean(code)
    if not tradie.totp_secret or not (code.isdigit() and len(code) == 6):
        return False
    step = _matching_step(tradie.totp_secret, code, now)
    if step is None or (tradie.totp_last_step is not None and step <= tradie.totp_last_step):
        return False
    tradie.totp_last_step = step
    return True


def use_recovery_code(session: DbSession, tradie: Tradie, code: str, now: datetime) -> bool:
    """True for an unused recovery code of the tradie's, which is then used up."""
    row = session.scalar(
        sa.select(RecoveryCode).where(
            RecoveryCode.tradie_id == tradie.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return False
    row.used_at = now
    return True


def check_code(session: DbSession, tradie: Tradie, code: str, now: datetime) -> bool:
    """A current authenticator code or an unused recovery code."""
    return check_totp(tradie, code, now) or use_recovery_code(session, tradie, code, now)


def _new_recovery_codes(session: DbSession, tradie: Tradie, now: datetime) -> list[str]:
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.tradie_id == tradie.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(tradie_id=tradie.id, code_hash=_hash(raw), created_at=now))
    return codes


def enable(session: DbSession, tradie: Tradie, secret: str, code: str, now: datetime) -> list[str]:
    """Turn two-factor on once `code` proves the app has `secret`; the new recovery codes."""
    step = _matching_step(secret, _clean(code), now) if secret else None
    if step is None:
        raise RuleRefused("code", "That code doesn't match. Type the 6 digits the app shows now.")
    tradie.totp_secret = secret
    tradie.totp_last_step = step
    tradie.totp_enabled_at = now
    return _new_recovery_codes(session, tradie, now)


def disable(session: DbSession, tradie: Tradie, code: str, now: datetime) -> None:
    """Turn two-factor off; it takes a current code (or a recovery code)."""
    if not check_code(session, tradie, code, now):
        raise RuleRefused("code", "That code is not valid now. Type the code your app shows.")
    tradie.totp_secret = None
    tradie.totp_enabled_at = None
    tradie.totp_last_step = None
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.tradie_id == tradie.id))


def remaining_recovery_codes(session: DbSession, tradie: Tradie) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count(RecoveryCode.id)).where(
                RecoveryCode.tradie_id == tradie.id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )
