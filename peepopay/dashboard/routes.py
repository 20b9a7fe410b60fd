"""Overview and analytics pages, and helpers the other dashboard routes share."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask import Response, current_app, url_for
from flask_login import current_user
from markupsafe import escape

from peepopay.analytics import overview as overview_figures
from peepopay.analytics import services as analytics_figures
from peepopay.clock import utcnow
from peepopay.dashboard import bp
from peepopay.dashboard.charts import bar_chart
from peepopay.dashboard.common import format_percent
from peepopay.extensions import db
from peepopay.formatting import format_money
from peepopay.htmx import render
from peepopay.money import deposit_for
from peepopay.scheduling.models import DepositType, Service


@bp.app_template_filter("bps")
def bps_filter(bps: int) -> str:
    """2500 -> "25%"."""
    return format_percent(bps) + "%"


@bp.app_template_filter("clock")
def clock_filter(value: time | datetime) -> str:
    """A wall-clock time as people write it: "8:30 am"."""
    return value.strftime("%-I:%M %p").replace("AM", "am").replace("PM", "pm")


@bp.app_template_filter("day")
def day_filter(value: date) -> str:
    """ "Mon 24 Nov 2026"."""
    return value.strftime("%a %-d %b %Y")


@bp.app_template_filter("audit_action")
def audit_action_filter(action: str) -> str:
    """ "booking.payment_failed" -> "Payment failed"."""
    return action.rpartition(".")[2].replace("_", " ").capitalize()


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


def path_for(rule_text: str, fallback: str, **values: Any) -> str:
    """The path of another area's route when installed, else its public-contract path."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == rule_text:
            return url_for(rule.endpoint, **values)
    return fallback


def widget_installed() -> bool:
    return any(rule.rule == "/book/<slug>" for rule in current_app.url_map.iter_rules())


def embed_codes(slug: str, business_name: str) -> dict[str, str]:
    """The two snippets a tradie pastes into their site."""
    base = current_app.config["BASE_URL"].rstrip("/")
    page = base + path_for("/book/<slug>", f"/book/{slug}", slug=slug)
    loader = base + path_for("/embed.js", "/embed.js")
    title = escape(f"Book with {business_name}")
    return {
        "iframe": (
            f'<iframe src="{page}" title="{title}" loading="lazy" '
            'style="width:100%;min-height:680px;border:0"></iframe>'
        ),
        "script": f'<script src="{loader}" data-tradie="{slug}" async></script>',
        "page": page,
    }


def connect_url() -> str | None:
    """Where to connect Stripe, once the payments area provides the page."""
    if "payments.dashboard" in current_app.view_functions:
        return url_for("payments.dashboard")
    return None


@bp.get("")
def overview() -> Response:
    tradie = current_user
    return render(
        "dashboard/overview.html",
        "dashboard/_overview.html",
        tradie=tradie,
        data=overview_figures.overview(db.session, tradie, utcnow()),
        embed=embed_codes(tradie.slug, tradie.business_name),
        preview_src=(
            path_for("/book/<slug>", "", slug=tradie.slug) if widget_installed() else None
        ),
        connect_url=connect_url(),
    )


@bp.get("/analytics")
def analytics() -> Response:
    tradie = current_user
    data = analytics_figures.analytics(db.session, tradie, utcnow())
    labels = [week.label for week in data.weeks]

    def money(amount: int) -> str:
        text = format_money(amount, tradie.currency)
        return text[:-3] if text.endswith(".00") else text

    charts = [
        bar_chart(
            "chart-bookings",
            "Paid bookings per week",
            "Bookings whose deposit was paid, by the week the customer booked, "
            "for the last twelve weeks.",
            labels,
            [week.bookings for week in data.weeks],
            str,
        ),
        bar_chart(
            "chart-deposits",
            f"Deposits collected per week ({tradie.currency})",
            "Succeeded deposit payments per week for the last twelve weeks.",
            labels,
            [week.deposits_minor for week in data.weeks],
            money,
        ),
    ]
    return render(
        "dashboard/analytics.html",
        "dashboard/_analytics.html",
        tradie=tradie,
        data=data,
        charts=charts,
    )
