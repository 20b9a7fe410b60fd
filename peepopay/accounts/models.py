"""The tradie account."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from peepopay.clock import utcnow
from peepopay.db_setup import UTCDateTime
from peepopay.extensions import db


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class Tradie(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "tradies"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a confirmed login email was last replaced by one still to be confirmed: the account
    # was confirmed once, so its booking page stays public meanwhile (see `public`).
    was_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    business_name: Mapped[str] = mapped_column(sa.String(120))
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Pacific/Auckland")
    country: Mapped[str] = mapped_column(sa.String(2), default="NZ")
    currency: Mapped[str] = mapped_column(sa.String(3), default="NZD")
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    logo_path: Mapped[str | None] = mapped_column(sa.String(255))
    brand_color: Mapped[str] = mapped_column(sa.String(7), default="#1d4ed8")

    stripe_account_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    charges_enabled: Mapped[bool] = mapped_column(default=False)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    # When Stripe stopped answering for the connected account (access revoked, account gone):
    # the dashboard asks the tradie to reconnect and the widget takes no bookings meanwhile.
    stripe_reconnect_needed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    min_notice_minutes: Mapped[int] = mapped_column(default=120)
    horizon_days: Mapped[int] = mapped_column(default=60)
    buffer_minutes: Mapped[int] = mapped_column(default=30)
    slot_interval_minutes: Mapped[int] = mapped_column(default=30)
    hold_minutes: Mapped[int] = mapped_column(default=15)
    cancellation_window_hours: Mapped[int] = mapped_column(default=48)
    # How late a customer may move or cancel online, in hours before the start (0: until it).
    customer_cutoff_hours: Mapped[int] = mapped_column(default=0, server_default="0")
    # Charged to the saved card when a customer is a no-show; never more than the job's price
    # minus its deposit (capped per booking when charged). 0: no fee.
    no_show_fee_minor: Mapped[int] = mapped_column(default=0, server_default="0")
    # The last per-tradie booking number handed out (bookings.reference).
    last_booking_reference: Mapped[int] = mapped_column(default=0, server_default="0")

    # Postcodes served, comma- or line-separated codes and ranges ("1010-1072"); "" is open.
    service_area: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # How many jobs fit in one arrival window.
    jobs_per_window: Mapped[int] = mapped_column(default=2, server_default="2")

    allowed_origins: Mapped[str] = mapped_column(sa.Text, default="")  # one origin per line
    # A registered tradie's tax number (GST number, ABN, VAT number) makes every receipt a tax
    # invoice; the rate is in basis points (1500 = 15 %), prices are entered including it.
    tax_number: Mapped[str | None] = mapped_column(sa.String(32))
    tax_rate_bps: Mapped[int] = mapped_column(default=0, server_default="0")
    prices_include_tax: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_new_booking_email: Mapped[bool] = mapped_column(default=True)
    notify_new_booking_sms: Mapped[bool] = mapped_column(default=True)
    reminder_hours: Mapped[int] = mapped_column(default=24)
    calendar_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_calendar_token
    )
    # Part of every session and remember-me cookie (see get_id); a new one ends them all.
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)

    # Google sign-in: the account's OpenID Connect subject, never matched by email alone.
    google_sub: Mapped[str | None] = mapped_column(sa.String(255), index=True, unique=True)
    google_email: Mapped[str | None] = mapped_column(sa.String(254))
    # Two-factor sign-in (TOTP). The last time step accepted: a code is never taken twice.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    # The first run: the mobile number is confirmed by a code sent to it.
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phone_pending: Mapped[str | None] = mapped_column(sa.String(32))
    phone_code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    phone_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phone_code_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Country and time zone chosen (not the defaults assumed at sign-up); snippet copied.
    profile_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snippet_copied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_public(self) -> bool:
        """Whether the booking page and widget API answer for this tradie (`public`)."""
        return self.email_verified_at is not None or self.was_verified_at is not None

    @classmethod
    def public(cls) -> sa.ColumnElement[bool]:
        """Tradies with a public face: an address confirmed once. A sign-up nobody confirmed has
        none, so the booking page cannot tell whether a sign-up made an account."""
        return sa.or_(cls.email_verified_at.is_not(None), cls.was_verified_at.is_not(None))

    @property
    def origins(self) -> list[str]:
        return [line.strip() for line in self.allowed_origins.splitlines() if line.strip()]

    @property
    def has_password(self) -> bool:
        """False for an account made with Google that never set a password."""
        return bool(self.password_hash)

    @property
    def two_factor_on(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def payments_ready(self) -> bool:
        return bool(self.stripe_account_id and self.charges_enabled)

    @property
    def stripe_needs_reconnect(self) -> bool:
        return self.stripe_reconnect_needed_at is not None

    def __repr__(self) -> str:
        return f"<Tradie {self.id} {self.slug}>"


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """One of a tradie's ten one-time two-factor recovery codes, stored as a SHA-256 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    tradie_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tradies.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
