"""The API's input, parsed before any service sees it: the availability query and the book
request's JSON. The customer's text is judged by the widget's details form, so both surfaces
refuse the same text with the same messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import request

from peepopay.bookings.services import Customer, InvalidBooking
from peepopay.bookings.tokens import read_booking_token
from peepopay.inputs import date_in_reach, instant_in_reach, iso_date, iso_datetime, parse_id
from peepopay.widget.forms import unstorable
from peepopay.widget.state import DETAIL_FIELDS

BAD_SERVICE_ID = "serviceId must be a positive integer id."
NOT_OFFERED = "serviceId does not name a service this business offers."
NOT_JSON = "The body is not valid JSON."
NOT_AN_OBJECT = "Send a JSON object with Content-Type: application/json."
BAD_START = "start must be an ISO 8601 date and time with its UTC offset."
START_NOT_OFFERED = "start is not one of the times offered for this service."


class BadBody(Exception):
    """A body that is not a JSON object (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DayQuery:
    """`?date=&serviceId=`: the day (None when missing or out of reach), the service id, and
    the problems found so far (the service is judged once it is looked up)."""

    day: date | None
    service_id: int | None
    problems: dict[str, list[str]]


@dataclass(frozen=True)
class BookRequest:
    """A parsed book request. `problems` name malformed fields more precisely than the
    booking service can once it sees them as missing, so they win over its messages."""

    service_id: int | None
    start_utc: datetime | None
    customer: Customer
    problems: dict[str, list[str]]
    answers: Any = None
    postcode: Any = None
    replaces: int | None = None

    def hold(self) -> dict[str, Any]:
        """What the booking service takes."""
        return {
            "service_id": self.service_id,
            "start_utc": self.start_utc,
            "customer": self.customer,
            "answers": self.answers,
            "postcode": self.postcode,
            "replaces": self.replaces,
        }


def day_query(now: datetime) -> DayQuery:
    problems: dict[str, list[str]] = {}
    day = iso_date(request.args.get("date"))
    if day is None:
        problems["date"] = ["date is required, as YYYY-MM-DD."]
    elif not date_in_reach(day, now):
        problems["date"] = ["date must be within a year of today."]
        day = None
    return DayQuery(day, parse_id(request.args.get("serviceId")), problems)


def json_object() -> dict[str, Any]:
    """The body as a JSON object; BadBody otherwise."""
    if not request.is_json:
        raise BadBody(NOT_AN_OBJECT)
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        # Nesting deeper than the parser's recursion limit is refused like any broken body.
        raise BadBody(NOT_JSON) from None
    if not isinstance(body, dict):
        raise BadBody(NOT_AN_OBJECT)
    return body


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def book_request(body: dict[str, Any], now: datetime) -> BookRequest:
    """Parse `{serviceId, start, customer: {...}, notes, answers, postcode, replaces}`;
    InvalidBooking when the text cannot be stored at all (nothing may reach the database with
    it). `replaces` is an earlier answer's `holdToken`; one that does not verify is ignored."""
    problems: dict[str, list[str]] = {}
    service_id = parse_id(body.get("serviceId"))
    if body.get("serviceId") is not None and service_id is None:
        problems["serviceId"] = [BAD_SERVICE_ID]
    start = iso_datetime(body.get("start"))
    if body.get("start") is not None and start is None:
        problems["start"] = [BAD_START]
    elif start is not None and start.utcoffset() is not None and not instant_in_reach(start, now):
        # Refused here: the slot engine's date arithmetic overflows near year 1 or 9999.
        problems["start"] = [START_NOT_OFFERED]
        start = None
    customer = body.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    texts = {name: _text(customer.get(name)) for name in DETAIL_FIELDS}
    texts["notes"] = _text(body.get("notes"))  # beside the customer, not inside it
    if bad_text := unstorable(texts):
        # The other fields are judged once these go.
        raise InvalidBooking({**problems, **bad_text})
    token = body.get("replaces")
    return BookRequest(
        service_id,
        start,
        Customer(**texts),
        problems,
        body.get("answers"),
        body.get("postcode"),
        read_booking_token(token) if isinstance(token, str) and len(token) <= 200 else None,
    )
