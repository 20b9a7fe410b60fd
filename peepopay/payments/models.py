"""Money movements and the Stripe events that caused them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


class PaymentKind:
    DEPOSIT = "deposit"
    BALANCE = "balance"
    REFUND = "refund"


class PaymentMethod:
    """How a payment was made outside Stripe; a card payment through Stripe has no method."""

    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    LABELS = {CASH: "cash", BANK_TRANSFER: "bank transfer"}


def offline_label(method: str) -> str:
    """How the dashboard names a payment made another way: "Paid another way (cash)"."""
    return f"Paid another way ({PaymentMethod.LABELS.get(method, method.replace('_', ' '))})"


# A balance payment whose `reason` is this is a no-show fee: charged and paid exactly as the
# balance is (saved card, then the payment link), and named as what it is wherever it is shown.
PURPOSE_NO_SHOW_FEE = "no_show_fee"


class PaymentStatus:
    PENDING = "pending"  # created; the customer or Stripe has not finished yet
    SUCCEEDED = "succeeded"  # money received (a charge) or returned (a refund)
    FAILED = "failed"
    CANCELED = "canceled"
    AWAITING = "awaiting_payment"  # a balance the saved card could not pay: link sent

    # Refunds that count against what can still be refunded.
    REFUND_HOLDING = (PENDING, SUCCEEDED)

    # How the dashboard names each status: Stripe's words ("succeeded") mean nothing to a tradie.
    LABELS = {
        PENDING: "Processing",
        SUCCEEDED: "Paid",
        FAILED: "Failed",
        CANCELED: "Cancelled",
        AWAITING: "Awaiting payment",
    }


class Payment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        sa.CheckConstraint("application_fee_minor >= 0", name="fee_not_negative"),
        sa.CheckConstraint("kind IN ('deposit', 'balance', 'refund')", name="kind"),
        # Every lookup by tradie, and the month's sums, the payments per month and the latest
        # payments in time order (migration 0014; it replaced an index on tradie_id alone).
        sa.Index("ix_payments_tradie_created_at", "tradie_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    tradie_id: Mapped[int] = mapped_column(sa.ForeignKey("tradies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))
    application_fee_minor: Mapped[int] = mapped_column(default=0)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_refund_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(sa.String(255))
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(30), default="pending")
    # Set only for money the tradie received another way (no Stripe object, no platform fee).
    method: Mapped[str | None] = mapped_column(sa.String(20))
    # How a Stripe payment was made, from its charge: "visa" "4242", and a wallet when one
    # paid ("apple_pay", "google_pay", "link"); empty for offline money and refunds.
    card_brand: Mapped[str | None] = mapped_column(sa.String(20))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    wallet: Mapped[str | None] = mapped_column(sa.String(20))
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def offline(self) -> bool:
        return self.method is not None

    @property
    def label(self) -> str:
        """What the payment was, as every money view names it."""
        what = "No-show fee" if self.is_no_show_fee else self.kind.capitalize()
        return f"{what} · {offline_label(self.method)}" if self.method else what

    @property
    def is_no_show_fee(self) -> bool:
        return self.kind == PaymentKind.BALANCE and self.reason == PURPOSE_NO_SHOW_FEE

    @property
    def status_label(self) -> str:
        """The status in words: a refund that went through is "Refunded", a charge "Paid"."""
        if self.kind == PaymentKind.REFUND and self.status == PaymentStatus.SUCCEEDED:
            return "Refunded"
        return PaymentStatus.LABELS.get(self.status, self.status.replace("_", " ").capitalize())


class StripeEvent(db.Model):  # type: ignore[name-defined]
    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    account: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(sa.Text)


class DisputeStatus:
    """Stripe's dispute statuses, in the order they can follow one another."""

    OPEN = ("warning_needs_response", "needs_response")
    REVIEW = ("warning_under_review", "under_review")
    CLOSED = ("warning_closed", "won", "lost", "prevented")

    @classmethod
    def rank(cls, status: str) -> int:
        """A later stage never gives way to an earlier one, whatever order events come in."""
        if status in cls.CLOSED:
            return 2
        return 1 if status in cls.REVIEW else 0


DISPUTE_REASONS = {
    "fraudulent": "the cardholder says they did not make the payment",
    "product_not_received": "the customer says the job was not done",
    "product_unacceptable": "the customer says the work was not as described",
    "duplicate": "the customer says they were charged twice",
    "subscription_canceled": "the customer says they cancelled",
    "credit_not_processed": "the customer says a refund was promised",
    "unrecognized": "the customer does not recognise the payment",
    "general": "the bank gave no particular reason",
}
DISPUTE_STATUS_LABELS = {
    "warning_needs_response": "Inquiry: respond in Stripe",
    "needs_response": "Needs your response",
    "warning_under_review": "Inquiry under review",
    "under_review": "Under review by the bank",
    "warning_closed": "Inquiry closed",
    "won": "Won: the money is back",
    "lost": "Lost: the money stays with the customer",
    "prevented": "Prevented",
}


class Dispute(db.Model):  # type: ignore[name-defined]
    """A customer's bank disputing a charge: its stage, and the money it took and gave back."""

    __tablename__ = "disputes"
    __table_args__ = (
        sa.CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        sa.CheckConstraint("withdrawn_minor >= 0", name="withdrawn_not_negative"),
        sa.CheckConstraint("reinstated_minor >= 0", name="reinstated_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    stripe_dispute_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(sa.String(255))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(30))
    reason: Mapped[str] = mapped_column(sa.String(40))
    evidence_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the bank took from the tradie's balance, and what came back when it was won.
    withdrawn_minor: Mapped[int] = mapped_column(default=0)
    reinstated_minor: Mapped[int] = mapped_column(default=0)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reinstated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def open(self) -> bool:
        return self.status in DisputeStatus.OPEN

    @property
    def reason_text(self) -> str:
        return DISPUTE_REASONS.get(self.reason, self.reason.replace("_", " "))

    @property
    def status_label(self) -> str:
        return DISPUTE_STATUS_LABELS.get(self.status, self.status.replace("_", " ").capitalize())

    @property
    def closed(self) -> bool:
        return self.status in DisputeStatus.CLOSED


class InvoiceCounter(db.Model):  # type: ignore[name-defined]
    """A tradie's next tax invoice number: one row, bumped in the transaction that numbers an
    invoice, so numbers have no gaps and no repeats."""

    __tablename__ = "invoice_counters"

    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(db.Model):  # type: ignore[name-defined]
    """A booking's receipt number, given when its first money arrives (one per booking)."""

    __tablename__ = "invoices"
    __table_args__ = (sa.UniqueConstraint("tradie_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    number: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DomainStatus:
    PENDING = "pending"  # to be registered (or re-registered) with Stripe
    ACTIVE = "active"  # registered: Apple Pay and Google Pay may show there
    FAILED = "failed"  # Stripe refused it; `error` says why
    REMOVING = "removing"  # no longer allowed: to be disabled at Stripe


class PaymentMethodDomain(db.Model):  # type: ignore[name-defined]
    """A domain the widget runs on, registered with Stripe on the tradie's connected account
    so wallets show there. The row is the wish; the worker makes Stripe match it."""

    __tablename__ = "payment_method_domains"
    __table_args__ = (sa.UniqueConstraint("tradie_id", "domain_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    domain_name: Mapped[str] = mapped_column(sa.String(253))
    stripe_id: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(20), default=DomainStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
