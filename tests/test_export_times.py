"""Every date and time in every export reads in the tradie's zone: a 9 am Auckland job (the
evening before in UTC) is on its own day in the customers CSV, the bookings CSV and the account
export, never the day before."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from tests.fixtures.clients import DashboardClient

pytestmark = pytest.mark.usefixtures("fast_passwords")
# 9:00 on Wednesday 9 January 2030 in Auckland (NZDT, +13:00) is 20:00 on the 8th in UTC.
NINE_AM_AUCKLAND = datetime(2030, 1, 8, 20, tzinfo=UTC)
ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def morning_job(add_booking: Any, add_payment: Any) -> int:
    booking = add_booking(
        customer_name="Aroha Ngata", starts_at=NINE_AM_AUCKLAND, created_at=NINE_AM_AUCKLAND
    )
    add_payment(booking, created_at=NINE_AM_AUCKLAND, updated_at=NINE_AM_AUCKLAND)
    return booking


def table(dash: DashboardClient, url: str, key: str) -> dict[str, dict[str, str]]:
    response = dash.get(url)
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.get_data(as_text=True)))
    return {row[header.index(key)]: dict(zip(header, row, strict=True)) for row in rows}


def test_customers_csv_last_job_is_the_local_day(dash: DashboardClient, morning_job: int) -> None:
    aroha = table(dash, "/dashboard/customers.csv", "Name")["Aroha Ngata"]
    assert aroha["Last job"] == "2030-01-09"


def test_bookings_csv_times_are_local(dash: DashboardClient, morning_job: int) -> None:
    row = table(dash, "/dashboard/bookings.csv", "Booking")[str(morning_job)]
    assert (row["Starts"], row["Ends"], row["Booked at"]) == (
        "2030-01-09 09:00",
        "2030-01-09 10:00",
        "2030-01-09 09:00",
    )


def _datetimes(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every ISO date-time string in the JSON, with where it is."""
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _datetimes(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [hit for n, item in enumerate(value) for hit in _datetimes(item, f"{where}[{n}]")]
    if isinstance(value, str) and ISO_DATETIME.match(value):
        return [(where, value)]
    return []


def test_account_export_times_are_local(
    app: Flask, dash: DashboardClient, morning_job: int
) -> None:
    data = dash.get("/dashboard/settings/export.json").get_json()
    (booking,) = data["bookings"]
    assert booking["starts_at"] == "2030-01-09T09:00:00+13:00"
    assert booking["ends_at"] == "2030-01-09T10:00:00+13:00"
    assert booking["created_at"] == "2030-01-09T09:00:00+13:00"
    (payment,) = data["payments"]
    assert payment["created_at"] == "2030-01-09T09:00:00+13:00"
    # Every other time too: in Auckland's offset (+12:00 in winter), never UTC's.
    found = _datetimes(data)
    assert len(found) > 6
    assert [
        (where, value) for where, value in found if not value.endswith(("+13:00", "+12:00"))
    ] == []
