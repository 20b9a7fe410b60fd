"""Dashboard-wide guarantees: sign-in, CSRF on every POST, no tradie sees another's rows.

Routes are read from the URL map, so a new dashboard route is covered without editing this file.
"""

from __future__ import annotations

from datetime import date, time

import pytest
import sqlalchemy as sa
from werkzeug.routing import IntegerConverter

from peepopay import create_app
from peepopay.config import TestingConfig
from peepopay.extensions import db
from peepopay.models import (
    ArrivalWindow,
    AuditLog,
    AvailabilityRule,
    BlockedPeriod,
    Booking,
    BookingPhoto,
    CalendarFeed,
    Service,
    ServiceQuestion,
)

_RULES = [
    rule
    for rule in create_app(TestingConfig).url_map.iter_rules()
    if rule.endpoint.startswith("dashboard.")
]
POST_RULES = sorted((r.rule, r.endpoint) for r in _RULES if "POST" in (r.methods or ()))
GET_RULES = sorted((r.rule, r.endpoint) for r in _RULES if "GET" in (r.methods or ()))
ID_RULES = sorted(
    (r.rule, r.endpoint, method)
    for r in _RULES
    if any(isinstance(conv, IntegerConverter) for conv in r._converters.values())
    for method in sorted((r.methods or set()) & {"GET", "POST"})
)
PUBLIC = {"dashboard.logo"}

pytestmark = pytest.mark.usefixtures("fast_passwords")


@pytest.fixture
def owned_ids(app, tradie_id, add_booking):
    """One row of every kind a dashboard URL can name, all belonging to the first tradie."""
    booking_id = add_booking()
    with app.app_context():
        service_id = db.session.scalar(sa.select(Service.id).where(Service.tradie_id == tradie_id))
        rule_id = db.session.scalar(
            sa.select(AvailabilityRule.id).where(AvailabilityRule.tradie_id == tradie_id)
        )
        period = BlockedPeriod(
            tradie_id=tradie_id, start_date=date(2030, 2, 1), end_date=date(2030, 2, 2)
        )
        db.session.add(period)
        # A calendar nothing answers for (a sync fails fast, on loopback, which tests allow).
        feed = CalendarFeed(
            tradie_id=tradie_id,
            name="Personal",
            url="http://127.0.0.1:9/cal.ics",
            failures=0,
            busy_count=0,
        )
        db.session.add(feed)
        window = ArrivalWindow(
            tradie_id=tradie_id, weekday=0, start_local=time(8), end_local=time(10)
        )
        question = ServiceQuestion(service_id=service_id, label="Where?", kind="short_text")
        photo = BookingPhoto(
            booking_id=booking_id, storage_key="0" * 32, width=1, height=1, size_bytes=1
        )
        db.session.add_all([period, window, question, photo])
        db.session.commit()
        customer_id = db.session.get(Booking, booking_id).customer_id
        return {
            "customer_id": customer_id,
            "feed_id": feed.id,
            "service_id": service_id,
            "rule_id": rule_id,
            "period_id": period.id,
            "window_id": window.id,
            "question_id": question.id,
            "photo_id": photo.id,
            "variant": "thumb",
            "booking_id": booking_id,
            "field": "price",
            "step": "business",
            "name": "0" * 64 + ".png",
        }


def url(rule: str, ids: dict[str, object]) -> str:
    path = rule
    for name, value in ids.items():
        for conv in ("int:", ""):
            path = path.replace(f"<{conv}{name}>", str(value))
    assert "<" not in path, f"no test value for a converter in {rule}"
    return path


def test_the_url_map_has_the_dashboard():
    assert len(POST_RULES) >= 20
    assert ("/dashboard/bookings/<int:booking_id>/cancel", "dashboard.booking_cancel") in POST_RULES
    assert any(endpoint == "dashboard.service_update" for _, endpoint, _ in ID_RULES)


def test_every_post_refuses_a_missing_or_forged_csrf_token(signed_in, app, owned_ids):
    with app.app_context():
        audit_before = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
    accepted = []
    for rule, endpoint in POST_RULES:
        target = url(rule, owned_ids)
        for headers, token in (({}, None), ({"HX-Request": "true"}, None), ({}, "forged")):
            data = {"direction": "up", "source": "0", "csrf_token": token}
            response = signed_in.post(
                target, data={k: v for k, v in data.items() if v}, headers=headers
            )
            if response.status_code != 400 or "form is stale" not in response.get_data(True):
                accepted.append((endpoint, headers, token, response.status_code))
    assert accepted == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id))) == audit_before
        assert db.session.get(Booking, owned_ids["booking_id"]).status == "confirmed"


def test_every_page_needs_a_signed_in_tradie(client, owned_ids):
    answers = {endpoint: client.get(url(rule, owned_ids)) for rule, endpoint in GET_RULES}
    for endpoint, response in answers.items():
        if endpoint in PUBLIC:
            assert response.status_code == 404, endpoint  # no such logo; no login demanded
        else:
            assert response.status_code == 302, endpoint
            assert response.headers["Location"].startswith("/auth/login"), endpoint


def test_another_tradie_gets_404_for_every_id(app, owned_ids, other_dash):
    """Signed in as a second tradie, the first one's rows do not exist, to read or to act on."""
    with app.app_context():
        audit_before = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
    form = {
        "direction": "up",
        "name": "Stolen",
        "duration_minutes": "60",
        "price": "100",
        "deposit_type": "fixed",
        "deposit_amount": "10",
        "reason": "",
    }
    answers = []
    for rule, endpoint, method in ID_RULES:
        for htmx in (False, True):
            if method == "GET":
                response = other_dash.get(url(rule, owned_ids), htmx=htmx)
            else:
                response = other_dash.post(url(rule, owned_ids), form, htmx=htmx)
            answers.append((endpoint, method, htmx, response.status_code))
    assert len(answers) >= 20
    assert [a for a in answers if a[3] != 404] == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AuditLog.id))) == audit_before
        assert db.session.get(Booking, owned_ids["booking_id"]).status == "confirmed"
        assert db.session.get(Service, owned_ids["service_id"]).name == "Leak repair"
        assert db.session.get(Service, owned_ids["service_id"]).archived is False
        assert db.session.get(AvailabilityRule, owned_ids["rule_id"]) is not None
        assert db.session.get(BlockedPeriod, owned_ids["period_id"]) is not None
        assert db.session.get(CalendarFeed, owned_ids["feed_id"]).last_attempt_at is None


def test_lists_show_only_your_own_rows(app, dash_now, owned_ids, other_dash):
    for path in ("/dashboard", "/dashboard/bookings?when=all", "/dashboard/services"):
        html = other_dash.get(path).get_data(as_text=True)
        assert "Customer 1" not in html
        assert "Leak repair" not in html or path == "/dashboard/services"
    csv_text = other_dash.get("/dashboard/bookings.csv?when=all").get_data(as_text=True)
    assert "Customer 1" not in csv_text
    export = other_dash.get("/dashboard/settings/export.json").get_json()
    assert export["bookings"] == []
    assert {s["tradie_id"] for s in export["services"]} == {export["account"]["id"]}
