"""Stripe's webhook events applied: stored once by id, then dispatched to what they mean for
bookings and their money.

An event's effects commit with its `StripeEvent` row, so a failure leaves no trace and Stripe
delivers it again; a repeated id is acknowledged and ignored. Handlers lock the booking they
touch and only move it forward, so events may arrive in any order. Verifying the signature and
the event's shape is `peepopay.payments.webhooks`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.bookings import payment_outcomes
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.payments import disputes, gateway, ledger, onboarding, refunds
from peepopay.payments.models import Payment, PaymentKind, PaymentStatus, StripeEvent
from peepopay.payments.webhooks import Event

log = logging.getLogger(__name__)

Handler = Callable[[DbSession, Event, datetime], str]


def handle(session: DbSession, event: Event, payload: str, now: datetime) -> str:
    """Store the event id first (a duplicate is ignored), then apply its effects."""
    record = StripeEvent(
        id=event["id"],
        type=event["type"],
        account=event.get("account"),
        received_at=now,
        payload=payload,
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except sa.exc.IntegrityError:
        return "duplicate"
    handler = HANDLERS.get(record.type)
    result = handler(session, event, now) if handler else "ignored"
    record.processed_at = now
    return result


# --------------------------------------------------------------------------- lookups


def _obj(event: Event) -> dict[str, Any]:
    obj: dict[str, Any] = event["data"]["object"]
    return obj


def _account_tradie(session: DbSession, account: str | None) -> Tradie | None:
    if not account:
        return None
    return session.scalar(sa.select(Tradie).where(Tradie.stripe_account_id == account))


def _locked_booking(session: DbSession, booking_id: int, account: str | None) -> Booking | None:
    """The booking, locked, if it belongs to the connected account the event came from."""
    booking = ledger.lock_booking(session, booking_id)
    if booking is None:
        return None
    tradie = session.get(Tradie, booking.tradie_id)
    if tradie is None or not account or tradie.stripe_account_id != account:
        log.warning("event for booking %s from account %s ignored", booking_id, account)
        return None
    return booking


def _booking_id_of(
    session: DbSession, metadata: dict[str, Any] | None, pi_id: str | None
) -> int | None:
    raw = (metadata or {}).get("booking_id")
    if raw and str(raw).isdigit():
        return int(raw)
    if not pi_id:
        return None
    return session.scalar(
        sa.select(Payment.booking_id)
        .where(Payment.stripe_payment_intent_id == pi_id, Payment.kind.in_(ledger.CHARGE_KINDS))
        .limit(1)
    )


def _payment_for(session: DbSession, booking: Booking, pi: dict[str, Any]) -> Payment | None:
    metadata = pi.get("metadata") or {}
    kind = metadata.get("kind")
    raw_id = metadata.get("payment_id")
    if raw_id and str(raw_id).isdigit():
        payment = session.get(Payment, int(raw_id))
        if payment is not None and payment.booking_id == booking.id and payment.kind == kind:
            return payment
    payment = session.scalar(
        sa.select(Payment).where(
            Payment.booking_id == booking.id,
            Payment.kind == kind,
            Payment.stripe_payment_intent_id == pi["id"],
        )
    )
    if payment is not None or kind != PaymentKind.DEPOSIT:
        return payment
    # The deposit record is written before its PaymentIntent is made, so only a record the
    # request never committed is missing; keep the money on the books anyway.
    payment = Payment(
        booking_id=booking.id,
        tradie_id=booking.tradie_id,
        kind=PaymentKind.DEPOSIT,
        amount_minor=int(pi["amount"]),
        currency=str(pi["currency"]).upper(),
        application_fee_minor=int(pi.get("application_fee_amount") or 0),
        status=PaymentStatus.PENDING,
        stripe_payment_intent_id=pi["id"],
    )
    session.add(payment)
    session.flush()
    return payment


def _pi_target(session: DbSession, event: Event) -> tuple[Booking, Payment] | None:
    pi = _obj(event)
    metadata = pi.get("metadata") or {}
    if metadata.get("kind") not in ledger.CHARGE_KINDS:
        return None
    booking_id = _booking_id_of(session, metadata, pi.get("id"))
    if booking_id is None:
        return None
    booking = _locked_booking(session, booking_id, event.get("account"))
    if booking is None:
        return None
    payment = _payment_for(session, booking, pi)
    return (booking, payment) if payment is not None else None


# --------------------------------------------------------------------------- handlers


def payment_intent_succeeded(session: DbSession, event: Event, now: datetime) -> str:
    target = _pi_target(session, event)
    if target is None:
        return "ignored"
    booking, payment = target
    pi = _obj(event)
    if payment.kind == PaymentKind.DEPOSIT:
        return payment_outcomes.deposit_succeeded(
            session, booking, payment, pi, now, actor="stripe"
        )
    return payment_outcomes.balance_succeeded(session, booking, payment, pi, now, actor="stripe")


def payment_intent_failed(session: DbSession, event: Event, now: datetime) -> str:
    target = _pi_target(session, event)
    if target is None:
        return "ignored"
    booking, payment = target
    pi = _obj(event)
    if payment.kind == PaymentKind.DEPOSIT:
        return payment_outcomes.deposit_failed(session, booking, payment, pi, now)
    return payment_outcomes.balance_failed(payment, pi)


def payment_intent_canceled(session: DbSession, event: Event, now: datetime) -> str:
    target = _pi_target(session, event)
    if target is None:
        return "ignored"
    _booking, payment = target
    if payment.kind == PaymentKind.DEPOSIT:
        return payment_outcomes.deposit_canceled(payment)
    return "unchanged"


def _refunded_booking(
    session: DbSession, event: Event, refund_obj: dict[str, Any]
) -> Booking | None:
    pi_id = ledger.stripe_id(refund_obj.get("payment_intent"))
    booking_id = _booking_id_of(session, refund_obj.get("metadata"), pi_id)
    if booking_id is None:
        return None
    return _locked_booking(session, booking_id, event.get("account"))


def refund_changed(session: DbSession, event: Event, now: datetime) -> str:
    refund_obj = _obj(event)
    booking = _refunded_booking(session, event, refund_obj)
    if booking is None:
        return "ignored"
    return refunds.apply_refund(session, booking, refund_obj, now)


def charge_refunded(session: DbSession, event: Event, now: datetime) -> str:
    """A charge was refunded (perhaps in Stripe's dashboard): record each of its refunds."""
    charge = _obj(event)
    pi_id = ledger.stripe_id(charge.get("payment_intent"))
    booking_id = _booking_id_of(session, charge.get("metadata"), pi_id)
    if booking_id is None:
        return "ignored"
    booking = _locked_booking(session, booking_id, event.get("account"))
    if booking is None:
        return "ignored"
    results = [
        refunds.apply_refund(session, booking, ledger.as_dict(refund_obj), now)
        for refund_obj in gateway.list_refunds(event["account"], charge["id"])
    ]
    return "refund_recorded" if "refund_recorded" in results else "unchanged"


def dispute_changed(session: DbSession, event: Event, now: datetime) -> str:
    """Any dispute event, in any order: folded into the booking's dispute record."""
    dispute = _obj(event)
    pi_id = ledger.stripe_id(dispute.get("payment_intent"))
    booking_id = _booking_id_of(session, None, pi_id)
    if booking_id is None:
        charge_id = ledger.stripe_id(dispute.get("charge"))
        booking_id = session.scalar(
            sa.select(Payment.booking_id).where(Payment.stripe_charge_id == charge_id).limit(1)
        )
    if booking_id is None:
        return "ignored"
    booking = _locked_booking(session, booking_id, event.get("account"))
    if booking is None:
        return "ignored"
    return disputes.apply(session, booking, dispute, str(event["type"]), now)


def account_updated(session: DbSession, event: Event, now: datetime) -> str:
    # Events can arrive out of order, so read the account's current state from Stripe.
    tradie = _account_tradie(session, _obj(event).get("id") or event.get("account"))
    if tradie is None:
        return "ignored"
    onboarding.refresh_account(session, tradie, now)
    return "account_updated"


def account_deauthorized(session: DbSession, event: Event, now: datetime) -> str:
    tradie = _account_tradie(session, event.get("account"))
    if tradie is None:
        return "ignored"
    onboarding.needs_reconnect(session, tradie, now)
    return "disconnected"


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_failed,
    "payment_intent.canceled": payment_intent_canceled,
    "charge.refunded": charge_refunded,
    "refund.created": refund_changed,
    "refund.updated": refund_changed,
    "charge.refund.updated": refund_changed,
    "charge.dispute.created": dispute_changed,
    "charge.dispute.updated": dispute_changed,
    "charge.dispute.closed": dispute_changed,
    "charge.dispute.funds_withdrawn": dispute_changed,
    "charge.dispute.funds_reinstated": dispute_changed,
    "account.updated": account_updated,
    "account.application.deauthorized": account_deauthorized,
}
