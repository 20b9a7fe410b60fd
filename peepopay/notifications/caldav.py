"""The tradie's CalDAV calendar (iCloud, Fastmail, Nextcloud …): jobs written as events with
their stable UID, through the outbox (channel "caldav"), and the calendar's events read back
for busy times. Credentials are decrypted only here, for the request that needs them."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import caldav
import icalendar
import requests
from caldav.lib import error as dav_error
from flask import current_app
from requests.adapters import HTTPAdapter

from peepopay import secretbox
from peepopay.accounts.models import Tradie
from peepopay.bookings.models import Booking, Status
from peepopay.calendars.models import CalendarFeed
from peepopay.safefetch import FetchError, resolve

log = logging.getLogger(__name__)

PRODID = "-//PeepoPay//Jobs//EN"
# Statuses whose job stays in the tradie's calendar; any other removes it.
SHOWN = (Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW)


class CalDAVProblem(Exception):
    """The CalDAV server could not be used; the message is for the tradie."""


def uid(booking_id: int) -> str:
    """The job's stable UID, the same as in the private ICS feed (notifications.calendar)."""
    return f"booking-{booking_id}@peepopay"


class AddressRefused(requests.exceptions.ConnectionError):
    """A request, or a redirect of one, to an address the calendar fetch guard refuses."""


class GuardedAdapter(HTTPAdapter):
    """Every request, each redirect hop included, goes through the guard ICS fetches use
    (peepopay.safefetch.resolve), and its connection to the very address that was checked:
    the host name stays in the Host header, in SNI and in the certificate check."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(request.url))
        host = parts.hostname or ""
        name = f"[{host}]" if ":" in host else host
        # Set on every hop: a redirect's request starts as a copy of the one before.
        request.headers["Host"] = name if parts.port is None else f"{name}:{parts.port}"
        return super().send(request, *args, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        host = str(host_params["host"]).strip("[]")
        https = host_params["scheme"] == "https"
        try:
            address = resolve(
                host, host_params["port"] or (443 if https else 80), self.allow_loopback
            )
        except FetchError as problem:
            raise AddressRefused(str(problem), request=request) from None
        if https:
            pool_kwargs["server_hostname"] = host
            pool_kwargs["assert_hostname"] = host
        host_params["host"] = str(address)
        return host_params, pool_kwargs


def _client(feed: CalendarFeed) -> caldav.DAVClient:
    password = secretbox.decrypt(feed.password_encrypted) if feed.password_encrypted else None
    timeout = int(current_app.config["CALENDAR_FETCH_TIMEOUT_SECONDS"])
    client = caldav.DAVClient(
        url=feed.url, username=feed.username, password=password, timeout=timeout
    )
    # CalDAV servers are public services too: checked on every request, redirects included.
    guard = GuardedAdapter(bool(current_app.config["CALENDAR_FETCH_ALLOW_LOOPBACK"]))
    client.session.mount("http://", guard)
    client.session.mount("https://", guard)
    client.session.trust_env = False  # no proxy or .netrc from the worker's environment
    client.session.max_redirects = 5
    return client


def find_calendar(feed: CalendarFeed) -> caldav.Calendar:
    """The calendar at the feed's address: the address itself when it is one, else the
    account's first calendar (a server's own address, as iCloud gives)."""
    client = _client(feed)
    try:
        calendars = client.principal().calendars()
    except (dav_error.DAVError, OSError) as problem:
        raise CalDAVProblem(_say(problem)) from None
    wanted = feed.url.rstrip("/")
    for calendar in calendars:
        if str(calendar.url).rstrip("/") == wanted:
            return calendar
    if calendars:
        return calendars[0]
    raise CalDAVProblem("The CalDAV account has no calendar.")


def _calendar(feed: CalendarFeed) -> caldav.Calendar:
    return caldav.Calendar(client=_client(feed), url=feed.url)


def _say(problem: Exception) -> str:
    if isinstance(problem, AddressRefused):
        return str(problem)
    if isinstance(problem, dav_error.AuthorizationError):
        return "The CalDAV server refused the user name or app password."
    if isinstance(problem, dav_error.NotFoundError):
        return "The CalDAV server has no calendar at that address."
    text = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
    return f"The CalDAV server could not be used ({text[:200]})."


def read_events(feed: CalendarFeed, start: datetime, end: datetime) -> icalendar.Calendar:
    """Every event of the calendar overlapping [start, end), as one iCalendar object."""
    combined = icalendar.Calendar()
    combined.add("prodid", PRODID)
    combined.add("version", "2.0")
    try:
        found: list[Any] = _calendar(feed).search(start=start, end=end, event=True)
        for resource in found:
            data = icalendar.Calendar.from_ical(resource.data)
            for component in data.subcomponents:
                combined.add_component(component)
    except (dav_error.DAVError, OSError) as problem:
        raise CalDAVProblem(_say(problem)) from None
    return combined


# --------------------------------------------------------------------------- jobs, via the outbox


def deliver(payload: dict[str, Any]) -> None:
    """Outbox transport: put or delete the job's event as the booking now stands."""
    from peepopay.extensions import db

    session = db.session
    feed = session.get(CalendarFeed, payload["feed_id"])
    booking = session.get(Booking, payload["booking_id"])
    if feed is None or booking is None:
        return  # the calendar was removed, or the booking: nothing to write
    tradie = session.get(Tradie, booking.tradie_id)
    assert tradie is not None
    calendar = _calendar(feed)
    if booking.status in SHOWN:
        calendar.save_event(job_event(tradie, booking))
        return
    with contextlib.suppress(dav_error.NotFoundError):  # never written, or removed already
        calendar.event_by_uid(uid(booking.id)).delete()


def job_event(tradie: Tradie, booking: Booking) -> str:
    """The job as an iCalendar object: times, service and customer, never money."""
    tz = ZoneInfo(tradie.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid(booking.id))
    event.add("dtstamp", booking.updated_at or booking.created_at)
    event.add("dtstart", booking.starts_at.astimezone(tz))
    event.add("dtend", booking.ends_at.astimezone(tz))
    event.add("summary", f"{booking.service_name}: {booking.customer_name}")
    event.add("location", booking.job_address)
    event.add("description", f"Phone: {booking.customer_phone}\nEmail: {booking.customer_email}")
    cal.add_component(event)
    cal.add_missing_timezones()
    return str(cal.to_ical().decode())
