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


class StripeEvent(db.Model):  # type: ignore[name-defined]
    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    account: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(sa.Text)
