"""What customers read: field labels in error summaries, phone numbers as people write them,
arrival windows as promised, no-show fees named as such, and step counts only on steps."""

from __future__ import annotations

import icalendar
import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking, Tradie
from tests.booking_helpers import SLUG, at, iso_z, local_day, service_id, widget_tradie
from tests.notify_support import make_booking
from tests.payments_support import app_config  # noqa: F401  (points the app at the emulator)
from tests.test_intake_api import set_area
from tests.test_receipts import pdf_text
from tests.test_widget import HX, details, page

BOOK = f"/book/{SLUG}"


@pytest.fixture
def kiwi(app):
    tradie_id = widget_tradie(app)
    return tradie_id, service_id(app, tradie_id)


# --- error summaries name fields by their labels ------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_details_error_summary_names_fields_by_their_labels(client, kiwi, htmx):
    data = {
        "service": kiwi[1],
        "start": iso_z(at(local_day(), 10)),
        **details(phone="12", address="", email="aroha@"),
    }
    response = client.post(f"{BOOK}/summary", data=data, headers=HX if htmx else {})
    assert response.status_code == 422
    html = page(response)
    assert "Please fix these 3 fields: Email, Phone number, Job address." in html
    assert '<label for="phone">Phone number</label>' in html


def test_the_api_keeps_naming_fields_by_key(client, kiwi):
    body = {
        "serviceId": kiwi[1],
        "start": iso_z(at(local_day(), 10)),
        "customer": {**details(phone="12")},
    }
    response = client.post(f"/api/widget/{SLUG}/book", json=body)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["phone"]


# --- phone numbers as people in the tradie's country write them ---------------------------

NATIONAL = "021 555 0101"


def set_phone(app, tradie_id: int, phone: str = "+64215550101") -> None:
    with app.app_context():
        db.session.execute(sa.update(Tradie).where(Tradie.id == tradie_id).values(phone=phone))
        db.session.commit()


def token_of(app, booking_id: int) -> str:
    with app.app_context():
        return db.session.get(Booking, booking_id).public_token


def test_out_of_area_message_shows_the_phone_in_national_format(app, client, kiwi):
    set_phone(app, kiwi[0])
    set_area(app, kiwi[0], "1010-1072")
    html = page(client.get(f"{BOOK}/area?postcode=2000", headers=HX))
    assert "We don't cover 2000 yet" in html
    assert f">{NATIONAL}</a>" in html and 'href="tel:+64215550101"' in html
    body = {"serviceId": kiwi[1], "start": iso_z(at(local_day(), 10)), "postcode": "2000"}
    response = client.post(f"/api/widget/{SLUG}/book", json={**body, "customer": details()})
    assert response.status_code == 422
    assert f"Get in touch on {NATIONAL}" in response.get_json()["errors"]["postcode"][0]


def test_receipt_and_ics_show_the_tradies_phone_in_national_format(app, client, tradie_id):
    set_phone(app, tradie_id)
    booking_id = make_booking(app, tradie_id, starts_at=at(local_day(5), 10))
    token = token_of(app, booking_id)
    receipt = client.get(f"/b/{token}/receipt").get_data(as_text=True)
    assert NATIONAL in receipt and "+6421" not in receipt
    text = pdf_text(client.get(f"/b/{token}/receipt.pdf").data)
    assert NATIONAL in text and "+6421" not in text
    [event] = icalendar.Calendar.from_ical(client.get(f"/b/{token}/booking.ics").data).walk(
        "VEVENT"
    )
    assert f"Phone: {NATIONAL}" in str(event["DESCRIPTION"])


def test_settings_show_the_contact_phone_in_national_format(app, dash, tradie_id):
    set_phone(app, tradie_id)
    html = dash.get("/dashboard/settings").get_data(as_text=True)
    assert f'value="{NATIONAL}"' in html and "+64215550101" not in html


def test_customer_picker_shows_phones_in_national_format(app, dash, tradie_id, add_booking):
    add_booking(customer_name="Hemi Walker", customer_phone="+64211112222")
    page_html = dash.get("/dashboard/bookings/new").get_data(as_text=True)
    assert "Hemi Walker · 021 111 2222" in page_html and "+64211112222" not in page_html
    with dash.client.application.app_context():
        customer_id = db.session.scalar(sa.select(Booking.customer_id))
    filled = dash.get(f"/dashboard/bookings/new?customer_id={customer_id}", htmx=True)
    assert 'value="021 111 2222"' in filled.get_data(as_text=True)
