"""Dashboard figures: the overview, widget view counts and the analytics series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.dashboard.common import local_midnight_utc, local_today, week_start, zone
from peepopay.dashboard.models import WidgetView
from peepopay.db_setup import DbSession
from peepopay.payments.models import Payment, PaymentKind
from peepopay.scheduling.services import active_condition

SUCCEEDED = "succeeded"


def record_widget_view(session: DbSession, tradie_id: int, now: datetime) -> None:
    """Count one view of the tradie's booking page on their local day (an upsert, race-free)."""
    tradie = session.get(Tradie, tradie_id)
    if tradie is None:
        return
    day = local_today(tradie, now)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(WidgetView).values(tradie_id=tradie_id, day=day, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[WidgetView.tradie_id, WidgetView.day],
        set_={"count": WidgetView.count + 1},
    )
    session.execute(statement)


# --- overview ----------------------------------------------------------------------------------


@dataclass
class Overview:
    today: list[Booking]
    week: list[Booking]
    deposits_minor: int
    refunds_minor: int
    month_label: str
    week_label: str


def _shown(now: datetime) -> sa.ColumnElement[bool]:
    """Bookings worth showing on the overview: live, confirmed or done."""
    return sa.or_(active_condition(now), Booking.status == Status.COMPLETED)


def _bookings_between(
    session: DbSession, tradie_id: int, start: datetime, end: datetime, now: datetime
) -> list[Booking]:
    return list(
        session.scalars(
            sa.select(Booking)
            .where(
                Booking.tradie_id == tradie_id,
                Booking.starts_at >= start,
                Booking.starts_at < end,
                _shown(now),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
    )


def month_bounds(tradie: Tradie, now: datetime) -> tuple[datetime, datetime]:
    today = local_today(tradie, now)
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return local_midnight_utc(tradie, first), local_midnight_utc(tradie, following)


def payments_sum(
    session: DbSession, tradie_id: int, kind: str, start: datetime, end: datetime
) -> int:
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_minor), 0)).where(
            Payment.tradie_id == tradie_id,
            Payment.kind == kind,
            Payment.status == SUCCEEDED,
            Payment.created_at >= start,
            Payment.created_at < end,
        )
    )
    return int(total or 0)


def overview(session: DbSession, tradie: Tradie, now: datetime) -> Overview:
    """Today's and this week's bookings (local days) and this month's deposits and refunds."""
    today = local_today(tradie, now)
    monday = week_start(today)
    day_start = local_midnight_utc(tradie, today)
    day_end = local_midnight_utc(tradie, today + timedelta(days=1))
    week_end_day = monday + timedelta(days=7)
    week_bookings = _bookings_between(
        session,
        tradie.id,
        local_midnight_utc(tradie, monday),
        local_midnight_utc(tradie, week_end_day),
        now,
    )
    month_start, month_end = month_bounds(tradie, now)
    return Overview(
        today=[b for b in week_bookings if day_start <= b.starts_at < day_end],
        week=week_bookings,
        deposits_minor=payments_sum(
            session, tradie.id, PaymentKind.DEPOSIT, month_start, month_end
        ),
        refunds_minor=payments_sum(session, tradie.id, PaymentKind.REFUND, month_start, month_end),
        month_label=f"{today:%B %Y}",
        week_label=f"{monday:%-d %b} – {week_end_day - timedelta(days=1):%-d %b}",
    )


# --- analytics ---------------------------------------------------------------------------------

WEEKS = 12


@dataclass
class Week:
    start: date
    bookings: int = 0
    deposits_minor: int = 0

    @property
    def label(self) -> str:
        return f"{self.start:%-d %b}"


@dataclass
class Funnel:
    views: int
    started: int
    paid: int

    @staticmethod
    def rate(part: int, whole: int) -> str:
        """A percentage to one decimal, computed in integers."""
        if not whole:
            return "—"
        tenths = (part * 1000 + whole // 2) // whole
        return f"{tenths // 10}.{tenths % 10}%"


@dataclass
class Analytics:
    weeks: list[Week]
    funnel: Funnel
    since: date


def analytics(session: DbSession, tradie: Tradie, now: datetime) -> Analytics:
    """The last twelve local weeks (this one included): paid bookings, deposits, the funnel."""
    tz = zone(tradie)
    first = week_start(local_today(tradie, now)) - timedelta(weeks=WEEKS - 1)
    weeks = [Week(first + timedelta(weeks=n)) for n in range(WEEKS)]
    start = local_midnight_utc(tradie, first)
    end = local_midnight_utc(tradie, first + timedelta(weeks=WEEKS))

    def index(moment: datetime) -> int:
        return (moment.astimezone(tz).date() - first).days // 7

    bookings = session.execute(
        sa.select(Booking.created_at, Booking.confirmed_at, Booking.status).where(
            Booking.tradie_id == tradie.id, Booking.created_at >= start, Booking.created_at < end
        )
    ).all()
    started = paid = 0
    for created_at, confirmed_at, status in bookings:
        started += 1
        if confirmed_at is not None or status in (Status.CONFIRMED, Status.COMPLETED):
            paid += 1
            if 0 <= (i := index(created_at)) < WEEKS:
                weeks[i].bookings += 1
    deposits = session.execute(
        sa.select(Payment.created_at, Payment.amount_minor).where(
            Payment.tradie_id == tradie.id,
            Payment.kind == PaymentKind.DEPOSIT,
            Payment.status == SUCCEEDED,
            Payment.created_at >= start,
            Payment.created_at < end,
        )
    ).all()
    for created_at, amount in deposits:
        if 0 <= (i := index(created_at)) < WEEKS:
            weeks[i].deposits_minor += amount
    views = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(WidgetView.count), 0)).where(
            WidgetView.tradie_id == tradie.id,
            WidgetView.day >= first,
            WidgetView.day < first + timedelta(weeks=WEEKS),
        )
    )
    return Analytics(weeks, Funnel(int(views or 0), started, paid), first)
