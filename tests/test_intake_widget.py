"""Job intake in the widget: the postcode first when the tradie serves an area, the service's
questions in the details step, both stored with the booking."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking
from tests.booking_helpers import SLUG, at, iso_z, local_day, service_id, widget_tradie
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)
from tests.test_intake_api import add_questions, set_area
from tests.test_widget import HX, details, is_full_page, page

BOOK = f"/book/{SLUG}"


@pytest.fixture
def kiwi(app):
    tradie_id = widget_tradie(app)
    return tradie_id, service_id(app, tradie_id)


@pytest.fixture
def paying(app, stripe_live):
    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, service_id(app, tradie_id)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_postcode_comes_first_when_an_area_is_set(app, client, kiwi, htmx):
    set_area(app, kiwi[0], "1010-1072")
    headers = HX if htmx else {}
    html = page(client.get(BOOK, headers=headers))
    assert is_full_page(html) is not htmx
    assert "Where is the job?" in html and 'name="postcode"' in html
    assert 'name="service"' not in html
    inside = page(client.get(f"{BOOK}/area?postcode=1024", headers=headers))
    assert "Choose a service" in inside
    assert '<input type="hidden" name="postcode" value="1024">' in inside
    outside = client.get(f"{BOOK}/area?postcode=2000", headers=headers)
    assert outside.status_code == 200
    html = page(outside)
    assert "We don't cover 2000 yet" in html
    assert 'href="tel:+6495550000"' in html and 'href="mailto:jobs@kiwi.example"' in html
    assert 'name="service"' not in html
    wrong = client.get(f"{BOOK}/area?postcode=abc", headers=headers)
    assert wrong.status_code == 422
    assert 'aria-invalid="true"' in page(wrong) and "like 1010" in page(wrong)


def test_open_area_starts_with_the_services(client, kiwi):
    html = page(client.get(BOOK))
    assert "Choose a service" in html and 'name="postcode"' not in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_details_step_asks_the_questions_accessibly(app, client, kiwi, htmx):
    ids = add_questions(app, kiwi[1])
    data = {"service": kiwi[1], "start": iso_z(at(local_day(), 10))}
    html = page(client.get(f"{BOOK}/details", query_string=data, headers=HX if htmx else {}))
    assert f'<label for="q{ids["short_text"]}">Where is the leak?</label>' in html
    assert f'<textarea id="q{ids["long_text"]}"' in html and "Anything else? (optional)" in html
    assert "<legend>Is the water off?</legend>" in html
    assert f'type="radio" name="q{ids["choice"]}" value="Upstairs" required' in html
    assert f'id="q{ids["number"]}" name="q{ids["number"]}" value="" inputmode="decimal"' in html


def test_wrong_answers_are_named_and_kept(app, client, kiwi):
    ids = add_questions(app, kiwi[1])
    data = {
        "service": kiwi[1],
        "start": iso_z(at(local_day(), 10)),
        **details(),
        f"q{ids['short_text']}": "Kitchen",
        f"q{ids['choice']}": "Roof",
        f"q{ids['number']}": "lots",
    }
    response = client.post(f"{BOOK}/summary", data=data, headers=HX)
    assert response.status_code == 422
    html = page(response)
    assert "Please fix these 3 fields: Is the water off?, Which floor?, How many taps?" in html
    assert "“Is the water off?” is required." in html
    assert "“How many taps?” must be a number." in html
    assert f'aria-describedby="err-q{ids["number"]}"' in html
    assert 'value="Kitchen"' in html and 'value="lots"' in html


def test_answers_and_postcode_reach_the_booking(app, client, paying):
    tradie_id, service = paying
    set_area(app, tradie_id, "1010-1072")
    ids = add_questions(app, service)
    data = {
        "service": service,
        "start": iso_z(at(local_day(), 10)),
        "postcode": "1024",
        **details(),
        f"q{ids['short_text']}": "Kitchen",
        f"q{ids['yes_no']}": "Yes",
        f"q{ids['choice']}": "Ground",
    }
    review = page(client.post(f"{BOOK}/summary", data=data, headers=HX))
    assert "Review your booking" in review
    assert '<dt>Which floor?</dt><dd class="pp-pre">Ground</dd>' in review
    assert f'<input type="hidden" name="q{ids["yes_no"]}" value="Yes">' in review
    response = client.post(f"{BOOK}/hold", data=data)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "1024" not in location and "Kitchen" not in location
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.postcode == "1024"
        assert [(a.question, a.answer) for a in booking.answers] == [
            ("Where is the leak?", "Kitchen"),
            ("Is the water off?", "Yes"),
            ("Which floor?", "Ground"),
        ]


def test_hold_outside_the_area_asks_for_the_postcode(app, client, paying):
    tradie_id, service = paying
    set_area(app, tradie_id, "1010-1072")
    data = {"service": service, "start": iso_z(at(local_day(), 10)), **details()}
    response = client.post(f"{BOOK}/hold", data=data, headers=HX)
    assert response.status_code == 200
    assert "Where is the job?" in page(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0
