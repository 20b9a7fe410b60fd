"""Deposits whose webhook never came: the worker asks Stripe and applies what the webhook
would have, with the same handlers, so a paid deposit is never left unconfirmed."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from peepopay.bookings.models import Status
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.payments.models import PaymentStatus
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_DECLINED,
    app_config,
    booking,
    hold,
    outbox,
    pay,
    payments,
    payments_tradie,
    settle,
)
from tests.servers import free_port


@pytest.fixture
def tradie(app: Flask, stripe_live: Any) -> int:
    tradie_id = payments_tradie(app, stripe_live)
    stripe_live.control("config", {"hold_events": True})  # the webhooks are "lost"
    return tradie_id


def reconcile(app: Flask, now: datetime) -> Counter[str]:
    from peepopay.bookings.payment_outcomes import reconcile_pending_deposits

    with app.app_context():
        try:
            return reconcile_pending_deposits(db.session, now)
        finally:
            db.session.remove()


def test_a_paid_deposit_without_its_webhook_is_confirmed(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    assert "Payment complete" in pay(stripe_live, held).text
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT

    assert reconcile(app, utcnow() + timedelta(minutes=6)) == Counter(confirmed=1)
    row = booking(app, held.booking_id)
    assert row.status == Status.CONFIRMED and row.confirmed_at is not None
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert deposit.stripe_charge_id and deposit.stripe_payment_method_id
    assert outbox(app, held.booking_id).count(("confirmed", "email")) == 1

    # The next sweep leaves it alone; the webhook arriving at last changes nothing.
    assert reconcile(app, utcnow() + timedelta(minutes=7)) == Counter()
    assert stripe_live.control("release")["released"] >= 1
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    assert outbox(app, held.booking_id).count(("confirmed", "email")) == 1
    assert [p.kind for p in payments(app, held.booking_id)] == ["deposit"]


def test_recent_and_old_deposits_are_left_alone(app: Flask, stripe_live: Any, tradie: int) -> None:
    held = hold(app, tradie)
    pay(stripe_live, held)

    assert reconcile(app, utcnow() + timedelta(minutes=2)) == Counter()  # under 5 minutes
    assert reconcile(app, utcnow() + timedelta(days=3)) == Counter()  # past the two days
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.PENDING
    assert outbox(app, held.booking_id) == []


def test_an_unpaid_deposit_stays_pending(app: Flask, stripe_live: Any, tradie: int) -> None:
    held = hold(app, tradie)  # the customer closed the page before paying

    assert reconcile(app, utcnow() + timedelta(minutes=6)) == Counter(unchanged=1)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.PENDING


def test_a_declined_deposit_is_marked_failed_as_the_webhook_would(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    held = hold(app, tradie)
    assert "Your card was declined." in pay(stripe_live, held, CARD_DECLINED).text

    assert reconcile(app, utcnow() + timedelta(minutes=6)) == Counter(recorded=1)
    # Recorded, yet the hold is live, so the time stays held and nobody is emailed yet.
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.FAILED
    assert deposit.failure_code == "generic_decline"
    assert deposit.failure_message == "Your card was declined."
    assert ("payment_failed", "email") not in outbox(app, held.booking_id)

    # Checked again: the decline is already applied; the late webhook adds nothing either.
    assert reconcile(app, utcnow() + timedelta(minutes=7)) == Counter(unchanged=1)
    stripe_live.control("release")
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
    assert ("payment_failed", "email") not in outbox(app, held.booking_id)

    # The customer retries on the same PaymentIntent and pays; that webhook is lost too.
    assert "Payment complete" in pay(stripe_live, held).text
    assert reconcile(app, utcnow() + timedelta(minutes=8)) == Counter(confirmed=1)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED and deposit.failure_code is None


def test_a_canceled_payment_intent_cancels_the_deposit_record(
    app: Flask, stripe_live: Any, tradie: int
) -> None:
    from peepopay.payments import gateway

    held = hold(app, tradie)
    with app.app_context():
        gateway.client().v1.payment_intents.cancel(
            held.pi, options={"stripe_account": held.account}
        )

    assert reconcile(app, utcnow() + timedelta(minutes=6)) == Counter(canceled=1)
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.CANCELED
    assert reconcile(app, utcnow() + timedelta(minutes=7)) == Counter()  # no longer asked
    stripe_live.control("release")
    settle(stripe_live)
    (deposit,) = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.CANCELED


def test_stripe_unreachable_is_logged_and_nothing_changes(
    app: Flask, stripe_live: Any, tradie: int, caplog: pytest.LogCaptureFixture
) -> None:
    first = hold(app, tradie)
    second = hold(app, tradie, hour=13)
    pay(stripe_live, first)
    base = app.config["STRIPE_API_BASE"]
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    app.extensions.pop("stripe_client", None)
    try:
        with caplog.at_level(logging.WARNING, logger="peepopay.payments"):
            outcomes = reconcile(app, utcnow() + timedelta(minutes=6))
    finally:
        app.config["STRIPE_API_BASE"] = base
        app.extensions.pop("stripe_client", None)

    assert outcomes == Counter(stripe_error=2)  # both tried: one failure doesn't stop the loop
    assert caplog.text.count("reconciling payment") == 2
    for held in (first, second):
        assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT
        (deposit,) = payments(app, held.booking_id)
        assert deposit.status == PaymentStatus.PENDING

    # Stripe is back: the next sweep confirms the paid one.
    assert reconcile(app, utcnow() + timedelta(minutes=7)) == Counter(confirmed=1, unchanged=1)
    assert booking(app, first.booking_id).status == Status.CONFIRMED


def test_the_sweep_reconciles_at_most_once_a_minute(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peepopay import tasks
    from peepopay.bookings import payment_outcomes

    calls: list[datetime] = []
    monkeypatch.setattr(tasks, "_last_reconcile", None)
    monkeypatch.setattr(
        payment_outcomes, "reconcile_pending_deposits", lambda session, now: calls.append(now)
    )
    start = utcnow()
    with app.app_context():
        for seconds in (0, 10, 50, 60, 70, 125):
            tasks.periodic_duties(db.session, start + timedelta(seconds=seconds))
        tasks.periodic_duties(db.session, start - timedelta(hours=1))  # the clock went back
        db.session.remove()
    offsets = [int((now - start).total_seconds()) for now in calls]
    assert offsets == [0, 60, 125, -3600]


def test_a_failing_reconciliation_does_not_break_the_sweep(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from peepopay import tasks
    from peepopay.bookings import payment_outcomes

    def broken(session: Any, now: datetime) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(tasks, "_last_reconcile", None)
    monkeypatch.setattr(payment_outcomes, "reconcile_pending_deposits", broken)
    with app.app_context():
        tasks.periodic_duties(db.session, utcnow())  # no exception
        db.session.remove()
    assert "deposit reconciliation failed" in caplog.text
