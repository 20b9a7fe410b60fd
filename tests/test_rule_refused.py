"""One exception for a refused rule: every area raises it (under its own name where one is
older), and a refusal no route re-renders itself is a 422 naming the field."""

import pytest

from peepopay.accounts.services import AccountError
from peepopay.bookings.services import BookingError, InvalidBooking
from peepopay.errors import RuleRefused
from peepopay.rules import FormError


def test_the_areas_raise_one_exception():
    assert FormError is RuleRefused and AccountError is RuleRefused
    refused = FormError("slug", "Booking page address is already taken; choose another.")
    assert (refused.field, refused.status) == ("slug", 422)
    assert refused.errors == {"slug": ["Booking page address is already taken; choose another."]}


def test_invalid_booking_is_a_refusal_naming_every_field():
    error = InvalidBooking({"email": ["Email is required."], "phone": ["Phone is required."]})
    assert isinstance(error, RuleRefused) and isinstance(error, BookingError)
    assert error.status == 422 and error.field == "email"
    assert str(error) == "Email is required.; Phone is required."
    assert error.errors == {"email": ["Email is required."], "phone": ["Phone is required."]}


@pytest.fixture
def refusing(app):
    def refuse():
        raise RuleRefused("amount", "Amount must be at most the price.")

    app.add_url_rule("/api/refuse", "refuse_api", refuse)
    app.add_url_rule("/refuse", "refuse_page", refuse)
    return app.test_client()


def test_api_answers_a_refusal_with_field_errors(refusing):
    response = refusing.get("/api/refuse")
    assert response.status_code == 422
    assert response.get_json() == {"errors": {"amount": ["Amount must be at most the price."]}}


@pytest.mark.parametrize("htmx", [False, True])
def test_pages_answer_a_refusal_with_its_message(refusing, htmx):
    response = refusing.get("/refuse", headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Amount must be at most the price." in html
    assert ("<html" in html) is not htmx
