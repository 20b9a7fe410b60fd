"""Two-factor sign-in: a time-based one-time code (TOTP, RFC 6238) from an authenticator app,
or one of ten one-time recovery codes. A code's time step is remembered, so a code that was
accepted is refused if it is sent again within its window. Each code is spent by one
conditional UPDATE, never read-then-write: of many requests sending the same code at once,
the database lets exactly one through."""

from __future__ import annotations

import enum
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


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    USED = "used"  # a right code, but it was accepted before: wait for the app's next one
    WRONG = "wrong"


def totp_step(tradie: Tradie, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is for the tradie's app, within the drift window."""
    code = _clean(code)
    if not tradie.totp_secret or not (code.isdigit() and len(code) == 6):
        return None
    return _matching_step(tradie.totp_secret, code, now)


def check_totp(session: DbSession, tradie: Tradie, code: str, now: datetime) -> Verdict:
    """A current code not accepted before is spent: its step is recorded in the same UPDATE
    that checks it is newer than the last one (concurrent requests wait for the row, then find
    the step taken)."""
    step = totp_step(tradie, code, now)
    if step is None:
        return Verdict.WRONG
    spent = session.scalar(
        sa.update(Tradie)
        .where(
            Tradie.id == tradie.id,
            sa.or_(Tradie.totp_last_step.is_(None), Tradie.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(Tradie.id)
    )
    return Verdict.ACCEPTED if spent is not None else Verdict.USED


def use_recovery_code(session: DbSession, tradie: Tradie, code: str, now: datetime) -> Verdict:
    """An unused recovery code of the tradie's is used up, by one conditional UPDATE."""
    mine = (RecoveryCode.tradie_id == tradie.id, RecoveryCode.code_hash == _hash(code))
    spent = session.scalar(
        sa.update(RecoveryCode)
        .where(*mine, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .returning(RecoveryCode.id)
    )
    if spent is not None:
        return Verdict.ACCEPTED
    used = session.scalar(sa.select(RecoveryCode.id).where(*mine).limit(1))
    return Verdict.USED if used is not None else Verdict.WRONG


def check_code(session: DbSession, tradie: Tradie, code: str, now: datetime) -> Verdict:
    """A current authenticator code or an unused recovery code; which of them looks like."""
    if totp_step(tradie, code, now) is not None:
        return check_totp(session, tradie, code, now)
    return use_recovery_code(session, tradie, code, now)


REFUSED = {
    Verdict.USED: (
        "That code was already used. Wait for the next code in your app, or use another "
        "recovery code."
    ),
    Verdict.WRONG: "That code is not valid. Type the code your app shows now.",
}


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
    if (verdict := check_code(session, tradie, code, now)) is not Verdict.ACCEPTED:
        raise RuleRefused("code", REFUSED[verdict])
    turn_off(session, tradie)


def turn_off(session: DbSession, tradie: Tradie) -> None:
    """Forget the authenticator app and the recovery codes."""
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
