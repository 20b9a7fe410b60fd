"""The deposit: started when a slot is held, kept in step with Stripe (return, webhook,
reconciliation), and what its outcome means for the booking."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from peepopay import audit
from peepopay.auth.models import Tradie
from peepopay.booking import lifecycle
from peepopay.booking.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.money import application_fee
from peepopay.notifications import messages
from peepopay.ops import metrics
from peepopay.payments import gateway
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import (
    PaymentProblem,
    as_dict,
    deposit_payment,
    fee_bps,
    ledger,
    lock_booking,
    record_charge,
    record_failure,
    tradie_of,
)
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus
from peepopay.payments.onboarding import disconnect
from peepopay.payments.refunds import PURPOSE_LATE, refund_charges

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
        if error.code not in gateway.ACCOUNT_GONE:
            raise
        # The tradie disconnected PeepoPay in Stripe (or the demo emulator restarted).
        disconnect(session, tradie, now, actor="stripe")
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
            "payment_method_types": ["card"],
            "receipt_email": booking.customer_email,
            "description": f"Deposit: {booking.service_name} ({tradie.business_name})",
            "metadata": {"booking_id": str(booking.id), "kind": PaymentKind.DEPOSIT},
        },
        key=f"booking-{booking.id}-deposit",
    )
    payment.stripe_payment_intent_id = pi.id
    payment.stripe_customer_id = customer.id
    return DepositStart(pi.client_secret, account, config["STRIPE_PUBLISHABLE_KEY"], pi.id)


def sync_deposit(session: DbSession, booking: Booking, now: datetime) -> str:
    """The customer's browser says the deposit went through: ask Stripe and apply the same
    effect the webhook applies, so the confirmation shows before the webhook lands.

    Returns the PaymentIntent's status ("none" when there is nothing to ask about)."""
    payment = deposit_payment(session, booking.id)
    tradie = tradie_of(session, booking)
    if payment is None or not payment.stripe_payment_intent_id or not tradie.stripe_account_id:
        return "none"
    if payment.status == PaymentStatus.SUCCEEDED:
        return "succeeded"
    pi = as_dict(
        gateway.retrieve_payment_intent(tradie.stripe_account_id, payment.stripe_payment_intent_id)
    )
    if pi["status"] == "succeeded":
        locked = lock_booking(session, booking.id)
        assert locked is not None
        session.refresh(payment)
        deposit_succeeded(session, locked, payment, pi, now, actor="customer")
    return str(pi["status"])


RECONCILE_MAX_AGE = timedelta(days=2)


def reconcile_pending_deposits(
    session: DbSession,
    now: datetime,
    older_than: timedelta = timedelta(minutes=5),
    limit: int = 50,
) -> Counter[str]:
    """Deposits whose webhook never came: ask Stripe about every deposit still pending (or
    declined, in case a retry then succeeded) made between `older_than` and two days ago, and
    apply what the webhook would have applied, with the same functions.

    A batch job for the worker's sweep, so it commits each payment on its own: a Stripe error
    or a bad row is logged and skipped, never stopping the others. The rows checked least
    recently go first (checking touches `updated_at`), so many abandoned deposits can't starve
    the rest. Returns how many payments had each outcome."""
    outcomes: Counter[str] = Counter()
    ids = list(
        session.scalars(
            sa.select(Payment.id)
            .where(
                Payment.kind == PaymentKind.DEPOSIT,
                Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.FAILED)),
                Payment.stripe_payment_intent_id.is_not(None),
                Payment.created_at <= now - older_than,
                Payment.created_at >= now - RECONCILE_MAX_AGE,
            )
            .order_by(Payment.updated_at, Payment.id)
            .limit(limit)
        )
    )
    if not ids:
        return outcomes
    session.execute(
        sa.update(Payment)
        .where(Payment.id.in_(ids))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    for payment_id in ids:
        try:
            outcome = _reconcile_deposit(session, payment_id, now)
            session.commit()
        except PaymentError as error:
            session.rollback()
            log.warning("reconciling payment %s: Stripe said %s", payment_id, error.message)
            outcome = "stripe_error"
        except Exception:
            session.rollback()
            log.exception("reconciling payment %s failed", payment_id)
            outcome = "error"
        outcomes[outcome] += 1
    if outcomes.keys() - {"unchanged"}:
        log.info("deposit reconciliation: %s", dict(outcomes))
    return outcomes


def _reconcile_deposit(session: DbSession, payment_id: int, now: datetime) -> str:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.stripe_payment_intent_id is None:
        return "unchanged"
    booking = session.get(Booking, payment.booking_id)
    tradie = session.get(Tradie, payment.tradie_id)
    if booking is None or tradie is None or tradie.stripe_account_id is None:
        return "unchanged"
    # Ask Stripe before taking the booking's lock, as `sync_deposit` does.
    pi = as_dict(
        gateway.retrieve_payment_intent(tradie.stripe_account_id, payment.stripe_payment_intent_id)
    )
    status = pi["status"]
    failed = status == "requires_payment_method" and pi.get("last_payment_error")
    if status not in ("succeeded", "canceled") and not failed:
        return "unchanged"  # still with the customer, or processing
    locked = lock_booking(session, booking.id)
    assert locked is not None
    session.refresh(payment)  # a webhook may have applied it meanwhile
    if status == "succeeded":
        return deposit_succeeded(session, locked, payment, pi, now, actor="stripe")
    if status == "canceled":
        return deposit_canceled(payment)
    if payment.status != PaymentStatus.PENDING:
        return "unchanged"  # its decline was already applied
    return deposit_failed(session, locked, payment, pi, now)


def deposit_succeeded(
    session: DbSession,
    booking: Booking,
    payment: Payment,
    pi: dict[str, Any],
    now: datetime,
    *,
    actor: str,
) -> str:
    """The deposit was paid: confirm the booking once; a deposit the booking can no longer use
    (its time was taken, or it was cancelled meanwhile) is refunded in full."""
    if payment.status != PaymentStatus.SUCCEEDED:
        payment.status = PaymentStatus.SUCCEEDED
        record_charge(payment, pi)
        metrics.deposits.labels(outcome="paid").inc()
    outcome = lifecycle.confirm(session, booking, now, actor=actor)
    if outcome == "taken" or booking.status == Status.CANCELLED:
        return _refund_unusable_deposit(session, booking, now)
    return outcome


def _refund_unusable_deposit(session: DbSession, booking: Booking, now: datetime) -> str:
    book = ledger(session, booking.id)
    if book.refundable_minor <= 0:
        return "unchanged"
    refund_charges(
        session,
        booking,
        tradie_of(session, booking),
        book,
        book.refundable_minor,
        reason="The time was no longer available when the deposit arrived.",
        purpose=PURPOSE_LATE,
        now=now,
    )
    audit.record(
        session,
        tradie_id=booking.tradie_id,
        actor="system",
        action="payment.late_deposit_refunded",
        entity=booking,
        summary={"refund_minor": book.refundable_minor},
    )
    messages.late_deposit_refunded(session, booking, now)
    return "refunded"


def deposit_failed(
    session: DbSession, booking: Booking, payment: Payment, pi: dict[str, Any], now: datetime
) -> str:
    """A declined attempt: the booking stops holding its time (unless already paid), the
    customer hears why, and may retry on the same PaymentIntent."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    if payment.status != PaymentStatus.FAILED:
        metrics.deposits.labels(outcome="failed").inc()
    payment.status = PaymentStatus.FAILED
    record_failure(payment, pi)
    return "payment_failed" if lifecycle.fail(session, booking, payment, now) else "recorded"


def deposit_canceled(payment: Payment) -> str:
    """The deposit's PaymentIntent was canceled: an unpaid deposit record says so."""
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        payment.status = PaymentStatus.CANCELED
        return "canceled"
    return "unchanged"
