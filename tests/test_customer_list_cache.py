"""A page of the customer list is rendered once and reused while nothing it shows has changed
(peepopay/dashboard/customers.py, `listed`): every commit that changes a customer, a booking, a
payment or the tradie bumps the tradie's versions (peepopay/slot_versions.py). Each test first
shows the page is served without reading the customers."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from peepopay.extensions import db
from peepopay.models import Customer, Payment, Tradie
from tests.fixtures.app import sql_statements
from tests.fixtures.clients import DashboardClient

pytestmark = [pytest.mark.both_databases, pytest.mark.usefixtures("fast_passwords")]

LIST = "/dashboard/customers"


def listing(dash: DashboardClient, url: str = LIST) -> str:
    response = dash.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html[html.index('<section id="customer-list"') :]  # the page around it has a CSRF token


def reads_customers(statements: list[str]) -> bool:
    return any("FROM customers" in s for s in statements)


def kept(app: Flask, dash: DashboardClient, url: str = LIST) -> str:
    """The list, asked until it comes from the kept rendering (proved: no customer is read)."""
    first = listing(dash, url)
    for _ in range(5):  # the first asks set the versions, a late bump may come once
        with sql_statements(app) as seen:
            again = listing(dash, url)
        if not reads_customers(seen):
            break
    assert not reads_customers(seen), "a repeated page of customers should be reused"
    assert again == first
    return again


def test_a_repeated_page_is_rendered_once(app: Flask, dash: DashboardClient, add_booking: Any):
    add_booking(customer_name="Aroha Smith")
    assert "Aroha Smith" in kept(app, dash)


def test_without_redis_every_page_is_built(app: Flask, dash: DashboardClient, add_booking: Any):
    add_booking(customer_name="Aroha Smith")
    app.extensions["redis"] = None
    listing(dash)
    with sql_statements(app) as seen:
        assert "Aroha Smith" in listing(dash)
    assert reads_customers(seen), "without versions nothing may be reused"


def test_a_new_customer_and_a_new_booking_show_at_once(
    app: Flask, dash: DashboardClient, add_booking: Any
):
    add_booking(customer_name="Aroha Smith", customer_email="aroha@example.com")
    assert "Hemi Walker" not in kept(app, dash)
    add_booking(customer_name="Hemi Walker", customer_email="hemi@example.com")
    assert "Hemi Walker" in kept(app, dash)
    add_booking(customer_name="Aroha Smith", customer_email="aroha@example.com", status="no_show")
    assert "1 no-show" in listing(dash)


def test_a_payment_and_a_refund_show_at_once(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any
):
    booking = add_booking(customer_name="Aroha Smith")
    assert "$50.00" not in kept(app, dash)
    payment = add_payment(booking, amount_minor=5000)
    assert "$50.00" in kept(app, dash)
    add_payment(booking, kind="refund", amount_minor=2000)
    assert "$20.00 refunded" in kept(app, dash)
    # A bulk statement on payments that names no tradie makes every list stale.
    with app.app_context():
        db.session.execute(
            sa.update(Payment).where(Payment.id == payment).values(amount_minor=7000)
        )
        db.session.commit()
    assert "$70.00" in listing(dash)


def test_an_edited_and_an_erased_customer_show_at_once(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any
):
    booking = add_booking(customer_name="Aroha Smith", status="completed")
    add_payment(booking, amount_minor=5000)
    assert "Aroha Smith" in kept(app, dash)
    with app.app_context():
        customer = db.session.scalars(sa.select(Customer)).one()
        customer.name = "Aroha Smith-Jones"
        db.session.commit()
        customer_id = customer.id
    assert "Aroha Smith-Jones" in kept(app, dash)
    erased = dash.post(f"/dashboard/customers/{customer_id}/erase", {"confirm": "y"})
    assert erased.status_code == 303
    assert "Aroha" not in listing(dash)


def test_the_tradies_own_settings_show_at_once(
    app: Flask, dash: DashboardClient, add_booking: Any, add_payment: Any, tradie_id: int
):
    add_payment(add_booking(customer_name="Aroha Smith"), amount_minor=5000)
    assert "$50.00" in kept(app, dash)
    with app.app_context():
        db.session.get(Tradie, tradie_id).currency = "GBP"  # type: ignore[union-attr]
        db.session.commit()
    assert "£50.00" in listing(dash)


def test_searches_and_pages_are_kept_apart(app: Flask, dash: DashboardClient, add_booking: Any):
    for n in range(30):
        add_booking(customer_name=f"Person {n:02d}", customer_email=f"p{n}@example.com")
    first = kept(app, dash)
    second = kept(app, dash, f"{LIST}?page=2")
    found = kept(app, dash, f"{LIST}?q=Person 07")
    assert "Person 29" in first and "Person 29" not in second and "Person 00" in second
    assert "Person 07" in found and "Person 08" not in found and "1 customer<" in found


def test_each_tradie_sees_only_their_own_kept_list(
    app: Flask, dash: DashboardClient, other_dash: DashboardClient, add_booking: Any
):
    add_booking(customer_name="Aroha Smith")
    assert "Aroha Smith" in kept(app, dash)
    theirs = listing(other_dash)
    assert "Aroha" not in theirs and "0 customers" in theirs
    assert "Aroha Smith" in listing(dash)
