"""Services page: list, add, edit, archive, restore, reorder; inline validation; worked example."""

from __future__ import annotations

import html as htmllib
import re

import pytest
import sqlalchemy as sa

from peepopay.extensions import db
from peepopay.models import AuditLog, Service, Tradie

pytestmark = pytest.mark.usefixtures("fast_passwords")

GOOD = {
    "name": "Hot water cylinder",
    "description": "Replace the element.",
    "duration_minutes": "90",
    "price": "1,200.50",
    "deposit_type": "fixed",
    "deposit_amount": "100",
    "deposit_percent": "",
}


def services(app, tradie_id):
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Service)
            .where(Service.tradie_id == tradie_id)
            .order_by(Service.sort_order, Service.id)
        ).all()
        db.session.expunge_all()
        return rows


def audit_actions(app):
    with app.app_context():
        return db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()


def field_block(html, name):
    match = re.search(rf'<(div|fieldset) class="field[^"]*" id="field-{name}">.*?</\1>', html, re.S)
    assert match, f"no {name} field in the response"
    return htmllib.unescape(match.group(0))


@pytest.mark.parametrize("htmx", [False, True])
def test_services_page_lists_services_in_the_tradies_currency(dash, htmx):
    response = dash.get("/dashboard/services", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert 'id="services-page"' in html
    assert "Leak repair" in html
    assert "60 min · $200.00 · deposit $50.00" in html
    assert 'hx-post="/dashboard/services/validate/price"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_add_a_fixed_deposit_service(app, dash, tradie_id):
    response = dash.post("/dashboard/services", GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard/services"
    new = services(app, tradie_id)[-1]
    assert (new.name, new.duration_minutes, new.price_minor) == ("Hot water cylinder", 90, 120050)
    assert (new.deposit_type, new.deposit_value, new.sort_order) == ("fixed", 10000, 1)
    assert "service.created" in audit_actions(app)
    page = dash.get("/dashboard/services").get_data(as_text=True)
    assert "Added “Hot water cylinder”." in page
    assert "90 min · $1,200.50 · deposit $100.00" in page


def test_add_with_htmx_answers_the_page_fragment(app, dash, tradie_id):
    response = dash.post(
        "/dashboard/services",
        {**GOOD, "deposit_type": "percentage", "deposit_amount": "", "deposit_percent": "12.5"},
        htmx=True,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="services-page">')
    assert "Added “Hot water cylinder”." in html
    # 12.5 % of $1,200.50 = $150.0625, rounded half up to the cent.
    assert "deposit 12.5% ($150.06)" in html
    new = services(app, tradie_id)[-1]
    assert (new.deposit_type, new.deposit_value) == ("percentage", 1250)
    # The form comes back empty for the next service.
    assert 'value="Hot water cylinder"' not in html


BAD = [
    ({"name": ""}, "name", "Name is required."),
    ({"name": "x" * 121}, "name", "Name must be at most 120 characters."),
    ({"description": "x" * 2001}, "description", "Description must be at most 2000 characters."),
    ({"duration_minutes": ""}, "duration_minutes", "Duration is required."),
    ({"duration_minutes": "an hour"}, "duration_minutes", "Duration must be a whole number."),
    ({"duration_minutes": "2"}, "duration_minutes", "Duration must be between 5 and 1440"),
    ({"duration_minutes": "1441"}, "duration_minutes", "Duration must be between 5 and 1440"),
    ({"price": "12.345"}, "price", "Price must be an amount like 120 or 120.50."),
    ({"price": "-5"}, "price", "Price must be an amount like 120 or 120.50."),
    ({"price": "1e3"}, "price", "Price must be an amount like 120 or 120.50."),
    ({"deposit_type": "bogus"}, "deposit_type", "Deposit type must be fixed or a percentage."),
    ({"deposit_amount": ""}, "deposit_amount", "Deposit amount is required for a fixed deposit."),
    ({"deposit_amount": "0"}, "deposit_amount", "Deposit amount must be more than zero."),
    ({"deposit_amount": "12.3.4"}, "deposit_amount", "Deposit amount must be an amount like"),
    (
        {"price": "200", "deposit_amount": "200.01"},
        "deposit_amount",
        "Deposit amount can't be more than the price.",
    ),
    (
        {"deposit_type": "percentage", "price": "", "deposit_percent": "25"},
        "price",
        "Price is required for a percentage deposit.",
    ),
    (
        {"deposit_type": "percentage", "deposit_percent": ""},
        "deposit_percent",
        "Deposit percent is required for a percentage.",
    ),
    (
        {"deposit_type": "percentage", "deposit_percent": "100.5"},
        "deposit_percent",
        "Deposit percent must be more than 0 and at most 100.",
    ),
    (
        {"deposit_type": "percentage", "deposit_percent": "twenty"},
        "deposit_percent",
        "Deposit percent must be a number like 25 or 12.5.",
    ),
    (
        {"deposit_type": "percentage", "price": "0.40", "deposit_percent": "1"},
        "deposit_percent",
        "Deposit percent gives a deposit of zero",
    ),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_add_refuses_bad_input_naming_the_field(app, dash, tradie_id, changes, field, message):
    for htmx in (False, True):
        response = dash.post("/dashboard/services", {**GOOD, **changes}, htmx=htmx)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert ("<html" in html) is not htmx
        block = field_block(html, field)
        assert "has-error" in block and message in block
    assert len(services(app, tradie_id)) == 1


@pytest.mark.parametrize(("changes", "field", "message"), BAD[:4] + BAD[7:9] + BAD[14:16])
def test_inline_validation_answers_the_field_with_422(dash, changes, field, message):
    response = dash.post(f"/dashboard/services/validate/{field}", {**GOOD, **changes}, htmx=True)
    assert response.status_code == 422
    html = htmllib.unescape(response.get_data(as_text=True).strip())
    assert html.startswith(f'<div class="field has-error" id="field-{field}">')
    assert message in html
    # The field keeps its wiring, so the next change validates again.
    assert f'hx-post="/dashboard/services/validate/{field}"' in html
    assert "<html" not in html and "<form" not in html


def test_inline_validation_of_a_good_field_is_200_without_error(dash):
    response = dash.post("/dashboard/services/validate/price", GOOD, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="field-price"' in html and "has-error" not in html
    assert 'value="1,200.50"' in html


def test_inline_validation_without_htmx_is_the_whole_page(dash):
    response = dash.post("/dashboard/services/validate/price", {**GOOD, "price": "abc"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" in html and "Price must be an amount like" in field_block(html, "price")


@pytest.mark.parametrize("field", ["nope", "csrf_token"])
def test_inline_validation_of_an_unknown_field_is_404(dash, field):
    assert dash.post(f"/dashboard/services/validate/{field}", GOOD, htmx=True).status_code == 404


@pytest.mark.parametrize("htmx", [False, True])
def test_worked_example(dash, app, htmx):
    data = {**GOOD, "price": "200", "deposit_amount": "50"}
    response = dash.post("/dashboard/services/example", data, htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Customer pays now (deposit) $50.00" in text
    assert "Left to pay after the job $150.00" in text
    # 2.5 % platform fee on the deposit; Stripe's fee is Stripe's.
    assert "PeepoPay fee (2.5% of the deposit) −$1.25" in text
    assert "You receive from the deposit $48.75" in text
    assert "charged by Stripe to your Stripe account" in text


def test_worked_example_for_a_percentage_and_no_price(dash):
    html = dash.post(
        "/dashboard/services/example",
        {**GOOD, "price": "199", "deposit_type": "percentage", "deposit_percent": "10"},
        htmx=True,
    ).get_data(as_text=True)
    assert "$19.90" in html and "$179.10" in html and "−$0.50" in html and "$19.40" in html
    html = dash.post(
        "/dashboard/services/example", {**GOOD, "price": "", "deposit_amount": "80"}, htmx=True
    ).get_data(as_text=True)
    assert "$80.00" in html and "priced on the day" in html and "$78.00" in html
    html = dash.post("/dashboard/services/example", {**GOOD, "price": "abc"}, htmx=True).get_data(
        as_text=True
    )
    assert "Enter a price and a deposit" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_edit_page_is_prefilled_with_its_example(app, dash, tradie_id, htmx):
    service = services(app, tradie_id)[0]
    response = dash.get(f"/dashboard/services/{service.id}/edit", htmx=htmx)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ("<html" in html) is not htmx
    assert "Edit “Leak repair”" in html
    assert 'value="200.00"' in html and 'value="50.00"' in html
    assert f'action="/dashboard/services/{service.id}"' in html
    assert "$48.75" in html  # the example for the saved values


def test_update_a_service(app, dash, tradie_id):
    service = services(app, tradie_id)[0]
    data = {**GOOD, "name": "Leak repair", "price": "250", "deposit_amount": "75"}
    response = dash.post(f"/dashboard/services/{service.id}", data)
    assert response.status_code == 303
    updated = services(app, tradie_id)[0]
    assert (updated.price_minor, updated.deposit_value, updated.duration_minutes) == (
        25000,
        7500,
        90,
    )
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "service.updated"))
        assert entry.summary["price_minor"] == [20000, 25000]
        assert entry.summary["deposit_value"] == [5000, 7500]
        assert "name" not in entry.summary


def test_update_with_htmx_returns_to_the_list(app, dash, tradie_id):
    service = services(app, tradie_id)[0]
    response = dash.post(f"/dashboard/services/{service.id}", GOOD, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "/dashboard/services"
    html = response.get_data(as_text=True)
    assert "Saved “Hot water cylinder”." in html and "Add a service" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_update_refuses_a_deposit_above_the_price(app, dash, tradie_id, htmx):
    service = services(app, tradie_id)[0]
    data = {**GOOD, "price": "40", "deposit_amount": "50"}
    response = dash.post(f"/dashboard/services/{service.id}", data, htmx=htmx)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Deposit amount can't be more than the price." in field_block(html, "deposit_amount")
    assert "Edit “Leak repair”" in html
    assert services(app, tradie_id)[0].price_minor == 20000


def test_archive_and_restore(app, dash, tradie_id):
    dash.post("/dashboard/services", GOOD)
    first, second = services(app, tradie_id)
    response = dash.post(f"/dashboard/services/{first.id}/archive")
    assert response.status_code == 303
    assert services(app, tradie_id)[0].archived is True
    response = dash.post(f"/dashboard/services/{first.id}/restore", htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="service-list"')
    restored = {s.id: s for s in services(app, tradie_id)}[first.id]
    assert restored.archived is False
    assert restored.sort_order > second.sort_order  # back at the end of the list
    assert audit_actions(app)[-2:] == ["service.archived", "service.restored"]


def test_archive_with_htmx_shows_the_archived_section(app, dash, tradie_id):
    service = services(app, tradie_id)[0]
    html = dash.post(f"/dashboard/services/{service.id}/archive", htmx=True).get_data(True)
    assert "Archived services (1)" in html
    assert "No active services" in html
    assert f'action="/dashboard/services/{service.id}/restore"' in html
    response = dash.post(f"/dashboard/services/{service.id}/restore")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard/services"
    assert services(app, tradie_id)[0].archived is False


def test_reorder_with_up_and_down(app, dash, tradie_id):
    for name in ("B", "C"):
        dash.post("/dashboard/services", {**GOOD, "name": name})
    a, _, c = services(app, tradie_id)
    assert dash.post(f"/dashboard/services/{c.id}/move", {"direction": "up"}).status_code == 303
    assert [s.name for s in services(app, tradie_id)] == ["Leak repair", "C", "B"]
    response = dash.post(f"/dashboard/services/{a.id}/move", {"direction": "down"}, htmx=True)
    assert response.status_code == 200
    assert [s.name for s in services(app, tradie_id)] == ["C", "Leak repair", "B"]
    html = response.get_data(as_text=True)
    assert html.index("<strong>C</strong>") < html.index("<strong>Leak repair</strong>")
    # The top one cannot go further up: nothing changes.
    dash.post(f"/dashboard/services/{c.id}/move", {"direction": "up"})
    assert [s.name for s in services(app, tradie_id)] == ["C", "Leak repair", "B"]
    assert audit_actions(app).count("service.moved") == 2


@pytest.mark.parametrize("htmx", [False, True])
def test_reorder_refuses_an_unknown_direction(app, dash, tradie_id, htmx):
    service = services(app, tradie_id)[0]
    response = dash.post(f"/dashboard/services/{service.id}/move", {"direction": "left"}, htmx=htmx)
    assert response.status_code == 422


def test_amounts_follow_the_tradies_currency(app, dash, tradie_id):
    with app.app_context():
        db.session.get(Tradie, tradie_id).currency = "JPY"
        db.session.commit()
    html = dash.get("/dashboard/services").get_data(as_text=True)
    assert "JPY 20,000 · deposit JPY 5,000" in html
    response = dash.post("/dashboard/services", {**GOOD, "price": "1500.50"})
    assert response.status_code == 422
    assert "Price must be an amount like 120." in response.get_data(as_text=True)
    dash.post("/dashboard/services", {**GOOD, "price": "15000", "deposit_amount": "3000"})
    assert services(app, tradie_id)[-1].price_minor == 15000
    with app.app_context():
        db.session.get(Tradie, tradie_id).currency = "GBP"
        db.session.commit()
    assert "£200.00" in dash.get("/dashboard/services").get_data(as_text=True)
