"""The deposit, end to end through the real stripe SDK and the Stripe emulator: a direct charge
on the tradie's account, declines the customer can retry, 3-D Secure, late successes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from peepopay.bookings.models import Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.ops import metrics
from peepopay.payments.models import PaymentStatus
from tests.fixtures.factories import make_tradie
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS,
    CARD_DECLINED,
    CARD_NO_FUNDS,
    app_config,
    authenticate,
    booking,
    hold,
    later,
    outbox,
    pay,
    payments,
    payments_tradie,
    settle,
    stripe_object,
)


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    return payments_tradie(app, stripe_live)


def count(outcome: str) -> float:
    return metrics.deposits.labels(outcome=outcome)._value.get()


def test_paid_deposit_confirms_the_booking(app: Flask, stripe_live: Any, tradie: int) -> None:
    held = hold(app, tradie)
    found = stripe_object(stripe_live, held.pi)
    pi = found["object"]
    assert found["account"] == held.account  # a direct charge on the tradie's account
    assert pi["amount"] == 5000 and pi["currency"] == "nzd"
    assert pi["application_fee_amount"] == 125  # 2.5 %
    assert pi["setup_future_usage"] == "off_session"
    assert pi["customer"] and pi["receipt_email"] == "aroha@example.com"
    assert pi["metadata"] == {"booking_id": str(held.booking_id), "kind": "deposit"}
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT

    paid_before = count("paid")
    page = pay(stripe_live, held)
    assert "Payment complete" in page.text
    settle(stripe_live)

    row = booking(app, held.booking_id)
    assert row.status == Status.CONFIRMED and row.confirmed_at is not None
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert deposit.stripe_charge_id and deposit.stripe_payment_method_id
    assert deposit.application_fee_minor == 125
    assert ("confirmed", "email") in outbox(app, held.booking_id)
    assert count("paid") == paid_before + 1


def test_declines_are_explained_and_the_customer_can_retry(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    failed_before = count("failed")

    page = pay(stripe_live, held, CARD_DECLINED)
    assert "Your card was declined." in page.text
    settle(stripe_live)
    row = booking(app, held.booking_id)
    assert row.status == Status.PENDING_PAYMENT  # still held: they may retry in the same form
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.FAILED
    assert deposit.failure_code == "generic_decline"
    assert deposit.failure_message == "Your card was declined."

    page = pay(stripe_live, held, CARD_NO_FUNDS)
    assert "Your card has insufficient funds." in page.text
    settle(stripe_live)
    (deposit,) = payments(app, held.booking_id)
    assert deposit.failure_code == "insufficient_funds"
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    assert count("failed") == failed_before + 1  # one failed deposit, however many attempts
    # No "did not go through" email while they can still retry.
    assert ("payment_failed", "email") not in outbox(app, held.booking_id)

    # The same PaymentIntent still takes a good card, and the time was still free.
    page = pay(stripe_live, held)
    assert "Payment complete" in page.text
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED and deposit.failure_code is None


def expire_holds(app: Flask, now: Any) -> int:
    from peepopay.bookings.services import expire_holds as expire

    with app.app_context():
        try:
            expired = expire(db.session, now)
            db.session.commit()
            return expired
        finally:
            db.session.remove()


def test_three_d_secure_then_success(app: Flask, stripe_live: Any, tradie: int) -> None:
    held = hold(app, tradie)
    challenge = pay(stripe_live, held, CARD_3DS)
    assert "Complete authentication" in challenge.text
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT

    done = authenticate(stripe_live, held)
    assert "Payment complete" in done.text
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED


def test_failed_authentication_leaves_the_booking_unpaid(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held, CARD_3DS)
    page = authenticate(stripe_live, held, "fail")
    assert "failed authentication" in page.text
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    assert ("payment_failed", "email") not in outbox(app, held.booking_id)
    # The customer leaves: the hold runs out, the time goes and only now are they told.
    expire_holds(app, utcnow() + timedelta(minutes=16))
    assert booking(app, held.booking_id).status == Status.PAYMENT_FAILED
    assert outbox(app, held.booking_id).count(("payment_failed", "email")) == 1
    (deposit,) = payments(app, held.booking_id)
    assert deposit.failure_code == "payment_intent_authentication_failure"


def test_confirmation_step_confirms_before_the_webhook(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.bookings import payment_outcomes
    from peepopay.models import Booking

    stripe_live.control("config", {"hold_events": True})
    held = hold(app, tradie)
    pay(stripe_live, held)
    with app.app_context():
        row = db.session.get(Booking, held.booking_id)
        assert row is not None and row.status == Status.PENDING_PAYMENT
        assert payment_outcomes.sync_deposit(db.session, row, utcnow()) == "succeeded"
        db.session.commit()
        db.session.remove()
    assert booking(app, held.booking_id).status == Status.CONFIRMED

    # The webhooks arrive later and change nothing.
    stripe_live.control("release")
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert outbox(app, held.booking_id).count(("confirmed", "email")) == 1


def test_late_success_confirms_when_the_time_is_still_free(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.bookings import services as bookings

    held = hold(app, tradie)
    with app.app_context():
        assert bookings.expire_holds(db.session, later(20)) == 1
        db.session.commit()
        db.session.remove()
    assert booking(app, held.booking_id).status == Status.EXPIRED

    pay(stripe_live, held)
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert [p.kind for p in payments(app, held.booking_id)] == ["deposit"]


def test_late_success_is_refunded_when_the_time_was_taken(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.bookings import services as bookings

    held = hold(app, tradie)
    with app.app_context():
        bookings.expire_holds(db.session, later(20))
        db.session.commit()
        db.session.remove()
    other = hold(app, tradie, now=later(21))  # another customer takes the same time

    pay(stripe_live, held)
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.EXPIRED
    assert booking(app, other.booking_id).status == Status.PENDING_PAYMENT
    deposit, refund = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert refund.kind == "refund" and refund.status == PaymentStatus.SUCCEEDED
    assert refund.amount_minor == 5000 and refund.application_fee_minor == 125
    stripe_refund = stripe_object(stripe_live, refund.stripe_refund_id)["object"]
    assert stripe_refund["amount"] == 5000 and stripe_refund["status"] == "succeeded"
    fee = stripe_object(
        stripe_live,
        stripe_object(stripe_live, deposit.stripe_charge_id)["object"]["application_fee"],
    )
    assert fee["object"]["amount_refunded"] == 125  # refund_application_fee
    assert ("late_deposit_refunded", "email") in outbox(app, held.booking_id)
    assert ("confirmed", "email") not in outbox(app, held.booking_id)


def test_no_payment_intent_without_charges_enabled(app: Flask, stripe_live: Any) -> None:
    from peepopay.bookings import services as bookings
    from peepopay.models import Tradie
    from peepopay.payments import deposits
    from tests.booking_helpers import CUSTOMER, at, local_day, service_id

    tradie_id = make_tradie(app, slug="notyet")
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        row = bookings.create_held_booking(
            db.session,
            tradie=tradie,
            service_id=service_id(app, tradie_id),
            start_utc=at(local_day(3), 10),
            customer=bookings.Customer(**CUSTOMER),
            now=utcnow(),
        )
        with pytest.raises(deposits.DepositsUnavailable) as raised:
            deposits.start_deposit(db.session, row, tradie, utcnow())
        assert "aren't available" in raised.value.message
        db.session.rollback()
        db.session.remove()
    events = stripe_live.control("events?type=payment_intent.created", method="GET")["data"]
    assert events == []
