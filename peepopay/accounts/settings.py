"""Settings: business profile, branding, embedding origins, notifications, the account itself."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa

from peepopay import audit, colours, phones
from peepopay.accounts import emails as account_emails
from peepopay.accounts import services as accounts
from peepopay.accounts.models import Tradie
from peepopay.analytics.models import WidgetView
from peepopay.audit import AuditLog
from peepopay.bookings import photos
from peepopay.bookings.models import Booking, BookingAnswer, BookingPhoto, Status
from peepopay.calendars.models import BusyTime, CalendarFeed
from peepopay.clock import utcnow
from peepopay.customers.models import Customer
from peepopay.db_setup import DbSession
from peepopay.payments import domains
from peepopay.payments.models import Payment
from peepopay.rules import FormError, actor, update_tradie
from peepopay.scheduling.models import (
    ArrivalWindow,
    AvailabilityRule,
    BlockedPeriod,
    Service,
    ServiceQuestion,
)

CURRENCIES = (
    ("NZD", "NZD — New Zealand dollar"),
    ("AUD", "AUD — Australian dollar"),
    ("USD", "USD — US dollar"),
    ("CAD", "CAD — Canadian dollar"),
    ("GBP", "GBP — Pound sterling"),
    ("EUR", "EUR — Euro"),
)
COUNTRIES = (
    ("NZ", "New Zealand"),
    ("AU", "Australia"),
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
)
MAX_LOGO_BYTES = 1024 * 1024
# Magic bytes, not the filename, decide what an upload is.
LOGO_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
)
LOGO_NAME_RE = re.compile(r"[0-9a-f]{64}\.(png|jpg|webp)")
MIN_CONTRAST = 4.5


# --- colours -----------------------------------------------------------------------------------


def check_brand_colour(text: str) -> str:
    try:
        colour = colours.normalize_hex(text)
    except ValueError:
        raise FormError("brand_color", "Brand colour must be a hex colour like #1d4ed8.") from None
    ratio = colours.contrast_ratio(colour, colours.WHITE)
    if ratio < MIN_CONTRAST:
        raise FormError(
            "brand_color",
            f"Brand colour is too light for white text: contrast {ratio:.2f}:1, "
            f"needs at least {MIN_CONTRAST}:1. Choose a darker colour.",
        )
    return colour


# --- profile -----------------------------------------------------------------------------------


def check_slug(session: DbSession, slug: str, tradie_id: int) -> str:
    slug = slug.strip().lower()
    if problem := accounts.slug_problem(slug):
        raise FormError("slug", f"Booking page address: {problem}")
    if accounts.slug_taken(session, slug, exclude_id=tradie_id):
        raise FormError("slug", "Booking page address is already taken; choose another.")
    return slug


def normalize_phone(text: str, country: str) -> str | None:
    """The contact phone in E.164, or None when left blank; FormError when it is no number."""
    if not text.strip():
        return None
    number = phones.e164(text, country)
    if number is None:
        raise FormError(
            "phone", f"Contact phone must be a valid phone number for {country}, or blank."
        )
    return number


@dataclass(frozen=True)
class ProfileInput:
    business_name: str
    slug: str
    phone: str
    contact_email: str
    timezone: str
    currency: str
    country: str


def update_profile(session: DbSession, tradie: Tradie, data: ProfileInput) -> dict[str, list[Any]]:
    name = data.business_name.strip()
    if not 2 <= len(name) <= 120:
        raise FormError("business_name", "Business name must be 2 to 120 characters.")
    if data.timezone not in available_timezones():
        raise FormError("timezone", "Time zone must be chosen from the list.")
    if data.currency not in dict(CURRENCIES):
        raise FormError("currency", "Currency must be chosen from the list.")
    if data.country not in dict(COUNTRIES):
        raise FormError("country", "Country must be chosen from the list.")
    values = {
        "business_name": name,
        "slug": check_slug(session, data.slug, tradie.id),
        "phone": normalize_phone(data.phone, data.country),
        "contact_email": data.contact_email.strip().lower() or None,
        "timezone": data.timezone,
        "currency": data.currency,
        "country": data.country,
    }
    return update_tradie(session, tradie, "settings.profile_updated", values)


# --- branding ----------------------------------------------------------------------------------


def logo_extension(data: bytes) -> str:
    """The file type from the bytes themselves; FormError for anything but PNG, JPEG, WebP."""
    if len(data) > MAX_LOGO_BYTES:
        raise FormError("logo", "Logo must be at most 1 MB.")
    if not data:
        raise FormError("logo", "Logo file is empty.")
    for magic, ext in LOGO_TYPES:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise FormError("logo", "Logo must be a PNG, JPEG or WebP image.")


def store_logo(data: bytes, directory: Path) -> str:
    """Save under a content-hash name (so it can be cached forever) and return that name."""
    name = f"{hashlib.sha256(data).hexdigest()}.{logo_extension(data)}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return name


def update_branding(
    session: DbSession,
    tradie: Tradie,
    brand_color: str,
    logo: bytes | None,
    remove_logo: bool,
    logo_dir: Path,
) -> dict[str, list[Any]]:
    values: dict[str, Any] = {"brand_color": check_brand_colour(brand_color)}
    if logo:
        values["logo_path"] = store_logo(logo, logo_dir)
    elif remove_logo:
        values["logo_path"] = None
    return update_tradie(session, tradie, "settings.branding_updated", values)


# --- embedding ---------------------------------------------------------------------------------


def parse_origins(text: str) -> list[str]:
    """One origin per line, each scheme://host[:port]; normalised, de-duplicated."""
    origins: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        problem = f"Allowed origins, line {number}: “{line[:80]}” is not an origin like https://example.com."
        try:
            parts = urlsplit(line.rstrip("/"))
            port = parts.port
        except ValueError:
            raise FormError("allowed_origins", problem) from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            or "*" in line
        ):
            raise FormError("allowed_origins", problem)
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > 20:
        raise FormError("allowed_origins", "Allowed origins can list at most 20 sites.")
    return origins


def update_embedding(session: DbSession, tradie: Tradie, text: str) -> dict[str, list[Any]]:
    """The sites allowed to frame the widget; their domains are registered with Stripe for
    wallets (after the commit, retried until Stripe has them)."""
    changed = update_tradie(
        session,
        tradie,
        "settings.embedding_updated",
        {"allowed_origins": "\n".join(parse_origins(text))},
    )
    domains.plan(session, tradie, utcnow())
    return changed


# --- tax ---------------------------------------------------------------------------------------

# Standard rates a tradie is most likely registered at, in basis points (a suggestion only).
STANDARD_TAX_BPS = {"NZ": 1500, "AU": 1000, "GB": 2000, "IE": 2300}
MAX_TAX_BPS = 3000


def abn_valid(digits: str) -> bool:
    """The ATO's ABN check: subtract 1 from the first digit, weight, sum, divisible by 89."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    values = [int(digits[0]) - 1, *(int(d) for d in digits[1:])]
    return sum(w * v for w, v in zip(weights, values, strict=True)) % 89 == 0


def clean_tax_number(text: str, country: str) -> str | None:
    """A GST number (NZ: 8 or 9 digits), an ABN (AU: 11 digits, checked) or another country's
    number as written; None when empty."""
    raw = " ".join(text.split())
    if not raw:
        return None
    digits = "".join(ch for ch in raw if ch.isdigit())
    if country == "NZ":
        if len(digits) not in (8, 9) or len(digits) != len(raw.replace(" ", "").replace("-", "")):
            raise FormError("tax_number", "Enter your GST number: 8 or 9 digits, like 123-456-789.")
        digits = digits.zfill(9)
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    if country == "AU":
        if not abn_valid(digits):
            raise FormError("tax_number", "Enter your ABN: 11 digits, like 51 824 753 556.")
        return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"
    if len(raw) > 32:
        raise FormError("tax_number", "Tax number must be at most 32 characters.")
    return raw


def update_tax(
    session: DbSession, tradie: Tradie, tax_number: str, rate_bps: int, inclusive: bool
) -> dict[str, list[Any]]:
    """Tax registration: with a number and a rate, receipts become tax invoices."""
    number = clean_tax_number(tax_number, tradie.country)
    if not 0 <= rate_bps <= MAX_TAX_BPS:
        raise FormError("tax_rate", "Tax rate must be between 0 and 30%.")
    if number and rate_bps == 0:
        raise FormError("tax_rate", "Enter the rate you charge, like 15 for NZ GST.")
    return update_tradie(
        session,
        tradie,
        "settings.tax_updated",
        {"tax_number": number, "tax_rate_bps": rate_bps, "prices_include_tax": inclusive},
    )


# --- notifications -----------------------------------------------------------------------------


def update_notifications(
    session: DbSession, tradie: Tradie, email: bool, sms: bool, reminder_hours: int
) -> dict[str, list[Any]]:
    if not 0 <= reminder_hours <= 168:
        raise FormError("reminder_hours", "Reminder must be between 0 and 168 hours before.")
    return update_tradie(
        session,
        tradie,
        "settings.notifications_updated",
        {
            "notify_new_booking_email": email,
            "notify_new_booking_sms": sms,
            "reminder_hours": reminder_hours,
        },
    )


# --- account -----------------------------------------------------------------------------------


def change_email(session: DbSession, tradie: Tradie, new_email: str, password: str) -> None:
    """Switch the login email; it must be confirmed again, so a verification mail goes out.

    Every session ends (the caller may keep its own): whoever holds one may not own the new
    address."""
    if not accounts.check_password(session, tradie, password):
        raise FormError("email_password", "Current password is incorrect.")
    email = accounts.normalize_email(new_email)
    if email == tradie.email:
        raise FormError("new_email", "New email is the same as the current one.")
    if accounts.email_taken(session, email):
        raise FormError("new_email", "New email belongs to another account.")
    old = tradie.email
    tradie.email = email
    # Confirmed once: the booking page stays public while the new address awaits its link.
    tradie.was_verified_at = tradie.email_verified_at or tradie.was_verified_at
    tradie.email_verified_at = None
    accounts.end_sessions(tradie)
    session.flush()
    account_emails.queue_verification(session, tradie)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="account.email_changed",
        entity=tradie,
        summary={"from": old, "to": email},
    )


def change_password(session: DbSession, tradie: Tradie, current: str, new: str) -> None:
    """Set a new password after checking the current one; every session ends with the old one."""
    if not accounts.check_password(session, tradie, current):
        raise FormError("current_password", "Current password is incorrect.")
    try:
        accounts.set_password(tradie, new)
    except accounts.AccountError as error:
        raise FormError("new_password", f"New password: {error.message}") from None
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="account.password_changed",
        entity=tradie,
    )


def end_other_sessions(session: DbSession, tradie: Tradie) -> None:
    """Log out every other device: all sessions end, the caller keeps its own."""
    accounts.end_sessions(tradie)
    audit.record(
        session,
        tradie_id=tradie.id,
        actor=actor(tradie),
        action="account.sessions_ended",
        entity=tradie,
    )


# Never exported: secrets that would let someone act as the tradie.
SECRET_COLUMNS = frozenset(
    {"password_hash", "calendar_token", "session_token", "password_encrypted"}
)


def _when(value: datetime, zone: ZoneInfo) -> str:
    """An instant as the tradie reads it: their wall clock with its offset ("+13:00"), so a
    9 am job is on its own day, not the evening before in UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone).isoformat()


def _row(obj: Any, zone: ZoneInfo) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for column in sa.inspect(obj).mapper.column_attrs:
        if column.key in SECRET_COLUMNS:
            continue
        value = getattr(obj, column.key)
        if isinstance(value, datetime):
            value = _when(value, zone)
        elif isinstance(value, date | time):
            value = value.isoformat()  # local wall-clock rules and days already
        data[column.key] = value
    return data


def export(session: DbSession, tradie: Tradie, now: datetime) -> dict[str, Any]:
    """Everything stored about the tradie, as JSON-ready data (secrets left out), every
    date-time in the tradie's zone."""
    zone = ZoneInfo(tradie.timezone)

    def rows(model: Any, *order: Any) -> list[dict[str, Any]]:
        query = sa.select(model).where(model.tradie_id == tradie.id).order_by(*order)
        return [_row(obj, zone) for obj in session.scalars(query)]

    def owned_rows(model: Any) -> list[dict[str, Any]]:
        """Rows of the tradie's bookings (answers, photos), in booking order."""
        query = (
            sa.select(model)
            .join(Booking, Booking.id == model.booking_id)
            .where(Booking.tradie_id == tradie.id)
            .order_by(model.booking_id, model.id)
        )
        return [_row(obj, zone) for obj in session.scalars(query)]

    data = {
        "exported_at": _when(now, zone),
        "format": "peepopay-export-1",
        "account": _row(tradie, zone),
        "services": rows(Service, Service.sort_order, Service.id),
        "availability": rows(AvailabilityRule, AvailabilityRule.weekday, AvailabilityRule.id),
        "blocked_periods": rows(BlockedPeriod, BlockedPeriod.start_date, BlockedPeriod.id),
        "customers": rows(Customer, Customer.id),
        "bookings": rows(Booking, Booking.starts_at, Booking.id),
        "booking_answers": owned_rows(BookingAnswer),
        "booking_photos": owned_rows(BookingPhoto),
        "service_questions": [
            _row(q, zone)
            for q in session.scalars(
                sa.select(ServiceQuestion)
                .join(Service, Service.id == ServiceQuestion.service_id)
                .where(Service.tradie_id == tradie.id)
                .order_by(ServiceQuestion.service_id, ServiceQuestion.sort_order)
            )
        ],
        "arrival_windows": rows(ArrivalWindow, ArrivalWindow.weekday, ArrivalWindow.start_local),
        "payments": rows(Payment, Payment.created_at, Payment.id),
        "audit_log": rows(AuditLog, AuditLog.created_at, AuditLog.id),
        "widget_views": rows(WidgetView, WidgetView.day),
        "calendars": rows(CalendarFeed, CalendarFeed.id),
        "busy_times": rows(BusyTime, BusyTime.starts_at, BusyTime.id),
    }
    audit.record(
        session, tradie_id=tradie.id, actor=actor(tradie), action="account.exported", entity=tradie
    )
    return data


# How recent a Google re-authentication must be to stand in for the password.
REAUTH_MAX_AGE = timedelta(minutes=10)


def delete_account(
    session: DbSession,
    tradie: Tradie,
    password: str,
    now: datetime,
    *,
    google_reauth_at: datetime | None = None,
) -> None:
    """Delete the tradie and (by ON DELETE CASCADE) every row that belongs to them, once they
    proved it is them: the password, or signing in with their linked Google account just now.
    Whether an export was downloaded, and by which browser, does not matter."""
    by_google = (
        tradie.google_sub is not None
        and google_reauth_at is not None
        and timedelta(0) <= now - google_reauth_at <= REAUTH_MAX_AGE
    )
    if not by_google:
        if not tradie.has_password:
            raise FormError("delete_password", "Confirm with Google first, then delete.")
        if not password:
            raise FormError("delete_password", "Password is required to delete your account.")
        if not accounts.check_password(session, tradie, password):
            raise FormError("delete_password", "Password is incorrect.")
    upcoming = session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.tradie_id == tradie.id,
            Booking.status == Status.CONFIRMED,
            Booking.ends_at > now,
        )
    )
    if upcoming:
        raise FormError(
            "delete_password",
            f"You have {upcoming} upcoming confirmed booking{'s' if upcoming != 1 else ''}; "
            "complete or cancel them before deleting your account.",
        )
    # Kept after the cascade (tradie_id NULL), so the operator can see the account existed.
    audit.record(
        session, tradie_id=None, actor=actor(tradie), action="account.deleted", entity=tradie
    )
    # The photos' rows go with the bookings by cascade; their files are removed here.
    photos.delete_files(session, photos.configured_store(), tradie.id)
    session.delete(tradie)
    session.flush()
