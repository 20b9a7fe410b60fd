"""The overview page's figures: today's and this week's jobs, this month's deposits and refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.clock import local_midnight_utc, local_today, week_start
from peepopay.db_setup import DbSession
from peepopay.payments.models import Payment, PaymentKind
from peepopay.scheduling.services import active_condition

SUCCEEDED = "succeeded"


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


def payments_sums(
    session: DbSession, tradie_id: int, kinds: tuple[str, ...], start: datetime, end: datetime
) -> dict[str, int]:
    """Succeeded payments of each kind in [start, end), in one statement (the tradie's
    (tradie_id, created_at) index reads the range)."""
    sums = session.execute(
        sa.select(
            *(
                sa.func.coalesce(
                    sa.func.sum(sa.case((Payment.kind == kind, Payment.amount_minor), else_=0)),
                    0,
                )
                for kind in kinds
            )
        ).where(
            Payment.tradie_id == tradie_id,
            Payment.kind.in_(kinds),
            Payment.status == SUCCEEDED,
            Payment.created_at >= start,
            Payment.created_at < end,
        )
    ).one()
    return {kind: int(total or 0) for kind, total in zip(kinds, sums, strict=True)}


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
    money = payments_sums(
        session, tradie.id, (PaymentKind.DEPOSIT, PaymentKind.REFUND), month_start, month_end
    )
    return Overview(
        today=[b for b in week_bookings if day_start <= b.starts_at < day_end],
        week=week_bookings,
        deposits_minor=money[PaymentKind.DEPOSIT],
        refunds_minor=money[PaymentKind.REFUND],
        month_label=f"{today:%B %Y}",
        week_label=f"{monday:%-d %b} – {week_end_day - timedelta(days=1):%-d %b}",
    )
