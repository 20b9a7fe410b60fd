"""Sign-up, verification, log in and out, password reset, rate limits, redirects."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from peepopay.accounts import services as accounts
from peepopay.extensions import db
from peepopay.models import Tradie
from tests.fixtures.clients import csrf_token
from tests.fixtures.factories import make_tradie
from tests.notify_support import deliver_outbox

GOOD = {"email": "sam@example.com", "password": "pipes and valves", "business_name": "Sam's Pipes"}
CHECK_EMAIL = "Check your email"
DEVICE = "__Host-device"


def signup(client, **overrides):
    data = {**GOOD, **overrides, "csrf_token": csrf_token(client, "/auth/signup")}
    return client.post("/auth/signup", data=data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Email is required."),
        ("email", "not-an-email", "Email must be a valid address"),
        ("password", "", "Password is required."),
        ("password", "short1", "Password must be at least 10 characters."),
        ("password", "password123", "Password is too easy to guess"),
        ("password", "sam-example-pipes", "Password must not contain your email"),
        ("business_name", "", "Business name is required."),
        ("business_name", "x" * 121, "Business name must be 2 to 120 characters."),
    ],
)
def test_signup_validation_names_the_field(client, app, field, value, message):
    response = signup(client, **{field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    block = re.search(rf'<div class="field has-error" id="field-{field}">.*?</div>', html, re.S)
    assert block, f"no error shown on the {field} field"
    assert message in block.group(0)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Tradie.id))) == 0


def test_signup_creates_account_and_sends_verification(client, app, smtp):
    response = signup(client)
    # Not signed in straight away: an existing address gets the very same answer (below).
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    assert CHECK_EMAIL in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    with app.app_context():
        tradie = db.session.scalar(sa.select(Tradie))
        assert tradie.email == "sam@example.com"
        assert tradie.slug == "sam-s-pipes"
        assert tradie.email_verified_at is None
        assert tradie.password_hash.startswith("$argon2id$")
    assert deliver_outbox(app) == ["sent"]
    [mail] = smtp.to("sam@example.com")
    assert mail["Subject"] == "Confirm your email for PeepoPay"
    link = re.search(
        r"http://peepopay.test(/auth/verify/\S+)", mail.get_body(("plain",)).get_content()
    )
    assert link
    assert client.get(link.group(1)).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Tradie)).email_verified_at is not None


def test_signup_with_a_taken_email_answers_the_same_and_tells_the_owner(client, app, smtp):
    """Sign-up must not reveal which addresses have an account: same answer, no new row, and
    the owner (not the visitor) hears about it, with ways back in."""
    make_tradie(app, email="sam@example.com", business_name="Sam's Old Pipes")
    fresh = signup(client, email="new@example.com", business_name="New Pipes")
    fresh_page = client.get("/auth/login").get_data(as_text=True)
    taken = signup(app.test_client(), email="SAM@Example.COM", business_name="Other Name")
    assert (taken.status_code, taken.headers["Location"]) == (
        fresh.status_code,
        fresh.headers["Location"],
    )
    assert sorted(k for k, _ in taken.headers) == sorted(k for k, _ in fresh.headers)
    assert CHECK_EMAIL in fresh_page
    assert "already exists" not in taken.get_data(as_text=True) + fresh_page
    with app.app_context():
        rows = db.session.execute(sa.select(Tradie.email, Tradie.business_name)).all()
        assert sorted(rows) == [
            ("new@example.com", "New Pipes"),
            ("sam@example.com", "Sam's Old Pipes"),
        ]
    deliver_outbox(app)
    [mail] = smtp.to("sam@example.com")
    assert mail["Subject"] == "Someone tried to sign up to PeepoPay with your email"
    body = mail.get_body(("plain",)).get_content()
    assert "http://peepopay.test/auth/login" in body
    assert "http://peepopay.test/auth/forgot" in body
    assert mail.get_body(("html",)) is not None


def test_repeated_signups_with_a_taken_email_send_one_warning_an_hour(client, app, smtp):
    make_tradie(app, email="sam@example.com")
    for _ in range(3):
        assert signup(app.test_client()).status_code == 303
    deliver_outbox(app)
    assert len(smtp.to("sam@example.com")) == 1


def test_signup_still_names_a_weak_password_for_a_taken_email(client, app):
    """Validation runs before the existence check, so it cannot tell accounts apart either."""
    make_tradie(app, email="sam@example.com")
    for email in ("sam@example.com", "someone-new@example.com"):
        response = signup(app.test_client(), email=email, password="short1")
        assert response.status_code == 422
        assert "Password must be at least 10 characters." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Tradie.id))) == 1


def test_signup_rate_limit_per_address(client, app):
    assert app.config["SIGNUP_LIMIT_PER_IP"] == "5 per hour"
    app.config["SIGNUP_LIMIT_PER_IP"] = "2 per hour"
    for n in range(2):
        assert signup(client, email=f"sam{n}@example.com").status_code == 303
    response = signup(client, email="sam9@example.com")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Tradie.id))) == 2
    # Another address is not affected.
    other = app.test_client()
    data = {**GOOD, "email": "else@example.com", "csrf_token": csrf_token(other, "/auth/signup")}
    elsewhere = {"REMOTE_ADDR": "198.51.100.7"}
    assert other.post("/auth/signup", data=data, environ_base=elsewhere).status_code == 303


def test_verification_link_tampered_is_refused(client, app, tradie_id):
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        tradie.email_verified_at = None
        db.session.commit()
        token = accounts.make_token(tradie, "verify")
    client.get(f"/auth/verify/{token[:-2]}xx")
    with app.app_context():
        assert db.session.get(Tradie, tradie_id).email_verified_at is None


def test_login_logout_and_wrong_password(client, auth, tradie_id):
    bad = auth.login(password="wrong password here")
    assert bad.status_code == 422
    assert "Email or password is incorrect." in bad.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    good = auth.login(email="TRADIE@example.com")
    assert good.status_code == 303
    assert good.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    assert auth.logout().status_code == 303
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_session_is_rotated_at_login(client, auth, tradie_id):
    client.get("/auth/login")
    before = client.get_cookie("__Host-session").value
    auth.login()
    after = client.get_cookie("__Host-session").value
    assert before != after
    assert "_user_id" not in before


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/dashboard?tab=1", "/dashboard?tab=1"),
        ("https://evil.example/phish", "/dashboard"),
        ("//evil.example/phish", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ],
)
def test_next_only_goes_to_this_site(client, tradie_id, next_url, expected):
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        query_string={"next": next_url},
        data={
            "email": "tradie@example.com",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_login_rate_limit_per_account(client, app, tradie_id):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    for _ in range(3):
        token = csrf_token(client)
        data = {"email": "tradie@example.com", "password": "nope nope nope", "csrf_token": token}
        assert client.post("/auth/login", data=data).status_code == 422
    token = csrf_token(client)
    data = {"email": "tradie@example.com", "password": "correct horse battery", "csrf_token": token}
    response = client.post("/auth/login", data=data)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)
    # Another account from the same address is not locked out by the per-account limit.
    make_tradie(app, email="other@example.com", slug="other-co")
    data = {"email": "other@example.com", "password": "correct horse battery", "csrf_token": token}
    assert client.post("/auth/login", data=data).status_code == 303


def login_post(client, email="tradie@example.com", password="correct horse battery", **data):
    token = csrf_token(client)
    form = {"email": email, "password": password, "csrf_token": token, **data}
    return client.post("/auth/login", data=form)


def lock_out(app, email="tradie@example.com"):
    """Wrong passwords from a stranger's browser until the account's limit answers 429."""
    stranger = app.test_client()
    for _ in range(3):
        assert login_post(stranger, email, "nope nope nope").status_code == 422
    assert login_post(stranger, email).status_code == 429
    return stranger


def test_login_sets_a_long_lived_signed_device_cookie(client, tradie_id):
    response = login_post(client)
    assert response.status_code == 303
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(DEVICE + "=")]
    flags = [part.strip().lower() for part in header.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(flags)
    assert not any(flag.startswith("domain=") for flag in flags)  # __Host- forbids a domain
    max_age = [int(flag.split("=")[1]) for flag in flags if flag.startswith("max-age=")]
    assert max_age and max_age[0] >= 180 * 24 * 3600
    value = client.get_cookie(DEVICE).value
    assert "tradie@example.com" not in value and str(tradie_id) != value


def test_known_device_logs_in_while_the_account_is_locked_out(client, app, tradie_id):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    assert login_post(client).status_code == 303  # this browser has logged in before
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    stranger = lock_out(app)
    # The owner's own browser gets in; the stranger, even with the right password, does not.
    assert login_post(client).status_code == 303
    assert client.get("/dashboard").status_code == 200
    assert login_post(stranger).status_code == 429


def test_device_cookie_exempts_only_its_own_account(client, app, tradie_id):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    make_tradie(app, email="other@example.com", slug="other-co")
    assert login_post(client).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    lock_out(app, "other@example.com")
    assert login_post(client, "other@example.com").status_code == 429


@pytest.mark.parametrize("value", ["forged", "eyJ0IjoxfQ.aaaa.bbbb"])
def test_forged_device_cookie_does_not_exempt(client, app, tradie_id, value):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    lock_out(app)
    client.set_cookie(DEVICE, value)
    assert login_post(client).status_code == 429


def test_device_cookie_stops_exempting_after_a_password_reset(client, app, tradie_id):
    """A browser that once got in (perhaps with a stolen password) loses its pass on a reset."""
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    assert login_post(client).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        accounts.set_password(tradie, "brand new secret")
        db.session.commit()
    lock_out(app)
    assert login_post(client, password="brand new secret").status_code == 429


def test_known_device_is_still_limited_per_address(client, app, tradie_id):
    app.config["LOGIN_LIMIT_PER_IP"] = "4 per 5 minutes"
    assert login_post(client).status_code == 303
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    for _ in range(4):
        assert login_post(client, password="nope nope nope").status_code == 422
    assert login_post(client).status_code == 429


def test_password_reset_ends_every_session(client, app, smtp, tradie_id):
    other = app.test_client()
    assert login_post(other).status_code == 303
    remembered = app.test_client()
    assert login_post(remembered, remember="y").status_code == 303
    remember_cookie = remembered.get_cookie("__Host-remember").value
    client.post(
        "/auth/forgot", data={"email": "tradie@example.com", "csrf_token": csrf_token(client)}
    )
    deliver_outbox(app)
    [mail] = smtp.to("tradie@example.com")
    path = re.search(
        r"http://peepopay.test(/auth/reset/\S+)", mail.get_body(("plain",)).get_content()
    ).group(1)
    data = {"password": "brand new secret", "confirm": "brand new secret"}
    response = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
    assert response.status_code == 303
    for browser in (other, remembered):
        page = browser.get("/dashboard")
        assert page.status_code == 302
        assert page.headers["Location"].startswith("/auth/login")
    only_remembered = app.test_client()
    only_remembered.set_cookie("__Host-remember", remember_cookie)
    assert only_remembered.get("/dashboard").status_code == 302


def test_remember_cookie_signs_in_until_the_sessions_end(client, app, tradie_id):
    """The control for the test above: the remember cookie alone does sign in."""
    assert login_post(client, remember="y").status_code == 303
    only_remembered = app.test_client()
    only_remembered.set_cookie("__Host-remember", client.get_cookie("__Host-remember").value)
    assert only_remembered.get("/dashboard").status_code == 200


def test_login_rate_limit_per_ip(client, app, tradie_id):
    app.config["LOGIN_LIMIT_PER_IP"] = "4 per 5 minutes"
    for n in range(4):
        token = csrf_token(client)
        data = {"email": f"nobody{n}@example.com", "password": "whatever123", "csrf_token": token}
        assert client.post("/auth/login", data=data).status_code == 422
    token = csrf_token(client)
    data = {"email": "nobody9@example.com", "password": "whatever123", "csrf_token": token}
    response = client.post("/auth/login", data=data)
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_reset_token_works_once(client, app, smtp, tradie_id):
    response = client.post(
        "/auth/forgot", data={"email": "tradie@example.com", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 303
    deliver_outbox(app)
    [mail] = smtp.to("tradie@example.com")
    path = re.search(
        r"http://peepopay.test(/auth/reset/\S+)", mail.get_body(("plain",)).get_content()
    ).group(1)
    page = client.get(path)
    assert page.status_code == 200
    data = {
        "password": "brand new secret",
        "confirm": "brand new secret",
        "csrf_token": csrf_token(client, path),
    }
    response = client.post(path, data=data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    # Used once: the same link no longer works.
    again = client.get(path)
    assert again.status_code == 303
    assert again.headers["Location"] == "/auth/forgot"
    token = csrf_token(client)
    ok = client.post(
        "/auth/login",
        data={"email": "tradie@example.com", "password": "brand new secret", "csrf_token": token},
    )
    assert ok.status_code == 303


def test_reset_token_expires(app, tradie_id, monkeypatch):
    with app.test_request_context():
        tradie = db.session.get(Tradie, tradie_id)
        token = accounts.make_token(tradie, "reset")
        assert accounts.read_token(db.session, token, "reset") == tradie
        import itsdangerous.timed

        real_now = itsdangerous.timed.TimestampSigner.get_timestamp
        later = real_now(None) + int(timedelta(hours=1, seconds=5).total_seconds())  # type: ignore[arg-type]
        monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
        assert accounts.read_token(db.session, token, "reset") is None


def test_forgot_does_not_reveal_accounts(client, app):
    response = client.post(
        "/auth/forgot", data={"email": "ghost@example.com", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 303
    assert deliver_outbox(app) == []


def test_post_without_csrf_token_is_refused(client, tradie_id):
    response = client.post(
        "/auth/login", data={"email": "tradie@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 400
    assert "stale" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_cli_creates_verified_tradie(runner, app):
    result = runner.invoke(
        args=[
            "tradie",
            "create",
            "--email",
            "Cli@Example.com",
            "--password",
            "long enough pass",
            "--business-name",
            "CLI Builders",
            "--slug",
            "cli-builders",
            "--timezone",
            "Australia/Sydney",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        tradie = db.session.scalar(sa.select(Tradie))
        assert (tradie.email, tradie.slug, tradie.timezone) == (
            "cli@example.com",
            "cli-builders",
            "Australia/Sydney",
        )
        assert tradie.email_verified_at is not None
    result = runner.invoke(
        args=[
            "tradie",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "long enough pass",
            "--business-name",
            "X",
            "--slug",
            "admin",
        ]
    )
    assert result.exit_code != 0
    assert "--slug" in result.output and "reserved" in result.output


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sam's Pipes & Drains", "sam-s-pipes-drains"),
        ("Ōtaki Électrique", "otaki-electrique"),
        ("API", "api-co"),
    ],
)
def test_slug_derived_from_business_name(app, name, slug):
    with app.app_context():
        assert accounts.unique_slug(db.session, name) == slug
