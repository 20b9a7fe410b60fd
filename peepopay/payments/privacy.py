"""A person's details in what the payments area keeps: Stripe's events are stored whole, and
several carry the customer (`customer.created`: name, email and phone; a PaymentIntent's
`receipt_email`; a charge's `billing_details` with the cardholder's name). Erasing the person
cuts those events down to what identifies the event itself."""

from __future__ import annotations

import json
from collections.abc import Collection

import sqlalchemy as sa

from peepopay.db_setup import DbSession
from peepopay.payments.models import Payment, StripeEvent


def stripe_ids(session: DbSession, booking_ids: Collection[int]) -> set[str]:
    """Every Stripe object id the bookings' payment records name: the PaymentIntents, charges,
    refunds, Stripe Customers, payment methods and Checkout Sessions."""
    if not booking_ids:
        return set()
    rows = session.execute(
        sa.select(
            Payment.stripe_payment_intent_id,
            Payment.stripe_charge_id,
            Payment.stripe_refund_id,
            Payment.stripe_customer_id,
            Payment.stripe_payment_method_id,
            Payment.stripe_checkout_session_id,
        ).where(Payment.booking_id.in_(booking_ids))
    )
    return {value for row in rows for value in row if value}


def redact_events(session: DbSession, needles: Collection[str]) -> int:
    """Cut every stored event that mentions one of `needles` (Stripe ids, an email address,
    a phone number) down to its id, type and object id; returns how many. The row stays, so
    Stripe sending the event again is still recognised as a repeat."""
    needles = [needle for needle in needles if needle]
    if not needles:
        return 0
    events = session.scalars(
        sa.select(StripeEvent).where(
            sa.or_(*(StripeEvent.payload.contains(needle, autoescape=True) for needle in needles))
        )
    ).all()
    for event in events:
        event.payload = json.dumps(_stub(event))
    return len(events)


def _stub(event: StripeEvent) -> dict[str, object]:
    try:
        obj = json.loads(event.payload)["data"]["object"]
        kept = {key: obj[key] for key in ("id", "object") if isinstance(obj.get(key), str)}
    except (ValueError, KeyError, TypeError):
        kept = {}
    return {
        "id": event.id,
        "type": event.type,
        "account": event.account,
        "data": {"object": kept},
        "redacted": True,
    }
