"""Absolute links for messages, built from BASE_URL so they work outside a request (workers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app, url_for

if TYPE_CHECKING:
    from peepopay.accounts.models import Tradie
    from peepopay.bookings.models import Booking


def external_url(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values)` as an absolute URL under BASE_URL, in a request or not."""
    base = urlsplit(current_app.config["BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def booking_url(booking: Booking) -> str:
    """The customer's own page for the booking."""
    return external_url("customer.page", token=booking.public_token)


def widget_url(tradie: Tradie) -> str:
    """The tradie's booking widget, for booking again."""
    return external_url("widget.start", slug=tradie.slug)


def dashboard_booking_url(booking: Booking) -> str:
    return external_url("dashboard.booking_detail", booking_id=booking.id)


def logo_src(tradie: Tradie) -> str | None:
    """The tradie's logo for our own pages: a path on this origin, the only one their CSP
    takes images from (a logo kept elsewhere is left out there)."""
    if not tradie.logo_path or tradie.logo_path.startswith(("https://", "http://")):
        return None
    return url_for("dashboard.logo", name=tradie.logo_path)


def logo_url(tradie: Tradie) -> str | None:
    """The tradie's logo as an absolute URL mail clients can load, when there is one."""
    if not tradie.logo_path:
        return None
    if tradie.logo_path.startswith(("https://", "http://")):
        return tradie.logo_path
    return external_url("dashboard.logo", name=tradie.logo_path)
