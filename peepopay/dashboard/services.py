"""Services page: list, add, edit, archive and restore, reorder; inline validation and example."""

from __future__ import annotations

from flask import Response, abort, current_app, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.catalog import services as catalog
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.common import format_percent
from peepopay.dashboard.forms import EmptyForm, MoveForm, ServiceForm
from peepopay.extensions import db
from peepopay.formatting import plain_amount
from peepopay.htmx import after_change, render
from peepopay.rules import FormError
from peepopay.scheduling.models import DepositType, Service


def _blank_form() -> ServiceForm:
    return ServiceForm(formdata=None, currency=current_user.currency)


def _form_for(service: Service) -> ServiceForm:
    currency = current_user.currency
    percentage = service.deposit_type == DepositType.PERCENTAGE
    data = {
        "name": service.name,
        "description": service.description,
        "duration_minutes": service.duration_minutes,
        "price": plain_amount(service.price_minor, currency),
        "deposit_type": service.deposit_type,
        "deposit_amount": "" if percentage else plain_amount(service.deposit_value, currency),
        "deposit_percent": format_percent(service.deposit_value) if percentage else "",
    }
    return ServiceForm(formdata=None, data=data, currency=currency)


def _posted_form() -> ServiceForm:
    return ServiceForm(currency=current_user.currency)


def _check(form: ServiceForm) -> bool:
    """Validate the form, then the deposit rules; errors land on the fields they concern."""
    valid = form.validate()
    if form.money_fields_ok():
        data = form.to_input()
        try:
            catalog.check_deposit(data.price_minor, data.deposit_type, data.deposit_value)
        except FormError as error:
            form.add_error(error)
            valid = False
    return valid


def _example(form: ServiceForm) -> catalog.Example | None:
    if not form.money_fields_ok():
        return None
    try:
        return catalog.example(form.to_input(), current_app.config["PLATFORM_FEE_BPS"])
    except FormError:
        return None


def _page(
    form: ServiceForm,
    editing: Service | None = None,
    status: int = 200,
    fragment: str = "dashboard/_services.html",
    example: catalog.Example | None = None,
    **extra: object,
) -> Response:
    active, archived = catalog.listing(db.session, current_user.id)
    return render(
        "dashboard/services.html",
        fragment,
        status,
        tradie=signed_in(),
        form=form,
        editing=editing,
        active=active,
        archived=archived,
        example=example or (_example(form) if form.parsed else None),
        fee_bps=current_app.config["PLATFORM_FEE_BPS"],
        **extra,
    )


@bp.get("/services")
def services() -> Response:
    return _page(_blank_form())


@bp.post("/services")
def service_create() -> ResponseReturnValue:
    form = _posted_form()
    if _check(form):
        service = catalog.create(db.session, current_user, form.to_input(), utcnow())
        notice = f"Added “{service.name}”."
        target = url_for("dashboard.services")
        return after_change(target, lambda: _page(_blank_form(), notice=notice), notice)
    return _page(form, status=422)


@bp.get("/services/<int:service_id>/edit")
def service_edit(service_id: int) -> Response:
    service = catalog.get(db.session, current_user.id, service_id)
    saved = catalog.ServiceInput(
        name=service.name,
        description=service.description,
        duration_minutes=service.duration_minutes,
        price_minor=service.price_minor,
        deposit_type=service.deposit_type,
        deposit_value=service.deposit_value,
    )
    try:
        example = catalog.example(saved, current_app.config["PLATFORM_FEE_BPS"])
    except FormError:  # a service saved before today's rules; the form will say what to fix
        example = None
    return _page(_form_for(service), editing=service, example=example)


@bp.post("/services/<int:service_id>")
def service_update(service_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    form = _posted_form()
    if _check(form):
        catalog.update(db.session, current_user, service, form.to_input(), utcnow())
        notice = f"Saved “{service.name}”."
        target = url_for("dashboard.services")
        return after_change(target, lambda: _page(_blank_form(), notice=notice), notice, push=True)
    return _page(form, editing=service, status=422)


def _list_changed() -> ResponseReturnValue:
    def service_list() -> Response:
        active, archived = catalog.listing(db.session, current_user.id)
        return render(
            "dashboard/services.html",
            "dashboard/_service_list.html",
            tradie=signed_in(),
            active=active,
            archived=archived,
        )

    return after_change(url_for("dashboard.services"), service_list)


@bp.post("/services/<int:service_id>/archive")
def service_archive(service_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    if EmptyForm().validate_on_submit():
        catalog.set_archived(db.session, current_user, service, True)
    return _list_changed()


@bp.post("/services/<int:service_id>/restore")
def service_restore(service_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    if EmptyForm().validate_on_submit():
        catalog.set_archived(db.session, current_user, service, False)
    return _list_changed()


@bp.post("/services/<int:service_id>/move")
def service_move(service_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(422)
    catalog.move(db.session, current_user, service, form.direction.data or "")
    return _list_changed()


@bp.post("/services/validate/<field>")
def service_validate(field: str) -> Response:
    """Inline validation: the one field's fragment, 422 when it has an error."""
    form = _posted_form()
    if field not in form or field == "csrf_token":
        abort(404)
    _check(form)
    status = 422 if form[field].errors else 200
    return _page(form, status=status, fragment="dashboard/_service_field.html", field_name=field)


@bp.post("/services/example")
def service_example() -> Response:
    """The worked example for the values in the form (the form's no-JS button lands here too)."""
    form = _posted_form()
    form.validate()
    return _page(form, fragment="dashboard/_service_example.html")
