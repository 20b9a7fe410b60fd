"""What a new tradie walking through the dashboard reads: money as money, every field's error
at once, statuses and times in words, live bookings only where upcoming work is listed."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.fixtures.clients import DashboardClient


def test_an_over_refund_names_what_is_left_in_money(
    app: Flask,
    dash: DashboardClient,
    add_booking: Callable[..., int],
    add_payment: Callable[..., int],
) -> None:
    booking_id = add_booking()
    add_payment(booking_id)  # a 50.00 deposit, nothing refunded yet
    over = dash.post(
        f"/dashboard/bookings/{booking_id}/refund",
        {"refund_amount": "60.00", "refund_reason": "Too much"},
    )
    assert over.status_code == 422
    page = over.get_data(as_text=True)
    assert "more than can be refunded" in page
    assert "$50.00" in page and "5000" not in page and "minor units" not in page
