"""Settings → two-factor sign-in: turn it on with an authenticator app (QR code drawn on the
server), keep the ten recovery codes shown once, turn it off with a current code."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.accounts import two_factor
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.auth_forms import TwoFactorForm
from peepopay.errors import RuleRefused
from peepopay.extensions import db
from peepopay.htmx import after_change, render

SETUP_KEY = "totp_setup"  # the secret being set up, until a code from the app proves it


def _setup_secret() -> str:
    secret = session.get(SETUP_KEY)
    if not isinstance(secret, str):
        secret = session[SETUP_KEY] = two_factor.new_secret()
    return secret


def _page(status: int = 200, **context: Any) -> Response:
    tradie = signed_in()
    context.setdefault("form", TwoFactorForm(formdata=None))
    if not tradie.two_factor_on:
        secret = _setup_secret()
        uri = two_factor.provisioning_uri(tradie, secret, current_app.config["TOTP_ISSUER"])
        context.update(secret=secret, qr=two_factor.qr_svg(uri))
    else:
        context["remaining"] = two_factor.remaining_recovery_codes(db.session, tradie)
    return render(
        "dashboard/two_factor.html", "dashboard/_two_factor.html", status, tradie=tradie, **context
    )


@bp.get("/settings/two-factor")
def two_factor_settings() -> Response:
    return _page()


@bp.post("/settings/two-factor/enable")
def two_factor_enable() -> ResponseReturnValue:
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            secret = session.get(SETUP_KEY, "")
            codes = two_factor.enable(db.session, current_user, secret, form.code.data, utcnow())
        except RuleRefused as error:
            form.code.errors.append(error.message)
        else:
            session.pop(SETUP_KEY, None)
            return _page(recovery_codes=codes)
    return _page(422, form=form)


@bp.post("/settings/two-factor/disable")
def two_factor_disable() -> ResponseReturnValue:
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(db.session, current_user, form.code.data or "", utcnow())
        except RuleRefused as error:
            form.code.errors.append(error.message)
        else:
            notice = "Two-factor sign-in is off."
            return after_change(url_for("dashboard.two_factor_settings"), notice=notice)
    return _page(422, form=form)
