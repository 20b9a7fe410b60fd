"""Stripe's webhooks: signatures, duplicates, any order, and the Connect account lifecycle."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from peepopay.bookings.models import Status
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.payments.models import PaymentStatus
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_DECLINED,
    app_config,
    booking,
    event_payload,
    hold,
    outbox,
    pay,
    payments,
    payments_tradie,
    settle,
    signed,
)

PLATFORM = TestingConfig.STRIPE_WEBHOOK_SECRET or ""
CONNECT = TestingConfig.STRIPE_CONNECT_WEBHOOK_SECRET or ""


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def post(client: FlaskClient, path: str, payload: str, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(path, data=payload, headers=headers)


def stored_events(app: Flask) -> list[str]:
    from peepopay.models import StripeEvent

    with app.app_context():
        ids = list(db.session.scalars(sa.select(StripeEvent.id)))
        db.session.remove()
        return ids


@pytest.mark.parametrize(
    ("path", "secret"),
    [("/webhooks/stripe", PLATFORM), ("/webhooks/stripe/connect", CONNECT)],
)
def test_signatures_are_checked_on_each_endpoint(
    app: Flask, client: FlaskClient, path: str, secret: str
) -> None:
    from peepopay.ops import metrics

    def counted(type_: str, result: str) -> float:
        return metrics.webhook_events.labels(type=type_, result=result)._value.get()

    payload = event_payload("customer.created", {"id": "cus_1", "object": "customer"})
    other = CONNECT if secret == PLATFORM else PLATFORM
    rejected_before = counted("unverified", "bad_signature")
    ignored_before = counted("customer.created", "ignored")

    assert post(client, path, payload, None).status_code == 400
    assert post(client, path, payload, "t=1,v1=nonsense").status_code == 400
    assert post(client, path, payload, signed(payload, other)).status_code == 400  # wrong secret
    forged = signed(payload, secret).replace("v1=", "v1=0")
    assert post(client, path, payload, forged).status_code == 400
    stale = signed(payload, secret, timestamp=int(time.time()) - 301)
    assert post(client, path, payload, stale).status_code == 400
    tampered = payload.replace("cus_1", "cus_2")
    assert post(client, path, tampered, signed(payload, secret)).status_code == 400
    assert stored_events(app) == []

    fine = post(client, path, payload, signed(payload, secret))
    assert fine.status_code == 200 and fine.get_json()["result"] == "ignored"
    again = post(client, path, payload, signed(payload, secret))
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert len(stored_events(app)) == 1
    assert counted("unverified", "bad_signature") == rejected_before + 6
    assert counted("customer.created", "ignored") == ignored_before + 1


@pytest.mark.both_databases
def test_each_event_five_times_in_any_order_changes_state_once(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.models import AuditLog

    stripe_live.control("config", {"deliver_times": 5, "shuffle": True, "hold_events": True})
    held = hold(app, tradie)
    pay(stripe_live, held, CARD_DECLINED)
    pay(stripe_live, held)
    stripe_live.control("release")
    settle(stripe_live)

    assert booking(app, held.booking_id).status == Status.CONFIRMED
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    messages = outbox(app, held.booking_id)
    assert messages.count(("confirmed", "email")) == 1
    assert messages.count(("new_booking", "email")) == 1
    assert messages.count(("payment_failed", "email")) <= 1  # only if it came first
    with app.app_context():
        confirmations = db.session.scalar(
            sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "booking.confirmed")
        )
        db.session.remove()
    assert confirmations == 1
    deliveries = stripe_live.control("events?type=payment_intent.succeeded", method="GET")["data"]
    assert len(deliveries[0]["deliveries"]) == 5
    assert all(d["state"] == "succeeded" for d in deliveries[0]["deliveries"])


@pytest.mark.both_databases
def test_refund_events_five_times_record_one_refund(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.clock import utcnow
    from peepopay.models import Booking, Tradie
    from peepopay.payments import refunds

    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    stripe_live.control("config", {"deliver_times": 5, "shuffle": True, "hold_events": True})
    with app.app_context():
        row = db.session.get(Booking, held.booking_id)
        owner = db.session.get(Tradie, tradie)
        assert row is not None and owner is not None
        refunds.refund(db.session, row, owner, 1500, "Shorter job", utcnow())
        db.session.commit()
        db.session.remove()
    stripe_live.control("release")
    settle(stripe_live)
    deposit, refund = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert refund.kind == "refund" and refund.amount_minor == 1500
    assert refund.status == PaymentStatus.SUCCEEDED
    assert outbox(app, held.booking_id).count(("refund_processed", "email")) == 1


def test_refund_made_in_stripes_dashboard_is_recorded(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    client = stripe_live.client("sk_test_dashboard")
    client.v1.refunds.create(
        {"payment_intent": held.pi, "amount": 2000}, options={"stripe_account": held.account}
    )
    settle(stripe_live)
    deposit, refund = payments(app, held.booking_id)
    assert refund.stripe_payment_intent_id == deposit.stripe_payment_intent_id
    assert (refund.kind, refund.amount_minor, refund.status) == ("refund", 2000, "succeeded")
    # Refunded without the platform fee (the dashboard's default): our fee stays.
    assert refund.reason == "Refunded in Stripe" and refund.application_fee_minor == 0
    assert ("refund_processed", "email") in outbox(app, held.booking_id)

    client.v1.refunds.create(
        {"payment_intent": held.pi, "amount": 1000, "refund_application_fee": True},
        options={"stripe_account": held.account},
    )
    settle(stripe_live)
    second = payments(app, held.booking_id)[2]
    assert second.amount_minor == 1000
    assert second.application_fee_minor == 75  # 125 * 3000/5000 returned in all, none before


def test_account_updated_switches_deposits_on(
    app: Flask, stripe_live: Any, signed_in: FlaskClient, tradie_id: int
) -> None:
    import requests

    from peepopay.models import Tradie

    page = signed_in.get("/dashboard/payments")
    assert "Connect Stripe" in page.get_data(as_text=True)
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    started = signed_in.post("/dashboard/payments/connect", data={"csrf_token": token})
    assert started.status_code == 303
    link = started.headers["Location"]
    assert link.startswith(f"{stripe_live.url}/hosted/onboarding/")
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None and tradie.stripe_account_id
        assert not tradie.charges_enabled
        account = tradie.stripe_account_id
        db.session.remove()
    controller = stripe_live.control(f"objects/{account}", method="GET")["object"]["controller"]
    assert controller["stripe_dashboard"] == {"type": "full"}
    assert controller["fees"] == {"payer": "account"}
    assert controller["losses"] == {"payments": "stripe"}

    # The tradie completes Stripe's onboarding; Stripe sends them back and says so by webhook.
    finished = requests.post(link, allow_redirects=False, timeout=10)
    assert finished.headers["Location"] == "http://peepopay.test/dashboard/payments/return"
    settle(stripe_live)
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        assert tradie.charges_enabled and tradie.payouts_enabled and tradie.details_submitted
        db.session.remove()
    back = signed_in.get("/dashboard/payments/return")
    assert back.status_code == 303
    assert "Connected" in signed_in.get("/dashboard/payments").get_data(as_text=True)


def test_deauthorized_account_is_disconnected(app: Flask, stripe_live: Any, tradie: int) -> None:
    from peepopay.models import Tradie

    with app.app_context():
        tradie_row = db.session.get(Tradie, tradie)
        assert tradie_row is not None
        account = tradie_row.stripe_account_id
        db.session.remove()
    stripe_live.control(f"accounts/{account}/deauthorize")
    settle(stripe_live)
    with app.app_context():
        tradie_row = db.session.get(Tradie, tradie)
        assert tradie_row is not None
        assert tradie_row.stripe_account_id is None and not tradie_row.charges_enabled
        db.session.remove()


def test_dispute_flags_the_booking_and_tells_the_tradie(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held)
    settle(stripe_live)
    (deposit,) = payments(app, held.booking_id)
    stripe_live.control(f"charges/{deposit.stripe_charge_id}/dispute")
    settle(stripe_live)
    assert booking(app, held.booking_id).disputed
    assert ("dispute_opened", "email") in outbox(app, held.booking_id)


def test_events_for_another_account_are_ignored(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pi = {
        "id": held.pi,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "currency": "nzd",
        "metadata": {"booking_id": str(held.booking_id), "kind": "deposit"},
    }
    payload = event_payload("payment_intent.succeeded", pi, account="acct_someone_else")
    answer = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert answer.status_code == 200 and answer.get_json()["result"] == "ignored"
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    assert json.loads(payload)["id"] in stored_events(app)


@pytest.mark.both_databases
@pytest.mark.parametrize("failure", ["stripe_away", "crash"])
def test_an_event_that_failed_is_applied_when_stripe_sends_it_again(
    app: Flask, client: FlaskClient, stripe_live: Any, tradie: int, monkeypatch: Any, failure: str
) -> None:
    """The first delivery fails inside its handler; nothing of it may stay committed, so the
    retry with the same id is applied, not answered "duplicate"."""
    from peepopay.bookings import payment_outcomes
    from peepopay.payments.gateway import PaymentError

    held = hold(app, tradie)
    account = held.account
    pi = {
        "id": held.pi,
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 5000,
        "currency": "nzd",
        "metadata": {"booking_id": str(held.booking_id), "kind": "deposit"},
    }
    payload = event_payload("payment_intent.succeeded", pi, account=account)
    real = payment_outcomes.deposit_succeeded

    def fails(*args: Any, **kwargs: Any) -> str:
        real(*args, **kwargs)  # its writes happen, then the handler fails
        if failure == "stripe_away":
            raise PaymentError(503, "Stripe is not answering.")
        raise RuntimeError("handler bug")

    monkeypatch.setattr(payment_outcomes, "deposit_succeeded", fails)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as production does
    first = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert first.status_code == (503 if failure == "stripe_away" else 500)
    assert json.loads(payload)["id"] not in stored_events(app)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT

    monkeypatch.setattr(payment_outcomes, "deposit_succeeded", real)
    again = post(client, "/webhooks/stripe/connect", payload, signed(payload, CONNECT))
    assert again.status_code == 200 and again.get_json()["result"] == "confirmed"
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert json.loads(payload)["id"] in stored_events(app)


@pytest.mark.both_databases
@pytest.mark.parametrize(
    "event",
    [
        [],
        ["evt_1"],
        "evt_1",
        7,
        None,
        {"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}},
        {"id": "", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}},
        {"id": ["evt_1"], "type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_no_data", "type": "payment_intent.succeeded"},
        {"id": "evt_data_list", "type": "payment_intent.succeeded", "data": []},
        {"id": "evt_no_object", "type": "payment_intent.succeeded", "data": {}},
        {"id": "evt_object_str", "type": "payment_intent.succeeded", "data": {"object": "pi"}},
        {"id": "evt_type_list", "type": ["x"], "data": {"object": {"id": "pi_1"}}},
    ],
)
@pytest.mark.parametrize(
    ("path", "secret"),
    [("/webhooks/stripe", PLATFORM), ("/webhooks/stripe/connect", CONNECT)],
)
def test_a_signed_but_malformed_event_is_refused_and_stores_nothing(
    app: Flask, client: FlaskClient, event: Any, path: str, secret: str
) -> None:
    payload = json.dumps(event)
    answer = post(client, path, payload, signed(payload, secret))
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert "event" in answer.get_json()["error"]
    assert stored_events(app) == []
