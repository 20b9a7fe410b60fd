"""What customers read: field labels in error summaries, phone numbers as people write them,
arrival windows as promised, no-show fees named as such, and step counts only on steps."""

from __future__ import annotations

import pytest

from tests.booking_helpers import SLUG, at, iso_z, local_day, service_id, widget_tradie
from tests.payments_support import app_config  # noqa: F401  (points the app at the emulator)
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
