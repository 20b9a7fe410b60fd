"""What customers read: field labels in error summaries, phone numbers as people write them,
arrival windows as promised, no-show fees named as such, and step counts only on steps."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta

import icalendar
import pytest
import sqlalchemy as sa

from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import Booking, Tradie
from tests.booking_helpers import SLUG, ZONE, at, iso_z, local_day, service_id, widget_tradie
from tests.notify_support import deliver_outbox, make_booking
from tests.payments_support import (
    Held,
    app_config,  # noqa: F401  (points the app at the emulator)
    pay,
    payments_tradie,
    settle,
)
from tests.payments_support import booking as booking_row
from tests.test_arrival_windows import by_window
from tests.test_bookings_by_hand_deposit import request_deposit
from tests.test_intake_api import set_area
from tests.test_no_show import connected, paid, set_fee, url  # noqa: F401  (fixtures)
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


# --- arrival windows shown as the window promised, not as a bare start -------------------


def window_booking(app, tradie_id: int, day, share: int = 0) -> int:
    """A confirmed booking in the 8–10 am window of a two-jobs-a-window service, holding the
    window's first (8–9) or second (9–10) share."""
    by_window(app, tradie_id)
    booking_id = make_booking(app, tradie_id, starts_at=at(day, 8 + share))
    with app.app_context():
        db.session.execute(
            sa.update(Booking)
            .where(Booking.id == booking_id)
            .values(window_starts_at=at(day, 8), window_ends_at=at(day, 10))
        )
        db.session.commit()
    return booking_id


def test_the_move_page_offers_windows_not_bare_starts(app, client, tradie_id):
    day = local_day(5)
    token = token_of(app, window_booking(app, tradie_id, day))
    html = client.get(f"/b/{token}/reschedule?date={day}").get_data(as_text=True)
    assert "arriving between 8:00 and 10:00 am" in html  # the booking as it stands
    assert ">1:00 – 3:00 pm</button>" in html and ">10:00 am – 12:00 pm</button>" in html
    assert ">1:00 pm</button>" not in html


def test_the_calendar_shows_the_window_promised_not_the_internal_share(app, dash, tradie_id):
    day = local_day(5)
    window_booking(app, tradie_id, day, share=1)
    html = dash.get(f"/dashboard/calendar?day={day}").get_data(as_text=True)
    assert "8:00–10:00\u00a0am" in html
    assert "9:00–10:00\u00a0am" not in html


def test_the_time_step_of_a_window_service_says_when_we_arrive(app, client, kiwi):
    by_window(app, kiwi[0])
    day = local_day()
    html = page(client.get(f"{BOOK}/time?service={kiwi[1]}&date={day}", headers=HX))
    assert ">8:00 – 10:00 am<" in html
    assert "takes about" not in html
    assert "arrive" in html and "between the start and the end of the window" in html
    assert ZONE.key.replace("_", " ") in html


# --- a no-show: said once, and its fee named for what it is -------------------------------


def test_no_show_email_receipt_and_invoice_name_the_fee(
    app,
    stripe_live,
    smtp,
    dash,
    connected,  # noqa: F811
    paid,  # noqa: F811
):
    set_fee(app, connected, 8000)
    assert dash.post(url(paid), htmx=True).status_code == 200
    settle(stripe_live)
    deliver_outbox(app)
    mails = {m["Subject"]: m for m in smtp.to("aroha@example.com")}

    [missed] = [m for s, m in mails.items() if s.startswith("We missed you")]
    text = missed.get_body(("plain",)).get_content()
    token = booking_row(app, paid.booking_id).public_token
    assert text.count("09 555 0000") == 1, text  # one way to call, in the footer
    assert text.lower().count("book another time") == 1, text
    assert text.count(f"/b/{token}") == 1, text

    [receipt_mail] = [m for s, m in mails.items() if "$80.00" in s]
    subject = receipt_mail["Subject"]
    assert "Thank you for your payment" not in subject and "no-show fee" in subject.lower()
    body = receipt_mail.get_body(("plain",)).get_content()
    assert "thank you" not in body.lower() and "no-show fee of $80.00" in body
    assert body.count(f"/b/{token}") == 1, body
    html_body = receipt_mail.get_body(("html",)).get_content()
    assert "thank you" not in html_body.lower() and html_body.count(f"/b/{token}") == 1

    invoice = pdf_text(dash.client.get(f"/b/{token}/receipt.pdf").data)
    assert "No-show fee (booked: Leak repair) $130.00" in invoice, invoice
    assert "Leak repair $130.00" not in invoice.replace("(booked: Leak repair) $130.00", "")
    receipt_page = dash.client.get(f"/b/{token}/receipt").get_data(as_text=True)
    assert "No-show fee (booked: Leak repair)" in receipt_page


# --- "Step n of 6" only on the widget's six steps -----------------------------------------


def held_from(app, page_html: str, booking_id: int) -> Held:
    found = {
        name: markup.unescape(re.search(rf'data-{name}="([^"]+)"', page_html).group(1))
        for name in ("payment-intent", "client-secret", "account")
    }
    return Held(booking_id, found["payment-intent"], found["client-secret"], found["account"])


def test_the_confirmation_is_not_a_step(app, client, stripe_live):
    tradie_id = payments_tradie(app, stripe_live)
    data = {
        "service": service_id(app, tradie_id),
        "start": iso_z(at(local_day(), 10)),
        **details(),
    }
    paying = client.post(f"{BOOK}/hold", data=data, follow_redirects=True)
    pay_html = paying.get_data(as_text=True)
    assert "Pay your deposit" in pay_html and "Step 6 of 6" in pay_html  # the widget's last step
    with app.app_context():
        booking_id = db.session.scalar(sa.select(Booking.id))
    pay(stripe_live, held_from(app, pay_html, booking_id))
    done = client.get(paying.request.path.replace("/pay/", "/done/"))
    done_html = page(done)
    assert "You're booked" in done_html
    assert "Step 6 of 6" not in done_html and 'class="pp-progress"' not in done_html


def test_a_deposit_asked_for_by_link_is_not_a_step(app, client, stripe_live, smtp):
    tradie_id = payments_tradie(app, stripe_live)
    deadline = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    assert request_deposit(app, client, tradie_id, deadline).status_code == 303
    deliver_outbox(app)
    [mail] = [m for m in smtp.messages if m["To"] == "aroha@example.com"]
    link = re.search(
        r"http://peepopay\.test(/book/kiwi/pay/\S+)", mail.get_body(("plain",)).get_content()
    )
    assert link
    pay_html = client.get(link.group(1)).get_data(as_text=True)
    assert "Pay your deposit" in pay_html
    assert "Step 6 of 6" not in pay_html and 'class="pp-progress"' not in pay_html


# --- the day step: "Next available" is an action, only the chosen day is marked --------------


def day_buttons(html_text: str) -> dict[str, str]:
    """Each day button of the calendar, by its date, as written."""
    return dict(
        (m.group(1), m.group(0))
        for m in re.finditer(r'<button type="submit" name="date" value="([\d-]+)"[^>]*>', html_text)
        if "times available" in m.group(0)
    )


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_next_available_is_a_plain_action_and_only_the_chosen_day_is_marked(client, kiwi, htmx):
    headers = HX if htmx else {}
    html_text = page(client.get(f"{BOOK}/date?service={kiwi[1]}", headers=headers))
    suggest = re.search(r'<form[^>]*class="pp-suggest"[^>]*>.*?<button([^>]*)>', html_text, re.S)
    assert suggest and 'class="pp-link"' in suggest.group(1)  # not a filled button
    days = day_buttons(html_text)
    assert days and not any("aria-current" in b or "aria-selected" in b for b in days.values())

    chosen = sorted(days)[1]
    again = page(client.get(f"{BOOK}/date?service={kiwi[1]}&date={chosen}", headers=headers))
    marked = [d for d, b in day_buttons(again).items() if 'aria-current="date"' in b]
    assert marked == [chosen]


def test_the_suggested_day_does_not_look_chosen(client, kiwi):
    css = page(client.get(f"{BOOK}/date?service={kiwi[1]}"))
    # The filled look belongs to the day chosen (aria-current), not to the suggested one.
    assert ".pp-cal button.pp-first" not in css
    assert '.pp-cal button[aria-current="date"]' in css
