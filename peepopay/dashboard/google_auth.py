"""Google sign-in pages on the `auth` blueprint: /auth/google/<intent> starts (log in or sign
up, link from Settings, re-authenticate before deleting the account), /auth/google/callback
finishes. Authlib checks the state, the nonce and the PKCE verifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from flask import abort, current_app, flash, redirect, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.accounts import google
from peepopay.clock import utcnow
from peepopay.dashboard.auth import bp, first_factor_passed
from peepopay.dashboard.auth_forms import EmptyForm
from peepopay.errors import RuleRefused
from peepopay.extensions import db, limiter, oauth

INTENT_KEY = "google_intent"
REAUTH_KEY = "google_reauth_at"  # when the signed-in tradie last re-authenticated with Google
INTENTS = ("login", "link", "reauth")


@bp.app_context_processor
def google_button() -> dict[str, object]:
    return {"google_enabled": google.enabled(current_app.config)}


def _claims() -> dict[str, Any]:
    """The ID token's claims, once Authlib has checked state, code, nonce and signature."""
    try:
        token = oauth.google.authorize_access_token()
    except OAuthError as error:
        current_app.logger.warning("google sign-in refused: %s", error.error)
        raise google.GoogleRefused("Google sign-in didn't work. Please try again.") from None
    return dict(token.get("userinfo") or {})


def _log_in(claims: dict[str, Any]) -> ResponseReturnValue:
    tradie = google.sign_in(db.session, claims, utcnow())
    return first_factor_passed(tradie, False, None)


def _link(claims: dict[str, Any]) -> ResponseReturnValue:
    google.link(db.session, current_user, claims)
    flash("Google is linked: you can log in with it.", "success")
    return redirect(url_for("dashboard.settings", _anchor="signin"), 303)


def _reauth(claims: dict[str, Any]) -> ResponseReturnValue:
    if not google.same_person(current_user, claims):
        raise google.GoogleRefused(
            "That is not the Google account linked to this PeepoPay account."
        )
    session[REAUTH_KEY] = utcnow().timestamp()
    return redirect(url_for("dashboard.settings", _anchor="delete"), 303)


FINISH: dict[str, Callable[[dict[str, Any]], ResponseReturnValue]] = {
    "login": _log_in,
    "link": _link,
    "reauth": _reauth,
}


@bp.post("/google/<intent>")
@limiter.limit("20 per 5 minutes")
def google_start(intent: str) -> ResponseReturnValue:
    signed_in = bool(current_user.is_authenticated)
    if not google.enabled(current_app.config) or intent not in INTENTS:
        abort(404)
    if not EmptyForm().validate_on_submit() or signed_in != (intent != "login"):
        abort(400)
    session[INTENT_KEY] = intent
    return oauth.google.authorize_redirect(url_for("auth.google_callback", _external=True))


@bp.get("/google/callback")
def google_callback() -> ResponseReturnValue:
    intent = session.pop(INTENT_KEY, None)
    if intent not in FINISH or (intent != "login" and not current_user.is_authenticated):
        flash("Google sign-in didn't work. Please try again.", "error")
        return redirect(url_for("auth.login"), 303)
    try:
        return FINISH[intent](_claims())
    except RuleRefused as error:
        flash(error.message, "error")
        target = "auth.login" if intent == "login" else "dashboard.settings"
        return redirect(url_for(target), 303)


@bp.post("/google/unlink")
def google_unlink() -> ResponseReturnValue:
    if not current_user.is_authenticated or not EmptyForm().validate_on_submit():
        abort(400)
    try:
        google.unlink(current_user)
        flash("Google is unlinked. Log in with your email and password.", "success")
    except RuleRefused as error:
        flash(error.message, "error")
    return redirect(url_for("dashboard.settings", _anchor="signin"), 303)
