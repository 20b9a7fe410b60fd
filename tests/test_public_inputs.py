"""Hostile but well-formed public input answers a clear 4xx naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking
from tests.booking_helpers import CUSTOMER, SLUG, at, booking_body, iso_z, local_day, service_id
from tests.booking_helpers import widget_tradie as make_widget_tradie

pytestmark = pytest.mark.both_databases

API = f"/api/widget/{SLUG}"
BOOK = f"/book/{SLUG}"
HX = {"HX-Request": "true"}
BEYOND_64_BITS = 2**64


@pytest.fixture
def service(app: Any) -> int:
    """A tradie who can take holds (deposits are never started here); their service's id."""
    return service_id(app, make_widget_tradie(app))


def bookings(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(Booking.id))))


def api_errors(response: Any, status: int = 422) -> dict[str, list[str]]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    errors: dict[str, list[str]] = response.get_json()["errors"]
    return errors


# --- dates and instants no horizon reaches -------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "3000-01-01"])
def test_availability_of_a_date_far_outside_any_horizon_names_date(client, service, day):
    response = client.get(f"{API}/availability?date={day}&serviceId={service}")
    assert set(api_errors(response)) == {"date"}


@pytest.mark.parametrize(
    "start", ["9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
)
def test_book_a_start_far_outside_any_horizon_names_start(app, client, service, start):
    body = {**booking_body(service, at(local_day(), 10)), "start": start}
    response = client.post(f"{API}/book", json=body)
    assert set(api_errors(response)) == {"start"}
    assert bookings(app) == 0


@pytest.mark.parametrize(
    "start", ["9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
)
def test_widget_steps_survive_a_start_far_outside_any_horizon(client, service, start):
    data = {"service": service, "start": start, **CUSTOMER}
    for step in ("details", "summary", "hold"):
        response = client.post(f"{BOOK}/{step}", data=data, headers=HX)
        assert response.status_code == 422, step
        assert "Choose a day" in response.get_data(as_text=True)


# --- ids beyond 64 bits --------------------------------------------------------------------


@pytest.mark.parametrize("value", [str(BEYOND_64_BITS), "9" * 40, "-1", "0"])
def test_availability_service_id_beyond_64_bits_names_service_id(client, service, value):
    response = client.get(f"{API}/availability?date={local_day()}&serviceId={value}")
    assert set(api_errors(response)) == {"serviceId"}


@pytest.mark.parametrize("value", [BEYOND_64_BITS, -BEYOND_64_BITS, str(BEYOND_64_BITS), 10**40])
def test_book_service_id_beyond_64_bits_names_service_id(app, client, service, value):
    body = {**booking_body(service, at(local_day(), 10)), "serviceId": value}
    errors = api_errors(client.post(f"{API}/book", json=body))
    assert set(errors) == {"serviceId"}
    assert errors["serviceId"] == ["serviceId must be a positive integer id."]
    assert bookings(app) == 0


def test_widget_service_beyond_64_bits_goes_back_to_the_services(client, service):
    response = client.post(f"{BOOK}/date", data={"service": "9" * 12}, headers=HX)
    assert response.status_code == 422
    assert "Choose a service" in response.get_data(as_text=True)


# --- bodies nested beyond any reason ------------------------------------------------------


@pytest.mark.parametrize("depth", [50_000, 5_000])
def test_book_with_deeply_nested_json_is_400(client, service, depth):
    body = "[" * depth + "]" * depth
    response = client.post(f"{API}/book", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "The body is not valid JSON."


def test_book_with_a_broken_body_is_400_not_valid_json(client, service):
    response = client.post(f"{API}/book", data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "The body is not valid JSON."


# --- NUL bytes (PostgreSQL refuses them) and lone surrogates --------------------------------


@pytest.mark.parametrize("field", ["name", "email", "phone", "address"])
def test_book_nul_in_a_customer_field_names_it(app, client, service, field):
    body = booking_body(service, at(local_day(), 10), **{field: CUSTOMER[field] + "\x00"})
    errors = api_errors(client.post(f"{API}/book", json=body))
    assert set(errors) == {field}
    assert "NUL" in errors[field][0]
    assert bookings(app) == 0


@pytest.mark.parametrize("bad", ["Side\x00gate", "Side \ud800 gate"])
def test_book_bad_characters_in_notes_name_notes(app, client, service, bad):
    body = {**booking_body(service, at(local_day(), 10)), "notes": bad}
    assert set(api_errors(client.post(f"{API}/book", json=body))) == {"notes"}
    assert bookings(app) == 0


def test_book_lone_surrogate_in_the_name_names_name(app, client, service):
    # Only JSON can carry one (as "\ud800"); no database can store it.
    body = booking_body(service, at(local_day(), 10), name="Aroha \ud800")
    assert set(api_errors(client.post(f"{API}/book", json=body))) == {"name"}


@pytest.mark.parametrize("field", ["name", "address", "notes"])
@pytest.mark.parametrize("step", ["summary", "hold"])
def test_widget_nul_in_a_detail_field_names_it(app, client, service, field, step):
    data = {
        "service": service,
        "start": iso_z(at(local_day(), 10)),
        **CUSTOMER,
        field: "Side\x00gate",
    }
    response = client.post(f"{BOOK}/{step}", data=data, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="err-{field}"' in html and f'aria-describedby="err-{field}"' in html
    assert "NUL" in html
    assert bookings(app) == 0


@pytest.mark.parametrize("path", ["/api/widget/ki%00wi/config", "/book/ki%00wi", "/widget/%00"])
def test_nul_in_the_slug_is_404(client, service, path):
    assert client.get(path).status_code == 404


def test_nul_in_the_availability_slug_is_404(client, service):
    url = f"/api/widget/ki%00wi/availability?date={local_day()}&serviceId={service}"
    assert client.get(url).status_code == 404


# --- found by tests/test_fuzz_public.py ----------------------------------------------------


@pytest.mark.parametrize("origin", ["A://[", "https://[::1", "https://[x]:1"])
def test_widget_origin_that_urlsplit_refuses_is_dropped(client, service, origin):
    response = client.post(f"{BOOK}/date", data={"service": service, "origin": origin})
    assert response.status_code == 200
    assert "data-parent-origin" not in response.get_data(as_text=True)
