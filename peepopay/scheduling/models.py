"""What a tradie offers and when: services, weekly hours, blocked periods."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


class DepositType:
    FIXED = "fixed"
    PERCENTAGE = "percentage"


class Service(db.Model):  # type: ignore[name-defined]
    __tablename__ = "services"
    __table_args__ = (
        sa.CheckConstraint("duration_minutes > 0", name="duration_positive"),
        sa.CheckConstraint("deposit_value >= 0", name="deposit_not_negative"),
        sa.CheckConstraint("deposit_type IN ('fixed', 'percentage')", name="deposit_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    duration_minutes: Mapped[int]
    price_minor: Mapped[int | None]
    deposit_type: Mapped[str] = mapped_column(sa.String(10), default=DepositType.FIXED)
    # Minor units for a fixed deposit, basis points (100 = 1 %) for a percentage.
    deposit_value: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AvailabilityRule(db.Model):  # type: ignore[name-defined]
    __tablename__ = "availability_rules"
    __table_args__ = (sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int]  # 0 = Monday
    start_local: Mapped[time]
    end_local: Mapped[time]  # at or before start: runs past midnight


class BlockedPeriod(db.Model):  # type: ignore[name-defined]
    __tablename__ = "blocked_periods"
    __table_args__ = (sa.CheckConstraint("end_date >= start_date", name="dates_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[date]
    end_date: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
