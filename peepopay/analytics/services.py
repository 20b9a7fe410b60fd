"""The analytics page: weekly paid bookings and deposits, booking-page views, the funnel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from peepopay.accounts.models import Tradie
from peepopay.analytics.models import WidgetView
from peepopay.bookings.models import Booking, Status
from peepopay.clock import local_midnight_utc, local_today, week_start
from peepopay.db_setup import DbSession
from peepopay.payments.models import Payment, PaymentKind

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
class NoShows:
    """Jobs due in the period that ended as a no-show, against all that finished either way."""

    no_shows: int
    completed: int

    @property
    def finished(self) -> int:
        return self.no_shows + self.completed

    @property
    def rate(self) -> str:
        return Funnel.rate(self.no_shows, self.finished)


@dataclass
class Analytics:
    weeks: list[Week]
    funnel: Funnel
    since: date
    no_shows: NoShows


def analytics(session: DbSession, tradie: Tradie, now: datetime) -> Analytics:
    """The last twelve local weeks (this one included): paid bookings, deposits, the funnel.
    The database counts and sums per week, so the page costs the same at any volume."""
    first = week_start(local_today(tradie, now)) - timedelta(weeks=WEEKS - 1)
    weeks = [Week(first + timedelta(weeks=n)) for n in range(WEEKS)]
    bounds = [local_midnight_utc(tradie, week.start) for week in weeks]
    start, end = bounds[0], local_midnight_utc(tradie, first + timedelta(weeks=WEEKS))

    created = _week_of(Booking.created_at, bounds)
    paid = sa.or_(
        Booking.confirmed_at.is_not(None),
        Booking.status.in_((Status.CONFIRMED, Status.COMPLETED)),
    )
    started = paid_count = 0
    for n, count, paid_in_week in session.execute(
        sa.select(created, sa.func.count(), sa.func.sum(sa.case((paid, 1), else_=0)))
        .where(
            Booking.tradie_id == tradie.id, Booking.created_at >= start, Booking.created_at < end
        )
        .group_by(created)
    ):
        started += count
        paid_count += int(paid_in_week or 0)
        weeks[n].bookings += int(paid_in_week or 0)
    taken = _week_of(Payment.created_at, bounds)
    for n, amount in session.execute(
        sa.select(taken, sa.func.sum(Payment.amount_minor))
        .where(
            Payment.tradie_id == tradie.id,
            Payment.kind == PaymentKind.DEPOSIT,
            Payment.status == SUCCEEDED,
            Payment.created_at >= start,
            Payment.created_at < end,
        )
        .group_by(taken)
    ):
        weeks[n].deposits_minor += int(amount or 0)
    views = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(WidgetView.count), 0)).where(
            WidgetView.tradie_id == tradie.id,
            WidgetView.day >= first,
            WidgetView.day < first + timedelta(weeks=WEEKS),
        )
    )
    return Analytics(
        weeks,
        Funnel(int(views or 0), started, paid_count),
        first,
        no_shows(session, tradie, start, end),
    )


def _week_of(
    column: sa.orm.InstrumentedAttribute[datetime], bounds: list[datetime]
) -> sa.Case[int]:
    """Which of the weeks starting at `bounds` (local midnights, in UTC) a moment falls in."""
    return sa.case(
        *((column < later, n) for n, later in enumerate(bounds[1:])), else_=len(bounds) - 1
    )


def no_shows(session: DbSession, tradie: Tradie, start: datetime, end: datetime) -> NoShows:
    """No-shows and completed jobs among those due in [start, end), and jobs completed ahead
    of a start after `end` (marked done early, they were still done): the tradie's index on
    their bookings' start times answers it."""
    counts = dict(
        session.execute(
            sa.select(Booking.status, sa.func.count())
            .where(
                Booking.tradie_id == tradie.id,
                Booking.starts_at >= start,
                sa.or_(Booking.starts_at < end, Booking.status == Status.COMPLETED),
                Booking.status.in_((Status.NO_SHOW, Status.COMPLETED)),
            )
            .group_by(Booking.status)
        ).all()
    )
    return NoShows(int(counts.get(Status.NO_SHOW, 0)), int(counts.get(Status.COMPLETED, 0)))
