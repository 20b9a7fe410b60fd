"""The booking widget's steps, each as an htmx fragment and as a full page, and /embed.js."""

from __future__ import annotations

import gzip
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import BlockedPeriod, Booking, Status
from tests.booking_helpers import (
    CUSTOMER,
    SLUG,
    at,
    iso_z,
    local_day,
    service_id,
    widget_tradie,
)
from tests.payments_support import (  # noqa: F401  (app_config points the app at the emulator)
    app_config,
    payments_tradie,
)

HX = {"HX-Request": "true"}
BOOK = f"/book/{SLUG}"


def assert_widget_surface(response: Any) -> None:
    """Frameable, cookie-free and not cached: the widget's side of DESIGN.md's two surfaces."""
    assert "Set-Cookie" not in response.headers
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def page(response: Any) -> str:
    assert_widget_surface(response)
    return html.unescape(response.get_data(as_text=True))


def is_full_page(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html>")


@pytest.fixture
def kiwi(app):
    """A tradie with deposits enabled in the emulator; their one 60-minute service."""
    tradie_id = widget_tradie(app)
    return tradie_id, service_id(app, tradie_id)


@pytest.fixture
def paying(app, stripe_live):
    tradie_id = payments_tradie(app, stripe_live)
    return tradie_id, service_id(app, tradie_id)


def details(**changes: str) -> dict[str, str]:
    return {**CUSTOMER, "notes": "Tap drips", **changes}


# --- step by step, fragment and full page ------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_service_step(client, kiwi, htmx):
    response = client.get(BOOK, headers=HX if htmx else {})
    assert response.status_code == 200
    html = page(response)
    assert is_full_page(html) is not htmx
    assert "HX-Request" in response.headers["Vary"]
    assert 'id="step-title"' in html and "Choose a service" in html
    assert f'name="service" value="{kiwi[1]}"' in html
    assert "Leak repair" in html and "$50.00 deposit" in html
    assert f'action="{BOOK}/date"' in html and f'hx-get="{BOOK}/date"' in html
    if not htmx:
        assert "/static/vendor/htmx-2.0.11.min.js" in html
        assert "Book with Kiwi Plumbing" in html


@pytest.mark.both_databases
def test_page_loads_count_as_widget_views_for_the_funnel(app, client, kiwi):
    from peepopay.analytics.models import WidgetView

    client.get(BOOK)  # embedded on a site, or opened directly
    client.get(f"/widget/{SLUG}", headers={"Sec-Fetch-Site": "cross-site"})
    client.get(BOOK, headers=HX)  # a swap back to the first step
    client.get(BOOK, headers={"Sec-Fetch-Site": "same-origin"})  # the dashboard's preview
    client.post(BOOK, data=details())  # "change service" without JavaScript
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(WidgetView.count))) == 2


def test_alias_path_serves_the_same_widget(client, kiwi):
    html = page(client.get(f"/widget/{SLUG}"))
    assert "Choose a service" in html


def test_unknown_tradie_is_a_widget_404_without_cookies(client, kiwi):
    response = client.get("/book/nobody")
    assert response.status_code == 404
    assert "couldn't find that booking page" in page(response)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_date_step_marks_free_days_and_suggests_the_next(app, client, kiwi, htmx):
    tradie_id, service = kiwi
    blocked = local_day(4)
    with app.app_context():
        db.session.add(BlockedPeriod(tradie_id=tradie_id, start_date=blocked, end_date=blocked))
        db.session.commit()
    response = client.get(f"{BOOK}/date?service={service}", headers=HX if htmx else {})
    assert response.status_code == 200
    html = page(response)
    assert is_full_page(html) is not htmx
    assert "Choose a day" in html and "Next available:" in html
    assert f'<input type="hidden" name="service" value="{service}">' in html
    shown = local_day(5)  # ask for the month of a free day, to be sure it is on screen
    html = page(client.get(f"{BOOK}/date?service={service}&month={shown:%Y-%m}"))
    assert f'name="date" value="{shown.isoformat()}"' in html
    if blocked.month == shown.month:
        assert f'name="date" value="{blocked.isoformat()}"' not in html


def test_date_step_months_stay_inside_the_horizon(client, kiwi):
    _, service = kiwi
    far = datetime.now(UTC) + timedelta(days=400)
    html = page(client.get(f"{BOOK}/date?service={service}&month={far:%Y-%m}"))
    last = local_day(0) + timedelta(days=60)
    assert last.strftime("%B %Y") in html
    assert 'aria-label="Next month"' not in html
    first = page(client.get(f"{BOOK}/date?service={service}&month=2000-01"))
    assert local_day(0).strftime("%B %Y") in first
    assert 'aria-label="Previous month"' not in first


def test_a_step_without_its_choices_goes_back_to_them(client, kiwi):
    _, service = kiwi
    response = client.get(f"{BOOK}/date", headers=HX)
    assert response.status_code == 422
    assert "Choose a service to continue" in page(response)
    response = client.get(f"{BOOK}/time?service={service}&date=nope", headers=HX)
    assert response.status_code == 422
    assert "Choose a day" in page(response)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_time_step_lists_only_free_times(app, client, kiwi, htmx):
    _, service = kiwi
    day = local_day()
    hold_via_service(app, kiwi, at(day, 10))
    response = client.get(f"{BOOK}/time?service={service}&date={day}", headers=HX if htmx else {})
    html = page(response)
    assert is_full_page(html) is not htmx
    starts = re.findall(r'name="start" value="([^"]+)"', html)
    assert iso_z(at(day, 8)) in starts and iso_z(at(day, 16)) in starts
    assert iso_z(at(day, 10)) not in starts and iso_z(at(day, 11)) not in starts
    assert iso_z(at(day, 11, 30)) in starts
    assert ">8:00 am<" in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_details_step_has_labelled_fields(client, kiwi, htmx):
    _, service = kiwi
    start = iso_z(at(local_day(), 10))
    response = client.get(
        f"{BOOK}/details?service={service}&start={start}", headers=HX if htmx else {}
    )
    assert response.status_code == 200
    html = page(response)
    assert is_full_page(html) is not htmx
    for name in ("name", "email", "phone", "address", "notes"):
        assert f'<label for="{name}"' in html
        assert f'id="{name}"' in html
    assert f'<input type="hidden" name="start" value="{start}">' in html
    assert f'action="{BOOK}/summary"' in html and 'method="post"' in html


def test_details_for_a_taken_time_goes_back_to_the_times(app, client, kiwi):
    _, service = kiwi
    day = local_day()
    hold_via_service(app, kiwi, at(day, 10))
    response = client.get(
        f"{BOOK}/details?service={service}&start={iso_z(at(day, 10))}", headers=HX
    )
    assert response.status_code == 409
    html = page(response)
    assert "no longer available" in html and 'role="alert"' in html
    assert "Choose a time" in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_summary_field_errors_are_announced_and_keep_what_was_typed(client, kiwi, htmx):
    _, service = kiwi
    data = {
        "service": service,
        "start": iso_z(at(local_day(), 10)),
        **details(email="aroha@", phone="12", name=""),
    }
    response = client.post(f"{BOOK}/summary", data=data, headers=HX if htmx else {})
    assert response.status_code == 422
    html = page(response)
    assert is_full_page(html) is not htmx
    assert 'role="alert"' in html and "Please fix these 3 fields" in html
    assert "Name is required." in html
    assert "Email must be a valid address" in html
    assert "Phone must be a valid phone number" in html
    assert 'value="aroha@"' in html and "1 Queen Street, Auckland</textarea>" in html
    assert 'aria-invalid="true"' in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_summary_shows_deposit_balance_and_policy(client, kiwi, htmx):
    _, service = kiwi
    day = local_day()
    data = {"service": service, "start": iso_z(at(day, 10)), **details()}
    response = client.post(f"{BOOK}/summary", data=data, headers=HX if htmx else {})
    assert response.status_code == 200
    html = page(response)
    assert is_full_page(html) is not htmx
    assert "Review your booking" in html
    assert "$50.00" in html and "$150.00" in html  # deposit now, balance after the job
    assert "48 hours" in html and "15 minutes" in html
    assert "<br>021 123 4567</dd>" in html and "+64211234567" not in html  # national format
    # Everything typed travels on in hidden fields, and every change button is a real form post.
    assert '<input type="hidden" name="phone" value="021 123 4567">' in html
    assert f'formaction="{BOOK}/details"' in html and f'formaction="{BOOK}/date"' in html
    assert f'action="{BOOK}/hold"' in html


def test_change_links_keep_what_was_typed(client, kiwi):
    _, service = kiwi
    day = local_day()
    data = {"service": service, "start": iso_z(at(day, 10)), "date": day.isoformat(), **details()}
    html = page(client.post(f"{BOOK}/details", data=data, headers=HX))
    assert 'value="Aroha Smith"' in html and "Tap drips</textarea>" in html
    html = page(client.post(f"{BOOK}/time", data=data, headers=HX))
    # With details typed, the step's forms post (keeping personal data out of URLs) and carry them.
    assert 'method="post"' in html and 'method="get"' not in html
    assert '<input type="hidden" name="email" value="aroha@example.com">' in html
    html = page(client.post(BOOK, data=data, headers=HX))
    assert '<input type="hidden" name="name" value="Aroha Smith">' in html
    assert '<input type="hidden" name="start"' not in html  # a new service needs a new time


# --- holding the slot ----------------------------------------------------------------------


def test_hold_creates_the_booking_and_moves_to_payment(app, client, paying):
    _, service = paying
    day = local_day()
    data = {
        "service": service,
        "start": iso_z(at(day, 10)),
        "origin": "https://plumber.example",
        **details(),
    }
    response = client.post(f"{BOOK}/hold", data=data)
    assert response.status_code == 303
    assert_widget_surface(response)
    location = response.headers["Location"]
    assert location.startswith(f"{BOOK}/pay/")
    assert "origin=https" in location and "Aroha" not in location and "email" not in location
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking))
        assert booking.status == Status.PENDING_PAYMENT
        assert booking.starts_at == at(day, 10)
        assert (booking.customer_name, booking.notes) == ("Aroha Smith", "Tap drips")
    payment = client.get(location)
    assert payment.status_code == 200
    html = page(payment)
    assert "Pay your deposit" in html and "$50.00" in html
    assert 'data-parent-origin="https://plumber.example"' in html


def test_hold_of_a_taken_time_offers_the_next_free_ones(app, client, paying):
    _, service = paying
    day = local_day()
    hold_via_service(app, paying, at(day, 10))
    # Another customer: the same one would replace their own hold instead.
    other = details(email="late@example.com", phone="021 555 0199")
    data = {"service": service, "start": iso_z(at(day, 10)), **other}
    response = client.post(f"{BOOK}/hold", data=data, headers=HX)
    assert response.status_code == 409
    html = page(response)
    assert 'role="alert"' in html and "just taken" in html
    assert re.findall(r'name="start" value="([^"]+)"', html) == [
        iso_z(at(day, 11, 30)),
        iso_z(at(day, 12)),
        iso_z(at(day, 12, 30)),
    ]
    # Picking one goes straight back to the review with everything typed still there.
    assert f'action="{BOOK}/summary"' in html
    assert '<input type="hidden" name="email" value="late@example.com">' in html


def test_no_deposits_yet_says_so_politely_and_holds_nothing(app, client):
    tradie_id = widget_tradie(app, charges_enabled=False, stripe_account_id=None)
    service = service_id(app, tradie_id)
    data = {"service": service, "start": iso_z(at(local_day(), 10)), **details()}
    summary = page(client.post(f"{BOOK}/summary", data=data))
    assert "isn't taking card deposits online yet" in summary
    response = client.post(f"{BOOK}/hold", data=data, headers=HX)
    assert response.status_code == 200
    html = page(response)
    assert "isn't taking card deposits online yet" in html and "+6495550000" in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_confirmation_page_and_expired_hold(app, client, kiwi):
    from peepopay.bookings.tokens import booking_token

    day = local_day()
    booking_id = hold_via_service(app, kiwi, at(day, 10))
    with app.app_context():
        token = booking_token(booking_id)
        booking = db.session.get(Booking, booking_id)
        booking.status = Status.CONFIRMED
        db.session.commit()
    html = page(client.get(f"{BOOK}/done/{token}"))
    assert "You're booked" in html and "Aroha Smith" in html
    # What was paid and what is left, the time with its zone, the address, the reference.
    assert re.search(r"Paid now</dt><dd><strong>\$50\.00</strong>", html)
    assert re.search(r"After the job</dt><dd>\$150\.00", html)
    assert re.search(r"11:00 am NZ[DS]T</dd>", html)
    assert CUSTOMER["address"] in html and "#1</dd>" in html
    # Calendar and booking page as buttons in the brand colour (.pp-links), not bare links.
    links = re.search(r'<ul class="pp-links">(.*?)</ul>', html, re.S)
    assert links and "Add to calendar" in links[1] and "Manage your booking" in links[1]
    assert re.search(r"\.pp-links a\{[^}]*color:var\(--brand\)", widget_css())
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        booking.status = Status.PENDING_PAYMENT
        booking.hold_expires_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    html = page(client.get(f"{BOOK}/done/{token}"))
    assert "no longer held" in html and "Book again" in html
    assert client.get(f"{BOOK}/done/{token}x").status_code == 404


def widget_css() -> str:
    from peepopay.config import ROOT

    return (ROOT / "static" / "widget" / "widget.css").read_text()


# --- theming, embedding, limits ---------------------------------------------------------------


def test_the_tradies_logo_heads_the_widget(app, client, kiwi):
    from peepopay.accounts.models import Tradie

    assert 'class="pp-logo"' not in page(client.get(BOOK))  # none yet: the name alone
    with app.app_context():
        db.session.get(Tradie, kiwi[0]).logo_path = "b" * 64 + ".webp"
        db.session.commit()
    html = page(client.get(BOOK))
    assert f'<img class="pp-logo" src="/dashboard/logo/{"b" * 64}.webp" alt="">' in html
    assert "pp-biz" in html  # the business name stays beside it


@pytest.mark.parametrize(
    ("query", "brand", "text"),
    [
        ("", "#1d4ed8", "#ffffff"),
        ("?color=b42318", "#b42318", "#ffffff"),
        ("?color=%23FFE600", "#ffe600", "#111827"),
        ("?color=red;}body{display:none", "#1d4ed8", "#ffffff"),
        ("?color=12345", "#1d4ed8", "#ffffff"),
    ],
)
def test_brand_colour_from_settings_or_validated_parameter(client, kiwi, query, brand, text):
    html = page(client.get(BOOK + query))
    assert f":root{{--brand:{brand};--brand-fg:{text}}}" in html
    assert "display:none" not in html


@pytest.mark.parametrize(
    ("origin", "kept"),
    [
        ("https://plumber.example", "https://plumber.example"),
        ("http://localhost:8081", "http://localhost:8081"),
        ("https://plumber.example/page", None),
        ("javascript:alert(1)", None),
        ("*", None),
        ("https://user@plumber.example", None),
    ],
)
def test_parent_origin_is_validated(client, kiwi, origin, kept):
    html = page(client.get(BOOK, query_string={"origin": origin}))
    if kept:
        assert f'data-parent-origin="{kept}"' in html
    else:
        assert "data-parent-origin" not in html


def test_framing_defaults_to_any_site(client, kiwi):
    csp = client.get(BOOK).headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp


def test_allowed_origins_restrict_framing_and_messages(app, client):
    widget_tradie(app, allowed_origins="https://a.example\nhttps://b.example:8443\n")
    response = client.get(BOOK)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://a.example https://b.example:8443" in csp
    assert "data-parent-origin" not in page(response)
    html = page(client.get(BOOK, query_string={"origin": "https://b.example:8443"}))
    assert 'data-parent-origin="https://b.example:8443"' in html
    assert "Choose a service" in html


@pytest.mark.parametrize("via", ["loader", "plain iframe"])
def test_a_site_not_allowed_gets_a_page_for_its_owner_not_a_broken_frame(app, client, via):
    widget_tradie(app, allowed_origins="https://a.example\n")
    if via == "loader":
        response = client.get(BOOK, query_string={"origin": "https://other.example"})
    else:
        headers = {"Sec-Fetch-Dest": "iframe", "Referer": "https://other.example/contact"}
        response = client.get(BOOK, headers=headers)
    # It books nothing, so any page may show it (no grey box), and names the site to add.
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    html = page(response)
    assert "isn't allowed on <strong>https://other.example</strong>" in html
    assert "Settings → Embedding" in html and "Choose a service" not in html
    assert 'data-parent-origin="https://other.example" data-blocked' in html
    assert f'href="{BOOK}" target="_blank"' in html  # customers can still book
    # The allowed site, and the widget opened on its own, get the steps as before.
    for query in ({"origin": "https://a.example"}, {}):
        assert "Choose a service" in page(client.get(BOOK, query_string=query))


def test_the_loader_names_the_origin_to_add_in_the_console(client):
    loader = client.get("/embed.js").get_data(as_text=True)
    assert '"peepopay:blocked"' in loader and "console.warn(" in loader
    assert "location.origin" in loader.split("peepopay:blocked")[1]
    with client.get("/static/widget/widget.js") as response:
        assert 'type: "peepopay:blocked" }, parentOrigin' in response.get_data(as_text=True)


@pytest.fixture
def tight_limits(app_config):  # noqa: F811
    app_config["WIDGET_AVAILABILITY_LIMIT"] = "2 per minute"
    return app_config


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_rate_limit_shows_a_friendly_message_in_the_widget(tight_limits, client, kiwi, htmx):
    _, service = kiwi
    url = f"{BOOK}/date?service={service}"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    response = client.get(url, headers=HX if htmx else {})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = page(response)
    assert is_full_page(html) is not htmx
    assert "going a little fast" in html and 'role="alert"' in html
    assert "Kiwi Plumbing" in html or htmx
    assert client.get(BOOK).status_code == 200  # choosing a service is not limited


def test_embed_loader(client):
    response = client.get("/embed.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "Set-Cookie" not in response.headers
    assert "public" in response.headers["Cache-Control"]
    assert "max-age=" in response.headers["Cache-Control"]
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    body = response.get_data()
    assert len(gzip.compress(body, 9)) <= 1536
    text = body.decode()
    assert "window.PeepoPay" in text and '"*"' not in text and "'*'" not in text
    assert "x.origin !== e.origin" in text  # messages only from the widget's own origin
    again = client.get("/embed.js", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_widget_script_posts_height_only_to_the_parent_origin(client):
    with client.get("/static/widget/widget.js") as response:
        script = response.get_data(as_text=True)
    assert "postMessage(" in script and "parentOrigin)" in script
    assert '"*"' not in script


def test_every_hx_control_is_also_a_plain_form(client, kiwi):
    """Progressive enhancement: each hx-get/hx-post sits on a form (or submit button) that
    has the same action without JavaScript."""
    _, service = kiwi
    day = local_day()
    data = {"service": service, "start": iso_z(at(day, 10)), "date": day.isoformat(), **details()}
    pages = [
        client.get(BOOK),
        client.get(f"{BOOK}/date?service={service}"),
        client.get(f"{BOOK}/time?service={service}&date={day}"),
        client.get(f"{BOOK}/details?service={service}&start={data['start']}"),
        client.post(f"{BOOK}/summary", data=data),
    ]
    for response in pages:
        html = page(response)
        for tag in re.findall(r"<(?:form|button)\b[^>]*\bhx-(?:get|post)=[^>]*>", html):
            url = re.search(r'hx-(?:get|post)="([^"]+)"', tag).group(1)
            assert f'action="{url}"' in tag or f'formaction="{url}"' in tag, tag


def test_a_whole_walk_sets_no_cookie(app, client, paying):
    _, service = paying
    day = local_day()
    start = iso_z(at(day, 10))
    data = {"service": service, "start": start, **details()}
    responses = [
        client.get(BOOK),
        client.get(f"{BOOK}/date?service={service}"),
        client.get(f"{BOOK}/time?service={service}&date={day}"),
        client.get(f"{BOOK}/details?service={service}&start={start}"),
        client.post(f"{BOOK}/summary", data=data),
        client.post(f"{BOOK}/hold", data=data, follow_redirects=True),
    ]
    for response in responses:
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers
    assert not list(client._cookies)


# --- helpers ----------------------------------------------------------------------------------


def hold_via_service(app, kiwi, start) -> int:
    """A held booking made through the booking service, as another customer would."""
    from peepopay.bookings.services import Customer, create_held_booking
    from peepopay.models import Tradie

    tradie_id, service = kiwi
    with app.app_context():
        booking = create_held_booking(
            db.session,
            tradie=db.session.get(Tradie, tradie_id),
            service_id=service,
            start_utc=start,
            customer=Customer(**CUSTOMER),
            now=datetime.now(UTC),
        )
        db.session.commit()
        return int(booking.id)
