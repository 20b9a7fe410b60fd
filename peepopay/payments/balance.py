"""The balance after the job: charged off-session on the saved card, or paid by the customer
through a payment link (Stripe Checkout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.notifications import messages
from peepopay.notifications.links import external_url
from peepopay.payments import gateway
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus

# --------------------------------------------------------------------------- the balance


def what_is_paid(payment: Payment) -> str:
    """ "balance" or "no-show fee", as the customer's messages and Checkout name it."""
    return "no-show fee" if payment.is_no_show_fee else "balance"


def balance_metadata(booking: Booking, payment: Payment) -> dict[str, str]:
    return {
        "booking_id": str(booking.id),
        "kind": PaymentKind.BALANCE,
        "payment_id": str(payment.id),
    }


def send_payment_link(
    session: DbSession, booking: Booking, tradie: Tradie, payment: Payment, now: datetime
) -> str:
    """A Checkout Session for the balance on the tradie's account, linked from an email and
    an SMS to the customer; the booking shows the balance as awaiting payment."""
    open_checkout(booking, tradie, payment)
    payment.status = PaymentStatus.AWAITING
    url = external_url("pay.balance", token=booking.public_token)
    messages.balance_payment_link(
        session, booking, url, payment.amount_minor, now, what=what_is_paid(payment)
    )
    return url


def open_checkout(booking: Booking, tradie: Tradie, payment: Payment) -> str:
    """The balance's Checkout Session URL: the open one, or a new one when it expired."""
    assert tradie.stripe_account_id is not None
    account = tradie.stripe_account_id
    previous = payment.stripe_checkout_session_id
    if previous:
        existing = gateway.retrieve_checkout_session(account, previous)
        if existing.status == "open":
            return str(existing.url)
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": payment.currency.lower(),
                    "unit_amount": payment.amount_minor,
                    "product_data": {
                        "name": f"{what_is_paid(payment).capitalize()} for {booking.service_name}"
                    },
                },
                "quantity": 1,
            }
        ],
        "payment_intent_data": {
            "application_fee_amount": payment.application_fee_minor,
            "metadata": balance_metadata(booking, payment),
            "description": (
                f"{what_is_paid(payment).capitalize()}: {booking.service_name} "
                f"({tradie.business_name})"
            ),
        },
        "metadata": balance_metadata(booking, payment),
        "success_url": external_url("pay.balance_done", token=booking.public_token)
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": external_url("pay.balance", token=booking.public_token),
    }
    if payment.stripe_customer_id:
        params["customer"] = payment.stripe_customer_id
    else:
        params["customer_email"] = booking.customer_email
    session_obj = gateway.create_checkout_session(
        account, params, key=f"payment-{payment.id}-checkout-after-{previous or 'none'}"
    )
    payment.stripe_checkout_session_id = session_obj.id
    return str(session_obj.url)
