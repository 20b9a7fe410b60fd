"""Account rules: emails, slugs, passwords, and the signed tokens mailed to tradies."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from peepopay.accounts.models import Tradie, new_session_token
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused

hasher = PasswordHasher()

RESERVED_SLUGS = frozenset(
    """
    account admin api app auth b book dashboard dev embed healthz help login logout metrics
    peepopay readyz settings signup static stripe support webhooks widget www
    """.split()
)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58}[a-z0-9])$")
COMMON_PASSWORDS = frozenset(
    """
    password password1 password123 1234567890 qwertyuiop iloveyou123 letmein123
    welcome123 admin12345 changeme123 passw0rd123
    """.split()
)
VERIFY_MAX_AGE = 7 * 24 * 3600
RESET_MAX_AGE = 3600


# A rule broken by the input; `field` names the form field to show it on.
AccountError = RuleRefused


def normalize_email(email: str) -> str:
    return email.strip().lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why a password is too weak, or None: 10+ characters, not common, not the email."""
    if len(password) < 10:
        return "Password must be at least 10 characters."
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        return "Password is too easy to guess; try a short phrase."
    local = email.split("@")[0].lower()
    if len(local) >= 3 and local in password.lower():
        return "Password must not contain your email address."
    return None


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].strip("-") or "tradie"


def slug_problem(slug: str) -> str | None:
    if not SLUG_RE.match(slug):
        return "Use 3–60 lower-case letters, digits and dashes, not starting or ending with a dash."
    if slug in RESERVED_SLUGS:
        return "That address is reserved; choose another."
    return None


def slug_taken(session: DbSession, slug: str, exclude_id: int | None = None) -> bool:
    query = sa.select(Tradie.id).where(Tradie.slug == slug)
    if exclude_id is not None:
        query = query.where(Tradie.id != exclude_id)
    return session.scalar(query) is not None


def unique_slug(session: DbSession, name: str) -> str:
    """A free slug derived from the business name: plumbing-co, plumbing-co-2, …"""
    base = slugify(name)
    if len(base) < 3 or base in RESERVED_SLUGS:
        base = f"{base}-co".strip("-")
    candidate, n = base, 1
    while slug_taken(session, candidate):
        n += 1
        candidate = f"{base[:55]}-{n}"
    return candidate


def email_taken(session: DbSession, email: str) -> bool:
    return (
        session.scalar(sa.select(Tradie.id).where(Tradie.email == normalize_email(email)))
        is not None
    )


def create_tradie(
    session: DbSession,
    *,
    email: str,
    password: str,
    business_name: str,
    slug: str | None = None,
    timezone: str = "Pacific/Auckland",
    verified_at: datetime | None = None,
) -> Tradie:
    """Validate and add a tradie; raises AccountError naming the field at fault."""
    email = normalize_email(email)
    if email_taken(session, email):
        raise AccountError("email", "An account with this email already exists.")
    if problem := password_problem(password, email):
        raise AccountError("password", problem)
    business_name = business_name.strip()
    if not business_name:
        raise AccountError("business_name", "Business name is required.")
    if slug:
        if problem := slug_problem(slug):
            raise AccountError("slug", problem)
        if slug_taken(session, slug):
            raise AccountError("slug", "That address is already taken.")
    if timezone not in available_timezones():
        raise AccountError("timezone", "Choose a time zone from the list.")
    tradie = Tradie(
        email=email,
        password_hash=hasher.hash(password),
        business_name=business_name,
        slug=slug or unique_slug(session, business_name),
        timezone=timezone,
        email_verified_at=verified_at,
    )
    ZoneInfo(timezone)
    session.add(tradie)
    session.flush()
    return tradie


def sign_up(
    session: DbSession, *, email: str, password: str, business_name: str
) -> tuple[Tradie, bool]:
    """(new tradie, True), or (the tradie who has this email, False); AccountError for bad input.

    The input is checked before the address is looked up, and both outcomes cost one password
    hash, so the answer to a sign-up cannot tell which addresses have an account."""
    email = normalize_email(email)
    if problem := password_problem(password, email):
        raise AccountError("password", problem)
    if not business_name.strip():
        raise AccountError("business_name", "Business name is required.")
    existing = session.scalar(sa.select(Tradie).where(Tradie.email == email))
    if existing is not None:
        hasher.hash(password)
        return existing, False
    return create_tradie(session, email=email, password=password, business_name=business_name), True


def check_password(session: DbSession, tradie: Tradie, password: str) -> bool:
    try:
        hasher.verify(tradie.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(tradie.password_hash):
        tradie.password_hash = hasher.hash(password)
    return True


def authenticate(session: DbSession, email: str, password: str) -> Tradie | None:
    tradie = session.scalar(sa.select(Tradie).where(Tradie.email == normalize_email(email)))
    if tradie is None:
        hasher.hash(password)  # spend the same time, so timing does not reveal accounts
        return None
    return tradie if check_password(session, tradie, password) else None


def set_password(tradie: Tradie, password: str) -> None:
    """Set a new password; it ends every session the tradie had (the caller may keep one)."""
    if problem := password_problem(password, tradie.email):
        raise AccountError("password", problem)
    tradie.password_hash = hasher.hash(password)
    end_sessions(tradie)


def reset_password(tradie: Tradie, password: str, now: datetime) -> None:
    """`set_password` from a reset link, which also proves the tradie reads the inbox."""
    set_password(tradie, password)
    if tradie.email_verified_at is None:
        tradie.email_verified_at = now


def end_sessions(tradie: Tradie) -> None:
    """End every session, remember-me cookie and device cookie of the tradie."""
    tradie.session_token = new_session_token()


# Tokens carry a fingerprint of what they act on, so each stops working once used:
# a reset token dies when the password changes, a verify token when the email does.


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def make_token(tradie: Tradie, purpose: str) -> str:
    basis = tradie.password_hash if purpose == "reset" else tradie.email
    return _serializer(purpose).dumps({"id": tradie.id, "f": _fingerprint(basis)})


def read_token(session: DbSession, token: str, purpose: str) -> Tradie | None:
    max_age = RESET_MAX_AGE if purpose == "reset" else VERIFY_MAX_AGE
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    tradie = session.get(Tradie, data.get("id"))
    if tradie is None:
        return None
    basis = tradie.password_hash if purpose == "reset" else tradie.email
    return tradie if data.get("f") == _fingerprint(basis) else None


DEMO_SLUG = "demo-plumbing"


def demo_slug(session: DbSession, env_name: str) -> str | None:
    """The demo tradie's slug for the front door: in development only, once it is seeded."""
    if env_name != "development":
        return None
    return DEMO_SLUG if slug_taken(session, DEMO_SLUG) else None


def create_account_without_password(
    session: DbSession, *, email: str, business_name: str, now: datetime
) -> Tradie:
    """A tradie who signs up with Google: verified email, no password (they can set one)."""
    tradie = Tradie(
        email=normalize_email(email),
        password_hash="",
        business_name=business_name.strip()[:120] or "My business",
        slug=unique_slug(session, business_name),
        email_verified_at=now,
    )
    session.add(tradie)
    session.flush()
    return tradie
