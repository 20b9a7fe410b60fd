"""The connected account's payouts from Stripe, each with the bookings whose money it paid
out (from the payout's balance transactions, where Stripe reports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.payments import gateway
from peepopay.payments.ledger import as_dict, stripe_id
from peepopay.payments.models import Dispute, Payment, PaymentKind

PAYOUTS_SHOWN = 10
STATUS_LABELS = {
    "paid": "Paid",
    "in_transit": "On its way",
    "pending": "Pending",
    "failed": "Failed",
    "canceled": "Cancelled",
}
WHAT = {"charge": "Payment", "payment": "Payment", "refund": "Refund", "adjustment": "Dispute"}


@dataclass(frozen=True)
class PayoutLine:
    booking: Booking | None
    what: str
    amount_minor: int  # what the customer paid (negative: went back)
    net_minor: int  # after Stripe's and the platform's fees


@dataclass
class PayoutView:
    id: str
    amount_minor: int
    currency: str
    arrival: date
    status: str
    lines: list[PayoutLine] = field(default_factory=list)
    other_minor: int = 0  # money in the payout that belongs to no booking of ours

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status.replace("_", " ").capitalize())


def payouts_for(session: DbSession, tradie: Tradie, limit: int = PAYOUTS_SHOWN) -> list[PayoutView]:
    """The account's latest payouts, newest first (raises PaymentError when Stripe is away)."""
    if not tradie.stripe_account_id:
        return []
    zone = ZoneInfo(tradie.timezone)
    views = []
    for raw in gateway.list_payouts(tradie.stripe_account_id, limit):
        payout = as_dict(raw)
        arrival = datetime.fromtimestamp(int(payout["arrival_date"]), UTC).astimezone(zone)
        view = PayoutView(
            id=str(payout["id"]),
            amount_minor=int(payout["amount"]),
            currency=str(payout["currency"]).upper(),
            arrival=arrival.date(),
            status=str(payout["status"]),
        )
        txns = gateway.payout_transactions(tradie.stripe_account_id, view.id)
        _add_lines(session, tradie, view, [as_dict(t) for t in txns])
        views.append(view)
    return views


def _add_lines(session: DbSession, tradie: Tradie, view: PayoutView, txns: list[Any]) -> None:
    for txn in txns:
        if txn.get("type") == "payout":
            continue
        booking, payment = _booking_of(session, tradie.id, txn.get("source"))
        amount, net = int(txn.get("amount") or 0), int(txn.get("net") or 0)
        if booking is None:
            view.other_minor += net
            continue
        kind = str(txn.get("type"))
        what = WHAT.get(kind, kind.replace("_", " ").capitalize())
        if payment is not None and kind in ("charge", "payment", "refund"):
            what = payment.label
        view.lines.append(PayoutLine(booking, what, amount, net))


def _booking_of(
    session: DbSession, tradie_id: int, source: Any
) -> tuple[Booking | None, Payment | None]:
    """The booking (and payment) of a charge, refund or dispute (expanded or not), among the
    tradie's own."""
    if source is None:
        return None, None
    obj = source if isinstance(source, dict) else {"id": str(source)}
    source_id = str(obj.get("id"))
    pi_id = stripe_id(obj.get("payment_intent"))
    # A refund by its own id; a charge by its id among the money received, never one of its
    # refunds (they carry the charge's id and intent too, and would name the deposit "Refund").
    received = Payment.kind != PaymentKind.REFUND
    payment = session.scalar(
        sa.select(Payment)
        .where(
            Payment.tradie_id == tradie_id,
            sa.or_(
                Payment.stripe_refund_id == source_id,
                sa.and_(received, Payment.stripe_charge_id == source_id),
            ),
        )
        .limit(1)
    )
    if payment is None and pi_id and str(obj.get("object")) != "dispute":
        payment = session.scalar(
            sa.select(Payment)
            .where(
                Payment.tradie_id == tradie_id,
                Payment.stripe_payment_intent_id == pi_id,
                received,
            )
            .limit(1)
        )
    booking_id = payment.booking_id if payment is not None else None
    if booking_id is None:
        booking_id = session.scalar(
            sa.select(Dispute.booking_id).where(
                Dispute.tradie_id == tradie_id, Dispute.stripe_dispute_id == source_id
            )
        )
    booking = session.get(Booking, booking_id) if booking_id is not None else None
    return booking, payment
