"""Wallets and Link: deposits, balances and payment links use the tradie's enabled payment
methods (automatic_payment_methods), and a wallet payment confirms a booking through the same
webhook path as a card, with what paid recorded for the receipt."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from peepopay.bookings.models import Status
from peepopay.payments.models import PaymentStatus
from tests.fixtures.clients import DashboardClient
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    CARD_3DS_ALWAYS,
    app_config,
    authenticate,
    booking,
    connect,
    hold,
    pay,
    payments,
    settle,
    stripe_object,
)


@pytest.fixture
def connected(app: Flask, stripe_live: Any, tradie_id: int) -> int:
    connect(app, tradie_id, stripe_live)
    return tradie_id


def test_the_deposit_uses_automatic_payment_methods(
    app: Flask, stripe_live: Any, connected: int
) -> None:
    held = hold(app, connected)
    pi = stripe_object(stripe_live, held.pi)["object"]
    assert pi["automatic_payment_methods"] == {"allow_redirects": "always", "enabled": True}
    assert pi["allowed_payment_method_types"] is None
    assert "card" in pi["payment_method_types"] and "link" in pi["payment_method_types"]


def test_a_wallet_payment_confirms_the_booking_through_the_webhook(
    app: Flask, stripe_live: Any, connected: int
) -> None:
    held = hold(app, connected)
    # What Stripe.js does when the customer taps Apple Pay in the Payment Element.
    sdk = stripe_live.client("sk_test_peepopay_tests")
    confirmed = sdk.v1.payment_intents.confirm(
        held.pi,
        {"payment_method": "pm_card_visa_apple_pay", "return_url": "https://example.com/back"},
        options={"stripe_account": held.account},
    )
    assert confirmed.status == "succeeded"
    assert booking(app, held.booking_id).status == Status.PENDING_PAYMENT  # webhook not yet
    settle(stripe_live)
    assert booking(app, held.booking_id).status == Status.CONFIRMED
    [deposit] = payments(app, held.booking_id)
    assert deposit.status == PaymentStatus.SUCCEEDED
    assert (deposit.wallet, deposit.card_brand, deposit.card_last4) == ("apple_pay", "visa", "4242")
    charge = stripe_object(stripe_live, deposit.stripe_charge_id)["object"]
    assert charge["payment_method_details"]["card"]["wallet"]["type"] == "apple_pay"


def test_a_card_payment_records_brand_and_last_four(
    app: Flask, stripe_live: Any, connected: int
) -> None:
    held = hold(app, connected)
    pay(stripe_live, held, "5555 5555 5555 4444")
    settle(stripe_live)
    [deposit] = payments(app, held.booking_id)
    assert (deposit.wallet, deposit.card_brand, deposit.card_last4) == (None, "mastercard", "4444")


def test_balance_and_payment_link_use_automatic_payment_methods(
    app: Flask, stripe_live: Any, dash: DashboardClient, connected: int
) -> None:
    held = hold(app, connected)
    pay(stripe_live, held, CARD_3DS_ALWAYS)
    authenticate(stripe_live, held)
    settle(stripe_live)
    dash.post(f"/dashboard/bookings/{held.booking_id}/balance", {"final_amount": "200"})
    _deposit, balance = payments(app, held.booking_id)
    attempt = stripe_object(stripe_live, balance.stripe_payment_intent_id)["object"]
    assert attempt["automatic_payment_methods"] == {"allow_redirects": "never", "enabled": True}
    link = stripe_object(stripe_live, balance.stripe_checkout_session_id)["object"]
    assert link["payment_method_types"] == ["card", "link"]


def test_the_emulator_refuses_both_automatic_and_listed_methods(stripe_live: Any) -> None:
    import stripe

    sdk = stripe_live.client("sk_test_x")
    with pytest.raises(stripe.InvalidRequestError, match="only specify one"):
        sdk.v1.payment_intents.create(
            {
                "amount": 1000,
                "currency": "nzd",
                "automatic_payment_methods": {"enabled": True},
                "payment_method_types": ["card"],
            }
        )
