"""Customers: the list with search and CSV, one customer's page, private notes, erasure."""

from __future__ import annotations

from flask import Response, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.bookings import lifecycle
from peepopay.clock import local_today, utcnow
from peepopay.customers import services as customers
from peepopay.dashboard import bp
from peepopay.dashboard.forms import CustomerNotesForm, EraseCustomerForm
from peepopay.errors import RuleRefused
from peepopay.extensions import db
from peepopay.htmx import after_change, render


def _page_number() -> int:
    try:
        return int(request.args.get("page", "1"))
    except ValueError:
        return 1


@bp.get("/customers", endpoint="customers")
def customers_list() -> Response:
    q = request.args.get("q", "")
    results = customers.page_of(db.session, current_user.id, q, _page_number())
    return render(
        "dashboard/customers.html",
        "dashboard/_customer_list.html",
        tradie=current_user,
        results=results,
    )


@bp.get("/customers.csv")
def customers_csv() -> Response:
    lines = customers.csv_lines(db.session, current_user, request.args.get("q", ""))
    response = Response(stream_with_context(lines), mimetype="text/csv")
    day = local_today(current_user, utcnow()).isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="customers-{day}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _customer_page(
    customer_id: int,
    status: int = 200,
    notes_form: CustomerNotesForm | None = None,
    erase_form: EraseCustomerForm | None = None,
    notice: str = "",
) -> Response:
    detail = customers.detail(db.session, current_user.id, customer_id)
    return render(
        "dashboard/customer_detail.html",
        "dashboard/_customer_detail.html",
        status,
        tradie=current_user,
        detail=detail,
        customer=detail.customer,
        statuses=lifecycle.LABELS,
        notes_form=notes_form or CustomerNotesForm(formdata=None, notes=detail.customer.notes),
        erase_form=erase_form or EraseCustomerForm(formdata=None),
        notice=notice,
    )


@bp.get("/customers/<int:customer_id>")
def customer_detail(customer_id: int) -> Response:
    return _customer_page(customer_id)


@bp.post("/customers/<int:customer_id>/notes")
def customer_notes(customer_id: int) -> ResponseReturnValue:
    customer = customers.get(db.session, current_user.id, customer_id)
    form = CustomerNotesForm()
    if not form.validate_on_submit():
        return _customer_page(customer_id, 422, notes_form=form)
    customers.save_notes(db.session, current_user, customer, form.notes.data or "")
    target = url_for("dashboard.customer_detail", customer_id=customer_id)
    return after_change(target, lambda: _customer_page(customer_id, notice="Notes saved."))


@bp.post("/customers/<int:customer_id>/erase")
def customer_erase(customer_id: int) -> ResponseReturnValue:
    customer = customers.get(db.session, current_user.id, customer_id)
    form = EraseCustomerForm()
    if not form.validate_on_submit():
        return _customer_page(customer_id, 422, erase_form=form)
    try:
        erased = customers.erase(db.session, current_user, customer, utcnow())
    except RuleRefused as refused:
        form.confirm.errors = [refused.message]
        return _customer_page(customer_id, 409, erase_form=form)
    kept = f"{erased} booking{'s' if erased != 1 else ''}"
    notice = f"Erased. {kept} kept, anonymised, with their money records."
    return after_change(url_for("dashboard.customers"), notice=notice)
