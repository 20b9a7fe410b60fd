"""What every dashboard page shares: template filters, and percentages in basis points."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from flask_login import current_user

from peepopay.bookings.lifecycle import LABELS
from peepopay.dashboard import bp
from peepopay.formatting import clock_time, format_money
from peepopay.money import deposit_for
from peepopay.scheduling.models import DepositType, Service

PERCENT_RE = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")


def parse_percent(text: str) -> int:
    """ "12.5" -> 1250 basis points, without floats; ValueError for anything else."""
    cleaned = text.strip().rstrip("%").strip()
    match = PERCENT_RE.fullmatch(cleaned)
    if not match:
        raise ValueError("Enter a percentage like 25 or 12.5.")
    whole, fraction = match.group(1), match.group(2) or ""
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def format_percent(bps: int) -> str:
    """1250 -> "12.5"; 2500 -> "25"."""
    whole, rest = divmod(bps, 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") if rest else str(whole)


@bp.app_template_filter("bps")
def bps_filter(bps: int) -> str:
    """2500 -> "25%"."""
    return format_percent(bps) + "%"


@bp.app_template_filter("clock")
def clock_filter(value: time | datetime) -> str:
    """A wall-clock time as people write it: "8:30 am"."""
    return clock_time(value)


@bp.app_template_filter("booking_status")
def booking_status_filter(status: str) -> str:
    """ "pending_payment" -> "Awaiting deposit": a booking's status as the tradie reads it."""
    return LABELS.get(status, status)  # type: ignore[call-overload]


@bp.app_template_filter("day")
def day_filter(value: date) -> str:
    """ "Mon 24 Nov 2026"."""
    return value.strftime("%a %-d %b %Y")


# Actions whose generic wording would say too little (or too much).
AUDIT_LABELS = {
    "payment.balance_charged": "Balance charged",
    "payment.balance_processing": "Balance charged, the bank is still processing it",
    "payment.balance_needs_customer": "Balance needs the customer: payment link sent",
    "payment.balance_declined": "Balance declined: payment link sent",
    "payment.no_show_fee_charged": "No-show fee charged",
    "payment.no_show_fee_processing": "No-show fee charged, the bank is still processing it",
    "payment.no_show_fee_needs_customer": "No-show fee needs the customer: payment link sent",
    "payment.no_show_fee_declined": "No-show fee declined: payment link sent",
}


@bp.app_template_filter("audit_action")
def audit_action_filter(action: str) -> str:
    """ "booking.payment_failed" -> "Payment failed"."""
    label = AUDIT_LABELS.get(action)
    return label or action.rpartition(".")[2].replace("_", " ").capitalize()


@bp.app_template_filter("actor_label")
def actor_label_filter(actor: str) -> str:
    if actor == f"tradie:{current_user.id}":
        return "you"
    return {"customer": "the customer", "stripe": "Stripe", "system": "PeepoPay"}.get(actor, actor)


@bp.app_template_global()
def deposit_text(service: Service, currency: str) -> str:
    """ "$50.00", or "25% ($50.00)" for a percentage of a known price."""
    try:
        amount = format_money(deposit_for(service), currency)
    except ValueError:
        return bps_filter(service.deposit_value)
    if service.deposit_type == DepositType.PERCENTAGE:
        return f"{bps_filter(service.deposit_value)} ({amount})"
    return amount
