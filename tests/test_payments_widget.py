"""The deposit from the customer's side: the public API and the widget's payment and
confirmation steps, in demo mode (the emulator's card form) and real mode (Stripe.js)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from peepopay.bookings.models import Status
from peepopay.extensions import db
from tests.booking_helpers import CUSTOMER, at, iso_z, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    Held,
    app_config,
    booking,
    pay,
    payments,
    payments_tradie,
    settle,
    stripe_object,
)


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def book(client: FlaskClient, app: Flask, tradie: int, **extra: Any) -> Any:
    body = {
        "serviceId": service_id(app, tradie),
        "start": iso_z(at(local_day(3), 10)),
        "customer": dict(CUSTOMER),
        **extra,
    }
    return client.post("/api/widget/kiwi/book", json=body)


def token_for(app: Flask, booking_id: int) -> str:
    from peepopay.bookings.tokens import booking_token

    with app.app_context():
        return booking_token(booking_id)


def test_book_answers_the_deposit_intent_and_ignores_client_amounts(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int
) -> None:
    response = book(client, app, tradie, depositAmount=1, amount=1, applicationFeeAmount=0)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["depositAmount"] == 5000 and body["status"] == "pending_payment"
    assert body["publishableKey"] == "pk_test_peepopay_tests"
    pi_id = body["stripeClientSecret"].split("_secret_")[0]
    found = stripe_object(stripe_live, pi_id)
    assert found["account"] == body["stripeAccountId"]
    assert found["object"]["amount"] == 5000  # the server's figure, not the client's
    assert found["object"]["application_fee_amount"] == 125
    (deposit,) = payments(app, body["bookingId"])
    assert deposit.stripe_payment_intent_id == pi_id and deposit.amount_minor == 5000


def test_book_refuses_without_deposits_and_keeps_the_time_free(
    app: Flask, client: FlaskClient, stripe_live: Any
) -> None:
    from tests.fixtures.factories import make_tradie

    tradie = make_tradie(app, slug="kiwi")  # never connected Stripe
    response = book(client, app, tradie)
    assert response.status_code == 409
    assert "aren't available" in response.get_json()["error"]["message"]
    with app.app_context():
        from peepopay.models import Booking

        assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0
    assert stripe_live.control("events?type=payment_intent.created", method="GET")["data"] == []


def test_payment_step_embeds_the_demo_card_form(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int
) -> None:
    body = book(client, app, tradie).get_json()
    token = token_for(app, body["bookingId"])
    url = f"/book/kiwi/pay/{token}?origin=https://plumber.example"

    partial = client.get(url, headers={"HX-Request": "true"})
    assert partial.headers["HX-Redirect"].endswith(url)  # a whole page, for its own CSP

    page = client.get(url)
    text = page.get_data(as_text=True)
    pi_id = body["stripeClientSecret"].split("_secret_")[0]
    assert page.status_code == 200
    assert text.count("Demo payments — no real money") == 1  # one notice, ours
    assert "Paid?" not in text and "Continue to your booking" not in text  # nothing before paying
    assert 'style="' not in text  # the card frame is sized by CSS and payment.js
    # The hold as a countdown (payment.js ticks it) and a local time with its zone.
    countdown = re.search(r'role="timer" data-seconds-left="(\d+)">(\d+) min<', text)
    assert countdown and 14 * 60 <= int(countdown[1]) <= 15 * 60 and countdown[2] in ("14", "15")
    assert re.search(r"\(until \d{1,2}:\d\d [ap]m NZ[DS]T\)", text)
    # The amount comes before the card form (in the body: the page's inlined stylesheet names
    # the frame's class too).
    content = text[text.index("<body") :]
    assert content.index("Deposit now") < content.index("pp-card-frame")
    assert f"{stripe_live.url}/hosted/elements/{pi_id}" in text
    assert "parent_origin=http%3A%2F%2Flocalhost" in text
    assert "widget/payment.js" in text and "js.stripe.com" not in text
    csp = page.headers["Content-Security-Policy"]
    assert f"frame-src 'self' {stripe_live.url}" in csp
    assert "js.stripe.com" not in csp and "script-src 'self';" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_confirmation_step_checks_with_stripe(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int
) -> None:
    stripe_live.control("config", {"hold_events": True})  # no webhook before the browser
    body = book(client, app, tradie).get_json()
    token = token_for(app, body["bookingId"])
    pi_id, secret = body["stripeClientSecret"].split("_secret_")[0], body["stripeClientSecret"]
    held = Held(body["bookingId"], pi_id, secret, body["stripeAccountId"])

    waiting = client.get(f"/book/kiwi/done/{token}").get_data(as_text=True)
    assert "Waiting for your deposit" in waiting

    pay(stripe_live, held)
    done = client.get(f"/book/kiwi/done/{token}")
    assert "booked" in html.unescape(done.get_data(as_text=True))
    confirmed = booking(app, held.booking_id)
    assert confirmed.status == Status.CONFIRMED
    # The customer can manage the booking from here, as from every message.
    assert f'href="/b/{confirmed.public_token}"' in done.get_data(as_text=True)
    stripe_live.control("release")
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED


def test_real_mode_loads_stripe_js_only_on_the_payment_step(app: Flask) -> None:
    from peepopay.models import Booking
    from peepopay.widget.payment import payment_view

    app.config["STRIPE_API_BASE"] = None
    with app.test_request_context("/book/kiwi/pay/x"):
        from flask import g

        view = payment_view(
            Booking(id=1),
            client_secret="pi_1_secret_2",
            account_id="acct_1",
            publishable_key="pk_test_1",
            payment_intent_id="pi_1",
            confirm_url="/book/kiwi/done/x",
            frame_ancestors="*",
        )
        assert view.mode == "stripe" and view.frame_url is None
        csp = g.widget_csp
    assert "script-src 'self' https://js.stripe.com" in csp
    assert "frame-src 'self' https://js.stripe.com https://hooks.stripe.com" in csp
    assert "connect-src 'self' https://js.stripe.com https://api.stripe.com" in csp
