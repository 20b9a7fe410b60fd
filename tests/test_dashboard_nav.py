"""The dashboard navigation marks one entry, the one the page names, whatever route drew it."""

from __future__ import annotations

import re

import pytest

from peepopay.dashboard import NAV

pytestmark = pytest.mark.usefixtures("fast_passwords", "dash_now")

CURRENT = re.compile(r'<a href="[^"]*" aria-current="page">([^<]+)</a>')


def current(html: str) -> list[str]:
    nav = html.split('<nav aria-label="Dashboard">', 1)[1].split("</nav>", 1)[0]
    return CURRENT.findall(nav)


PAGES = [
    ("/dashboard", "Overview"),
    ("/dashboard/calendar", "Calendar"),
    ("/dashboard/bookings", "Bookings"),
    ("/dashboard/services", "Services"),
    ("/dashboard/availability", "Availability"),
    ("/dashboard/payments", "Payments"),
    ("/dashboard/analytics", "Analytics"),
    ("/dashboard/settings", "Settings"),
]


@pytest.mark.parametrize(("path", "label"), PAGES)
def test_each_entry_marks_itself_and_only_itself(dash, path, label):
    assert current(dash.get(path).get_data(as_text=True)) == [label]


def test_the_nav_lists_every_entry_in_order(dash):
    html = dash.get("/dashboard").get_data(as_text=True)
    labels = re.findall(r"<li><a [^>]*>([^<]+)</a></li>", html.split("</nav>", 1)[0])
    assert labels == [label for _, label in NAV]


def test_a_booking_page_sits_under_bookings(dash, add_booking):
    booking_id = add_booking(customer_name="Aroha Ngata")
    html = dash.get(f"/dashboard/bookings/{booking_id}").get_data(as_text=True)
    assert current(html) == ["Bookings"]


def test_a_refused_form_redrawn_as_a_page_keeps_its_entry(dash):
    response = dash.post("/dashboard/availability/blocked", {"start_date": ""})
    assert response.status_code == 422
    assert current(response.get_data(as_text=True)) == ["Availability"]
