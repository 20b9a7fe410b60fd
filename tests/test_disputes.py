"""Disputes through their life: opened (funds withdrawn), evidence submitted, closed, funds
reinstated, in any order Stripe delivers them; status, amount, reason and the evidence deadline
on the booking page, an email to the tradie with the deadline and a link to Stripe, and the
ledger and the month's totals showing what was withdrawn and reinstated."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from peepopay.clock import utcnow
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.models import Dispute, OutboxMessage, StripeEvent, Tradie
from peepopay.payments import ledger, reports
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    Held,
    app_config,
    booking,
    connect,
    event_payload,
    hold,
    pay,
    payments,
    settle,
    signed,
)

DEPOSIT = 5000


@pytest.fixture
def paid(app: Flask, stripe_live: Any, tradie_id: int) -> Held:
    connect(app, tradie_id, stripe_live)
    held = hold(app, tradie_id)
    pay(stripe_live, held)
    settle(stripe_live)
    return held


def book_of(app: Flask, booking_id: int) -> ledger.Ledger:
    with app.app_context():
        book = ledger.ledger(db.session, booking_id)
        db.session.expunge_all()
        db.session.remove()
        return book


def dispute_rows(app: Flask, booking_id: int) -> list[Dispute]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Dispute).where(Dispute.booking_id == booking_id)))
        db.session.expunge_all()
        db.session.remove()
        return rows


def dispute_emails(app: Flask, booking_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(OutboxMessage.payload).where(
                    OutboxMessage.booking_id == booking_id, OutboxMessage.kind == "dispute_opened"
                )
            )
        )
        db.session.remove()
        return rows


def test_a_dispute_through_its_life_in_the_emulator(
    app: Flask, stripe_live: Any, dash: DashboardClient, paid: Held
) -> None:
    (deposit,) = payments(app, paid.booking_id)
    opened = stripe_live.control(
        f"charges/{deposit.stripe_charge_id}/dispute", {"reason": "product_not_received"}
    )
    settle(stripe_live)
    [row] = dispute_rows(app, paid.booking_id)
    assert (row.status, row.amount_minor, row.reason) == (
        "needs_response",
        DEPOSIT,
        "product_not_received",
    )
    assert row.evidence_due_at is not None and row.evidence_due_at > utcnow() + timedelta(days=6)
    assert row.withdrawn_minor == DEPOSIT and row.reinstated_minor == 0
    book = book_of(app, paid.booking_id)
    assert (book.received_minor, book.withdrawn_minor, book.net_minor) == (DEPOSIT, DEPOSIT, 0)

    page = dash.get(f"/dashboard/bookings/{paid.booking_id}").get_data(as_text=True)
    assert "Disputed: $50.00" in page and "Needs your response" in page
    assert "the customer says the job was not done" in page.lower()
    assert "Evidence due" in page and "Respond in Stripe" in page
    assert "$50.00 taken from your Stripe balance" in page

    [email] = dispute_emails(app, paid.booking_id)
    assert "respond by" in email["subject"].lower() and "$50.00" in email["subject"]
    for body in (email["text"], email["html"]):
        assert "Respond by" in body and opened["id"] in body  # the dispute's page in Stripe
        assert "the customer says the job was not done" in body

    # The tradie submits evidence in Stripe, then the bank rules for them.
    sdk = stripe_live.client("sk_test_peepopay_tests")
    sdk.v1.disputes.update(
        opened["id"],
        {"evidence": {"uncategorized_text": "Job done, photos attached"}, "submit": True},
        options={"stripe_account": paid.account},
    )
    settle(stripe_live)
    assert dispute_rows(app, paid.booking_id)[0].status == "under_review"
    stripe_live.control(f"disputes/{opened['id']}/close", {"outcome": "won"})
    settle(stripe_live)
    [row] = dispute_rows(app, paid.booking_id)
    assert (row.status, row.withdrawn_minor, row.reinstated_minor) == ("won", DEPOSIT, DEPOSIT)
    book = book_of(app, paid.booking_id)
    assert (
        book.net_minor
        == DEPOSIT
        == book.received_minor - book.withdrawn_minor + book.reinstated_minor
    )
    page = dash.get(f"/dashboard/bookings/{paid.booking_id}").get_data(as_text=True)
    assert "Won: the money is back" in page and "Respond in Stripe" not in page
    assert len(dispute_emails(app, paid.booking_id)) == 1

    months = dash.get("/dashboard/payments").get_data(as_text=True)
    assert "Disputes: withdrawn" in months and "Disputes: reinstated" in months
    with app.app_context():
        tradie = db.session.get(Tradie, booking(app, paid.booking_id).tradie_id)
        [month] = reports.monthly_totals(db.session, tradie)
    assert (month.withdrawn_minor, month.reinstated_minor, month.net_minor) == (
        DEPOSIT,
        DEPOSIT,
        DEPOSIT,
    )


def test_accepting_a_dispute_loses_the_money(app: Flask, stripe_live: Any, paid: Held) -> None:
    (deposit,) = payments(app, paid.booking_id)
    opened = stripe_live.control(f"charges/{deposit.stripe_charge_id}/dispute")
    sdk = stripe_live.client("sk_test_peepopay_tests")
    sdk.v1.disputes.close(opened["id"], options={"stripe_account": paid.account})
    settle(stripe_live)
    [row] = dispute_rows(app, paid.booking_id)
    assert (row.status, row.withdrawn_minor, row.reinstated_minor) == ("lost", DEPOSIT, 0)
    assert book_of(app, paid.booking_id).net_minor == 0


# ----------------------------------------------------------------------- in any order


def stages(dispute_id: str, charge: str, pi: str, outcome: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of one dispute as Stripe sends them, each with the object at that moment."""
    due = int((utcnow() + timedelta(days=7)).timestamp())
    withdrawal = {
        "id": f"txn_w_{dispute_id}",
        "object": "balance_transaction",
        "amount": -DEPOSIT,
        "type": "adjustment",
        "reporting_category": "dispute",
    }
    reversal = {
        "id": f"txn_r_{dispute_id}",
        "object": "balance_transaction",
        "amount": DEPOSIT,
        "type": "adjustment",
        "reporting_category": "dispute_reversal",
    }

    def obj(status: str, *txns: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": dispute_id,
            "object": "dispute",
            "amount": DEPOSIT,
            "currency": "nzd",
            "charge": charge,
            "payment_intent": pi,
            "reason": "fraudulent",
            "status": status,
            "evidence_details": {"due_by": due, "has_evidence": False, "past_due": False},
            "balance_transactions": list(txns),
        }

    events = [
        ("charge.dispute.created", obj("needs_response")),
        ("charge.dispute.funds_withdrawn", obj("needs_response", withdrawal)),
        ("charge.dispute.updated", obj("under_review", withdrawal)),
        ("charge.dispute.closed", obj(outcome, withdrawal)),
    ]
    if outcome == "won":
        events.append(("charge.dispute.funds_reinstated", obj("won", withdrawal, reversal)))
    return events


def deliver(client: FlaskClient, event_type: str, obj: dict[str, Any], account: str) -> None:
    payload = event_payload(event_type, obj, account)
    response = client.post(
        "/webhooks/stripe/connect",
        data=payload,
        headers={
            "Stripe-Signature": signed(payload, TestingConfig.STRIPE_CONNECT_WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def forget_disputes(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.delete(Dispute))
        db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.kind == "dispute_opened"))
        db.session.execute(sa.delete(StripeEvent).where(StripeEvent.type.like("charge.dispute%")))
        db.session.commit()


@pytest.mark.parametrize(("outcome", "reinstated"), [("won", DEPOSIT), ("lost", 0)])
def test_dispute_events_in_any_order_end_the_same(
    app: Flask, client: FlaskClient, paid: Held, outcome: str, reinstated: int
) -> None:
    (deposit,) = payments(app, paid.booking_id)
    assert deposit.stripe_charge_id
    orders = 0
    for number, order in enumerate(
        itertools.permutations(stages("dp_x", deposit.stripe_charge_id, paid.pi, outcome))
    ):
        dispute_id = f"dp_order_{outcome}_{number}"
        for event_type, obj in order:
            deliver(client, event_type, {**obj, "id": dispute_id}, paid.account)
        # Stripe delivers at least once: the first event again changes nothing.
        deliver(client, order[0][0], {**order[0][1], "id": dispute_id}, paid.account)
        [row] = dispute_rows(app, paid.booking_id)
        assert (row.status, row.amount_minor, row.reason) == (outcome, DEPOSIT, "fraudulent"), order
        assert (row.withdrawn_minor, row.reinstated_minor) == (DEPOSIT, reinstated), order
        book = book_of(app, paid.booking_id)
        assert book.net_minor == DEPOSIT - DEPOSIT + reinstated, order
        assert book.net_minor == (
            book.received_minor - book.refunded_minor - book.withdrawn_minor + book.reinstated_minor
        )
        # The tradie hears once, while there is still time to respond.
        emails = dispute_emails(app, paid.booking_id)
        assert len(emails) == (
            0
            if order[0][0] == "charge.dispute.closed" or order[0][1]["status"] in ("won", "lost")
            else 1
        ), order
        assert booking(app, paid.booking_id).disputed
        forget_disputes(app)
        orders += 1
    assert orders == (120 if outcome == "won" else 24)
