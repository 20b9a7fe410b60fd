"""Two-factor codes under pressure: one code sent by many logins at once is accepted once (a
conditional UPDATE, on PostgreSQL through a real threaded server), wrong codes are limited per
pending login and per account whatever address they come from, and a code just used says so."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import urlencode

import pyotp
import pytest
import sqlalchemy as sa
from werkzeug.serving import WSGIRequestHandler, make_server

from peepopay.accounts import two_factor
from peepopay.accounts.models import RecoveryCode, Tradie
from peepopay.extensions import db, limiter
from tests.fixtures.clients import csrf_token
from tests.fixtures.factories import make_tradie

LOGINS = 12
EMAIL = "tradie@example.com"
PASSWORD = "correct horse battery"


class Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(app) -> Iterator[tuple[str, int]]:
    """The app under a real threaded WSGI server, one thread per connection."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", httpd.port
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def secured(app, frozen_clock) -> tuple[str, list[str]]:
    """A tradie with two-factor on: the app's secret and the ten recovery codes."""
    tradie_id = make_tradie(app)
    secret = two_factor.new_secret()
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        code = pyotp.TOTP(secret).at(frozen_clock.now)
        codes = two_factor.enable(db.session, tradie, secret, code, frozen_clock.now)
        db.session.commit()
    # The set-up code's step is spent: move on to the next one.
    frozen_clock.set(frozen_clock.now + timedelta(seconds=30))
    return secret, codes


def password_step(client, address: str = "127.0.0.1"):
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post("/auth/login", data=data, environ_base={"REMOTE_ADDR": address})
    assert response.headers["Location"] == "/auth/two-factor"
    return client


def send_code(client, code: str, address: str = "127.0.0.1"):
    data = {"code": code, "csrf_token": csrf_token(client, "/auth/two-factor")}
    return client.post("/auth/two-factor", data=data, environ_base={"REMOTE_ADDR": address})


def pending_logins(app, n: int) -> list[tuple[str, str]]:
    """n browsers past the password, each as (session cookie, CSRF token of its code form)."""
    logins = []
    for _ in range(n):
        client = password_step(app.test_client())
        token = csrf_token(client, "/auth/two-factor")
        logins.append((client.get_cookie("__Host-session").value, token))
    return logins


def fire(address: tuple[str, int], logins: list[tuple[str, str]], code: str) -> list[tuple]:
    """Every pending login sends `code` at the same moment: connect first, then a barrier."""
    barrier = threading.Barrier(len(logins))
    results: list[tuple[int, str]] = [(0, "")] * len(logins)

    def send(index: int, cookie: str, token: str) -> None:
        conn = http.client.HTTPConnection(*address, timeout=120)
        try:
            conn.connect()
            body = urlencode({"code": code, "csrf_token": token})
            headers = {
                "Cookie": f"__Host-session={cookie}",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"Werkzeug/{version('werkzeug')}",
            }
            barrier.wait()
            conn.request("POST", "/auth/two-factor", body, headers)
            response = conn.getresponse()
            results[index] = (response.status, response.read().decode())
        finally:
            conn.close()

    threads = [threading.Thread(target=send, args=(i, *login)) for i, login in enumerate(logins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return results


def assert_exactly_one_login(results: list[tuple[int, str]]) -> None:
    statuses = Counter(status for status, _ in results)
    assert statuses == {303: 1, 422: len(results) - 1}, statuses
    for status, body in results:
        if status == 422:
            assert "That code was already used." in body


@pytest.fixture
def no_rate_limits(monkeypatch) -> None:
    """Races only: the database alone must let one request through."""
    monkeypatch.setattr(limiter, "enabled", False)


def test_one_authenticator_code_sent_by_twelve_logins_at_once_signs_in_once(
    app, server, secured, frozen_clock, no_rate_limits
):
    secret, _codes = secured
    logins = pending_logins(app, LOGINS)
    results = fire(server, logins, pyotp.TOTP(secret).at(frozen_clock.now))
    assert_exactly_one_login(results)
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        assert tradie.totp_last_step == pyotp.TOTP(secret).timecode(frozen_clock.now)


def test_one_recovery_code_sent_by_twelve_logins_at_once_signs_in_once(
    app, server, secured, no_rate_limits
):
    _secret, codes = secured
    logins = pending_logins(app, LOGINS)
    assert_exactly_one_login(fire(server, logins, codes[0]))
    with app.app_context():
        used = db.session.scalar(
            sa.select(sa.func.count(RecoveryCode.id)).where(RecoveryCode.used_at.is_not(None))
        )
        assert used == 1


def test_a_code_just_used_says_so(app, secured, frozen_clock):
    secret, codes = secured
    code = pyotp.TOTP(secret).at(frozen_clock.now)
    assert send_code(password_step(app.test_client()), code).status_code == 303
    again = send_code(password_step(app.test_client()), code)
    assert again.status_code == 422
    page = again.get_data(as_text=True)
    assert "That code was already used. Wait for the next code in your app" in page
    assert "not valid" not in page
    assert send_code(password_step(app.test_client()), codes[1]).status_code == 303
    assert "already used" in send_code(password_step(app.test_client()), codes[1]).get_data(
        as_text=True
    )
    wrong = send_code(password_step(app.test_client()), "000000" if code != "000000" else "1")
    assert "That code is not valid." in wrong.get_data(as_text=True)


def wrong_code(secret: str, clock) -> str:
    """A six-digit code that is none of the drift window's."""
    totp = pyotp.TOTP(secret)
    window = {totp.at(clock.now + timedelta(seconds=s)) for s in (-30, 0, 30)}
    return next(c for c in (f"{n:06d}" for n in range(1000)) if c not in window)


def test_wrong_codes_on_one_pending_login_are_limited_whatever_the_address(
    app, secured, frozen_clock
):
    secret, _codes = secured
    browser = password_step(app.test_client())
    statuses = [
        send_code(browser, wrong_code(secret, frozen_clock), f"198.51.100.{n % 6}").status_code
        for n in range(60)
    ]
    assert 429 in statuses, Counter(statuses)
    assert statuses.count(422) <= 5
    # Limited means limited: the right code is refused too, from yet another address.
    right = send_code(browser, pyotp.TOTP(secret).at(frozen_clock.now), "203.0.113.9")
    assert right.status_code == 429
    assert browser.get("/dashboard").status_code == 302


def test_wrong_codes_are_limited_per_account_across_pending_logins(app, secured, frozen_clock):
    secret, _codes = secured
    app.config["TWO_FACTOR_LIMIT_PER_ACCOUNT"] = "8 per hour"
    statuses = []
    for n in range(6):  # a new pending login, from a new address, before each login's limit
        browser = password_step(app.test_client(), f"198.51.100.{n}")
        for _ in range(3):
            code = wrong_code(secret, frozen_clock)
            statuses.append(send_code(browser, code, f"198.51.100.{n}").status_code)
    assert statuses.count(422) == 8 and statuses[8:] == [429] * 10, statuses
    fresh = password_step(app.test_client(), "203.0.113.9")
    right = send_code(fresh, pyotp.TOTP(secret).at(frozen_clock.now), "203.0.113.9")
    assert right.status_code == 429
