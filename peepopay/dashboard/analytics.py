"""The analytics page: twelve weeks of paid bookings and deposits, and the booking funnel."""

from __future__ import annotations

from flask import Response

from peepopay.analytics import services as figures
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.charts import Chart, bar_chart
from peepopay.extensions import db
from peepopay.formatting import format_money
from peepopay.htmx import render


def weekly_charts(data: figures.Analytics, currency: str) -> list[Chart]:
    """The two twelve-week charts: paid bookings, and deposits in whole units where they are."""
    labels = [week.label for week in data.weeks]

    def money(amount: int) -> str:
        text = format_money(amount, currency)
        return text[:-3] if text.endswith(".00") else text

    return [
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
            f"Deposits collected per week ({currency})",
            "Succeeded deposit payments per week for the last twelve weeks.",
            labels,
            [week.deposits_minor for week in data.weeks],
            money,
            least_top=1000,  # twelve empty weeks read $0 to $10, not $0 to $0.01
        ),
    ]


@bp.get("/analytics")
def analytics() -> Response:
    tradie = signed_in()
    data = figures.analytics(db.session, tradie, utcnow())
    return render(
        "dashboard/analytics.html",
        "dashboard/_analytics.html",
        tradie=tradie,
        data=data,
        charts=weekly_charts(data, tradie.currency),
    )
