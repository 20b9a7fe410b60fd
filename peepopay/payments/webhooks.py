"""Stripe's webhook events verified: a valid, recent signature on the raw body, and the shape
every handler relies on, down to the object's fields (`event_shapes`).
`peepopay.bookings.stripe_events` stores and applies them."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import stripe

from peepopay.payments import event_shapes

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300

Event = dict[str, Any]


class BadSignature(Exception):
    pass


class MalformedEvent(Exception):
    """A validly signed body that is not an event: refused with 400, nothing stored."""


def verify(payload: bytes, signature: str | None, secret: str | None) -> Event:
    """The event, if `payload` carries a valid, recent signature made with `secret`."""
    if not secret:
        log.error("a Stripe webhook arrived but its signing secret is not configured")
        raise BadSignature("webhook secret not configured")
    try:
        text = payload.decode()
        stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadSignature(str(exc)) from exc
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent("the event is not valid JSON") from exc
    return _well_formed(event)


# As long as the columns that keep them; Stripe's own ids and types are far shorter.
_EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
_ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9_-]{1,59}")


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _well_formed(event: Any) -> Event:
    """The event, if it has the shape every handler relies on: an id, a type, and an object
    of the kind its type carries, each field of the type and within the range Stripe keeps."""
    if not isinstance(event, dict):
        raise MalformedEvent("the event must be a JSON object")
    if not _matches(_EVENT_ID, event.get("id")):
        raise MalformedEvent("the event has no id")
    if not _matches(_EVENT_TYPE, event.get("type")):
        raise MalformedEvent("the event has no type")
    if event.get("account") is not None and not _matches(_ACCOUNT_ID, event["account"]):
        raise MalformedEvent("the event's account is not an account id")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("the event has no data.object")
    if "created" in event and not event_shapes.timestamp(event["created"]):
        raise MalformedEvent("the event's created is not a timestamp")
    try:
        event_shapes.check(event["type"], data["object"])
    except event_shapes.ShapeError as error:
        raise MalformedEvent(f"the event's {error}") from error
    return event
