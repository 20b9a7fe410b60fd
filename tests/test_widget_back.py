"""The widget's review step has an address per hold, so Back from the payment step (and its
"Change") shows the review with the details kept; a customer's own hold, named by its signed
token, leaves its time free to them and is replaced, not refused, when they continue again."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import Booking, Status
from tests.booking_helpers import CUSTOMER, SLUG, at, iso_z, local_day, service_id
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

pytestmark = pytest.mark.both_databases

HOLD = f"/book/{SLUG}/hold"
HTMX = {"HX-Request": "true"}
ADDRESS = {"REMOTE_ADDR": "203.0.113.5"}


@pytest.fixture
def service(app: Any, stripe_live: Any) -> int:
    return service_id(app, payments_tradie(app, stripe_live))


def statuses(app: Any) -> list[str]:
    with app.app_context():
        found = db.session.scalars(sa.select(Booking.status).order_by(Booking.id)).all()
        db.session.remove()
    return list(found)


def hidden(form: str) -> dict[str, str]:
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    return {name: html.unescape(value) for name, value in pairs}


def test_back_and_change_show_the_review_and_continuing_replaces_the_own_hold(
    app: Any, client: Any, service: int
) -> None:
    start = iso_z(at(local_day(), 10))
    data = {"service": service, "start": start, **CUSTOMER}
    held = client.post(HOLD, data=data, environ_base=ADDRESS)
    assert held.status_code == 303
    payment_url = held.headers["Location"]

    # The payment step's "Change" is the review step's address; htmx, sent there as a whole
    # page, is told that address too (widget.js puts it in history, for Back).
    page = html.unescape(client.get(payment_url).get_data(as_text=True))
    change = re.search(r'<a class="pp-link" href="([^"]+)"[^>]*>Change</a>', page)
    assert change is not None, "no Change link on the payment step"
    review_url = change[1]
    assert review_url.startswith(f"/book/{SLUG}/review/")
    sent = client.get(payment_url, headers=HTMX)
    assert sent.headers["HX-Redirect"].endswith(payment_url)
    assert sent.headers["PeepoPay-Review-URL"] == review_url

    # The review, full page and fragment, with the details kept and nothing in its address.
    for headers in ({}, HTMX):
        review = client.get(review_url, headers=headers)
        assert review.status_code == 200, review.get_data(as_text=True)
        text = html.unescape(review.get_data(as_text=True))
        assert "Review your booking" in text
        for value in (CUSTOMER["name"], CUSTOMER["email"], CUSTOMER["address"]):
            assert value in text
        assert ("<html" in text) is not bool(headers)
    assert CUSTOMER["email"] not in review_url
    form = re.search(rf'<form[^>]*action="{HOLD}"[^>]*>(.*?)</form>', text, re.S)
    assert form is not None
    carried = hidden(form[1])
    assert carried["start"] == start and carried["hold"]
    assert carried["email"] == CUSTOMER["email"] and carried["service"] == str(service)

    # Their held time is offered to them (and only to them) on the time step.
    day = {"service": service, "date": local_day().isoformat()}
    button = f'value="{start}"'
    assert button not in client.get(f"/book/{SLUG}/time", query_string=day).get_data(as_text=True)
    theirs = client.get(f"/book/{SLUG}/time", query_string={**day, "hold": carried["hold"]})
    assert button in theirs.get_data(as_text=True)
    details = client.post(f"/book/{SLUG}/summary", data=carried, headers=HTMX)
    assert details.status_code == 200
    assert "Review your booking" in details.get_data(as_text=True)

    # Continuing from the review replaces their hold with one for the same time.
    again = client.post(HOLD, data=carried, environ_base=ADDRESS)
    assert again.status_code == 303, again.get_data(as_text=True)
    assert again.headers["Location"] != payment_url
    assert statuses(app) == [Status.EXPIRED, Status.PENDING_PAYMENT]
    # Without the token the same details are still refused while a hold of theirs is live.
    refused = client.post(HOLD, data=data, headers=HTMX, environ_base=ADDRESS)
    assert refused.status_code == 429
    # The replaced hold's review now says what became of it instead of offering it again.
    stale = html.unescape(client.get(review_url).get_data(as_text=True))
    assert "Review your booking" not in stale


def test_a_review_address_of_another_tradie_or_a_bad_token_is_not_found(
    client: Any, service: int
) -> None:
    assert client.get(f"/book/{SLUG}/review/not-a-token").status_code == 404
