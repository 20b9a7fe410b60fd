"""Customers: matching each booking to one person by email or phone (merging two records once
a booking shows they are the same person), the list and page the tradie reads, private notes,
the CSV, and erasing one person's data on request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from peepopay import audit
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import (
    ACTIVE_STATUSES,
    ERASED_NAME,
    Booking,
    BookingAnswer,
    BookingPhoto,
    Status,
)
from peepopay.customers.models import Customer
from peepopay.db_setup import DbSession
from peepopay.errors import RuleRefused
from peepopay.formatting import csv_line, local_time, plain_amount
from peepopay.notifications import transport
from peepopay.notifications.models import OutboxMessage
from peepopay.payments import privacy, reports
from peepopay.payments.models import Payment
from peepopay.phones import display as display_phone
from peepopay.rules import actor, owned

PER_PAGE = 25
NOTES_MAX = 5000
# Booking fields that hold the person's data; erasing blanks them and keeps the money.
PERSONAL = ("customer_name", "customer_email", "customer_phone", "job_address", "notes")


# --------------------------------------------------------------------------- matching


def _key(email: str) -> str | None:
    return email.strip().lower() or None


def attach(session: DbSession, booking: Booking) -> Customer:
    """Link the booking to its customer: the record that has its email or phone, or that an
    earlier booking with either links to; a new one if none; one merged record if both
    belong to different people so far. Retries when a concurrent booking made the record."""
    for attempt in range(3):
        try:
            with session.begin_nested():
                customer = _match(session, booking)
                session.flush()
            return customer
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _match(session: DbSession, booking: Booking) -> Customer:
    email, phone = _key(booking.customer_email), booking.customer_phone or None
    found = _records_for(session, booking.tradie_id, email, phone)
    if not found:
        customer = Customer(tradie_id=booking.tradie_id, name=booking.customer_name)
        session.add(customer)
    else:
        customer = found[0]
        for other in found[1:]:
            _merge(session, other, into=customer)
    customer.name = booking.customer_name or customer.name
    customer.address = booking.job_address or customer.address
    # A record keeps the first email and phone it met; a newer one is matched through the
    # booking that carries it.
    customer.email = customer.email or email
    customer.phone = customer.phone or phone
    if customer.last_booked_at is None or booking.created_at > customer.last_booked_at:
        customer.last_booked_at = booking.created_at
    session.flush()
    booking.customer_id = customer.id
    return customer


def _records_for(
    session: DbSession, tradie_id: int, email: str | None, phone: str | None
) -> list[Customer]:
    """The tradie's records holding this email or phone, directly or through a booking,
    oldest first."""
    direct = []
    through = []
    if email:
        direct.append(Customer.email == email)
        through.append(sa.func.lower(Booking.customer_email) == email)
    if phone:
        direct.append(Customer.phone == phone)
        through.append(Booking.customer_phone == phone)
    if not direct:
        return []
    linked = sa.select(Booking.customer_id).where(
        Booking.tradie_id == tradie_id, Booking.customer_id.is_not(None), sa.or_(*through)
    )
    return list(
        session.scalars(
            sa.select(Customer)
            .where(Customer.tradie_id == tradie_id)
            .where(sa.or_(*direct, Customer.id.in_(linked)))
            .order_by(Customer.id)
        )
    )


def _merge(session: DbSession, other: Customer, *, into: Customer) -> None:
    """Two records turned out to be one person: the older keeps everything."""
    session.execute(
        sa.update(Booking)
        .where(Booking.customer_id == other.id)
        .values(customer_id=into.id)
        # Who, not when: no slot changes, but the kept customer list shows who booked.
        .execution_options(synchronize_session=False, slots_of=into.tradie_id)
    )
    if other.notes and other.notes not in into.notes:
        into.notes = "\n\n".join(n for n in (into.notes, other.notes) if n)
    email, phone = other.email, other.phone
    session.delete(other)
    session.flush()  # frees its email and phone before the kept record takes them
    into.email = into.email or email
    into.phone = into.phone or phone
    audit.record(
        session,
        tradie_id=into.tradie_id,
        actor="system",
        action="customer.merged",
        entity=into,
        summary={"merged": other.id},
    )


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Totals:
    bookings: int = 0
    no_shows: int = 0
    paid_minor: int = 0
    refunded_minor: int = 0
    last_start: datetime | None = None


@dataclass
class Row:
    customer: Customer
    totals: Totals


@dataclass
class Page:
    rows: list[Row]
    total: int
    page: int
    q: str = ""
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def args(self, **overrides: object) -> dict[str, object]:
        values: dict[str, object] = {"q": self.q, "page": self.page, **overrides}
        return {k: v for k, v in values.items() if v not in ("", 1)}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _searched(tradie_id: int, q: str) -> sa.Select[Customer]:
    query = sa.select(Customer).where(Customer.tradie_id == tradie_id)
    if q:
        pattern = _like(q.lower())
        conditions = [
            sa.func.lower(Customer.name).like(pattern, escape="\\"),
            Customer.email.like(pattern, escape="\\"),
            Customer.phone.like(pattern, escape="\\"),
            sa.func.lower(Customer.address).like(pattern, escape="\\"),
        ]
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3:
            # Phones are stored as +6421…; let "021 123" find them too.
            conditions.append(Customer.phone.like(f"%{digits.lstrip('0')}%"))
        query = query.where(sa.or_(*conditions))
    return query.order_by(Customer.last_booked_at.desc(), Customer.id.desc())


def page_of(session: DbSession, tradie_id: int, q: str, page: int, now: datetime) -> Page:
    """One page of the tradie's customers, latest booked first, with each one's totals."""
    q = q.strip()[:100]
    query = _searched(tradie_id, q)
    page = max(page, 1)
    found = _page_rows(session, query, page) if q else _listed(session, tradie_id, query, page)
    if not found and page > 1:  # past the end: the last page
        total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        page = max(((total or 0) + PER_PAGE - 1) // PER_PAGE, 1)
        found = _page_rows(session, query, page)
    customers = [customer for customer, _ in found]
    total = found[0][1] if found else 0
    totals = totals_for(session, [c.id for c in customers], now)
    return Page([Row(c, totals.get(c.id, Totals())) for c in customers], total, page, q)


def _page_rows(
    session: DbSession, query: sa.Select[Customer], page: int
) -> list[tuple[Customer, int]]:
    """The page's customers, each with the count of all found: one scan for both."""
    counted = query.add_columns(sa.func.count().over())
    rows = session.execute(counted.limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    return [(customer, int(total)) for customer, total in rows]


def _listed(
    session: DbSession, tradie_id: int, query: sa.Select[Customer], page: int
) -> list[tuple[Customer, int]]:
    """The page's customers and the count of all of them, without a search: the count reads
    only the (tradie_id, last_booked_at) index, and the page that index's newest rows (a
    window count would read every customer of the tradie to page any of them)."""
    total = session.scalar(
        sa.select(sa.func.count()).select_from(Customer).where(Customer.tradie_id == tradie_id)
    )
    rows = session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    return [(customer, int(total or 0)) for customer in rows]


def counted(now: datetime) -> sa.ColumnElement[bool]:
    """Bookings that happened or will: not a hold that ran out, a cancellation or a failed
    payment, which a customer's totals would otherwise count as jobs."""
    return sa.or_(
        Booking.status.in_((Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW)),
        sa.and_(Booking.status == Status.PENDING_PAYMENT, Booking.hold_expires_at > now),
    )


def totals_for(session: DbSession, customer_ids: Sequence[int], now: datetime) -> dict[int, Totals]:
    """Bookings (those `counted`), no-shows, money in and money back per customer, in two
    grouped queries."""
    if not customer_ids:
        return {}
    counts = session.execute(
        sa.select(
            Booking.customer_id,
            sa.func.count(Booking.id),
            sa.func.sum(sa.case((Booking.status == Status.NO_SHOW, 1), else_=0)),
            sa.func.max(Booking.starts_at),
        )
        .where(Booking.customer_id.in_(customer_ids), counted(now))
        .group_by(Booking.customer_id)
    )
    money = {
        cid: (paid, refunded)
        for cid, paid, refunded in session.execute(
            sa.select(
                Booking.customer_id,
                sa.func.sum(reports.received_minor()),
                sa.func.sum(reports.refunded_minor()),
            )
            .join(Payment, Payment.booking_id == Booking.id)
            .where(Booking.customer_id.in_(customer_ids))
            .group_by(Booking.customer_id)
        )
    }
    found = {}
    for cid, bookings, no_shows, last in counts:
        paid, refunded = money.get(cid, (0, 0))
        found[cid] = Totals(bookings, no_shows or 0, paid or 0, refunded or 0, last)
    return found


# --------------------------------------------------------------------------- one customer


@dataclass
class Detail:
    customer: Customer
    totals: Totals
    bookings: list[Booking] = field(default_factory=list)

    @property
    def upcoming_active(self) -> list[Booking]:
        return [b for b in self.bookings if b.status in ACTIVE_STATUSES]


def get(session: DbSession, tradie_id: int, customer_id: int) -> Customer:
    return owned(session, Customer, customer_id, tradie_id)


def detail(session: DbSession, tradie_id: int, customer_id: int, now: datetime) -> Detail:
    customer = get(session, tradie_id, customer_id)
    bookings = session.scalars(
        sa.select(Booking)
        .where(Booking.customer_id == customer.id, Booking.tradie_id == tradie_id)
        .order_by(Booking.starts_at.desc(), Booking.id.desc())
    ).all()
    totals = totals_for(session, [customer.id], now).get(customer.id, Totals())
    return Detail(customer, totals, list(bookings))


def save_notes(session: DbSession, tradie: Tradie, customer: Customer, notes: str) -> bool:
    """The tradie's private notes on the customer; returns whether they changed."""
    notes = notes.strip()
    if len(notes) > NOTES_MAX:
        raise RuleRefused("notes", f"Notes must be at most {NOTES_MAX} characters.")
    if notes == customer.notes:
        return False
    customer.notes = notes
    audit.record(
        session, tradie_id=tradie.id, actor=actor(tradie), action="customer.noted", entity=customer
    )
    return True


def recent(session: DbSession, tradie_id: int, limit: int = 100) -> list[Customer]:
    """The tradie's latest booked customers, for picking one on a new booking."""
    return list(
        session.scalars(
            sa.select(Customer)
            .where(Customer.tradie_id == tradie_id)
            .order_by(Customer.last_booked_at.desc(), Customer.id.desc())
            .limit(limit)
        )
    )


def latest_booking(session: DbSession, customer: Customer) -> Booking | None:
    """The customer's latest booking: where their current details are."""
    return session.scalar(
        sa.select(Booking)
        .where(Booking.customer_id == customer.id)
        .order_by(Booking.created_at.desc(), Booking.id.desc())
        .limit(1)
    )


class PhotoFiles(Protocol):
    """Where the photos' files are kept (`peepopay.bookings.photos.PhotoStore`)."""

    def delete(self, key: str) -> None: ...


def erase(
    session: DbSession, tradie: Tradie, customer: Customer, now: datetime, photo_files: PhotoFiles
) -> int:
    """Erase the person on request: their bookings keep their times and money records with the
    personal details blanked, their intake answers and photos (rows and files) go, messages
    about them lose their text, Stripe's stored events about their payments are cut down to
    their ids, development mailbox copies go, and the record goes. A customer with a live or
    upcoming booking is refused (cancel it first). Returns how many bookings were anonymised.
    README's "Erasing a customer" lists each place."""
    live = session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.customer_id == customer.id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.ends_at > now,
        )
    )
    if live:
        raise RuleRefused(
            "erase",
            f"{customer.name} has {live} upcoming booking{'s' if live != 1 else ''}; "
            "cancel or complete them before erasing their details.",
        )
    bookings = session.execute(
        sa.select(
            Booking.id, Booking.customer_name, Booking.customer_email, Booking.customer_phone
        ).where(Booking.customer_id == customer.id)
    ).all()
    booking_ids = [row.id for row in bookings]
    names = {customer.name, *(row.customer_name for row in bookings)}
    given = [customer.email, customer.phone]
    given += [value for row in bookings for value in (row.customer_email, row.customer_phone)]
    contacts = {value for value in given if value}
    # Messages show a phone number as people read it ("021 123 4567"), not as stored.
    contacts |= {display_phone(value) for value in set(contacts) if value.startswith("+")}
    if booking_ids:
        _erase_bookings(session, tradie, booking_ids, now, photo_files)
    # Messages about them that no booking names (a sign-in code, say).
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.tradie_id == tradie.id, OutboxMessage.recipient.in_(contacts))
        .values(recipient="", payload={})
        .execution_options(synchronize_session=False)
    )
    privacy.redact_events(session, privacy.stripe_ids(session, booking_ids) | contacts)
    transport.forget_in_mailbox(sorted(contacts | {n for n in names if n}))
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="customer.erased",
        entity=customer,
        summary={"bookings": len(booking_ids)},
    )
    session.delete(customer)
    session.flush()
    session.expire_all()
    return len(booking_ids)


def _erase_bookings(
    session: DbSession,
    tradie: Tradie,
    booking_ids: list[int],
    now: datetime,
    photo_files: PhotoFiles,
) -> None:
    """Blank the person's details on their bookings; their answers and photos go."""
    session.execute(
        sa.update(Booking)
        .where(Booking.id.in_(booking_ids))
        .values(
            customer_name=ERASED_NAME,
            customer_email="",
            customer_phone="",
            job_address="",
            notes="",
            postcode=None,
            client_key=None,
            customer_id=None,
            updated_at=now,
        )
        # Who, not when: no slot changes, but the kept calendar shows who booked.
        .execution_options(synchronize_session=False, slots_of=tradie.id)
    )
    session.execute(
        sa.delete(BookingAnswer)
        .where(BookingAnswer.booking_id.in_(booking_ids))
        .execution_options(synchronize_session=False)
    )
    photo_keys = session.scalars(
        sa.select(BookingPhoto.storage_key).where(BookingPhoto.booking_id.in_(booking_ids))
    ).all()
    session.execute(
        sa.delete(BookingPhoto)
        .where(BookingPhoto.booking_id.in_(booking_ids))
        .execution_options(synchronize_session=False)
    )
    for key in photo_keys:
        photo_files.delete(key)
    session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.booking_id.in_(booking_ids))
        .values(recipient="", payload={})
        .execution_options(synchronize_session=False)
    )
    # Edits of the details kept their old and new values in the trail.
    for entry in session.scalars(
        sa.select(audit.AuditLog).where(
            audit.AuditLog.entity_type == "booking",
            audit.AuditLog.entity_id.in_([str(i) for i in booking_ids]),
            audit.AuditLog.action == "booking.edited",
        )
    ):
        changed = dict(entry.summary.get("changed", {}))
        for key in PERSONAL:
            if key in changed:
                changed[key] = ["(erased)", "(erased)"]
        entry.summary = {**entry.summary, "changed": changed}


# --------------------------------------------------------------------------- export


CSV_HEADER = (
    "Customer",
    "Name",
    "Email",
    "Phone",
    "Address",
    "Bookings",
    "No-shows",
    "Currency",
    "Paid",
    "Refunded",
    "Last job",
    "Notes",
    "Phone (local)",
)


def csv_lines(session: DbSession, tradie: Tradie, q: str, now: datetime) -> Iterator[str]:
    """Every customer the search finds as CSV lines, in pages of 500 so memory stays flat.
    What it needs of the tradie is read now: the lines are written after the request's
    commit."""
    query = _searched(tradie.id, q.strip()[:100])
    return _csv_rows(session, query, tradie.currency, tradie.country, tradie.timezone, now)


def _csv_rows(
    session: DbSession,
    query: sa.Select[Customer],
    currency: str,
    country: str,
    zone: str,
    now: datetime,
) -> Iterator[str]:
    yield csv_line(CSV_HEADER)
    offset = 0
    while chunk := list(session.scalars(query.limit(500).offset(offset))):
        totals = totals_for(session, [c.id for c in chunk], now)
        for c in chunk:
            t = totals.get(c.id, Totals())
            yield csv_line(
                (
                    c.id,
                    c.name,
                    c.email,
                    c.phone,
                    c.address,
                    t.bookings,
                    t.no_shows,
                    currency,
                    plain_amount(t.paid_minor, currency),
                    plain_amount(t.refunded_minor, currency),
                    local_time(t.last_start, zone, "%Y-%m-%d"),  # the job's own day
                    c.notes,
                    display_phone(c.phone, country) if c.phone else "",
                )
            )
        offset += len(chunk)
