"""The audit trail says what happened to a balance attempt: charged, needs the customer (the
bank asked for them, or no card was saved), or declined; never "charged" for one that failed."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.audit import AuditLog
from peepopay.extensions import db
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS_ALWAYS,
    Held,
    app_config,
    authenticate,
    connect,
    hold,
    pay,
    payments,
    settle,
)


@pytest.fixture
def connected(app: Flask, stripe_live: Any, tradie_id: int) -> int:
    connect(app, tradie_id, stripe_live)
    return tradie_id


def trail(app: Flask, booking_id: int) -> list[AuditLog]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(AuditLog)
                .where(AuditLog.entity_type == "booking", AuditLog.entity_id == str(booking_id))
                .order_by(AuditLog.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def balance_entries(app: Flask, booking_id: int) -> list[AuditLog]:
    return [e for e in trail(app, booking_id) if e.action.startswith("payment.balance")]


def paid_deposit(app: Flask, stripe_live: Any, tradie_id: int, card: str | None = None) -> Held:
    held = hold(app, tradie_id)
    if card:
        pay(stripe_live, held, card)
        authenticate(stripe_live, held)
    else:
        pay(stripe_live, held)
    settle(stripe_live)
    return held


def test_a_charged_balance_is_recorded_as_charged(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = paid_deposit(app, stripe_live, connected)
    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    _deposit, balance = payments(app, held.booking_id)
    assert balance.status == PaymentStatus.SUCCEEDED
    [entry] = balance_entries(app, held.booking_id)
    assert entry.action == "payment.balance_charged"
    assert entry.summary["outcome"] == "charged" and entry.summary["balance_minor"] == 15000
    page = dash.get(f"/dashboard/bookings/{held.booking_id}").get_data(as_text=True)
    assert "Balance charged" in page


def test_a_balance_the_bank_wants_the_customer_for_is_not_charged(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = paid_deposit(app, stripe_live, connected, CARD_3DS_ALWAYS)
    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    _deposit, balance = payments(app, held.booking_id)
    assert balance.status == PaymentStatus.AWAITING
    [entry] = balance_entries(app, held.booking_id)
    assert entry.action == "payment.balance_needs_customer"
    assert entry.summary["failure_code"] == "authentication_required"
    assert entry.summary["payment_link"] is True
    page = dash.get(f"/dashboard/bookings/{held.booking_id}").get_data(as_text=True)
    assert "Balance needs the customer: payment link sent" in page
    assert "Balance charged" not in page


def test_a_declined_balance_is_recorded_as_declined(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = paid_deposit(app, stripe_live, connected)
    deposit = payments(app, held.booking_id)[0]
    # The saved card now declines every charge (Stripe's 4000 0000 0000 0341 saves fine).
    sdk = stripe_live.client("sk_test_peepopay_tests")
    options = {"stripe_account": held.account}
    card = sdk.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4000000000000341", "exp_month": 12, "exp_year": 2034},
        },
        options=options,
    )
    sdk.v1.payment_methods.attach(
        card.id, {"customer": deposit.stripe_customer_id}, options=options
    )
    with app.app_context():
        db.session.execute(
            sa.update(Payment)
            .where(Payment.id == deposit.id)
            .values(stripe_payment_method_id=card.id)
        )
        db.session.commit()

    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    balance = next(p for p in payments(app, held.booking_id) if p.kind == PaymentKind.BALANCE)
    assert balance.status == PaymentStatus.AWAITING and balance.failure_code == "generic_decline"
    [entry] = balance_entries(app, held.booking_id)
    assert entry.action == "payment.balance_declined"
    assert entry.summary["outcome"] == "declined"
    page = dash.get(f"/dashboard/bookings/{held.booking_id}").get_data(as_text=True)
    assert "Balance declined: payment link sent" in page
    assert "Balance charged" not in page
