"""Bookings: a customer's claim on a slot, with its snapshot of the service."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


class Status(StrEnum):
    """Where a booking is in its lifecycle; only `peepopay.bookings.lifecycle` changes it."""

    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PAYMENT_FAILED = "payment_failed"
    # The customer was not there when the job was due; like completed, its time is in the past.
    NO_SHOW = "no_show"


# Statuses whose slot is taken (a pending one only while its hold lives).
ACTIVE_STATUSES = (Status.PENDING_PAYMENT, Status.CONFIRMED)


# PostgreSQL only (migration 0014): trigram indexes for the bookings search, a substring of the
# customer's name, email or phone. SQLite has none, so the models leave them out.
SEARCH_INDEXES = ("ix_bookings_name_trgm", "ix_bookings_email_trgm", "ix_bookings_phone_trgm")


def new_public_token() -> str:
    return secrets.token_urlsafe(24)


class Booking(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bookings"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_bookings_tradie_id_starts_at", "tradie_id", "starts_at"),
        # Finding a customer's earlier bookings by their email or phone.
        sa.Index("ix_bookings_tradie_email", "tradie_id", sa.text("lower(customer_email)")),
        sa.Index("ix_bookings_tradie_phone", "tradie_id", "customer_phone"),
        # The dashboard's ranges and filters at any size of history (migration 0014).
        sa.Index("ix_bookings_tradie_status_starts_at", "tradie_id", "status", "starts_at"),
        sa.Index("ix_bookings_tradie_created_at", "tradie_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(sa.ForeignKey("tradies.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("services.id", ondelete="SET NULL"), index=True
    )
    service_name: Mapped[str] = mapped_column(sa.String(120))
    duration_minutes: Mapped[int]
    price_minor: Mapped[int | None]
    deposit_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))

    customer_name: Mapped[str] = mapped_column(sa.String(120))
    customer_email: Mapped[str] = mapped_column(sa.String(254))
    customer_phone: Mapped[str] = mapped_column(sa.String(32))
    job_address: Mapped[str] = mapped_column(sa.String(300))
    # The person behind the booking (peepopay.customers); None once their data was erased.
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(sa.String(20), default=Status.PENDING_PAYMENT, index=True)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    public_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_public_token)
    disputed: Mapped[bool] = mapped_column(default=False)
    # A keyed hash of the address a customer's hold came from (peepopay.net.client_key), so its
    # unpaid holds can be counted without keeping the address.
    client_key: Mapped[str | None] = mapped_column(sa.String(32))
    final_amount_minor: Mapped[int | None]

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def balance_minor(self) -> int | None:
        total = self.final_amount_minor if self.final_amount_minor is not None else self.price_minor
        return None if total is None else max(total - self.deposit_minor, 0)
