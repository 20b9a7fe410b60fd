"""What a tradie offers and when: services, weekly hours, blocked periods."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

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
    # Booked by arrival window (the tradie's ArrivalWindow rows) instead of an exact start.
    by_arrival_window: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
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


class QuestionKind(StrEnum):
    """What a service's question asks for."""

    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    YES_NO = "yes_no"
    CHOICE = "choice"
    NUMBER = "number"


class ServiceQuestion(db.Model):  # type: ignore[name-defined]
    """A question the widget asks when this service is booked; answers keep its text."""

    __tablename__ = "service_questions"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('short_text', 'long_text', 'yes_no', 'choice', 'number')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(12))
    required: Mapped[bool] = mapped_column(default=False)
    # The options of a `choice` question, one a line.
    choices_text: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def choices(self) -> list[str]:
        return [line.strip() for line in self.choices_text.splitlines() if line.strip()]


class ArrivalWindow(db.Model):  # type: ignore[name-defined]
    """A local arrival window on one weekday (0 = Monday) for services booked by window."""

    __tablename__ = "arrival_windows"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        sa.CheckConstraint("end_local > start_local", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int]
    start_local: Mapped[time]
    end_local: Mapped[time]
