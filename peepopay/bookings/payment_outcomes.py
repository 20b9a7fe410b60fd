"""What payments mean for bookings: a paid deposit confirms (or, when the time is gone, is
refunded), a declined one lets the time go, a paid balance completes the job.

The outcomes arrive from Stripe's webhooks, from the customer's browser coming back, and from
the worker's reconciliation; each path applies the same function, so whichever comes first
wins and the rest change nothing. Money records and Stripe calls are the payments area's.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.bookings import lifecycle
from peepopay.bookings.models import Booking, Status
from peepopay.db_setup import DbSession
from peepopay.money import application_fee
from peepopay.notifications import messages
from peepopay.ops import metrics
from peepopay.payments import gateway
from peepopay.payments.balance import balance_metadata, send_payment_link
from peepopay.payments.gateway import PaymentError
from peepopay.payments.ledger import (
    PaymentProblem,
    as_dict,
    deposit_payment,
    fee_bps,
    ledger,
    lock_booking,
    minimum_charge,
    record_charge,
    record_failure,
    record_method,
    stripe_id,
    tradie_of,
)
from peepopay.payments.models import PURPOSE_NO_SHOW_FEE, Payment, PaymentKind, PaymentStatus
from peepopay.payments.refunds import PURPOSE_LATE, refund_charges
from peepopay.receipts import numbers

log = logging.getLogger(__name__)

# What an off-session attempt came to, as the audit trail records it (never "charged" unless
# the money arrived).
CHARGED = "charged"
PROCESSING = "processing"
NEEDS_CUSTOMER = "needs_customer"
DECLINED = "declined"
# Decline codes meaning the bank wants the customer present, not that the card is refused.
ASKS_FOR_CUSTOMER = frozenset({"authentication_required"})


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
        count_reconciled(outcome)
    if outcomes.keys() - {"unchanged"}:
        log.info("deposit reconciliation: %s", dict(outcomes))
    return outcomes


# Outcomes that mean we knew what Stripe knew (or could not ask): no difference.
NO_DIFFERENCE = frozenset({"unchanged", "stripe_error", "error"})


def count_reconciled(outcome: str) -> None:
    """Count what the reconciliation did; anything it changed is a difference between our
    ledger and Stripe's (a webhook that never came), which the LedgerDifference alert reports."""
    metrics.reconciled.labels(outcome=outcome).inc()
    if outcome not in NO_DIFFERENCE:
        metrics.ledger_differences.inc()


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
        _note_how_paid(session, booking, payment, pi)
        numbers.number_for(session, booking, now)
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


def _note_how_paid(
    session: DbSession, booking: Booking, payment: Payment, pi: dict[str, Any]
) -> None:
    """Card brand, last four and wallet for the receipt, from the charge. Best effort: a Stripe
    hiccup leaves them empty (the receipt then says "Card") rather than losing the payment."""
    charge = pi.get("latest_charge")
    if not isinstance(charge, dict):
        account = tradie_of(session, booking).stripe_account_id
        if not account or not payment.stripe_charge_id:
            return
        try:
            charge = as_dict(gateway.retrieve_charge(account, payment.stripe_charge_id))
        except PaymentError as error:
            log.warning("card details of %s: %s", payment.stripe_charge_id, error.message)
            return
    record_method(payment, charge)


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
    payment = _pending_charge(session, booking, deposit, balance, now)
    outcome = _charge_saved_card(
        session,
        booking,
        tradie,
        payment,
        deposit,
        now,
        actor=actor,
        description=f"Balance: {booking.service_name} ({tradie.business_name})",
        key=f"booking-{booking.id}-balance-{payment.id}-{balance}",
    )
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor,
        action=f"payment.balance_{outcome}",
        entity=booking,
        summary=_attempt_summary(
            payment, outcome, final_minor=final_amount_minor, balance_minor=balance
        ),
    )
    return payment


def _pending_charge(
    session: DbSession,
    booking: Booking,
    deposit: Payment | None,
    amount_minor: int,
    now: datetime,
    reason: str | None = None,
) -> Payment:
    """A balance payment record (a no-show fee with its `reason`) for the saved card, before
    Stripe is asked: the platform fee on it, the deposit's Stripe customer."""
    payment = Payment(
        booking_id=booking.id,
        tradie_id=booking.tradie_id,
        kind=PaymentKind.BALANCE,
        reason=reason,
        amount_minor=amount_minor,
        currency=booking.currency,
        application_fee_minor=application_fee(amount_minor, fee_bps()),
        status=PaymentStatus.PENDING,
        stripe_customer_id=deposit.stripe_customer_id if deposit else None,
        created_at=now,
    )
    session.add(payment)
    session.flush()
    return payment


def _charge_saved_card(
    session: DbSession,
    booking: Booking,
    tradie: Tradie,
    payment: Payment,
    deposit: Payment | None,
    now: datetime,
    *,
    actor: str,
    description: str,
    key: str,
) -> str:
    """Charge `payment` off-session to the card the deposit saved; when there is none, the bank
    wants the customer, or the card fails, send the customer a payment link instead.

    Returns what happened, as the audit trail names it: "charged", "processing",
    "needs_customer" (no saved card, or the bank wants the customer) or "declined"."""
    assert tradie.stripe_account_id is not None
    card = deposit.stripe_payment_method_id if deposit else None
    if not card or not payment.stripe_customer_id:
        send_payment_link(session, booking, tradie, payment, now)
        return NEEDS_CUSTOMER
    try:
        pi = as_dict(
            gateway.create_payment_intent(
                tradie.stripe_account_id,
                {
                    "amount": payment.amount_minor,
                    "currency": booking.currency.lower(),
                    "application_fee_amount": payment.application_fee_minor,
                    "customer": payment.stripe_customer_id,
                    "payment_method": card,
                    "off_session": True,
                    "confirm": True,
                    # The tradie's enabled methods; a saved wallet card charges as a card, and
                    # off-session nothing can redirect.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "receipt_email": booking.customer_email,
                    "description": description,
                    "metadata": balance_metadata(booking, payment),
                },
                key=key,
            )
        )
    except PaymentError as error:
        if not error.is_card_error:
            raise
        payment.stripe_payment_intent_id = error.payment_intent_id
        payment.failure_code = (error.decline_code or error.code or "card_error")[:64]
        payment.failure_message = error.message[:500]
        send_payment_link(session, booking, tradie, payment, now)
        return NEEDS_CUSTOMER if payment.failure_code in ASKS_FOR_CUSTOMER else DECLINED
    payment.stripe_payment_intent_id = pi["id"]
    if pi["status"] == "succeeded":
        balance_succeeded(session, booking, payment, pi, now, actor=actor)
        return CHARGED
    if pi["status"] in ("requires_action", "requires_payment_method"):
        send_payment_link(session, booking, tradie, payment, now)
        return NEEDS_CUSTOMER
    return PROCESSING


def _attempt_summary(payment: Payment, outcome: str, **amounts: int) -> dict[str, Any]:
    summary: dict[str, Any] = {**amounts, "outcome": outcome}
    if outcome != CHARGED and payment.failure_code:
        summary["failure_code"] = payment.failure_code
    if payment.stripe_checkout_session_id:
        summary["payment_link"] = True
    return summary


def no_show_fee_cap(booking: Booking) -> int:
    """The most a no-show fee may be: the price as booked minus the deposit (nothing when the
    job is priced on the day)."""
    if booking.price_minor is None:
        return 0
    return max(booking.price_minor - booking.deposit_minor, 0)


def no_show_fee(booking: Booking, tradie: Tradie) -> int:
    """The fee a no-show of this booking is charged: the tradie's setting, never above the cap,
    and nothing when it is too small for a card charge or Stripe is not connected."""
    fee = min(tradie.no_show_fee_minor, no_show_fee_cap(booking))
    if fee < minimum_charge(booking.currency) or not tradie.payments_ready:
        return 0
    return fee


def mark_no_show(
    session: DbSession, booking: Booking, tradie: Tradie, now: datetime
) -> Payment | None:
    """The customer was not there: the booking becomes a no-show (the deposit is kept, the
    customer is told) and the tradie's no-show fee is charged to the saved card, once, with the
    payment link when the card can't pay. Returns the fee's payment (None: no fee)."""
    locked = lock_booking(session, booking.id)
    assert locked is not None
    booking = locked
    fee = no_show_fee(booking, tradie)
    actor = f"tradie:{tradie.id}"
    lifecycle.no_show(session, booking, now, actor=actor, fee_minor=fee)
    if fee == 0:
        return None
    deposit = ledger(session, booking.id).deposit
    payment = _pending_charge(session, booking, deposit, fee, now, PURPOSE_NO_SHOW_FEE)
    outcome = _charge_saved_card(
        session,
        booking,
        tradie,
        payment,
        deposit,
        now,
        actor=actor,
        description=f"No-show fee: {booking.service_name} ({tradie.business_name})",
        # One booking has one no-show, so its id alone keeps a retried request to one charge.
        key=f"booking-{booking.id}-no-show-fee",
    )
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor,
        action=f"payment.no_show_fee_{outcome}",
        entity=booking,
        summary=_attempt_summary(
            payment, outcome, fee_minor=fee, cap_minor=no_show_fee_cap(booking)
        ),
    )
    return payment


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
    """Paid in full: the job is complete (once), if it has started; paid ahead of the job,
    it stays confirmed until the tradie marks it done."""
    if lifecycle.can_complete(booking, now):
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
    _note_how_paid(session, booking, payment, pi)
    numbers.number_for(session, booking, now)
    _complete(session, booking, now, actor)
    messages.balance_paid(session, booking, payment, now)
    return "balance_paid"


def balance_failed(payment: Payment, pi: dict[str, Any]) -> str:
    """A failed attempt at the balance: recorded; the link stays open for another try."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "unchanged"
    record_failure(payment, pi)
    return "recorded"
