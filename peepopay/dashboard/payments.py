"""Payments in the dashboard: connecting Stripe and the money view (/dashboard/payments), and
a booking's payments panel with its balance and refund actions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import click
import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from wtforms import Field

from peepopay.accounts import first_run as setup
from peepopay.accounts.models import Tradie
from peepopay.bookings import payment_outcomes
from peepopay.bookings.models import Booking, Status
from peepopay.clock import utcnow
from peepopay.dashboard import signed_in
from peepopay.dashboard.forms import BalanceForm, ConnectForm, MoneyForm, RefundForm
from peepopay.extensions import db
from peepopay.formatting import plain_amount
from peepopay.htmx import after_change, render
from peepopay.payments import gateway, ledger, onboarding, refunds, reports
from peepopay.payments import payouts as payouts_module
from peepopay.payments.gateway import PaymentError
from peepopay.payments.models import Dispute, Payment, PaymentKind, PaymentStatus
from peepopay.security import DASHBOARD_CSP

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__, url_prefix="/dashboard")


@bp.before_request
@login_required
def require_login() -> None:
    """Every payments page needs a signed-in tradie."""


# --------------------------------------------------------------------------- onboarding


@bp.get("/payments")
def dashboard() -> Response:
    tradie = signed_in()
    response = render(
        "payments/dashboard.html",
        "payments/_dashboard.html",
        tradie=tradie,
        months=reports.monthly_totals(db.session, tradie),
        recent=reports.recent_payments(db.session, tradie.id),
        form=ConnectForm(),
        fee_percent=reports.fee_percent(),
        stripe_dashboard_url=gateway.STRIPE_DASHBOARD_URL,
    )
    return _allow_onboarding(response)


@bp.get("/payouts")
def payouts() -> Response:
    try:
        shown, problem = payouts_module.payouts_for(db.session, current_user), None
    except PaymentError as error:
        shown, problem = [], error.message
    return render(
        "payments/payouts.html",
        "payments/_payouts.html",
        200 if problem is None else 503,
        tradie=signed_in(),
        payouts=shown,
        problem=problem,
    )


@bp.get("/payments/stripe-dashboard")
def stripe_dashboard() -> ResponseReturnValue:
    """The tradie's own Stripe dashboard: a fresh login link (Express) or Stripe's sign-in."""
    if not current_user.stripe_account_id:
        return redirect(url_for(".dashboard"), 303)
    try:
        return redirect(gateway.dashboard_link(current_user.stripe_account_id), 303)
    except PaymentError:
        flash("Stripe is not answering right now. Please try again in a minute.", "error")
        return redirect(url_for(".payouts"), 303)


def _allow_onboarding(response: Response) -> Response:
    """The page's "Connect Stripe" form is redirected on to Stripe's onboarding, which its
    form-action must allow (browsers check redirects of a form submission too)."""
    response.headers["Content-Security-Policy"] = DASHBOARD_CSP.replace(
        "form-action 'self'", f"form-action 'self' {gateway.onboarding_origin()}"
    )
    return response


@bp.post("/payments/connect")
def connect() -> ResponseReturnValue:
    if not ConnectForm().validate_on_submit():
        abort(400)
    return connect_redirect()


@bp.get("/payments/return")
def onboarding_return() -> ResponseReturnValue:
    """Where Stripe sends the tradie after onboarding: read the account's state now."""
    try:
        onboarding.refresh_account(db.session, current_user, utcnow())
    except PaymentError as error:
        flash(error.message, "error")
        return redirect(url_for(".dashboard"), 303)
    if current_user.charges_enabled:
        flash("Stripe is connected. Your booking page now takes card deposits.", "success")
    elif current_user.stripe_account_id:
        flash("Stripe still needs a few details before you can take deposits.", "info")
    # Back to the first-run checklist while it has steps left, else to the money page.
    unfinished = any(not step.done for step in setup.steps(db.session, current_user))
    return redirect(url_for("dashboard.first_run" if unfinished else ".dashboard"), 303)


@bp.get("/payments/refresh")
def onboarding_refresh() -> ResponseReturnValue:
    """Stripe's refresh_url: the onboarding link expired or was used, so mint a new one."""
    if current_user.stripe_account_id is None:
        return redirect(url_for(".dashboard"), 303)
    return connect_redirect()


def connect_redirect() -> ResponseReturnValue:
    """On to a fresh Stripe onboarding link, or back to the money page saying why not."""
    try:
        link = onboarding.onboarding_link(db.session, current_user, utcnow())
    except PaymentError as error:
        flash(error.message, "error")
        return redirect(url_for(".dashboard"), 303)
    return redirect(link, 303)


@bp.post("/payments/status")
def refresh_status() -> ResponseReturnValue:
    if not ConnectForm().validate_on_submit():
        abort(400)
    try:
        onboarding.refresh_account(db.session, current_user, utcnow())
    except PaymentError as error:
        flash(error.message, "error")
    return redirect(url_for(".dashboard"), 303)


# --------------------------------------------------------------------------- booking actions


@dataclass
class Panel:
    """What the booking page's payment section shows and the forms it offers."""

    booking: Booking
    ledger: ledger.Ledger
    balance_form: BalanceForm
    refund_form: RefundForm
    message: str | None = None
    message_class: str = "flash-success"
    error: str | None = None

    @property
    def can_charge_balance(self) -> bool:
        chargeable = self.booking.status in (Status.CONFIRMED, Status.COMPLETED)
        return chargeable and not self.ledger.balance_started and bool(current_user.payments_ready)

    @property
    def awaiting_balance(self) -> Payment | None:
        balance = self.ledger.balance
        return balance if balance is not None and balance.status == PaymentStatus.AWAITING else None


def panel_for(booking: Booking, **overrides: Any) -> Panel:
    balance_form = overrides.pop("balance_form", None) or BalanceForm(formdata=None)
    if balance_form.final_amount.data is None and booking.price_minor is not None:
        balance_form.final_amount.data = plain_amount(booking.price_minor, booking.currency)
    return Panel(
        booking=booking,
        ledger=ledger.ledger(db.session, booking.id),
        balance_form=balance_form,
        refund_form=overrides.pop("refund_form", None) or RefundForm(formdata=None),
        **overrides,
    )


@bp.app_context_processor
def payment_helpers() -> dict[str, Any]:
    def booking_payments(booking: Booking) -> Panel:
        return panel_for(booking)

    def dispute_url(dispute: Dispute) -> str:
        return gateway.dispute_dashboard_url(
            current_user.stripe_account_id or "", dispute.stripe_dispute_id
        )

    return {
        "booking_payments": booking_payments,
        "dispute_url": dispute_url,
        "booking_page": _booking_page,
        "demo_payments": gateway.demo_mode,
        "payment_kinds": PaymentKind,
    }


def _own_booking(booking_id: int) -> Booking:
    booking = db.session.scalar(
        sa.select(Booking).where(Booking.id == booking_id, Booking.tradie_id == current_user.id)
    )
    if booking is None:
        abort(404)
    return booking


def _panel_response(panel: Panel, status: int = 200) -> Response:
    return render(
        "payments/booking.html",
        "dashboard/_booking_payment_actions.html",
        status,
        booking=panel.booking,
        payments_panel=panel,
    )


def _done(booking: Booking, message: str, category: str = "success") -> ResponseReturnValue:
    def panel() -> Response:
        db.session.flush()
        return _panel_response(
            panel_for(booking, message=message, message_class=f"flash-{category}")
        )

    return after_change(_booking_page(booking), panel, message, category)


def _refused(
    booking: Booking,
    error: ledger.PaymentProblem | PaymentError | None = None,
    field: Field | None = None,
    **forms: MoneyForm,
) -> Response:
    """The panel again with nothing kept: a refused amount on its `field`, Stripe's failure
    above the forms with its status, a form that did not validate with 422."""
    db.session.rollback()
    if isinstance(error, PaymentError):
        return _panel_response(panel_for(booking, error=error.message, **forms), error.status)
    if error is not None and field is not None:
        field.errors.append(error.message)
    return _panel_response(panel_for(booking, **forms), 422)


def _booking_page(booking: Booking) -> str:
    return url_for("dashboard.booking_detail", booking_id=booking.id)


@bp.get("/bookings/<int:booking_id>/payments")
def booking(booking_id: int) -> Response:
    return _panel_response(panel_for(_own_booking(booking_id)))


@bp.post("/bookings/<int:booking_id>/balance")
def charge_balance(booking_id: int) -> ResponseReturnValue:
    booking = _own_booking(booking_id)
    form = BalanceForm()
    amount = form.minor("final_amount", booking.currency) if form.validate_on_submit() else None
    if amount is None:
        return _refused(booking, balance_form=form)
    try:
        payment = payment_outcomes.charge_balance(
            db.session, booking, current_user, amount, utcnow()
        )
    except (ledger.PaymentProblem, PaymentError) as error:
        return _refused(booking, error, form.final_amount, balance_form=form)
    awaiting = payment is not None and payment.status == PaymentStatus.AWAITING
    return _done(booking, _balance_message(payment), "info" if awaiting else "success")


def _balance_message(payment: Payment | None) -> str:
    if payment is None:
        return "Nothing more to pay: the job is complete."
    if payment.status == PaymentStatus.SUCCEEDED:
        return "The balance was charged to the saved card."
    if payment.status == PaymentStatus.AWAITING:
        return (
            "The saved card could not be charged; we sent the customer a payment link "
            "by email and SMS."
        )
    return "The balance payment is processing."


@bp.post("/bookings/<int:booking_id>/refund")
def refund(booking_id: int) -> ResponseReturnValue:
    booking = _own_booking(booking_id)
    form = RefundForm()
    amount = form.minor("refund_amount", booking.currency) if form.validate_on_submit() else None
    if amount is None:
        return _refused(booking, refund_form=form)
    try:
        refunds.refund(
            db.session, booking, current_user, amount, form.refund_reason.data or "", utcnow()
        )
    except (ledger.PaymentProblem, PaymentError) as error:
        return _refused(booking, error, form.refund_amount, refund_form=form)
    return _done(booking, "Refund sent. The customer will get an email.")


# --------------------------------------------------------------------------- command line


@bp.cli.command("demo-connect")
@click.option("--slug", default="demo-plumbing", show_default=True)
def demo_connect(slug: str) -> None:
    """Demo mode: connect the tradie to the Stripe emulator and finish onboarding."""
    if not gateway.demo_mode():
        click.echo("Real Stripe is configured; tradies connect from their dashboard.")
        return
    tradie = db.session.scalar(sa.select(Tradie).where(Tradie.slug == slug))
    if tradie is None:
        click.echo(f"No tradie with slug {slug!r}; nothing to connect.")
        return
    account = onboarding.connect_demo(db.session, tradie, utcnow())
    db.session.commit()
    click.echo(f"{tradie.business_name} takes demo deposits on emulator account {account}.")
