"""/api/widget/<slug>/config, /availability and /book: CORS for any origin, no credentials."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from peepopay.api import bp
from peepopay.auth.models import Tradie
from peepopay.booking import services as bookings
from peepopay.booking.services import Customer
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.money import deposit_for
from peepopay.payments.gateway import PaymentError
from peepopay.payments.services import DepositsUnavailable
from peepopay.scheduling.slots import Slot
from peepopay.widget import availability as fast
from peepopay.widget.limits import availability_limit, booking_limit
from peepopay.widget.routes import find_tradie
from peepopay.widget.state import parse_color, parse_date

DAY0 = date(2000, 1, 1)  # stands in for a missing date while the tradie is looked up
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


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
    problems: dict[str, list[str]] = {}
    day = parse_date(request.args.get("date"))
    if day is None:
        problems["date"] = ["date is required, as YYYY-MM-DD."]
    with db.engine.connect() as conn:  # read-only: no session transaction to commit
        exists, offer = fast.find_offer(conn, slug, request.args.get("serviceId"), day or DAY0)
        if not exists:
            abort(404)
        if offer is None:
            problems["serviceId"] = ["serviceId does not name a service this business offers."]
        if problems or day is None or offer is None:
            return errors(problems)
        view = fast.day_view(conn, offer, day, utcnow())

    def body(slots: list[Slot]) -> bytes:
        data = {
            "date": day.isoformat(),
            "timezone": offer.timezone,
            "slots": [slot_json(s, offer.rules.tz) for s in slots],
        }
        return json.dumps(data, separators=(",", ":")).encode()

    # The same answer is asked for again and again: serialise it once per change.
    return Response(view.rendered(body), mimetype="application/json")


def _start(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@bp.post("/widget/<slug>/book")
@booking_limit
def book(slug: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(
            error={
                "code": 400,
                "message": "Send a JSON object with Content-Type: application/json.",
            }
        ), 400
    customer = body.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    start = _start(body.get("start"))
    problems: dict[str, list[str]] = {}
    if body.get("start") is not None and start is None:
        problems["start"] = ["start must be an ISO 8601 date and time with its UTC offset."]
    try:
        booking = bookings.create_held_booking(
            db.session,
            tradie=tradie(),
            service_id=body.get("serviceId"),
            start_utc=start,
            customer=Customer(
                name=_text(customer.get("name")),
                email=_text(customer.get("email")),
                phone=_text(customer.get("phone")),
                address=_text(customer.get("address")),
                notes=_text(body.get("notes")),
            ),
            now=utcnow(),
        )
    except bookings.InvalidBooking as error:
        return errors({**error.errors, **problems})
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
