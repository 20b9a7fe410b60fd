"""Two-factor sign-in: turning it on with a QR code, codes after the password, recovery codes,
replays refused within the window, turning it off only with a current code."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from peepopay.accounts import two_factor
from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.extensions import db
from tests.fixtures.clients import csrf_token

PAGE = "/dashboard/settings/two-factor"


def code_at(secret: str, clock) -> str:
    return pyotp.TOTP(secret).at(clock.now)


def turn_on(dash, clock) -> tuple[str, list[str]]:
    page = dash.get(PAGE).get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    done = dash.post(f"{PAGE}/enable", {"code": code_at(secret, clock)})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(
        r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.get_data(as_text=True)
    )
    return secret, codes


def password_login(client, email="tradie@example.com"):
    return client.post(
        "/auth/login",
        data={
            "email": email,
            "password": "correct horse battery",
            "csrf_token": csrf_token(client),
        },
    )


def second_factor(client, code: str):
    token = csrf_token(client, "/auth/two-factor")
    return client.post("/auth/two-factor", data={"code": code, "csrf_token": token})


def test_setup_page_draws_the_qr_code_on_the_server_without_inline_style(dash, frozen_clock):
    response = dash.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<svg" in page and "<path" in page
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert "style-src 'self';" in response.headers["Content-Security-Policy"]
    fragment = dash.get(PAGE, htmx=True).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="two-factor"')


def test_turning_on_needs_a_code_from_the_app_and_gives_ten_hashed_recovery_codes(
    app, dash, frozen_clock
):
    wrong = dash.post(f"{PAGE}/enable", {"code": "000000"})
    assert wrong.status_code == 422
    assert "That code doesn&#39;t match" in wrong.get_data(as_text=True)
    secret, codes = turn_on(dash, frozen_clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert tradie.two_factor_on and tradie.totp_secret == secret
        stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not set(codes) & set(stored)  # hashes only, never the codes
    assert hashlib.sha256(codes[0].replace("-", "").encode()).hexdigest() in stored
    assert "10 of 10 recovery codes left" in dash.get(PAGE).get_data(as_text=True)


def test_login_asks_for_the_code_after_the_password(app, client, dash, frozen_clock):
    secret, _codes = turn_on(dash, frozen_clock)
    fresh = app.test_client()
    response = password_login(fresh)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/two-factor"
    assert fresh.get("/dashboard").status_code == 302  # not signed in yet
    wrong = second_factor(
        fresh, "123456" if code_at(secret, frozen_clock) != "123456" else "654321"
    )
    assert wrong.status_code == 422
    frozen_clock.set(frozen_clock.now + timedelta(seconds=30))
    good = second_factor(fresh, code_at(secret, frozen_clock))
    assert good.status_code == 303 and good.headers["Location"] == "/dashboard"
    assert fresh.get("/dashboard").status_code == 200


def test_a_code_is_refused_when_replayed_within_its_window(app, dash, frozen_clock):
    secret, _codes = turn_on(dash, frozen_clock)
    frozen_clock.set(frozen_clock.now + timedelta(seconds=60))
    code = code_at(secret, frozen_clock)
    first = app.test_client()
    password_login(first)
    assert second_factor(first, code).status_code == 303
    # The same code, still inside its 30-second step (and the drift window), from elsewhere.
    frozen_clock.set(frozen_clock.now + timedelta(seconds=10))
    second = app.test_client()
    password_login(second)
    replay = second_factor(second, code)
    assert replay.status_code == 422
    assert second.get("/dashboard").status_code == 302
    # An older code from the drift window is refused too once a newer one was taken.
    frozen_clock.set(frozen_clock.now + timedelta(seconds=30))
    older = pyotp.TOTP(secret).at(frozen_clock.now - timedelta(seconds=30))
    assert older == code or second_factor(second, older).status_code == 422
    assert second_factor(second, code_at(secret, frozen_clock)).status_code == 303


def test_a_recovery_code_logs_in_once(app, dash, frozen_clock):
    _secret, codes = turn_on(dash, frozen_clock)
    first = app.test_client()
    password_login(first)
    assert second_factor(first, codes[3].upper()).status_code == 303
    second = app.test_client()
    password_login(second)
    assert second_factor(second, codes[3]).status_code == 422
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert two_factor.remaining_recovery_codes(db.session, tradie) == 9


def test_turning_off_needs_a_current_code(app, dash, frozen_clock):
    secret, _codes = turn_on(dash, frozen_clock)
    refused = dash.post(f"{PAGE}/disable", {"code": "000000"})
    assert refused.status_code == 422
    frozen_clock.set(frozen_clock.now + timedelta(seconds=30))
    done = dash.post(f"{PAGE}/disable", {"code": code_at(secret, frozen_clock)})
    assert done.status_code == 303
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert not tradie.two_factor_on and tradie.totp_secret is None
        assert db.session.scalar(sa.select(sa.func.count(RecoveryCode.id))) == 0
    fresh = app.test_client()
    assert password_login(fresh).headers["Location"] == "/dashboard"


@pytest.mark.parametrize("offset, accepted", [(-30, True), (0, True), (30, True), (90, False)])
def test_codes_from_neighbouring_steps_are_accepted_for_clock_drift(offset, accepted, dash_now):
    secret = two_factor.new_secret()
    tradie = Tradie(totp_secret=secret, totp_last_step=None)
    code = pyotp.TOTP(secret).at(dash_now + timedelta(seconds=offset))
    assert (two_factor.totp_step(tradie, code, dash_now) is not None) is accepted
