"""A tradie's bookings as the dashboard lists them: filters, pages, CSV export, the detail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.audit import AuditLog
from peepopay.bookings import lifecycle, payment_outcomes
from peepopay.bookings.models import Booking, Status
from peepopay.clock import utcnow
from peepopay.db_setup import DbSession
from peepopay.formatting import csv_line, format_money, local_time, plain_amount
from peepopay.notifications.models import OutboxMessage, OutboxStatus
from peepopay.payments import reports
from peepopay.payments.models import Payment, PaymentStatus
from peepopay.phones import display as display_phone
from peepopay.rules import owned
from peepopay.scheduling import services as scheduling

PER_PAGE = 25
WHEN = ("upcoming", "past", "all")
STATUSES = (
    Status.PENDING_PAYMENT,
    Status.CONFIRMED,
    Status.COMPLETED,
    Status.CANCELLED,
    Status.NO_SHOW,
    Status.EXPIRED,
    Status.PAYMENT_FAILED,
)


@dataclass(frozen=True)
class Filters:
    when: str = "upcoming"
    status: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, args: dict[str, str]) -> Filters:
        """Filters from query arguments; anything unknown falls back to the default."""
        when = args.get("when", "upcoming")
        status = args.get("status", "")
        try:
            page = max(int(args.get("page", "1")), 1)
        except ValueError:
            page = 1
        return cls(
            when=when if when in WHEN else "upcoming",
            status=status if status in STATUSES else "",
            q=args.get("q", "").strip()[:100],
            page=page,
        )

    def args(self, **overrides: object) -> dict[str, object]:
        """Query arguments that reproduce these filters (for links, pages and the CSV)."""
        values: dict[str, object] = {"when": self.when, "status": self.status, "q": self.q}
        values.update(overrides)
        defaults = {"when": "upcoming", "status": "", "q": "", "page": 1}
        return {k: v for k, v in values.items() if v != defaults.get(k)}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(tradie_id: int, filters: Filters, now: datetime) -> sa.Select[Any]:
    query = sa.select(Booking).where(Booking.tradie_id == tradie_id)
    if filters.when == "upcoming":
        # No job is longer than MAX_DURATION: the bound keeps the (tradie_id, starts_at) index
        # scan to what is still to come, however long the tradie's past.
        # Upcoming work only: a cancelled booking or a hold that ran out is not coming.
        query = query.where(
            Booking.ends_at > now,
            Booking.starts_at > now - scheduling.MAX_DURATION,
            scheduling.active_condition(now),
        ).order_by(Booking.starts_at, Booking.id)
    elif filters.when == "past":
        query = query.where(Booking.ends_at <= now).order_by(
            Booking.starts_at.desc(), Booking.id.desc()
        )
    else:
        query = query.order_by(Booking.starts_at.desc(), Booking.id.desc())
    if filters.status:
        query = query.where(Booking.status == filters.status)
    if filters.q:
        pattern = _like(filters.q.lower())
        digits = "".join(ch for ch in filters.q if ch.isdigit())
        conditions = [
            sa.func.lower(Booking.customer_name).like(pattern, escape="\\"),
            sa.func.lower(Booking.customer_email).like(pattern, escape="\\"),
            Booking.customer_phone.like(pattern, escape="\\"),
        ]
        if len(digits) >= 3:
            # Phones are stored as +6421…; let "021 123" find them too.
            conditions.append(Booking.customer_phone.like(f"%{digits.lstrip('0')}%"))
        query = query.where(sa.or_(*conditions))
    return query


@dataclass
class Page:
    items: list[Booking]
    total: int
    page: int
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


def page_of(session: DbSession, tradie_id: int, filters: Filters, now: datetime) -> Page:
    query = filtered(tradie_id, filters, now)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    page = min(filters.page, max(((total or 0) + PER_PAGE - 1) // PER_PAGE, 1))
    items = session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return Page(list(items), total or 0, page)


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADER = (
    "Booking",
    "Status",
    "Starts",
    "Ends",
    "Service",
    "Customer",
    "Email",
    "Phone",
    "Job address",
    "Notes",
    "Currency",
    "Price",
    "Deposit",
    "Booked at",
    "Paid",
    "Paid how",
    "Postcode",
    "Answers",
    "Phone (local)",
)


def csv_lines(session: DbSession, tradie: Tradie, filters: Filters, now: datetime) -> Iterator[str]:
    """The filtered list (every page) as CSV lines, times in the tradie's zone. What it needs
    of the tradie is read now: the lines are written after the request's commit."""
    query = (
        filtered(tradie.id, filters, now)
        .add_columns(*reports.paid_columns())
        .options(sa.orm.selectinload(Booking.answers))
    )
    return _csv_rows(session, query, tradie.timezone, tradie.country)


def _csv_rows(session: DbSession, query: sa.Select[Any], zone: str, country: str) -> Iterator[str]:
    yield csv_line(CSV_HEADER)
    iso = "%Y-%m-%d %H:%M"
    for b, paid_minor, method in session.execute(query.execution_options(yield_per=500)):
        yield csv_line(
            (
                b.id,
                lifecycle.LABELS.get(Status(b.status), b.status),
                local_time(b.starts_at, zone, iso),
                local_time(b.ends_at, zone, iso),
                b.service_name,
                b.customer_name,
                b.customer_email,
                b.customer_phone,
                b.job_address,
                b.notes,
                b.currency,
                plain_amount(b.price_minor, b.currency),
                plain_amount(b.deposit_minor, b.currency),
                local_time(b.created_at, zone, iso),
                plain_amount(paid_minor, b.currency),
                reports.paid_how(paid_minor, method),
                b.postcode or "",
                "\n".join(f"{a.question}: {a.answer}" for a in b.answers),
                display_phone(b.customer_phone, country),
            )
        )


# --- detail and actions -----------------------------------------------------------------------


@dataclass
class Detail:
    booking: Booking
    trail: list[AuditLog] = field(default_factory=list)
    failed_messages: list[OutboxMessage] = field(default_factory=list)
    now: datetime = field(default_factory=utcnow)

    @property
    def map_url(self) -> str:
        query = urlencode({"api": "1", "query": self.booking.job_address})
        return f"https://www.google.com/maps/search/?{query}"

    @property
    def can_complete(self) -> bool:
        return lifecycle.can_complete(self.booking, self.now)

    @property
    def can_cancel(self) -> bool:
        return lifecycle.can_move(self.booking, Status.CANCELLED)

    @property
    def can_no_show(self) -> bool:
        """Confirmed and its start has passed: the customer may not have turned up."""
        started = self.booking.starts_at <= self.now
        return started and lifecycle.can_move(self.booking, Status.NO_SHOW)

    def no_show_fee(self, tradie: Tradie) -> int:
        return payment_outcomes.no_show_fee(self.booking, tradie)

    def money(self, amount_minor: int | None) -> str:
        return format_money(amount_minor, self.booking.currency)


def no_show_notice(booking: Booking, fee: Payment | None) -> str:
    """What the tradie reads after marking a no-show, fee outcome included."""
    notice = "Marked as a no-show: the deposit is kept and the customer has been told."
    if fee is None:
        return notice
    amount = format_money(fee.amount_minor, booking.currency)
    if fee.status == PaymentStatus.SUCCEEDED:
        return f"{notice} The no-show fee of {amount} was charged to the saved card."
    if fee.status == PaymentStatus.AWAITING:
        return (
            f"{notice} The saved card could not be charged the {amount} no-show fee; "
            "we sent the customer a payment link by email and SMS."
        )
    return f"{notice} The no-show fee of {amount} is processing."


def get(session: DbSession, tradie_id: int, booking_id: int) -> Booking:
    return owned(session, Booking, booking_id, tradie_id)


def detail(session: DbSession, tradie_id: int, booking_id: int) -> Detail:
    booking = get(session, tradie_id, booking_id)
    trail = session.scalars(
        sa.select(AuditLog)
        .where(
            AuditLog.entity_type == "booking",
            AuditLog.entity_id == str(booking.id),
            sa.or_(AuditLog.tradie_id == tradie_id, AuditLog.tradie_id.is_(None)),
        )
        .order_by(AuditLog.created_at, AuditLog.id)
    ).all()
    failed = session.scalars(
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.booking_id == booking.id,
            OutboxMessage.status == OutboxStatus.FAILED,
        )
        .order_by(OutboxMessage.created_at)
    ).all()
    return Detail(booking, list(trail), list(failed))
