"""Checkout Sessions: creation, the hosted pay page, completion events, expiry."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import stripe

SUCCESS_URL = "https://app.example/paid?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://app.example/cancelled"
VISA = {"number": "4242 4242 4242 4242", "exp": "12 / 34", "cvc": "123"}


@pytest.fixture
def session(client, on_account):
    return client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "aud",
                        "unit_amount": 7500,
                        "product_data": {"name": "Balance for job #42"},
                    },
                    "quantity": 2,
                }
            ],
            "customer_email": "c@example.com",
            "payment_intent_data": {
                "application_fee_amount": 375,
                "metadata": {"booking_id": "42", "kind": "balance"},
            },
            "metadata": {"booking_id": "42"},
            "success_url": SUCCESS_URL,
            "cancel_url": CANCEL_URL,
        },
        options=on_account,
    )


def test_a_new_session_is_open_with_a_hosted_url(session, emulator):
    assert session.id.startswith("cs_test_") and session.object == "checkout.session"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency) == (15000, "aud")
    assert session.url == f"{emulator.url}/hosted/checkout/{session.id}"
    assert session.payment_intent is None


def test_paying_on_the_hosted_page_completes_the_session(
    client, on_account, session, http, emulator, webhook_receiver
):
    page = http.get(session.url)
    assert page.status_code == 200 and "Balance for job #42" in page.text
    assert "$150.00" in page.text

    paid = http.post(session.url, data={**VISA, "email": "c@example.com"}, allow_redirects=False)

    assert paid.status_code == 303
    assert paid.headers["Location"] == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, options=on_account)
    assert (done.status, done.payment_status) == ("complete", "paid")
    assert done.customer_details.email == "c@example.com"
    pi = client.v1.payment_intents.retrieve(done.payment_intent, options=on_account)
    assert (pi.status, pi.amount, pi.application_fee_amount) == ("succeeded", 15000, 375)
    assert pi.metadata.to_dict() == {"booking_id": "42", "kind": "balance"}
    emulator.control("flush")
    types = webhook_receiver.types("/connect")
    assert {"checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"} <= set(
        types
    )
    [completed] = webhook_receiver.events("/connect", "checkout.session.completed")
    assert completed.data.object.metadata.booking_id == "42"


def test_a_declined_card_shows_stripes_message_and_allows_a_retry(
    client, on_account, session, http
):
    declined = http.post(session.url, data={**VISA, "number": "4000000000009995"})
    assert declined.status_code == 200
    assert "Your card has insufficient funds." in declined.text
    assert client.v1.checkout.sessions.retrieve(session.id, options=on_account).status == "open"

    retried = http.post(session.url, data=VISA, allow_redirects=False)
    assert retried.status_code == 303


def test_3ds_inside_checkout_returns_to_the_session(client, on_account, session, http):
    challenged = http.post(
        session.url, data={**VISA, "number": "4000002760003184"}, allow_redirects=False
    )
    challenge_url = challenged.headers["Location"]
    assert urlsplit(challenge_url).path.startswith("/hosted/3ds/")
    secret = challenge_url.split("client_secret=")[1]

    back = http.post(
        challenge_url.split("?")[0],
        data={"action": "complete", "client_secret": secret},
        allow_redirects=False,
    )
    finished = http.get(back.headers["Location"], allow_redirects=False)

    assert finished.headers["Location"].startswith("https://app.example/paid?session=cs_test_")
    assert client.v1.checkout.sessions.retrieve(session.id, options=on_account).status == "complete"


def test_expire_closes_an_open_session(
    client, on_account, session, http, webhook_receiver, emulator
):
    expired = client.v1.checkout.sessions.expire(session.id, options=on_account)
    assert expired.status == "expired"
    assert "expired" in http.get(session.url).text
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id, options=on_account)
    emulator.control("flush")
    assert "checkout.session.expired" in webhook_receiver.types("/connect")


def test_sessions_expire_on_their_own_when_time_is_up(client, on_account, session, emulator):
    emulator.control("clock", {"advance_seconds": 24 * 3600})
    assert client.v1.checkout.sessions.retrieve(session.id, options=on_account).status == "expired"


def test_sessions_are_listed_per_account(client, on_account, session):
    assert [s.id for s in client.v1.checkout.sessions.list(options=on_account).data] == [session.id]
    assert client.v1.checkout.sessions.list().data == []
    items = client.v1.checkout.sessions.line_items.list(session.id, options=on_account)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Balance for job #42", 2, 15000)
    ]
