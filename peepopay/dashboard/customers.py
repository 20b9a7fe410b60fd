"""Customers: the list with search and CSV, one customer's page, private notes, erasure."""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup

from peepopay import slot_versions
from peepopay.accounts.models import Tradie
from peepopay.bookings import lifecycle, photos
from peepopay.clock import local_today, utcnow
from peepopay.customers import services as customers
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.forms import CustomerNotesForm, EraseCustomerForm
from peepopay.errors import RuleRefused
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.inputs import parse_page


def _page_number() -> int:
    return parse_page(request.args.get("page"))


@bp.get("/customers", endpoint="customers")
def customers_list() -> Response:
    tradie = signed_in()
    q = request.args.get("q", "").strip()[:100]
    return render(
        "dashboard/customers.html",
        "dashboard/_customer_list_swap.html",
        q=q,
        listing=listed(tradie, q, _page_number()),
    )


# The list shows customers, their bookings and their payments, and the tradie's currency, zone
# and country: every change to those bumps the tradie's versions (peepopay.slot_versions), so a
# rendered page of it is reused until one does, and at most a minute. About 12 KB a page.
KEPT_LISTS = 800


def listed(tradie: Tradie, q: str, page: int) -> Markup:
    """One page of the customer list as HTML: rendered, or as kept from before."""

    def make() -> tuple[Markup, None]:
        results = customers.page_of(db.session, tradie.id, q, page, utcnow())
        html = render_template("dashboard/_customer_list.html", tradie=tradie, results=results)
        return Markup(html), None  # noqa: S704  (the template's own escaped output)

    key = (tradie.id, q, page)
    return slot_versions.kept_or_made("customer_lists", key, tradie.id, utcnow(), make, KEPT_LISTS)


@bp.get("/customers.csv")
def customers_csv() -> Response:
    lines = customers.csv_lines(db.session, current_user, request.args.get("q", ""), utcnow())
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
    detail = customers.detail(db.session, current_user.id, customer_id, utcnow())
    return render(
        "dashboard/customer_detail.html",
        "dashboard/_customer_detail.html",
        status,
        tradie=signed_in(),
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
        erased = customers.erase(
            db.session, current_user, customer, utcnow(), photos.configured_store()
        )
    except RuleRefused as refused:
        form.confirm.errors = [refused.message]
        return _customer_page(customer_id, 409, erase_form=form)
    kept = f"{erased} booking{'s' if erased != 1 else ''}"
    notice = f"Erased. {kept} kept, anonymised, with their money records."
    return after_change(url_for("dashboard.customers"), notice=notice)
