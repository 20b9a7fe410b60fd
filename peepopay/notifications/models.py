"""The outbox: messages written with the change that causes them, delivered by RQ jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


class OutboxStatus:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The outbox channel that writes jobs into a tradie's own CalDAV calendar.
CALDAV_CHANNEL = "caldav"


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    __tablename__ = "outbox_messages"
    __table_args__ = (sa.Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(50))
    channel: Mapped[str] = mapped_column(sa.String(10))  # email, sms or caldav
    recipient: Mapped[str] = mapped_column(sa.String(254))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    idempotency_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tradie_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    booking_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
