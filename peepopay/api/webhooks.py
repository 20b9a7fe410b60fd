"""Stripe's webhooks: `/webhooks/stripe` (the platform account) and `/webhooks/stripe/connect`
(connected accounts), each verified with its own signing secret, then stored and applied."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    current_app,
    jsonify,
    request,
)
from flask.typing import ResponseReturnValue

from peepopay.bookings import stripe_events
from peepopay.clock import utcnow
from peepopay.extensions import csrf, db
from peepopay.ops import metrics
from peepopay.payments import webhooks
from peepopay.payments.gateway import PaymentError

log = logging.getLogger(__name__)

webhooks_bp = Blueprint("stripe_webhooks", __name__, url_prefix="/webhooks/stripe")
# Stripe signs its requests; a browser's CSRF token means nothing there.
csrf.exempt(webhooks_bp)


# --------------------------------------------------------------------------- webhooks


def _receive(secret_name: str) -> ResponseReturnValue:
    payload = request.get_data()
    try:
        event = webhooks.verify(
            payload,
            request.headers.get("Stripe-Signature"),
            current_app.config.get(secret_name),
        )
    except webhooks.BadSignature:
        metrics.webhook_events.labels(type="unverified", result="bad_signature").inc()
        return jsonify(error="invalid signature"), 400
    except webhooks.MalformedEvent as malformed:
        metrics.webhook_events.labels(type="unverified", result="malformed").inc()
        return jsonify(error=str(malformed)), 400
    event_type = event["type"]
    metrics.observe_webhook_delay(event, utcnow())
    try:
        result = stripe_events.handle(db.session, event, payload.decode(), utcnow())
    except PaymentError as error:
        # Stripe is briefly unreachable from here: fail so Stripe delivers the event again.
        metrics.webhook_events.labels(type=event_type, result="retry").inc()
        return jsonify(error=error.message), 503
    metrics.webhook_events.labels(type=event_type, result=result).inc()
    return jsonify(received=True, result=result), 200


@webhooks_bp.post("")
def platform() -> ResponseReturnValue:
    return _receive("STRIPE_WEBHOOK_SECRET")


@webhooks_bp.post("/connect")
def connected() -> ResponseReturnValue:
    return _receive("STRIPE_CONNECT_WEBHOOK_SECRET")
