"""The public widget API: the DESIGN.md contract, checked against docs/openapi.yaml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from jsonschema import Draft202012Validator

from peepopay.config import ROOT
from peepopay.extensions import db
from peepopay.models import Booking, DepositType, Service, Status
from tests.booking_helpers import SLUG, ZONE, add_service, at, booking_body, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
BASE = f"/api/widget/{SLUG}"


def schema_for(path: str, method: str, status: int) -> dict[str, Any]:
    response = SPEC["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = SPEC["components"]["responses"][name]
    return response["content"]["application/json"]["schema"]


def conforms(response: Any, path: str, method: str = "get") -> Any:
    """Validate a real response body against the OpenAPI description; return the JSON."""
    schema = schema_for(path, method, response.status_code)
    validator = Draft202012Validator(
        {**schema, "components": SPEC["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    body = response.get_json()
    validator.validate(body)
    return body


def assert_public(response: Any) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers


@pytest.fixture
def kiwi(app, stripe_live):
    """A tradie whose Stripe account (in the emulator) can take deposits."""
    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, service_id(app, tradie_id)


def test_spec_is_valid_openapi_31_schemas():
    assert SPEC["openapi"].startswith("3.1")
    for name, schema in SPEC["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert name[0].isupper()
    assert set(SPEC["paths"]) == {
        "/api/widget/{slug}/config",
        "/api/widget/{slug}/availability",
        "/api/widget/{slug}/book",
    }


def test_config(app, client, kiwi):
    tradie_id, service = kiwi
    percent = add_service(
        app,
        tradie_id,
        name="Cylinder check",
        price_minor=24000,
        deposit_type=DepositType.PERCENTAGE,
        deposit_value=2500,
        sort_order=-1,
    )
    add_service(app, tradie_id, name="Old", archived=True)
    add_service(app, tradie_id, name="Quote", price_minor=None, deposit_value=8000, sort_order=5)
    response = client.get(f"{BASE}/config", headers={"Origin": "https://plumber.example"})
    assert response.status_code == 200
    assert_public(response)
    body = conforms(response, "/api/widget/{slug}/config")
    assert body["businessName"] == "Kiwi Plumbing"
    assert (body["brandColor"], body["currency"], body["timezone"]) == (
        "#1d4ed8",
        "NZD",
        "Pacific/Auckland",
    )
    assert [s["name"] for s in body["services"]] == ["Cylinder check", "Leak repair", "Quote"]
    first, second, third = body["services"]
    assert first == {
        "id": percent,
        "name": "Cylinder check",
        "description": "",
        "durationMinutes": 60,
        "price": 24000,
        "depositType": "percentage",
        "depositAmount": 6000,
        "bookBy": "start",
        "questions": [],
    }
    assert body["serviceArea"] is None
    assert (second["id"], second["depositAmount"], second["depositType"]) == (
        service,
        5000,
        "fixed",
    )
    assert (third["price"], third["depositAmount"]) == (None, 8000)


def test_unknown_slug_is_a_json_404_with_cors(client, kiwi):
    response = client.get("/api/widget/nobody/config")
    assert response.status_code == 404
    assert_public(response)
    conforms(response, "/api/widget/{slug}/config")


def test_preflight_allows_any_origin_without_credentials(client, kiwi):
    response = client.options(
        f"{BASE}/book",
        headers={
            "Origin": "https://plumber.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert_public(response)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_availability(app, client, kiwi):
    _, service = kiwi
    day = local_day()
    first = client.post(f"{BASE}/book", json=booking_body(service, at(day, 10)))
    assert first.status_code == 201
    response = client.get(f"{BASE}/availability?date={day}&serviceId={service}")
    assert response.status_code == 200
    assert_public(response)
    body = conforms(response, "/api/widget/{slug}/availability")
    assert (body["date"], body["timezone"]) == (day.isoformat(), "Pacific/Auckland")
    times = {slot["time"]: slot for slot in body["slots"]}
    # 08:00 to 16:00 every half hour for a 60-minute job that must end by 17:00.
    assert (min(times), max(times), len(times)) == ("08:00", "16:00", 17)
    assert times["10:00"]["start"] == at(day, 10).astimezone(ZONE).isoformat()
    assert datetime.fromisoformat(times["10:00"]["start"]) == at(day, 10)
    taken = {t for t, slot in times.items() if not slot["available"]}
    # The 10:00 job plus 30 minutes of buffer each side rules out starts from 09:00 to 11:00.
    assert taken == {"09:00", "09:30", "10:00", "10:30", "11:00"}


def test_availability_beyond_the_horizon_is_empty(client, kiwi):
    _, service = kiwi
    day = local_day(90)
    response = client.get(f"{BASE}/availability?date={day}&serviceId={service}")
    assert conforms(response, "/api/widget/{slug}/availability")["slots"] == []


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"date", "serviceId"}),
        ("date=2026-02-30&serviceId={service}", {"date"}),
        ("date={day}&serviceId=999999", {"serviceId"}),
        ("date={day}&serviceId=abc", {"serviceId"}),
    ],
)
def test_availability_validation(client, kiwi, query, fields):
    _, service = kiwi
    url = f"{BASE}/availability?" + query.format(service=service, day=local_day())
    response = client.get(url)
    assert response.status_code == 422
    assert_public(response)
    assert set(conforms(response, "/api/widget/{slug}/availability")["errors"]) == fields


def test_book_holds_the_slot(app, client, kiwi):
    _, service = kiwi
    day = local_day()
    body = booking_body(service, at(day, 10))
    body["notes"] = "Side gate"
    body["depositAmount"] = 1  # a client-sent amount is ignored
    before = datetime.now(UTC)
    response = client.post(f"{BASE}/book", json=body, headers={"Origin": "https://x.example"})
    assert response.status_code == 201, response.get_json()
    assert_public(response)
    data = conforms(response, "/api/widget/{slug}/book", "post")
    assert (data["status"], data["depositAmount"], data["currency"]) == (
        "pending_payment",
        5000,
        "NZD",
    )
    assert data["publishableKey"] == app.config["STRIPE_PUBLISHABLE_KEY"]
    assert data["stripeClientSecret"].startswith("pi_")
    assert data["stripeAccountId"].startswith("acct_")
    expires = datetime.fromisoformat(data["holdExpiresAt"])
    assert before + timedelta(minutes=14) < expires <= datetime.now(UTC) + timedelta(minutes=15)
    with app.app_context():
        booking = db.session.get(Booking, data["bookingId"])
        assert booking.status == Status.PENDING_PAYMENT
        assert booking.starts_at == at(day, 10)
        assert booking.customer_phone == "+64211234567"
        assert (booking.notes, booking.deposit_minor) == ("Side gate", 5000)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"customer": {"email": "nope"}}, {"email"}),
        ({"customer": {"phone": "123"}}, {"phone"}),
        ({"customer": {"name": "", "address": " "}}, {"name", "address"}),
        ({"serviceId": 424242}, {"serviceId"}),
        ({"start": "tomorrow at ten"}, {"start"}),
        ({"start": "2030-01-01T10:00:00"}, {"start"}),
        ({"start": None}, {"start"}),
    ],
)
def test_book_field_errors(app, client, kiwi, change, fields):
    _, service = kiwi
    body = booking_body(service, at(local_day(), 10))
    for key, value in change.items():
        if key == "customer":
            body["customer"].update(value)
        else:
            body[key] = value
    response = client.post(f"{BASE}/book", json=body)
    assert response.status_code == 422
    assert_public(response)
    errors = conforms(response, "/api/widget/{slug}/book", "post")["errors"]
    assert set(errors) == fields
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_book_a_time_not_offered(client, kiwi):
    _, service = kiwi
    response = client.post(f"{BASE}/book", json=booking_body(service, at(local_day(), 3)))
    assert response.status_code == 422
    assert "start" in conforms(response, "/api/widget/{slug}/book", "post")["errors"]


def test_book_archived_service(app, client, kiwi):
    _, service = kiwi
    with app.app_context():
        db.session.get(Service, service).archived = True
        db.session.commit()
    response = client.post(f"{BASE}/book", json=booking_body(service, at(local_day(), 10)))
    assert response.status_code == 422
    assert "serviceId" in response.get_json()["errors"]


def test_book_rejects_a_body_that_is_not_json(client, kiwi):
    response = client.post(f"{BASE}/book", data="serviceId=1", content_type="text/plain")
    assert response.status_code == 400
    assert_public(response)
    conforms(response, "/api/widget/{slug}/book", "post")


def test_book_taken_slot_is_409_with_next_free_slots(client, kiwi):
    _, service = kiwi
    day = local_day()
    assert client.post(f"{BASE}/book", json=booking_body(service, at(day, 10))).status_code == 201
    response = client.post(
        f"{BASE}/book",
        json=booking_body(service, at(day, 10), email="late@example.com", phone="021 555 0199"),
    )
    assert response.status_code == 409
    assert_public(response)
    body = conforms(response, "/api/widget/{slug}/book", "post")
    assert "taken" in body["error"]["message"]
    assert [s["time"] for s in body["nextFreeSlots"]] == ["11:30", "12:00", "12:30"]
    assert all(s["available"] for s in body["nextFreeSlots"])


def test_expired_hold_frees_the_slot_at_once(app, client, kiwi):
    _, service = kiwi
    day = local_day()
    first = client.post(f"{BASE}/book", json=booking_body(service, at(day, 10))).get_json()
    with app.app_context():
        booking = db.session.get(Booking, first["bookingId"])
        booking.hold_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    slots = client.get(f"{BASE}/availability?date={day}&serviceId={service}").get_json()["slots"]
    assert next(s for s in slots if s["time"] == "10:00")["available"] is True
    again = client.post(f"{BASE}/book", json=booking_body(service, at(day, 10), name="Second"))
    assert again.status_code == 201
    with app.app_context():
        assert db.session.get(Booking, first["bookingId"]).status == Status.EXPIRED


@pytest.fixture
def tight_limits(app_config):  # noqa: F811
    app_config["WIDGET_AVAILABILITY_LIMIT"] = "3 per minute"
    app_config["WIDGET_BOOKING_LIMIT"] = "2 per minute"
    return app_config


def test_rate_limits_answer_429_json(tight_limits, client, kiwi):
    _, service = kiwi
    url = f"{BASE}/availability?date={local_day()}&serviceId={service}"
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get(url)
    assert limited.status_code == 429
    assert_public(limited)
    assert int(limited.headers["Retry-After"]) > 0
    conforms(limited, "/api/widget/{slug}/availability")
    # The config endpoint is not limited, and preflights are never counted.
    assert client.get(f"{BASE}/config").status_code == 200
    for _ in range(3):
        assert client.options(f"{BASE}/book").status_code == 200
    bodies = [
        booking_body(service, at(local_day(), 10), email=f"c{i}@example.com", phone=f"021 55501{i}")
        for i in range(3)
    ]
    statuses = [client.post(f"{BASE}/book", json=body).status_code for body in bodies]
    assert statuses == [201, 409, 429]


def test_rate_limit_is_per_client_ip(tight_limits, client, kiwi):
    _, service = kiwi
    url = f"{BASE}/availability?date={local_day()}&serviceId={service}"
    for _ in range(3):
        client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 429
    assert client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
