"""A booking's money from its payment records, and the helpers every payment flow shares.

Concurrency: a flow that changes a booking's money first locks the booking row
(`lock_booking`), and so does every webhook handler, so a webhook that races the request
that caused it waits for that request's commit and then sees its rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.payments.models import Dispute, Payment, PaymentKind, PaymentStatus

# The smallest card charge Stripe accepts, in minor units, by currency (50 elsewhere).
MINIMUM_CHARGE = {"GBP": 30, "HKD": 400, "JPY": 50, "MXN": 1000, "DKK": 250, "NOK": 300}
CHARGE_KINDS = (PaymentKind.DEPOSIT, PaymentKind.BALANCE)


class PaymentProblem(RuleRefused):
    """A request the payment rules refuse; `field` names the form field at fault."""


# --------------------------------------------------------------------------- helpers


def minimum_charge(currency: str) -> int:
    return MINIMUM_CHARGE.get(currency.upper(), 50)


def fee_bps() -> int:
    return int(current_app.config["PLATFORM_FEE_BPS"])


def lock_booking(session: DbSession, booking_id: int) -> Booking | None:
    """The booking, re-read after taking its row lock (PostgreSQL) or the write lock (SQLite)."""
    session.execute(
        sa.update(Booking)
        .where(Booking.id == booking_id)
        .values(updated_at=Booking.updated_at)
        .execution_options(synchronize_session=False, slots_of=())  # a lock, no change
    )
    return session.execute(
        sa.select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def tradie_of(session: DbSession, booking: Booking) -> Tradie:
    tradie = session.get(Tradie, booking.tradie_id)
    assert tradie is not None
    return tradie


def payments_of(session: DbSession, booking_id: int) -> list[Payment]:
    return list(
        session.scalars(
            sa.select(Payment)
            .where(Payment.booking_id == booking_id)
            .order_by(Payment.created_at, Payment.id)
        )
    )


def deposit_payment(session: DbSession, booking_id: int) -> Payment | None:
    return session.scalar(
        sa.select(Payment)
        .where(Payment.booking_id == booking_id, Payment.kind == PaymentKind.DEPOSIT)
        .order_by(Payment.id.desc())
        .limit(1)
    )


def stripe_id(value: Any) -> str | None:
    """An id from a field that may be expanded into an object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value.get("id")) if isinstance(value, dict) else str(value.id)


def as_dict(obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else obj.to_dict()


@dataclass
class Ledger:
    """A booking's money from its payment records: what came in, what went back."""

    payments: list[Payment]
    received_minor: int = 0
    refunded_minor: int = 0  # refunds Stripe accepted or is still processing
    fees_minor: int = 0
    offline_minor: int = 0  # received another way (cash, bank transfer): in `received_minor` too
    # Taken back from the tradie by a dispute, and given back when it was won.
    withdrawn_minor: int = 0
    reinstated_minor: int = 0
    disputes: list[Dispute] = field(default_factory=list)
    refundable_by_payment: dict[int, int] = field(default_factory=dict)

    @property
    def net_minor(self) -> int:
        return (
            self.received_minor - self.refunded_minor - self.withdrawn_minor + self.reinstated_minor
        )

    @property
    def refundable_minor(self) -> int:
        return sum(self.refundable_by_payment.values())

    @property
    def deposit(self) -> Payment | None:
        return next((p for p in self.payments if p.kind == PaymentKind.DEPOSIT), None)

    @property
    def balance(self) -> Payment | None:
        balances = [p for p in self.payments if p.kind == PaymentKind.BALANCE]
        live = [
            p for p in balances if p.status not in (PaymentStatus.FAILED, PaymentStatus.CANCELED)
        ]
        return (live or balances)[-1] if balances else None

    @property
    def balance_started(self) -> bool:
        """A balance charge is under way or paid, so another may not be started."""
        balance = self.balance
        return balance is not None and balance.status in (
            PaymentStatus.PENDING,
            PaymentStatus.AWAITING,
            PaymentStatus.SUCCEEDED,
        )


def ledger(session: DbSession, booking_id: int) -> Ledger:
    rows = payments_of(session, booking_id)
    disputes = list(
        session.scalars(
            sa.select(Dispute).where(Dispute.booking_id == booking_id).order_by(Dispute.id)
        )
    )
    book = Ledger(
        rows,
        withdrawn_minor=sum(d.withdrawn_minor for d in disputes),
        reinstated_minor=sum(d.reinstated_minor for d in disputes),
        disputes=disputes,
    )
    refunded_by_pi: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.kind == PaymentKind.REFUND and row.status in PaymentStatus.REFUND_HOLDING:
            book.refunded_minor += row.amount_minor
            book.fees_minor -= row.application_fee_minor
            refunded_by_pi[row.stripe_payment_intent_id or ""] += row.amount_minor
    for row in rows:
        if row.kind in CHARGE_KINDS and row.status == PaymentStatus.SUCCEEDED:
            book.received_minor += row.amount_minor
            book.fees_minor += row.application_fee_minor
            if row.method is not None:
                # No Stripe charge to refund: the tradie gives that money back their own way.
                book.offline_minor += row.amount_minor
                continue
            left = row.amount_minor - refunded_by_pi[row.stripe_payment_intent_id or ""]
            book.refundable_by_payment[row.id] = max(left, 0)
    return book


def fee_share(charge: Payment, refunded_before: int, amount: int) -> int:
    """The platform fee Stripe returns with a refund: the charge's fee in proportion to the
    refunded share, rounded half up on the running total."""
    if charge.amount_minor <= 0:
        return 0

    def share(refunded: int) -> int:
        return (2 * charge.application_fee_minor * refunded + charge.amount_minor) // (
            2 * charge.amount_minor
        )

    return share(refunded_before + amount) - share(refunded_before)


def record_charge(payment: Payment, pi: dict[str, Any]) -> None:
    """What Stripe says about a paid PaymentIntent, on its payment record."""
    payment.stripe_payment_intent_id = pi["id"]
    payment.stripe_charge_id = stripe_id(pi.get("latest_charge")) or payment.stripe_charge_id
    payment.stripe_payment_method_id = (
        stripe_id(pi.get("payment_method")) or payment.stripe_payment_method_id
    )
    payment.stripe_customer_id = stripe_id(pi.get("customer")) or payment.stripe_customer_id
    payment.failure_code = payment.failure_message = None


def record_method(payment: Payment, charge: dict[str, Any]) -> None:
    """How the customer paid, from the charge: card brand and last four, and the wallet."""
    details = charge.get("payment_method_details") or {}
    card = details.get("card")
    if details.get("type") == "card" and card:
        payment.card_brand = str(card.get("brand") or "")[:20] or None
        payment.card_last4 = str(card.get("last4") or "")[:4] or None
        wallet = card.get("wallet") or {}
        payment.wallet = str(wallet.get("type"))[:20] if wallet.get("type") else None
    elif details.get("type"):
        payment.wallet = str(details["type"])[:20]  # link, and other non-card methods


def record_failure(payment: Payment, pi: dict[str, Any]) -> None:
    """Why Stripe declined the attempt, as the booking pages show it."""
    error = pi.get("last_payment_error") or {}
    payment.failure_code = (error.get("decline_code") or error.get("code") or "failed")[:64]
    payment.failure_message = (error.get("message") or "The payment failed.")[:500]
