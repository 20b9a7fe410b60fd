"""Bookings: a customer's claim on a slot, with its snapshot of the service."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

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


# The name an erased customer's bookings keep; their email, phone and address are blanked.
ERASED_NAME = "Erased customer"

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
        sa.Index("uq_bookings_tradie_id_reference", "tradie_id", "reference", unique=True),
        # The dashboard's ranges and filters at any size of history (migration 0014).
        sa.Index("ix_bookings_tradie_status_starts_at", "tradie_id", "status", "starts_at"),
        sa.Index("ix_bookings_tradie_created_at", "tradie_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(sa.ForeignKey("tradies.id", ondelete="CASCADE"))
    # The tradie's own booking number (1, 2, 3 …): what the customer and the tradie quote to
    # each other, instead of the global id. Set on insert by `_number_per_tradie`.
    reference: Mapped[int] = mapped_column(server_default="0")
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
    postcode: Mapped[str | None] = mapped_column(sa.String(10))

    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A booking by arrival window: the window promised to the customer. [starts_at, ends_at)
    # is then the one share of the window it holds (see bookings.windows), so the overlap
    # guarantee caps the window at its number of jobs.
    window_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The free-cancellation deadline a move kept: set when a booking is moved after its window
    # had closed, so moving it later never reopens a refund (bookings.policy).
    free_cancel_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
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

    answers: Mapped[list[BookingAnswer]] = relationship(
        order_by="BookingAnswer.sort_order",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    """Loaded when read; a query that reads them for many bookings loads them with
    `sa.orm.selectinload` (the CSV, the calendar feed), so lists and the calendar, which show
    neither, cost no extra statements."""

    photos: Mapped[list[BookingPhoto]] = relationship(order_by="BookingPhoto.id", viewonly=True)

    @property
    def erased(self) -> bool:
        """Its customer was erased: nobody left to write to, visit or edit the details of."""
        return (
            self.customer_name == ERASED_NAME
            and not self.customer_email
            and not self.customer_phone
        )

    @property
    def balance_minor(self) -> int | None:
        total = self.final_amount_minor if self.final_amount_minor is not None else self.price_minor
        return None if total is None else max(total - self.deposit_minor, 0)


# The tradies table's counter, without importing the accounts area's model.
_TRADIE_COUNTER = sa.table("tradies", sa.column("id"), sa.column("last_booking_reference"))


@sa.event.listens_for(Booking, "before_insert")
def _number_per_tradie(_mapper: object, connection: sa.Connection, booking: Booking) -> None:
    """Take the tradie's next booking number in the insert's own transaction (and savepoint):
    one atomic UPDATE … RETURNING, which PostgreSQL serialises on the tradie's row and SQLite
    under its write lock, so two concurrent bookings never share a number; an insert that is
    refused (an overlap) rolls its number back with it."""
    if booking.reference:
        return
    booking.reference = connection.execute(
        sa.update(_TRADIE_COUNTER)
        .where(_TRADIE_COUNTER.c.id == booking.tradie_id)
        .values(last_booking_reference=_TRADIE_COUNTER.c.last_booking_reference + 1)
        .returning(_TRADIE_COUNTER.c.last_booking_reference)
    ).scalar_one()


class BookingAnswer(db.Model):  # type: ignore[name-defined]
    """A customer's answer to a service question, with the question as it was asked."""

    __tablename__ = "booking_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("service_questions.id", ondelete="SET NULL"), index=True
    )
    question: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(12))
    answer: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)


class BookingPhoto(db.Model):  # type: ignore[name-defined]
    """A customer's photo of the job, re-encoded; the files live in the photo store under
    `storage_key`, a random name nobody can guess."""

    __tablename__ = "booking_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
