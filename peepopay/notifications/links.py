"""Absolute links for messages, built from BASE_URL so they work outside a request (workers)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app

if TYPE_CHECKING:
    from peepopay.auth.models import Tradie
    from peepopay.booking.models import Booking

# Where the other areas serve the pages a message links to, first existing endpoint wins.
WIDGET_ENDPOINTS = ("widget.page", "widget.index", "widget.book", "widget.widget")
DASHBOARD_BOOKING_ENDPOINTS = ("dashboard.booking", "dashboard.booking_detail")
LOGO_ENDPOINTS = ("widget.logo", "dashboard.logo", "public.logo", "settings.logo")


def external_url(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values)` as an absolute URL under BASE_URL, in a request or not."""
    base = urlsplit(current_app.config["BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def _first(endpoints: tuple[str, ...]) -> str | None:
    return next((e for e in endpoints if e in current_app.view_functions), None)


def booking_url(booking: Booking) -> str:
    return external_url("customer.page", token=booking.public_token)


def widget_url(tradie: Tradie) -> str:
    endpoint = _first(WIDGET_ENDPOINTS)
    if endpoint:
        return external_url(endpoint, slug=tradie.slug)
    return current_app.config["BASE_URL"].rstrip("/") + f"/book/{tradie.slug}"


def dashboard_booking_url(booking: Booking) -> str | None:
    endpoint = _first(DASHBOARD_BOOKING_ENDPOINTS)
    if endpoint is None:
        return None
    rule = next(current_app.url_map.iter_rules(endpoint))
    arg = next(iter(rule.arguments), "booking_id")
    return external_url(endpoint, **{arg: booking.id})


def logo_url(tradie: Tradie) -> str | None:
    """The tradie's logo as an absolute URL mail clients can load, when there is one."""
    path = tradie.logo_path
    if not path:
        return None
    if path.startswith(("https://", "http://")):
        return path
    endpoint = _first(LOGO_ENDPOINTS)
    if endpoint is None:
        return None
    rule = next(current_app.url_map.iter_rules(endpoint))
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        values[arg] = {"slug": tradie.slug, "tradie_id": tradie.id}.get(arg, path)
    return external_url(endpoint, **values)
