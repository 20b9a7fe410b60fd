"""The deposit: started when a slot is held, kept in step with Stripe (return, webhook,
reconciliation), and what its outcome means for the booking."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.money import application_fee
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import (
    PaymentProblem,
    deposit_payment,
    fee_bps,
)
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus
from peepopay.payments.onboarding import needs_reconnect

log = logging.getLogger(__name__)


class DepositsUnavailable(PaymentProblem):
    """The tradie cannot take card deposits yet (Stripe not connected or not enabled)."""

    def __init__(self) -> None:
        super().__init__(
            "payment",
            "Online deposits aren't available for this business yet. "
            "Please contact them directly to book.",
        )


@dataclass(frozen=True)
class DepositStart:
    """What the browser needs to take the deposit on the tradie's Stripe account."""

    client_secret: str
    account_id: str
    publishable_key: str
    payment_intent_id: str


# --------------------------------------------------------------------------- the deposit


def start_deposit(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> DepositStart:
    """The deposit PaymentIntent for a held booking: a direct charge on the tradie's account,
    for the amount the server computed, saving the card for the balance."""
    if not tradie.payments_ready or tradie.stripe_account_id is None:
        raise DepositsUnavailable()
    try:
        return _start_deposit(session, booking, tradie, now)
    except PaymentError as error:
        if not error.account_gone:
            raise
        # The tradie disconnected PeepoPay in Stripe, or the account is gone.
        needs_reconnect(session, tradie, now)
        raise DepositsUnavailable() from error


def _start_deposit(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> DepositStart:
    assert tradie.stripe_account_id is not None
    account = tradie.stripe_account_id
    config = current_app.config
    payment = deposit_payment(session, booking.id)
    if payment is not None and payment.stripe_payment_intent_id:
        pi = gateway.retrieve_payment_intent(account, payment.stripe_payment_intent_id)
        return DepositStart(pi.client_secret, account, config["STRIPE_PUBLISHABLE_KEY"], pi.id)
    amount = booking.deposit_minor
    fee = application_fee(amount, fee_bps())
    if payment is None:
        payment = Payment(
            booking_id=booking.id,
            tradie_id=tradie.id,
            kind=PaymentKind.DEPOSIT,
            amount_minor=amount,
            currency=booking.currency,
            application_fee_minor=fee,
            status=PaymentStatus.PENDING,
            created_at=now,
        )
        session.add(payment)
        session.flush()
    customer = gateway.create_customer(
        account,
        email=booking.customer_email,
        name=booking.customer_name,
        phone=booking.customer_phone,
        key=f"booking-{booking.id}-customer",
        metadata={"booking_id": str(booking.id)},
    )
    pi = gateway.create_payment_intent(
        account,
        {
            "amount": amount,
            "currency": booking.currency.lower(),
            "application_fee_amount": fee,
            "customer": customer.id,
            "setup_future_usage": "off_session",
            # The tradie's enabled payment methods (cards, Apple Pay, Google Pay, Link): the
            # Payment Element shows what fits the customer's device and the page's domain.
            "automatic_payment_methods": {"enabled": True},
            "receipt_email": booking.customer_email,
            "description": f"Deposit: {booking.service_name} ({tradie.business_name})",
            "metadata": {"booking_id": str(booking.id), "kind": PaymentKind.DEPOSIT},
        },
        key=f"booking-{booking.id}-deposit",
    )
    payment.stripe_payment_intent_id = pi.id
    payment.stripe_customer_id = customer.id
    return DepositStart(pi.client_secret, account, config["STRIPE_PUBLISHABLE_KEY"], pi.id)
