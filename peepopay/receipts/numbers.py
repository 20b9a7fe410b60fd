"""Receipt (tax invoice) numbers: sequential per tradie with no gaps and no repeats.

One counter row per tradie, bumped by a single upsert in the transaction that records the
money; a rolled-back payment takes its number back with it, and concurrent transactions queue
on the row (PostgreSQL's row lock, SQLite's one writer)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from peepopay.bookings.models import Booking
from peepopay.db_setup import DbSession
from peepopay.payments.models import Invoice, InvoiceCounter


def number_for(session: DbSession, booking: Booking, now: datetime) -> int:
    """The booking's receipt number, given now if it has none (call with the booking locked)."""
    existing = session.scalar(sa.select(Invoice.number).where(Invoice.booking_id == booking.id))
    if existing is not None:
        return int(existing)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    bump = (
        insert(InvoiceCounter)
        .values(tradie_id=booking.tradie_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[InvoiceCounter.tradie_id],
            set_={"last_number": InvoiceCounter.last_number + 1},
        )
        .returning(InvoiceCounter.last_number)
    )
    number = int(session.execute(bump).scalar_one())
    session.add(
        Invoice(tradie_id=booking.tradie_id, booking_id=booking.id, number=number, issued_at=now)
    )
    session.flush()
    return number


def invoice_of(session: DbSession, booking_id: int) -> Invoice | None:
    return session.scalar(sa.select(Invoice).where(Invoice.booking_id == booking_id))
