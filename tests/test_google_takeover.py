"""Google sign-in on an account whose address nobody confirmed: Google proves who owns the
address, so its owner takes the account over as new: every session of whoever signed up with
it ends, their password and two-factor go, and nothing they set up lets them back in."""

from __future__ import annotations

import pyotp
import sqlalchemy as sa

from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.extensions import db
from tests.fixtures.clients import csrf_token
from tests.fixtures.factories import make_tradie
from tests.test_google_signin import app_config, google_login  # noqa: F401  (Google settings)

VICTIM = "victim@example.com"
ATTACKER_PASSWORD = "attacker's own secret"


def password_login(client, email: str, password: str, remember: bool = False):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def squat(app):
    """The attacker signs up with the victim's address and logs in, remembered, before anyone
    confirms it; returns their browser and a copy of its remember-me cookie."""
    attacker = app.test_client()
    data = {
        "email": VICTIM,
        "password": ATTACKER_PASSWORD,
        "business_name": "Victim Plumbing",
        "csrf_token": csrf_token(attacker, "/auth/signup"),
    }
    assert attacker.post("/auth/signup", data=data).status_code == 303
    assert password_login(attacker, VICTIM, ATTACKER_PASSWORD, remember=True).status_code == 303
    assert attacker.get("/dashboard").status_code == 200
    return attacker, attacker.get_cookie("__Host-remember").value


def assert_locked_out(app, attacker, remember_cookie: str) -> None:
    assert attacker.get("/dashboard").status_code == 302
    only_cookie = app.test_client()
    only_cookie.set_cookie("__Host-remember", remember_cookie)
    assert only_cookie.get("/dashboard").status_code == 302
    again = app.test_client()
    assert password_login(again, VICTIM, ATTACKER_PASSWORD).status_code == 422
    assert again.get("/dashboard").status_code == 302


def test_google_sign_in_takes_an_unconfirmed_account_over(app, client, oidc_provider):
    attacker, remember_cookie = squat(app)
    oidc_provider.set_user("g-victim", email=VICTIM, email_verified=True, name="Victim")
    victim = app.test_client()
    assert google_login(victim, oidc_provider, "g-victim").status_code == 303
    assert victim.get("/dashboard").status_code == 200
    assert_locked_out(app, attacker, remember_cookie)
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert tradie.google_sub == "g-victim" and tradie.email_verified_at is not None
        assert not tradie.has_password


def test_the_new_owner_is_not_asked_for_the_old_holders_second_factor(app, client, oidc_provider):
    attacker, remember_cookie = squat(app)
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        tradie.totp_secret = pyotp.random_base32()
        tradie.totp_enabled_at = tradie.created_at
        db.session.add(RecoveryCode(tradie_id=tradie.id, code_hash="0" * 64))
        db.session.commit()
    oidc_provider.set_user("g-victim", email=VICTIM, email_verified=True, name="Victim")
    victim = app.test_client()
    response = google_login(victim, oidc_provider, "g-victim")
    assert response.status_code == 303 and response.headers["Location"] != "/auth/two-factor"
    assert victim.get("/dashboard").status_code == 200
    assert_locked_out(app, attacker, remember_cookie)
    with app.app_context():
        assert not db.session.scalars(sa.select(Tradie)).one().two_factor_on
        assert db.session.scalar(sa.select(sa.func.count(RecoveryCode.id))) == 0


def test_google_sign_in_takes_over_an_email_changed_to_an_unconfirmed_address(
    app, client, oidc_provider
):
    """The same through Settings: a confirmed account changes its login email to the victim's
    (the new address unconfirmed) and keeps its own session."""
    from peepopay.accounts import settings

    make_tradie(app, email="mallory@example.com", password=ATTACKER_PASSWORD)
    attacker = app.test_client()
    assert password_login(attacker, "mallory@example.com", ATTACKER_PASSWORD).status_code == 303
    with app.test_request_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        settings.change_email(db.session, tradie, VICTIM, ATTACKER_PASSWORD)
        db.session.commit()
    assert password_login(attacker, VICTIM, ATTACKER_PASSWORD, remember=True).status_code == 303
    remember_cookie = attacker.get_cookie("__Host-remember").value
    oidc_provider.set_user("g-victim-2", email=VICTIM, email_verified=True)
    victim = app.test_client()
    assert google_login(victim, oidc_provider, "g-victim-2").status_code == 303
    assert victim.get("/dashboard").status_code == 200
    assert_locked_out(app, attacker, remember_cookie)


def test_google_sign_in_to_a_confirmed_account_keeps_its_password(app, client, oidc_provider):
    """The control: a confirmed account is its owner's; Google is linked, nothing is lost."""
    make_tradie(app, email=VICTIM, password=ATTACKER_PASSWORD)
    oidc_provider.set_user("g-owner-3", email=VICTIM, email_verified=True)
    assert google_login(app.test_client(), oidc_provider, "g-owner-3").status_code == 303
    assert password_login(app.test_client(), VICTIM, ATTACKER_PASSWORD).status_code == 303
