"""A tradie's calendars and the busy intervals read from them (never titles or attendees)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db

# The longest stored busy interval: longer ones are stored in pieces, so a query for a window
# need look back only this far (the (tradie_id, starts_at) index range stays short).
MAX_BUSY_PIECE = timedelta(hours=24)


class FeedKind:
    ICS = "ics"  # a published or secret ICS address, read only
    CALDAV = "caldav"  # read for busy times, and the tradie's jobs written into it


class CalendarFeed(db.Model):  # type: ignore[name-defined]
    __tablename__ = "calendar_feeds"
    __table_args__ = (sa.CheckConstraint("kind IN ('ics', 'caldav')", name="feed_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(10), default=FeedKind.ICS)
    name: Mapped[str] = mapped_column(sa.String(120))
    url: Mapped[str] = mapped_column(sa.String(2000))
    # CalDAV only: the account name, and the app password encrypted (peepopay.secretbox).
    username: Mapped[str | None] = mapped_column(sa.String(254))
    password_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # What the server said last time, for a conditional request (If-None-Match / -Modified-Since).
    etag: Mapped[str | None] = mapped_column(sa.String(255))
    last_modified: Mapped[str | None] = mapped_column(sa.String(64))
    parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_sync_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    busy_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BusyTime(db.Model):  # type: ignore[name-defined]
    """One busy interval [start, end) from a feed, at most a day long (longer ones are stored
    in pieces), so the availability query scans the (tradie_id, starts_at) index as it does
    for bookings."""

    __tablename__ = "busy_times"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="busy_ordered"),
        sa.Index("ix_busy_times_tradie_id_starts_at", "tradie_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(sa.ForeignKey("tradies.id", ondelete="CASCADE"))
    feed_id: Mapped[int] = mapped_column(
        sa.ForeignKey("calendar_feeds.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
