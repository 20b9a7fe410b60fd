"""The guided first run (/dashboard/welcome/<step>): country and time zone, mobile number,
first service, working hours, Stripe, the snippet. Each step saves and goes to the next."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import SelectChoice

from peepopay.accounts import first_run as setup
from peepopay.catalog import services as catalog
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.first_run_forms import BusinessForm, HoursForm, PhoneCodeForm, PhoneForm
from peepopay.dashboard.forms import ConnectForm, EmptyForm, ServiceForm, zone_choices
from peepopay.dashboard.overview import embed_codes
from peepopay.dashboard.services import _check as check_service
from peepopay.errors import RuleRefused
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.payments import gateway
from peepopay.security import DASHBOARD_CSP

STEPS = ("business", "phone", "service", "hours", "stripe", "snippet")


def _next_url(step: str) -> str:
    later = STEPS[STEPS.index(step) + 1 :]
    return url_for("dashboard.first_run_step", step=later[0]) if later else _done_url()


def _done_url() -> str:
    return url_for("dashboard.overview")


def _business_form(posted: bool = False) -> BusinessForm:
    form = BusinessForm() if posted else BusinessForm(formdata=None, obj=current_user)
    form.country.choices = [SelectChoice(code, name) for code, name in setup.country_choices()]
    form.timezone.choices = zone_choices()
    return form


def _page(step: str, status: int = 200, **forms: Any) -> Response:
    tradie = signed_in()
    context: dict[str, Any] = {
        "tradie": tradie,
        "step": step,
        "steps": setup.steps(db.session, tradie),
        "next_url": _next_url(step),
        "countries": {code: setup.country_facts(code) for code in setup.COUNTRIES},
    }
    if step == "business":
        context["form"] = forms.get("form") or _business_form()
    elif step == "phone":
        context["form"] = forms.get("form") or PhoneForm(formdata=None, phone=tradie.phone)
        context["code_form"] = forms.get("code_form") or PhoneCodeForm(formdata=None)
    elif step == "service":
        context["form"] = forms.get("form") or ServiceForm(formdata=None, currency=tradie.currency)
    elif step == "hours":
        context["form"] = forms.get("form") or HoursForm(formdata=None)
    elif step == "stripe":
        context["form"] = ConnectForm()
    else:
        context["form"] = EmptyForm()
        context["embed"] = embed_codes(tradie.slug, tradie.business_name)
    response = render("dashboard/first_run.html", "dashboard/_first_run.html", status, **context)
    if step == "stripe":  # the Connect form is redirected on to Stripe's onboarding
        response.headers["Content-Security-Policy"] = DASHBOARD_CSP.replace(
            "form-action 'self'", f"form-action 'self' {gateway.onboarding_origin()}"
        )
    return response


def _saved(step: str) -> Response:
    return after_change(_next_url(step))


@bp.get("/welcome")
def first_run() -> ResponseReturnValue:
    todo = [step.key for step in setup.steps(db.session, current_user) if not step.done]
    return redirect(url_for("dashboard.first_run_step", step=todo[0]) if todo else _done_url())


@bp.get("/welcome/<step>")
def first_run_step(step: str) -> Response:
    if step not in STEPS:
        abort(404)
    return _page(step)


@bp.post("/welcome/business")
def first_run_business() -> ResponseReturnValue:
    form = _business_form(posted=True)
    if form.validate_on_submit():
        try:
            setup.set_business(
                db.session, current_user, form.country.data, form.timezone.data, utcnow()
            )
            return _saved("business")
        except RuleRefused as error:
            form.add_error(error)
    return _page("business", 422, form=form)


@bp.post("/welcome/phone")
def first_run_phone() -> ResponseReturnValue:
    form = PhoneForm()
    if form.validate_on_submit():
        try:
            setup.send_phone_code(db.session, current_user, form.phone.data or "", utcnow())
            return after_change(url_for("dashboard.first_run_step", step="phone", sent=1))
        except RuleRefused as error:
            form.add_error(error)
    return _page("phone", 422, form=form)


@bp.post("/welcome/phone/confirm")
def first_run_phone_confirm() -> ResponseReturnValue:
    form = PhoneCodeForm()
    if form.validate_on_submit():
        try:
            setup.confirm_phone(current_user, form.code.data or "", utcnow())
            return _saved("phone")
        except RuleRefused as error:
            form.add_error(error)
    return _page("phone", 422, code_form=form)


@bp.post("/welcome/service")
def first_run_service() -> ResponseReturnValue:
    form = ServiceForm(currency=current_user.currency)
    if check_service(form):
        catalog.create(db.session, current_user, form.to_input(), utcnow())
        return _saved("service")
    return _page("service", 422, form=form)


@bp.post("/welcome/hours")
def first_run_hours() -> ResponseReturnValue:
    form = HoursForm()
    if form.validate_on_submit():
        try:
            args = (form.weekdays.data or [], form.start.data or "", form.end.data or "")
            setup.add_weekday_hours(db.session, current_user, *args)
            return _saved("hours")
        except RuleRefused as error:
            form.add_error(error)
    return _page("hours", 422, form=form)


@bp.post("/welcome/snippet")
def first_run_snippet() -> ResponseReturnValue:
    if not EmptyForm().validate_on_submit():
        abort(400)
    setup.mark_snippet_copied(current_user, utcnow())
    return after_change(_done_url(), notice="You're set up. Bookings will show here.")
