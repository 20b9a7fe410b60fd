"""Route parameters, query strings and form fields are checked before they reach the database:
an id no column holds or a control character in a path segment is a 404, a NUL in a query
parameter or form field a 400 naming it, and numbers and dates beyond any real one are refused
as input, never a 500 (found by tests/test_fuzz_routes.py on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from peepopay.extensions import db
from peepopay.models import Booking, Service, Tradie
from tests.fixtures.clients import DashboardClient, csrf_token

BEYOND_64_BITS = "9" * 20
BEYOND_32_BITS = str(2**31)


@pytest.fixture
def booking(app: Flask, tradie_id: int, add_booking: Any) -> Booking:
    booking_id = add_booking()
    with app.app_context():
        found = db.session.get(Booking, booking_id)
        assert found is not None
        db.session.expunge(found)
        return found


@pytest.fixture
def slug(app: Flask, tradie_id: int) -> str:
    with app.app_context():
        tradie = db.session.get(Tradie, tradie_id)
        assert tradie is not None
        return str(tradie.slug)


# --- path segments ------------------------------------------------------------------------


@pytest.mark.parametrize("big", [BEYOND_64_BITS, BEYOND_32_BITS])
def test_photo_id_beyond_the_id_columns_is_404(client: FlaskClient, booking: Booking, big: str):
    assert client.get(f"/b/{booking.public_token}/photos/{big}").status_code == 404


@pytest.mark.parametrize("big", [BEYOND_64_BITS, BEYOND_32_BITS])
@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/dashboard/bookings/{id}"),
        ("GET", "/dashboard/customers/{id}"),
        ("GET", "/dashboard/services/{id}/edit"),
        ("POST", "/dashboard/bookings/{id}/cancel"),
        ("POST", "/dashboard/services/{id}/questions/1/move"),
        ("POST", "/dashboard/availability/hours/{id}/delete"),
    ],
)
def test_dashboard_id_beyond_the_id_columns_is_404(
    dash: DashboardClient, booking: Booking, method: str, path: str, big: str
):
    url = path.format(id=big)
    response = dash.get(url) if method == "GET" else dash.post(url)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/b/%00",
        "/b/ki%00wi",
        "/b/%00/receipt",
        "/b/%01/cancel",
        "/pay/%00",
        "/pay/%00/done",
        "/calendar/%00.ics",
        "/calendar/%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F%7F.ics",
        "/static/%00",
    ],
)
def test_control_character_in_a_path_segment_is_404(client: FlaskClient, path: str):
    assert client.get(path).status_code == 404


def test_control_character_in_a_signed_in_path_segment_is_404(dash: DashboardClient):
    assert dash.get("/dashboard/logo/%00").status_code == 404
    assert dash.get("/dashboard/welcome/bus%00iness").status_code == 404


def test_printable_unicode_in_a_path_segment_still_routes(client: FlaskClient, booking: Booking):
    assert client.get("/b/%C3%A9%F0%9F%94%A7").status_code == 404  # routed: no such booking
    assert client.get(f"/b/{booking.public_token}").status_code == 200


# --- query strings and form fields --------------------------------------------------------


def test_nul_in_a_query_parameter_is_400_naming_it(client: FlaskClient, booking: Booking):
    response = client.get(f"/pay/{booking.public_token}/done?session_id=cs_%00")
    assert response.status_code == 400
    assert "session_id must not contain NUL characters." in response.get_data(as_text=True)


def test_nul_in_an_api_query_parameter_is_400_json(client: FlaskClient, slug: str):
    response = client.get(f"/api/widget/{slug}/config?serviceId=1%00")
    assert response.status_code == 400
    assert response.get_json() == {
        "errors": {"serviceId": ["serviceId must not contain NUL characters."]}
    }


def test_nul_in_a_query_parameter_name_is_400(client: FlaskClient, booking: Booking):
    assert client.get(f"/b/{booking.public_token}?%00=1").status_code == 400


def test_nul_in_a_form_field_is_400_naming_it(client: FlaskClient, tradie_id: int):
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        data={"email": "tradie@example.com\x00", "password": "x", "csrf_token": token},
    )
    assert response.status_code == 400
    assert "email must not contain NUL characters." in response.get_data(as_text=True)


def test_nul_in_a_signed_in_query_or_form_is_400(dash: DashboardClient, booking: Booking):
    assert dash.get("/dashboard/customers?q=%00").status_code == 400
    response = dash.post(f"/dashboard/bookings/{booking.id}/edit", {"name": "A\x00"}, htmx=True)
    assert response.status_code == 400
    assert "name must not contain NUL characters." in response.get_data(as_text=True)


# --- numbers and dates beyond any real one ------------------------------------------------


def test_customers_page_beyond_any_offset_is_a_page(dash: DashboardClient, booking: Booking):
    response = dash.get(f"/dashboard/customers?page={BEYOND_64_BITS}")
    assert response.status_code == 200
    assert "Customer 1" in response.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_reschedule_a_date_no_tradie_offers_shows_the_page(
    app: Flask, client: FlaskClient, tradie_id: int, add_booking: Any, day: str
):
    with app.app_context():
        service = db.session.scalar(db.select(Service.id).where(Service.tradie_id == tradie_id))
    booking_id = add_booking(service_id=service)
    with app.app_context():
        token = db.session.get(Booking, booking_id).public_token
    response = client.get(f"/b/{token}/reschedule?date={day}")
    assert response.status_code == 200
    assert "Choose a day" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "start, message",
    [
        ("0001-01-01", "Start must be a date and time"),
        ("0001-01-01T00:00", "Start must be a date and time"),
        ("9999-12-31T23:59+14:00", "Start is too far ahead."),
    ],
)
def test_booking_by_hand_at_the_ends_of_the_calendar_names_start(
    dash: DashboardClient, start: str, message: str
):
    response = dash.post("/dashboard/bookings/new", {"start": start, "name": "Aroha"}, htmx=True)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert dash.get("/dashboard/bookings/new", query_string={"start": start}).status_code == 200


def test_moving_a_booking_to_year_1_names_the_new_time(dash: DashboardClient, booking: Booking):
    response = dash.post(
        f"/dashboard/bookings/{booking.id}/move",
        {"start": "0001-01-01", "was": booking.starts_at.isoformat()},
        htmx=True,
    )
    assert response.status_code == 422
    assert "New time must be a date and time" in response.get_data(as_text=True)


@pytest.mark.parametrize("service", [BEYOND_64_BITS, BEYOND_32_BITS])
def test_editing_a_booking_to_a_service_beyond_the_id_columns_names_service(
    dash: DashboardClient, booking: Booking, service: str
):
    data = {
        "service": service,
        "name": "Aroha Smith",
        "email": "aroha@example.com",
        "phone": "021 123 4567",
        "address": "1 Queen Street, Auckland",
    }
    response = dash.post(f"/dashboard/bookings/{booking.id}/edit", data, htmx=True)
    assert response.status_code == 422
    assert "Service: choose one of your services." in response.get_data(as_text=True)
