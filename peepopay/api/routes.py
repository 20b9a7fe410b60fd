"""/api/widget/<slug>/config, /availability and /book: CORS for any origin, no credentials."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from peepopay.accounts.models import Tradie
from peepopay.api import bp
from peepopay.api.schema import (
    BAD_SERVICE_ID,
    NOT_OFFERED,
    BadBody,
    book_request,
    day_query,
    json_object,
)
from peepopay.bookings import intake
from peepopay.bookings import services as bookings
from peepopay.bookings.models import Booking
from peepopay.bookings.services import PaymentStart
from peepopay.bookings.tokens import booking_token
from peepopay.clock import utcnow
from peepopay.extensions import db, limiter
from peepopay.money import deposit_for
from peepopay.net import client_key
from peepopay.payments.deposits import DepositsUnavailable
from peepopay.payments.gateway import PaymentError
from peepopay.scheduling.models import QuestionKind, Service, ServiceQuestion
from peepopay.scheduling.slots import Slot
from peepopay.widget import availability as fast
from peepopay.widget.limits import availability_hit as hit
from peepopay.widget.limits import booking_limit, hold_limits
from peepopay.widget.routes import find_tradie
from peepopay.widget.state import parse_color

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
    data = {
        "start": local.isoformat(),
        "time": local.strftime("%H:%M"),
        "available": slot.available,
    }
    if slot.window:
        data["end"] = slot.ends_at_utc.astimezone(tz).isoformat()
    return data


def question_json(question: ServiceQuestion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": question.id,
        "label": question.label,
        "type": question.kind,
        "required": question.required,
    }
    if question.kind == QuestionKind.CHOICE:
        data["choices"] = question.choices
    return data


def service_json(service: Service, questions: list[ServiceQuestion]) -> dict[str, Any]:
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "durationMinutes": service.duration_minutes,
        "price": service.price_minor,
        "depositType": service.deposit_type,
        "depositAmount": deposit_for(service),
        "bookBy": "arrivalWindow" if service.by_arrival_window else "start",
        "questions": [question_json(q) for q in questions],
    }


def booked_json(booking: Booking, payment: PaymentStart) -> dict[str, Any]:
    return {
        "bookingId": booking.id,
        "status": booking.status,
        "depositAmount": booking.deposit_minor,
        "currency": booking.currency,
        "holdExpiresAt": booking.hold_expires_at.isoformat() if booking.hold_expires_at else None,
        "stripeClientSecret": payment.client_secret,
        "stripeAccountId": payment.account_id,
        "publishableKey": payment.publishable_key,
        # Sent back as `replaces`, it lets this browser move the hold to another time.
        "holdToken": booking_token(booking.id),
    }


def day_json(day: date, offer: fast.Offer) -> Callable[[list[Slot]], bytes]:
    """The availability body for `day`, from its slots."""

    def body(slots: list[Slot]) -> bytes:
        data = {
            "date": day.isoformat(),
            "timezone": offer.timezone,
            "slots": [slot_json(s, offer.rules.tz) for s in slots],
        }
        return json.dumps(data, separators=(",", ":")).encode()

    return body


# --- what the booking services refuse, as the contract answers it ---------------------------
# (InvalidBooking, like every RuleRefused, is the app's 422 with field errors: peepopay/errors.py)


@bp.errorhandler(BadBody)
def bad_body(error: BadBody) -> tuple[Response, int]:
    return jsonify(error={"code": 400, "message": error.message}), 400


@bp.errorhandler(bookings.HoldRefused)
def hold_refused(refused: bookings.HoldRefused) -> tuple[Response, int, dict[str, str]]:
    """429 with the limit that refused the hold and when the first counted hold runs out."""
    seconds = max(1, math.ceil(refused.retry_after.total_seconds()))
    body = jsonify(error={"code": 429, "reason": refused.reason, "message": refused.message})
    return body, 429, {"Retry-After": str(seconds)}


@bp.errorhandler(bookings.SlotTaken)
def slot_taken(taken: bookings.SlotTaken) -> tuple[Response, int]:
    tz = ZoneInfo(tradie().timezone)
    return jsonify(
        error={"code": 409, "message": taken.message},
        nextFreeSlots=[slot_json(s, tz) for s in taken.next_free_slots],
    ), 409


@bp.errorhandler(DepositsUnavailable)
def deposits_unavailable(unavailable: DepositsUnavailable) -> tuple[Response, int]:
    return jsonify(error={"code": 409, "message": unavailable.message}), 409


@bp.errorhandler(PaymentError)
def payment_error(failure: PaymentError) -> tuple[Response, int]:
    # The hold is rolled back with the error status, so the time stays free.
    return jsonify(error={"code": failure.status, "message": failure.message}), failure.status


# --- routes -------------------------------------------------------------------------------


@bp.get("/widget/<slug>/config")
def config(slug: str) -> ResponseReturnValue:
    t = tradie()
    return jsonify(
        businessName=t.business_name,
        brandColor=parse_color(t.brand_color) or t.brand_color,
        currency=t.currency,
        timezone=t.timezone,
        serviceArea=intake.area_json(t),
        # False while the tradie's Stripe connection needs reconnecting: offer no booking.
        takingBookings=not t.stripe_needs_reconnect,
        services=[
            service_json(s, intake.questions_of(db.session, s.id))
            for s in bookings.active_services(db.session, t)
        ],
    )


@bp.get("/widget/<slug>/availability")
@limiter.exempt  # counted by availability_hit, with the slot versions in one round trip
def availability(slug: str) -> ResponseReturnValue:
    now = utcnow()
    query = day_query(now)
    day = query.day or DAY0
    exists, found = fast.cache().find(db.engine, slug, query.service_id, day, now, hit)
    if not exists:
        abort(404)
    if found is None:
        query.problems["serviceId"] = [NOT_OFFERED if query.service_id else BAD_SERVICE_ID]
    if query.problems or query.day is None or found is None:
        return errors(query.problems)
    view = found.view(query.day, now)
    # The same answer is asked for again and again: serialise it once per change.
    return Response(view.rendered(day_json(query.day, found.offer)), mimetype="application/json")


@bp.post("/widget/<slug>/book")
@booking_limit
def book(slug: str) -> ResponseReturnValue:
    now = utcnow()
    wanted = book_request(json_object(), now)
    try:
        booking, payment = bookings.hold_and_start_payment(
            db.session,
            tradie=tradie(),
            now=now,
            client_key=client_key(),
            limits=hold_limits(),
            **wanted.hold(),
        )
    except bookings.InvalidBooking as error:
        raise bookings.InvalidBooking({**error.errors, **wanted.problems}) from None
    return jsonify(booked_json(booking, payment)), 201
