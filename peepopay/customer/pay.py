"""The customer's balance payment link (`/pay/<token>`): straight on to Stripe Checkout for
the balance, and back; authorised by the booking's unguessable token."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from peepopay.bookings import payment_outcomes
from peepopay.bookings.models import Booking
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.payments import balance as balances
from peepopay.payments import ledger
from peepopay.payments.gateway import PaymentError
from peepopay.payments.models import PaymentStatus

log = logging.getLogger(__name__)

pay_bp = Blueprint("pay", __name__, url_prefix="/pay")


# --------------------------------------------------------------------------- the payment link


def _booking_by_token(token: str) -> Booking:
    booking = db.session.scalar(sa.select(Booking).where(Booking.public_token == token))
    if booking is None:
        abort(404)
    return booking


@pay_bp.get("/<token>")
def balance(token: str) -> ResponseReturnValue:
    """The link in the customer's email: straight on to a live Checkout page for the balance."""
    booking = _booking_by_token(token)
    book = ledger.ledger(db.session, booking.id)
    payment = book.balance
    tradie = ledger.tradie_of(db.session, booking)
    if payment is None or payment.status != PaymentStatus.AWAITING or not tradie.payments_ready:
        paid = payment is not None and payment.status == PaymentStatus.SUCCEEDED
        return render_template("payments/pay.html", booking=booking, tradie=tradie, paid=paid)
    try:
        url = balances.open_checkout(booking, tradie, payment)
    except PaymentError as error:
        return render_template(
            "payments/pay.html", booking=booking, tradie=tradie, error=error.message
        ), error.status
    return redirect(url, 303)


@pay_bp.get("/<token>/done")
def balance_done(token: str) -> ResponseReturnValue:
    booking = _booking_by_token(token)
    tradie = ledger.tradie_of(db.session, booking)
    paid = False
    checkout_id = request.args.get("session_id", "")
    if checkout_id:
        try:
            paid = payment_outcomes.sync_checkout(db.session, booking, checkout_id, utcnow())
        except PaymentError as error:
            log.warning("could not read checkout session %s: %s", checkout_id, error)
    return render_template(
        "payments/pay.html", booking=booking, tradie=tradie, paid=paid, returned=True
    )
