"""The balance after the job: charged off-session on the saved card, or paid by the customer
through a payment link (Stripe Checkout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from peepopay import audit
from peepopay.auth.models import Tradie
from peepopay.booking import lifecycle
from peepopay.booking.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.money import application_fee
from peepopay.notifications import messages
from peepopay.notifications.links import external_url
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import (
    PaymentProblem,
    as_dict,
    fee_bps,
    ledger,
    lock_booking,
    minimum_charge,
    record_charge,
    record_failure,
    stripe_id,
    tradie_of,
)
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus

# --------------------------------------------------------------------------- the balance


def charge_balance(
    session: DbSession, booking: Booking, tradie: Tradie, final_amount_minor: int, now: datetime
) -> Payment | None:
    """Charge the rest of the job (final amount minus deposit) to the saved card, off-session.
    When the bank wants the customer, or the card fails, send them a payment link instead.

    Returns the balance payment (None when nothing was left to pay)."""
    locked = lock_booking(session, booking.id)
    assert locked is not None
    booking = locked
    if booking.status not in (Status.CONFIRMED, Status.COMPLETED):
        raise PaymentProblem(
            "final_amount", "Only a confirmed or completed booking can be charged."
        )
    if not tradie.payments_ready or tradie.stripe_account_id is None:
        raise PaymentProblem("final_amount", "Connect Stripe before charging a balance.")
    book = ledger(session, booking.id)
    if book.balance_started:
        raise PaymentProblem("final_amount", "The balance has already been charged.")
    deposit = book.deposit
    paid_deposit = (
        deposit.amount_minor if deposit and deposit.status == PaymentStatus.SUCCEEDED else 0
    )
    balance = final_amount_minor - paid_deposit
    if balance < 0:
        raise PaymentProblem(
            "final_amount",
            "Final amount is less than the deposit paid; refund the difference instead.",
        )
    if 0 < balance < minimum_charge(booking.currency):
        raise PaymentProblem(
            "final_amount", "The balance is too small to charge by card; enter the full amount."
        )
    booking.final_amount_minor = final_amount_minor
    actor = f"tradie:{tradie.id}"
    if balance == 0:
        _complete(session, booking, now, actor)
        return None
    payment = Payment(
        booking_id=booking.id,
        tradie_id=tradie.id,
        kind=PaymentKind.BALANCE,
        amount_minor=balance,
        currency=booking.currency,
        application_fee_minor=application_fee(balance, fee_bps()),
        status=PaymentStatus.PENDING,
        stripe_customer_id=deposit.stripe_customer_id if deposit else None,
        created_at=now,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor,
        action="payment.balance_charged",
        entity=booking,
        summary={"final_minor": final_amount_minor, "balance_minor": balance},
    )
    card = deposit.stripe_payment_method_id if deposit else None
    if not card or not payment.stripe_customer_id:
        send_payment_link(session, booking, tradie, payment, now)
        return payment
    try:
        pi = as_dict(
            gateway.create_payment_intent(
                tradie.stripe_account_id,
                {
                    "amount": balance,
                    "currency": booking.currency.lower(),
                    "application_fee_amount": payment.application_fee_minor,
                    "customer": payment.stripe_customer_id,
                    "payment_method": card,
                    "off_session": True,
                    "confirm": True,
                    "payment_method_types": ["card"],
                    "receipt_email": booking.customer_email,
                    "description": f"Balance: {booking.service_name} ({tradie.business_name})",
                    "metadata": _balance_metadata(booking, payment),
                },
                key=f"booking-{booking.id}-balance-{payment.id}-{balance}",
            )
        )
    except PaymentError as error:
        if not error.is_card_error:
            raise
        payment.stripe_payment_intent_id = error.payment_intent_id
        payment.failure_code = (error.decline_code or error.code or "card_error")[:64]
        payment.failure_message = error.message[:500]
        send_payment_link(session, booking, tradie, payment, now)
        return payment
    payment.stripe_payment_intent_id = pi["id"]
    if pi["status"] == "succeeded":
        balance_succeeded(session, booking, payment, pi, now, actor=actor)
    elif pi["status"] in ("requires_action", "requires_payment_method"):
        send_payment_link(session, booking, tradie, payment, now)
    return payment


def _balance_metadata(booking: Booking, payment: Payment) -> dict[str, str]:
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
    messages.balance_payment_link(session, booking, url, payment.amount_minor, now)
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
                    "product_data": {"name": f"Balance for {booking.service_name}"},
                },
                "quantity": 1,
            }
        ],
        "payment_intent_data": {
            "application_fee_amount": payment.application_fee_minor,
            "metadata": _balance_metadata(booking, payment),
            "description": f"Balance: {booking.service_name} ({tradie.business_name})",
        },
        "metadata": _balance_metadata(booking, payment),
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


def sync_checkout(session: DbSession, booking: Booking, checkout_id: str, now: datetime) -> bool:
    """The customer is back from Checkout: apply its payment now (as the webhook would)."""
    tradie = tradie_of(session, booking)
    payment = session.scalar(
        sa.select(Payment).where(
            Payment.booking_id == booking.id, Payment.stripe_checkout_session_id == checkout_id
        )
    )
    if payment is None or tradie.stripe_account_id is None:
        return False
    if payment.status == PaymentStatus.SUCCEEDED:
        return True
    checkout = as_dict(gateway.retrieve_checkout_session(tradie.stripe_account_id, checkout_id))
    pi_id = stripe_id(checkout.get("payment_intent"))
    if checkout.get("payment_status") != "paid" or not pi_id:
        return False
    pi = as_dict(gateway.retrieve_payment_intent(tradie.stripe_account_id, pi_id))
    if pi["status"] != "succeeded":
        return False
    locked = lock_booking(session, booking.id)
    assert locked is not None
    session.refresh(payment)
    balance_succeeded(session, locked, payment, pi, now, actor="customer")
    return True


def _complete(session: DbSession, booking: Booking, now: datetime, actor: str) -> None:
    """Paid in full: the job is complete (once)."""
    if lifecycle.can_move(booking, Status.COMPLETED):
        summary = {"final_minor": booking.final_amount_minor}
        lifecycle.complete(session, booking, now, actor=actor, summary=summary)


def balance_succeeded(
    session: DbSession,
    booking: Booking,
    payment: Payment,
    pi: dict[str, Any],
    now: datetime,
    *,
    actor: str,
) -> str:
    """The balance was paid (off-session or through the link): the job is complete."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    payment.status = PaymentStatus.SUCCEEDED
    record_charge(payment, pi)
    _complete(session, booking, now, actor)
    messages.balance_paid(session, booking, payment, now)
    return "balance_paid"


def balance_failed(payment: Payment, pi: dict[str, Any]) -> str:
    """A failed attempt at the balance: recorded; the link stays open for another try."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    record_failure(payment, pi)
    return "recorded"
