"""Payouts: the connected account's payouts from Stripe (amount, arrival date, status) with the
bookings each paid out, from the payout's balance transactions; and the way to the tradie's own
Stripe dashboard."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from peepopay.extensions import db
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    booking,
    connect,
    hold,
    pay,
    payments,
    settle,
)

DELAY = 2 * 86400 + 60


@pytest.fixture
def account(app: Flask, stripe_live: Any, tradie_id: int) -> str:
    return connect(app, tradie_id, stripe_live)


def test_payouts_list_the_bookings_they_paid_out(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int, account: str
) -> None:
    first = hold(app, tradie_id, hour=9)
    second = hold(app, tradie_id, hour=13)
    pay(stripe_live, first)
    pay(stripe_live, second)
    settle(stripe_live)
    dash.post(f"/dashboard/bookings/{first.booking_id}/balance", {"final_amount": "230"})
    settle(stripe_live)
    # Card payments become available to pay out after the account's two-day delay.
    stripe_live.control("clock", {"advance_seconds": DELAY})
    paid_out = stripe_live.control(f"accounts/{account}/payouts", {"status": "paid"})
    third = hold(app, tradie_id, hour=15)
    pay(stripe_live, third)
    settle(stripe_live)
    stripe_live.control("clock", {"advance_seconds": DELAY})
    on_its_way = stripe_live.control(
        f"accounts/{account}/payouts", {"status": "in_transit", "arrival_days": 3}
    )

    # The first payout: both deposits and the balance, less the platform's 2.5 % and Stripe's
    # processing fee (the 4242 test card is a US card: NZ's international 3.7 % + 30c).
    fees = sum(
        p.application_fee_minor for b in (first, second) for p in payments(app, b.booking_id)
    )
    stripe_fees = (185 + 30) * 2 + (666 + 30)
    assert paid_out["amount"] == 5000 + 5000 + 18000 - fees - stripe_fees == 26174
    assert on_its_way["amount"] == 5000 - 125 - 215

    response = dash.get("/dashboard/payouts")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.index(on_its_way["id"]) < page.index(paid_out["id"])  # newest first
    assert "$261.74" in page and "Paid" in page  # 280.00 less 7.00 + 11.26 in fees
    assert "$46.60" in page and "On its way" in page
    first_card = page[page.index(paid_out["id"]) :]
    for held in (first, second):
        assert f"/dashboard/bookings/{held.booking_id}" in first_card
    assert f"/dashboard/bookings/{third.booking_id}" not in first_card
    second_card = page[page.index(on_its_way["id"]) : page.index(paid_out["id"])]
    assert f"/dashboard/bookings/{third.booking_id}" in second_card
    # Each payment's line: what the customer paid, and what reached the bank.
    rows = re.findall(r"<tr>(.*?)</tr>", first_card, re.S)
    cells = [re.findall(r"<td>(?:<a [^>]*>)?([^<]*)", row) for row in rows]
    assert ["Aroha Smith · Leak repair", "Balance", "$180.00", "$168.54"] in cells
    assert cells.count(["Aroha Smith · Leak repair", "Deposit", "$50.00", "$46.60"]) == 2
    # The fragment for htmx.
    fragment = dash.get("/dashboard/payouts", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and on_its_way["id"] in fragment


def test_the_stripe_dashboard_link(
    app: Flask, stripe_live: Any, dash: DashboardClient, account: str
) -> None:
    response = dash.get("/dashboard/payments/stripe-dashboard")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{stripe_live.url}/hosted/dashboard/{account}"
    with app.app_context():
        # A Standard account signs in to Stripe's own dashboard (outside demo mode).
        app.config["STRIPE_API_BASE_SAVED"] = app.config["STRIPE_API_BASE"]
        gateway.client()
        app.config["STRIPE_API_BASE"] = ""
        try:
            assert gateway.dashboard_link(account) == gateway.STRIPE_DASHBOARD_URL
        finally:
            app.config["STRIPE_API_BASE"] = app.config.pop("STRIPE_API_BASE_SAVED")
        # An Express account gets a one-time login link.
        sdk = stripe_live.client("sk_test_peepopay_tests")
        express = sdk.v1.accounts.create(
            {
                "country": "NZ",
                "controller": {
                    "stripe_dashboard": {"type": "express"},
                    "fees": {"payer": "application"},
                    "losses": {"payments": "application"},
                    "requirement_collection": "stripe",
                },
            }
        )
        link = gateway.dashboard_link(express.id)
    assert link.startswith(stripe_live.url) and express.id in link


def test_payouts_page_when_stripe_is_down(
    app: Flask, stripe_live: Any, dash: DashboardClient, account: str, monkeypatch: Any
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise PaymentError(503, gateway.UNAVAILABLE)

    monkeypatch.setattr(gateway, "list_payouts", down)
    response = dash.get("/dashboard/payouts")
    assert response.status_code == 503
    assert gateway.UNAVAILABLE in response.get_data(as_text=True)


def test_payouts_page_before_stripe_is_connected(dash: DashboardClient) -> None:
    page = dash.get("/dashboard/payouts").get_data(as_text=True)
    assert "Connect Stripe" in page and "Open your Stripe dashboard" not in page


def test_a_refunded_deposit_stays_a_deposit_and_refunds_read_negative(
    app: Flask, stripe_live: Any, dash: DashboardClient, tradie_id: int, account: str
) -> None:
    """A deposit partly refunded (and its customer erased later) is still the deposit in the
    payout, and the refund reads as money going back, with the proper minus sign."""
    from peepopay.models import Booking, Customer

    held = hold(app, tradie_id, hour=9)
    pay(stripe_live, held)
    settle(stripe_live)
    url = f"/dashboard/bookings/{held.booking_id}/refund"
    assert (
        dash.post(url, {"refund_amount": "12.50", "refund_reason": "Finished early"}).status_code
        == 303
    )
    settle(stripe_live)
    stripe_live.control("clock", {"advance_seconds": DELAY})
    paid_out = stripe_live.control(f"accounts/{account}/payouts", {"status": "paid"})

    def lines() -> list[list[str]]:
        page = dash.get("/dashboard/payouts").get_data(as_text=True)
        card = page[page.index(paid_out["id"]) :]
        rows = re.findall(r"<tr>(.*?)</tr>", card, re.S)
        cells = [re.findall(r"<td>(?:<a [^>]*>)?([^<]*)", row)[1:] for row in rows]
        return [row for row in cells if row]

    # 50.00 less 1.25 platform fee and 2.15 Stripe's fee; 12.50 went back.
    expected = [["Deposit", "$50.00", "$46.60"], ["Refund", "−$12.50", "−$12.50"]]
    assert sorted(lines()) == expected
    # The payments page: the refund and the platform fee it returned are both negative.
    page = dash.get("/dashboard/payments").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page[page.index('id="recent-payments"') :], re.S)
    cells = [re.findall(r"<td>(?:<a [^>]*>)?([^<]*)", row)[2:5] for row in rows]
    assert ["Refund", "−$12.50", "−$0.31"] in cells
    assert ["Deposit", "$50.00", "$1.25"] in cells
    assert "-$" not in page

    # Erased: the job done and the person's details gone, the money records stay as they were.
    with app.app_context():
        row = db.session.get(Booking, held.booking_id)
        assert row is not None
        row.starts_at -= timedelta(days=10)
        row.ends_at -= timedelta(days=10)
        customer_id = row.customer_id
        db.session.commit()
        assert db.session.get(Customer, customer_id) is not None
        db.session.remove()
    erased = dash.post(f"/dashboard/customers/{customer_id}/erase", {"confirm": "y"})
    assert erased.status_code == 303
    assert sorted(lines()) == expected
