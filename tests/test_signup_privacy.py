"""Sign-up must not tell anyone whether an address has an account: an account nobody has
confirmed has no public face (booking page, widget API, photos), so signing up with a taken
address and with a free one look the same from outside."""

from __future__ import annotations

from datetime import time, timedelta

import sqlalchemy as sa

from peepopay.accounts import services as accounts
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.models import AvailabilityRule, DepositType, Service, Tradie
from tests.fixtures.clients import csrf_token
from tests.fixtures.factories import make_tradie

PASSWORD = "pipes and valves"


def signup(client, email: str, business_name: str):
    data = {
        "email": email,
        "password": PASSWORD,
        "business_name": business_name,
        "csrf_token": csrf_token(client, "/auth/signup"),
    }
    return client.post("/auth/signup", data=data)


def set_up_business(app, email: str) -> int:
    """What the person who signed up can do before confirming: a service and working hours."""
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie).where(Tradie.email == email)).one()
        service = Service(
            tradie_id=tradie.id,
            name="Drain unblock",
            duration_minutes=60,
            price_minor=20000,
            deposit_type=DepositType.FIXED,
            deposit_value=5000,
        )
        db.session.add(service)
        for weekday in range(7):
            db.session.add(
                AvailabilityRule(
                    tradie_id=tradie.id, weekday=weekday, start_local=time(8), end_local=time(17)
                )
            )
        db.session.commit()
        return service.id


def public_face(client, slug: str, service_id: int) -> list[tuple[int, bytes]]:
    """Everything anyone can ask about a slug, as (status, body)."""
    day = (utcnow() + timedelta(days=3)).date().isoformat()
    answers = []
    for path in (
        f"/book/{slug}",
        f"/widget/{slug}",
        f"/book/{slug}/date?service={service_id}",
        f"/book/{slug}/time?service={service_id}&date={day}",
        f"/book/{slug}/details?service={service_id}&date={day}",
        f"/api/widget/{slug}/config",
        f"/api/widget/{slug}/availability?date={day}&serviceId={service_id}",
        f"/book/{slug}/photos/not-a-token/1",
    ):
        response = client.get(path)
        answers.append((response.status_code, response.get_data()))
    book = client.post(f"/api/widget/{slug}/book", json={"serviceId": service_id})
    answers.append((book.status_code, book.get_data()))
    return answers


def test_signup_with_a_free_and_a_taken_address_look_the_same_from_outside(app, client):
    make_tradie(app, email="owner@example.com", business_name="Owner Plumbing")
    taken = signup(app.test_client(), "owner@example.com", "Taken Kowhai Drains")
    fresh = signup(app.test_client(), "nobody@example.com", "Fresh Kowhai Drains")
    assert (taken.status_code, taken.headers["Location"]) == (
        fresh.status_code,
        fresh.headers["Location"],
    )
    service_id = set_up_business(app, "nobody@example.com")
    looker = app.test_client()
    taken_face = public_face(looker, accounts.slugify("Taken Kowhai Drains"), service_id)
    fresh_face = public_face(looker, accounts.slugify("Fresh Kowhai Drains"), service_id)
    assert [status for status, _ in fresh_face] == [404] * len(fresh_face)
    assert fresh_face == taken_face


def test_the_booking_page_opens_once_the_address_is_confirmed(app, client):
    signup(client, "nobody@example.com", "Fresh Kowhai Drains")
    service_id = set_up_business(app, "nobody@example.com")
    slug = accounts.slugify("Fresh Kowhai Drains")
    assert client.get(f"/book/{slug}").status_code == 404
    with app.app_context():
        tradie = db.session.scalars(sa.select(Tradie)).one()
        token = accounts.make_token(tradie, "verify")
    assert client.get(f"/auth/verify/{token}").status_code == 303
    assert client.get(f"/book/{slug}").status_code == 200
    assert client.get(f"/api/widget/{slug}/config").status_code == 200
    day = (utcnow() + timedelta(days=3)).date().isoformat()
    slots = client.get(f"/api/widget/{slug}/availability?date={day}&serviceId={service_id}")
    assert slots.status_code == 200 and slots.get_json()["slots"]


def test_a_live_booking_page_stays_open_while_a_changed_email_awaits_confirmation(
    app, client, auth, tradie_id
):
    """Only a sign-up nobody confirmed is hidden: a tradie who changes their login email
    keeps taking bookings while the new address waits for its link."""
    from peepopay.accounts import settings

    with app.test_request_context():
        tradie = db.session.get(Tradie, tradie_id)
        settings.change_email(db.session, tradie, "new@example.com", "correct horse battery")
        db.session.commit()
        assert tradie.email_verified_at is None
        slug = tradie.slug
    assert client.get(f"/book/{slug}").status_code == 200
    assert client.get(f"/api/widget/{slug}/config").status_code == 200
