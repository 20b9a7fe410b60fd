"""A tradie's customer: the person behind one or more bookings, with the tradie's notes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


class Customer(db.Model):  # type: ignore[name-defined]
    __tablename__ = "customers"
    __table_args__ = (
        # One record per email and per phone for each tradie: a race to create the same person
        # twice ends in one row (peepopay.customers.services.attach retries on the refusal).
        sa.Index(
            "uq_customers_tradie_email",
            "tradie_id",
            "email",
            unique=True,
            sqlite_where=sa.text("email IS NOT NULL"),
            postgresql_where=sa.text("email IS NOT NULL"),
        ),
        sa.Index(
            "uq_customers_tradie_phone",
            "tradie_id",
            "phone",
            unique=True,
            sqlite_where=sa.text("phone IS NOT NULL"),
            postgresql_where=sa.text("phone IS NOT NULL"),
        ),
        sa.Index("ix_customers_tradie_last_booked", "tradie_id", "last_booked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(sa.ForeignKey("tradies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(120))
    # Lower-cased for matching; None once another record took it over or never given.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(32))  # E.164
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")  # private to the tradie
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_booked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
