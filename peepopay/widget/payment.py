"""The widget's payment step: Stripe's Payment Element in real mode, the Stripe emulator's
demo card form in an iframe in demo mode. Only this step loads a third-party script or frame,
and only its response's Content-Security-Policy allows them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from flask import g, request

from peepopay.bookings.models import Booking
from peepopay.payments import gateway
from peepopay.security import widget_csp

STRIPE_JS = "https://js.stripe.com/v3/"
# Stripe's documented needs: its script, its API (called from the page by confirmPayment),
# and its frames (the Payment Element, 3-D Secure challenges).
STRIPE_SCRIPT_SOURCES = " https://js.stripe.com https://api.stripe.com"
STRIPE_FRAME_SOURCES = " https://js.stripe.com https://hooks.stripe.com"


@dataclass(frozen=True)
class PaymentView:
    """What the payment step's template and payment.js need."""

    mode: str  # "stripe" (Stripe.js) or "demo" (the emulator's card form)
    client_secret: str
    account_id: str
    publishable_key: str
    payment_intent_id: str
    confirm_url: str
    frame_url: str | None = None
    frame_origin: str | None = None
    stripe_js: str = STRIPE_JS


def payment_view(
    booking: Booking,
    *,
    client_secret: str,
    account_id: str,
    publishable_key: str,
    payment_intent_id: str,
    confirm_url: str,
    frame_ancestors: str,
) -> PaymentView:
    """The payment step's view, with this response's CSP widened for what it loads."""
    if gateway.demo_mode():
        frame_origin = gateway.hosted_origin()
        # The card form tells this page (our origin, as the browser sees it) when it is paid.
        own_origin = request.host_url.rstrip("/")
        g.widget_csp = widget_csp(frame_ancestors, extra_frame=f" {frame_origin}")
        return PaymentView(
            mode="demo",
            client_secret=client_secret,
            account_id=account_id,
            publishable_key=publishable_key,
            payment_intent_id=payment_intent_id,
            confirm_url=confirm_url,
            # Without JavaScript the card form offers "Continue" here, once paid (not before).
            frame_url=gateway.elements_url(
                payment_intent_id, client_secret, own_origin, urljoin(request.host_url, confirm_url)
            ),
            frame_origin=frame_origin,
        )
    g.widget_csp = widget_csp(
        frame_ancestors, extra_script=STRIPE_SCRIPT_SOURCES, extra_frame=STRIPE_FRAME_SOURCES
    )
    return PaymentView(
        mode="stripe",
        client_secret=client_secret,
        account_id=account_id,
        publishable_key=publishable_key,
        payment_intent_id=payment_intent_id,
        confirm_url=confirm_url,
    )
