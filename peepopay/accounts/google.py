"""Google sign-in with OpenID Connect (Authlib): state, nonce and PKCE are Authlib's; here,
who the verified claims are. An account is found by its Google subject; by email only when
Google has verified that address (an account whose address nobody confirmed is taken over,
not shared: `take_over`); otherwise a new account is made."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response

from peepopay.accounts import two_factor
from peepopay.accounts.models import Tradie
from peepopay.accounts.services import (
    create_account_without_password,
    end_sessions,
    normalize_email,
)
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.extensions import oauth


def enabled(config: Any) -> bool:
    """The Google button shows only with both client settings."""
    return bool(config.get("GOOGLE_CLIENT_ID") and config.get("GOOGLE_CLIENT_SECRET"))


def provider_origin(config: Any) -> str:
    """Where the Google button's form is redirected to (the provider's own origin)."""
    parts = urlsplit(config["GOOGLE_METADATA_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def init_app(app: Flask) -> None:
    oauth.init_app(app)

    @app.after_request
    def allow_provider(response: Response) -> Response:
        # Runs after security.set_headers (after_request runs in reverse order): the
        # dashboard's forms may be redirected on to the provider, which form-action must allow.
        policy = response.headers.get("Content-Security-Policy", "")
        if enabled(app.config) and "frame-ancestors 'none'" in policy:
            origin = provider_origin(app.config)
            response.headers["Content-Security-Policy"] = policy.replace(
                "form-action 'self'", f"form-action 'self' {origin}", 1
            )
        return response

    if enabled(app.config):
        oauth.register(
            "google",
            client_id=app.config["GOOGLE_CLIENT_ID"],
            client_secret=app.config["GOOGLE_CLIENT_SECRET"],
            server_metadata_url=app.config["GOOGLE_METADATA_URL"],
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
            overwrite=True,
        )


class GoogleRefused(RuleRefused):
    """Google sign-in could not go ahead; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)


def _subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise GoogleRefused("Google did not say who you are. Please try again.")
    return sub


def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if isinstance(email, str) and claims.get("email_verified") is True:
        return normalize_email(email)
    return None


def by_subject(session: DbSession, sub: str) -> Tradie | None:
    return session.scalar(sa.select(Tradie).where(Tradie.google_sub == sub))


def sign_in(session: DbSession, claims: dict[str, Any], now: datetime) -> Tradie:
    """The tradie these verified ID-token claims belong to, linking or creating as needed."""
    sub = _subject(claims)
    tradie = by_subject(session, sub)
    if tradie is not None:
        # Matched by subject: an email changed at Google changes nothing here.
        tradie.google_email = claims.get("email") or tradie.google_email
        return tradie
    email = _verified_email(claims)
    if email is None:
        raise GoogleRefused(
            "Google hasn't verified that email address, so we can't use it to sign you in. "
            "Verify it with Google, or sign up with your email and a password."
        )
    tradie = session.scalar(sa.select(Tradie).where(Tradie.email == email))
    if tradie is None:
        name = str(claims.get("name") or email.split("@")[0])
        tradie = create_account_without_password(session, email=email, business_name=name, now=now)
    elif tradie.email_verified_at is None:
        take_over(session, tradie, now)
    tradie.google_sub, tradie.google_email = sub, email
    return tradie


def take_over(session: DbSession, tradie: Tradie, now: datetime) -> None:
    """Google proved the address that nobody had confirmed for this account: its owner takes
    the account over as new. Whoever signed up with the address (or changed a login to it)
    loses every session, the password and two-factor they set; the address is confirmed."""
    end_sessions(tradie)
    tradie.password_hash = ""
    two_factor.turn_off(session, tradie)
    tradie.email_verified_at = now


def link(session: DbSession, tradie: Tradie, claims: dict[str, Any]) -> None:
    """Link the signed-in tradie's account to this Google account."""
    sub = _subject(claims)
    other = by_subject(session, sub)
    if other is not None and other.id != tradie.id:
        raise GoogleRefused("That Google account already signs in to another PeepoPay account.")
    tradie.google_sub, tradie.google_email = sub, claims.get("email")


def unlink(tradie: Tradie) -> None:
    if not tradie.has_password:
        raise GoogleRefused("Set a password first: without Google it is your only way in.")
    tradie.google_sub = tradie.google_email = None


def same_person(tradie: Tradie, claims: dict[str, Any]) -> bool:
    """A Google re-authentication of the signed-in tradie (for deleting the account)."""
    return tradie.google_sub is not None and claims.get("sub") == tradie.google_sub
