"""Google sign-in (OpenID Connect through Authlib) against a local provider: sign up, log in,
link and unlink; refused: a wrong state, a replayed code, an unverified email; an email
changed at Google still signs in to the same account (matched by subject, never by email)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.extensions import db
from tests.fixtures.clients import Auth, csrf_token
from tests.fixtures.factories import make_tradie


@pytest.fixture
def app_config(app_config, oidc_provider):
    return {
        **app_config,
        "GOOGLE_CLIENT_ID": "peepopay-test",
        "GOOGLE_CLIENT_SECRET": "peepopay-test-secret",
        "GOOGLE_METADATA_URL": oidc_provider.metadata_url,
    }


def start(client, intent="login", page="/auth/login"):
    """Press the Google button: the app's redirect to the provider."""
    response = client.post(f"/auth/google/{intent}", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def back(client, callback_url):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def google_login(client, oidc_provider, sub):
    return back(client, oidc_provider.authorize(start(client), sub))


def tradies(app):
    with app.app_context():
        return [
            (t.email, t.google_sub, t.google_email)
            for t in db.session.scalars(sa.select(Tradie).order_by(Tradie.id))
        ]


def test_the_button_shows_only_when_google_is_configured(app, client):
    assert "Log in with Google" in client.get("/auth/login").get_data(as_text=True)
    assert "Sign up with Google" in client.get("/auth/signup").get_data(as_text=True)
    app.config["GOOGLE_CLIENT_SECRET"] = None
    assert "with Google" not in client.get("/auth/login").get_data(as_text=True)
    token = csrf_token(client)
    assert client.post("/auth/google/login", data={"csrf_token": token}).status_code == 404


def test_authorization_request_carries_state_nonce_and_pkce(client, oidc_provider):
    query = parse_qs(urlsplit(start(client)).query)
    assert query["response_type"] == ["code"]
    assert query["state"][0] and query["nonce"][0]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert "openid" in query["scope"][0].split() and "email" in query["scope"][0].split()


def test_sign_up_with_google_then_log_in_again(app, client, oidc_provider):
    oidc_provider.set_user(
        "g-new-1", email="Ana@Example.com", email_verified=True, name="Ana Tiles"
    )
    response = google_login(client, oidc_provider, "g-new-1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/welcome"  # a new account: the first run
    assert client.get("/dashboard").status_code == 200
    assert tradies(app) == [("ana@example.com", "g-new-1", "ana@example.com")]
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert tradie.email_verified_at is not None and not tradie.has_password
        assert tradie.business_name == "Ana Tiles"
    again = app.test_client()
    assert google_login(again, oidc_provider, "g-new-1").status_code == 303
    assert again.get("/dashboard").status_code == 200
    assert len(tradies(app)) == 1


def test_a_wrong_state_is_refused(app, client, oidc_provider):
    oidc_provider.set_user("g-state", email="state@example.com", email_verified=True)
    callback = oidc_provider.authorize(start(client), "g-state")
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = "not-the-state-we-sent"
    response = client.get(f"{parts.path}?{urlencode(query)}")
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login"
    assert "Google sign-in didn" in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    assert tradies(app) == []


def test_a_replayed_code_is_refused(app, client, oidc_provider):
    oidc_provider.set_user("g-replay", email="replay@example.com", email_verified=True)
    callback = oidc_provider.authorize(start(client), "g-replay")
    assert back(client, callback).status_code == 303
    assert client.get("/dashboard").status_code == 200
    # The same callback again, from a browser that started its own sign-in: a new state is
    # waiting, the old code was already spent at the provider.
    other = app.test_client()
    fresh_state = parse_qs(urlsplit(start(other)).query)["state"][0]
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    replay = back(client, callback)  # same browser: its state is used up
    assert replay.status_code == 303 and replay.headers["Location"] == "/auth/login"
    query["state"] = fresh_state
    stolen = other.get(f"{parts.path}?{urlencode(query)}")
    assert stolen.status_code == 303 and stolen.headers["Location"] == "/auth/login"
    assert other.get("/dashboard").status_code == 302


def test_an_unverified_email_neither_matches_nor_makes_an_account(app, client, oidc_provider):
    make_tradie(app, email="owner@example.com")
    oidc_provider.set_user("g-attacker", email="owner@example.com", email_verified=False)
    response = google_login(client, oidc_provider, "g-attacker")
    assert response.headers["Location"] == "/auth/login"
    assert "hasn&#39;t verified" in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    oidc_provider.set_user("g-unverified", email="nobody@example.com", email_verified=False)
    google_login(app.test_client(), oidc_provider, "g-unverified")
    assert tradies(app) == [("owner@example.com", None, None)]


def test_a_verified_email_links_an_existing_account(app, client, oidc_provider):
    make_tradie(app, email="owner@example.com")
    oidc_provider.set_user("g-owner", email="OWNER@example.com", email_verified=True)
    response = google_login(client, oidc_provider, "g-owner")
    assert response.headers["Location"] == "/dashboard"
    assert tradies(app) == [("owner@example.com", "g-owner", "owner@example.com")]


def test_an_email_changed_at_google_signs_in_to_the_same_account(app, client, oidc_provider):
    make_tradie(app, email="first@example.com", google_sub="g-changer")
    make_tradie(app, email="second@example.com", slug="second-tradie")
    # Google now reports the other tradie's address: the subject decides, not the email.
    oidc_provider.set_user("g-changer", email="second@example.com", email_verified=True)
    response = google_login(client, oidc_provider, "g-changer")
    assert response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard/settings").get_data(as_text=True)
    assert "first@example.com" in page
    assert tradies(app)[0] == ("first@example.com", "g-changer", "second@example.com")
    assert tradies(app)[1] == ("second@example.com", None, None)


def test_link_and_unlink_in_settings(app, client, oidc_provider):
    make_tradie(app)
    assert Auth(client).login().status_code == 303
    oidc_provider.set_user("g-link", email="other.address@example.com", email_verified=True)
    callback = oidc_provider.authorize(start(client, "link", "/dashboard/settings"), "g-link")
    linked = back(client, callback)
    assert linked.headers["Location"] == "/dashboard/settings#signin"
    assert "Linked to other.address@example.com" in client.get("/dashboard/settings").get_data(
        as_text=True
    )
    token = csrf_token(client, "/dashboard/settings")
    client.post("/auth/google/unlink", data={"csrf_token": token})
    assert tradies(app) == [("tradie@example.com", None, None)]


def test_google_sign_in_asks_for_the_second_factor(app, client, oidc_provider):
    import pyotp

    make_tradie(app, google_sub="g-2fa", totp_secret=pyotp.random_base32())
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        tradie.totp_enabled_at = tradie.created_at
        db.session.commit()
    oidc_provider.set_user("g-2fa", email="tradie@example.com", email_verified=True)
    response = google_login(client, oidc_provider, "g-2fa")
    assert response.headers["Location"] == "/auth/two-factor"
    assert client.get("/dashboard").status_code == 302


def test_delete_an_account_made_with_google_by_confirming_with_google(
    app, client, oidc_provider, frozen_clock
):
    oidc_provider.set_user("g-delete", email="leaving@example.com", email_verified=True)
    google_login(client, oidc_provider, "g-delete")
    form = {"confirm_delete": "y", "csrf_token": csrf_token(client, "/dashboard/settings")}
    refused = client.post("/dashboard/settings/delete", data=form)
    assert refused.status_code == 422
    assert "Confirm with Google first" in refused.get_data(as_text=True)
    callback = oidc_provider.authorize(start(client, "reauth", "/dashboard/settings"), "g-delete")
    assert back(client, callback).headers["Location"] == "/dashboard/settings#delete"
    assert "Confirmed with Google." in client.get("/dashboard/settings").get_data(as_text=True)
    # Ten minutes later the confirmation has lapsed.
    frozen_clock.set(frozen_clock.now + timedelta(minutes=11))
    assert client.post("/dashboard/settings/delete", data=form).status_code == 422
    frozen_clock.set(frozen_clock.now - timedelta(minutes=11))
    deleted = client.post("/dashboard/settings/delete", data=form)
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/auth/login"
    assert tradies(app) == []


def test_reauth_with_another_google_account_is_refused(app, client, oidc_provider):
    make_tradie(app, google_sub="g-mine")
    assert Auth(client).login().status_code == 303
    oidc_provider.set_user("g-someone-else", email="else@example.com", email_verified=True)
    callback = oidc_provider.authorize(
        start(client, "reauth", "/dashboard/settings"), "g-someone-else"
    )
    assert back(client, callback).headers["Location"] == "/dashboard/settings"
    assert "Confirmed with Google." not in client.get("/dashboard/settings").get_data(as_text=True)


def test_forms_may_be_redirected_to_the_provider_only_when_google_is_on(app, client, oidc_provider):
    policy = client.get("/auth/login").headers["Content-Security-Policy"]
    assert f"form-action 'self' {oidc_provider.url};" in policy
    app.config["GOOGLE_CLIENT_ID"] = None
    policy = client.get("/auth/login").headers["Content-Security-Policy"]
    assert "form-action 'self';" in policy
    assert "frame-ancestors *" in client.get("/book/nobody").headers["Content-Security-Policy"]
