"""/api/widget/<slug>/config, /availability and /book: CORS for any origin, no credentials."""

from __future__ import annotations

import json
import math
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from peepopay.accounts.models import Tradie
from peepopay.api import bp
from peepopay.bookings import services as bookings
from peepopay.bookings.services import Customer
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.inputs import (
    date_in_reach,
    instant_in_reach,
    iso_date,
    iso_datetime,
    parse_id,
    text_problem,
)
from peepopay.money import deposit_for
from peepopay.net import client_key
from peepopay.payments.deposits import DepositsUnavailable
from peepopay.payments.gateway import PaymentError
from peepopay.scheduling.slots import Slot
from peepopay.widget import availability as fast
from peepopay.widget.limits import availability_limit, booking_limit, hold_limits
from peepopay.widget.routes import find_tradie
from peepopay.widget.state import parse_color

DAY0 = date(2000, 1, 1)  # stands in for a missing date while the tradie is looked up
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
BAD_SERVICE_ID = "serviceId must be a positive integer id."
NOT_OFFERED = "serviceId does not name a service this business offers."
NOT_JSON = "The body is not valid JSON."
NOT_AN_OBJECT = "Send a JSON object with Content-Type: application/json."
LABELS = {"name": "Name", "email": "Email", "phone": "Phone", "address": "Job address"}


@bp.after_request
def cors(response: Response) -> Response:
    # Any site may call the API; without Allow-Credentials browsers never send cookies along.
    for name, value in CORS_HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.url_value_preprocessor
def remember_slug(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.slug = (values or {}).get("slug")


@bp.before_request
def load_tradie() -> None:
    # Availability is the hot path: it reads the few columns it needs itself.
    if request.method == "OPTIONS" or request.endpoint == "api.availability":
        return
    tradie = find_tradie(g.get("slug"))
    if tradie is None:
        abort(404)
    g.tradie = tradie


def tradie() -> Tradie:
    current: Tradie = g.tradie
    return current


def errors(fields: dict[str, list[str]], status: int = 422) -> tuple[Response, int]:
    return jsonify(errors=fields), status


def hold_refused(refused: bookings.HoldRefused) -> tuple[Response, int, dict[str, str]]:
    """429 with the limit that refused the hold and when the first counted hold runs out."""
    seconds = max(1, math.ceil(refused.retry_after.total_seconds()))
    body = jsonify(error={"code": 429, "reason": refused.reason, "message": refused.message})
    return body, 429, {"Retry-After": str(seconds)}


@lru_cache(maxsize=8192)
def slot_json(slot: Slot, tz: ZoneInfo) -> dict[str, Any]:
    """A slot as the contract shows it (memoised: the same slots are asked for again and again;
    callers only serialise the dict)."""
    local = slot.starts_at_utc.astimezone(tz)
    return {
        "start": local.isoformat(),
        "time": local.strftime("%H:%M"),
        "available": slot.available,
    }


@bp.get("/widget/<slug>/config")
def config(slug: str) -> ResponseReturnValue:
    t = tradie()
    return jsonify(
        businessName=t.business_name,
        brandColor=parse_color(t.brand_color) or t.brand_color,
        currency=t.currency,
        timezone=t.timezone,
        services=[
            {
                "id": s.id,
                "name": s.name,
                "description": s.description,
                "durationMinutes": s.duration_minutes,
                "price": s.price_minor,
                "depositType": s.deposit_type,
                "depositAmount": deposit_for(s),
            }
            for s in bookings.active_services(db.session, t)
        ],
    )


@bp.get("/widget/<slug>/availability")
@availability_limit
def availability(slug: str) -> ResponseReturnValue:
    now = utcnow()
    problems: dict[str, list[str]] = {}
    day = iso_date(request.args.get("date"))
    if day is None:
        problems["date"] = ["date is required, as YYYY-MM-DD."]
    elif not date_in_reach(day, now):
        problems["date"] = ["date must be within a year of today."]
        day = None
    service_id = parse_id(request.args.get("serviceId"))
    with db.engine.connect() as conn:  # read-only: no session transaction to commit
        exists, offer = fast.find_offer(conn, slug, service_id, day or DAY0)
        if not exists:
            abort(404)
        if offer is None:
            problems["serviceId"] = [NOT_OFFERED if service_id else BAD_SERVICE_ID]
        if problems or day is None or offer is None:
            return errors(problems)
        view = fast.day_view(conn, offer, day, now)

    def body(slots: list[Slot]) -> bytes:
        data = {
            "date": day.isoformat(),
            "timezone": offer.timezone,
            "slots": [slot_json(s, offer.rules.tz) for s in slots],
        }
        return json.dumps(data, separators=(",", ":")).encode()

    # The same answer is asked for again and again: serialise it once per change.
    return Response(view.rendered(body), mimetype="application/json")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bad_request(message: str) -> tuple[Response, int]:
    return jsonify(error={"code": 400, "message": message}), 400


def _json_object() -> dict[str, Any] | tuple[Response, int]:
    """The body as a JSON object, or the 400 to answer."""
    if not request.is_json:
        return _bad_request(NOT_AN_OBJECT)
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        # Nesting deeper than the parser's recursion limit is refused like any broken body.
        return _bad_request(NOT_JSON)
    return body if isinstance(body, dict) else _bad_request(NOT_AN_OBJECT)


@bp.post("/widget/<slug>/book")
@booking_limit
def book(slug: str) -> ResponseReturnValue:
    body = _json_object()
    if not isinstance(body, dict):
        return body
    now = utcnow()
    problems: dict[str, list[str]] = {}
    service_id = parse_id(body.get("serviceId"))
    if body.get("serviceId") is not None and service_id is None:
        problems["serviceId"] = [BAD_SERVICE_ID]
    start = iso_datetime(body.get("start"))
    if body.get("start") is not None and start is None:
        problems["start"] = ["start must be an ISO 8601 date and time with its UTC offset."]
    elif start is not None and start.utcoffset() is not None and not instant_in_reach(start, now):
        # Refused here: the slot engine's date arithmetic overflows near year 1 or 9999.
        problems["start"] = ["start is not one of the times offered for this service."]
        start = None
    customer = body.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    texts = {name: _text(customer.get(name)) for name in LABELS}
    texts["notes"] = _text(body.get("notes"))
    unstorable = {
        name: [problem]
        for name, value in texts.items()
        if (problem := text_problem(LABELS.get(name, "Notes"), value))
    }
    if unstorable:
        # Nothing may reach the database with them; the other fields are judged once they go.
        return errors({**problems, **unstorable})
    try:
        booking = bookings.create_held_booking(
            db.session,
            tradie=tradie(),
            service_id=service_id,
            start_utc=start,
            customer=Customer(**texts),
            now=now,
            client_key=client_key(),
            limits=hold_limits(),
        )
    except bookings.InvalidBooking as error:
        return errors({**error.errors, **problems})
    except bookings.HoldRefused as refused:
        return hold_refused(refused)
    except bookings.SlotTaken as taken:
        tz = ZoneInfo(tradie().timezone)
        return jsonify(
            error={"code": 409, "message": taken.message},
            nextFreeSlots=[slot_json(s, tz) for s in taken.next_free_slots],
        ), 409
    try:
        payment = bookings.start_payment(db.session, booking, tradie())
    except DepositsUnavailable as unavailable:
        return jsonify(error={"code": 409, "message": unavailable.message}), 409
    except PaymentError as failure:
        # The hold is rolled back with the error, so the time stays free.
        return jsonify(error={"code": failure.status, "message": failure.message}), failure.status
    return jsonify(
        bookingId=booking.id,
        status=booking.status,
        depositAmount=booking.deposit_minor,
        currency=booking.currency,
        holdExpiresAt=booking.hold_expires_at.isoformat() if booking.hold_expires_at else None,
        stripeClientSecret=payment.client_secret,
        stripeAccountId=payment.account_id,
        publishableKey=payment.publishable_key,
    ), 201
