"""Account emails, written to the outbox with the change that causes them."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask import current_app, url_for

from peepopay.accounts.models import Tradie
from peepopay.accounts.services import make_token, normalize_email, sign_up
from peepopay.db_setup import DbSession
from peepopay.notifications.outbox import queue_email


def _external(endpoint: str, **values: Any) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def queue_verification(session: DbSession, tradie: Tradie, resend: bool = False) -> None:
    link = _external("auth.verify", token=make_token(tradie, "verify"))
    suffix = f":{secrets.token_hex(4)}" if resend else ""
    queue_email(
        session,
        kind="verify_email",
        to=tradie.email,
        template="verify_email",
        context={"tradie": tradie, "link": link},
        key=f"tradie:{tradie.id}:verify:{tradie.email}{suffix}",
        tradie_id=tradie.id,
    )


def queue_reset(session: DbSession, tradie: Tradie) -> None:
    link = _external("auth.reset", token=make_token(tradie, "reset"))
    queue_email(
        session,
        kind="password_reset",
        to=tradie.email,
        template="password_reset",
        context={"tradie": tradie, "link": link},
        key=f"tradie:{tradie.id}:reset:{secrets.token_hex(8)}",
        tradie_id=tradie.id,
    )


def queue_signup_attempt(session: DbSession, tradie: Tradie, now: datetime) -> None:
    """Tell the owner someone tried to sign up with their address; at most once an hour."""
    queue_email(
        session,
        kind="signup_attempt",
        to=tradie.email,
        template="signup_attempt",
        context={
            "tradie": tradie,
            "login_link": _external("auth.login"),
            "reset_link": _external("auth.forgot"),
        },
        key=f"tradie:{tradie.id}:signup_attempt:{now:%Y%m%d%H}",
        tradie_id=tradie.id,
        now=now,
    )


def sign_up_and_tell(
    session: DbSession, *, email: str, password: str, business_name: str, now: datetime
) -> str:
    """Sign up (`services.sign_up`), then email the address: a confirmation link to a new
    account, a note to the owner of an existing one. The address as stored; AccountError for
    bad input."""
    tradie, created = sign_up(session, email=email, password=password, business_name=business_name)
    if created:
        queue_verification(session, tradie)
    else:
        queue_signup_attempt(session, tradie, now)
    return normalize_email(email)
