"""Daily booking-page view counts for the analytics funnel."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.extensions import db


class WidgetView(db.Model):  # type: ignore[name-defined]
    """How often a tradie's booking page was opened on one local day (one row per day)."""

    __tablename__ = "widget_views"

    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
