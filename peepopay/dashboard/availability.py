"""Availability page: weekly hours, blocked dates, booking rules and the slot preview."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.calendars import services as own_calendars
from peepopay.clock import local_today, utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.forms import BlockedForm, CopyForm, DashboardForm, HoursForm, RulesForm
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.rules import FormError
from peepopay.scheduling import availability as hours

SECTIONS = {
    "hours": "dashboard/_hours.html",
    "blocked": "dashboard/_blocked.html",
    "rules": "dashboard/_rules.html",
    "preview": "dashboard/_slot_preview.html",
}


def _service_id() -> int | None:
    try:
        return int(request.args.get("service_id", ""))
    except ValueError:
        return None


def _page(
    section: str = "", status: int = 200, notice: str = "", **forms: DashboardForm
) -> Response:
    tradie = signed_in()
    now = utcnow()
    service, choices = hours.preview_service(db.session, tradie.id, _service_id())
    context: dict[str, Any] = {
        "tradie": tradie,
        "week": hours.week(db.session, tradie.id),
        "blocked": hours.blocked(db.session, tradie.id, local_today(tradie, now)),
        "preview": hours.preview(db.session, tradie, service, now) if service else [],
        "preview_away": own_calendars.busy_by_day(db.session, tradie, local_today(tradie, now), 7),
        "preview_service": service,
        "service_choices": choices,
        "hours_form": HoursForm(formdata=None),
        "copy_form": CopyForm(formdata=None),
        "blocked_form": BlockedForm(formdata=None),
        "rules_form": RulesForm(formdata=None, obj=tradie),
        "notice": notice,
        "notice_section": section,
    }
    context.update(forms)
    fragment = SECTIONS.get(section, "dashboard/_availability.html")
    response = render("dashboard/availability.html", fragment, status, **context)
    if status < 400 and section in ("hours", "blocked", "rules"):
        # The preview listens for this and refreshes itself.
        response.headers["HX-Trigger"] = "slots-changed"
    return response


def _done(section: str, notice: str, **forms: DashboardForm) -> ResponseReturnValue:
    target = url_for("dashboard.availability", _anchor=section)
    return after_change(target, lambda: _page(section, notice=notice, **forms), notice)


@bp.get("/availability")
def availability() -> Response:
    return _page()


@bp.get("/availability/preview")
def availability_preview() -> Response:
    return _page("preview")


@bp.post("/availability/hours")
def hours_add() -> ResponseReturnValue:
    form = HoursForm()
    if form.validate_on_submit():
        try:
            hours.add_range(
                db.session, current_user, form.weekday.data, form.start.data, form.end.data
            )
        except FormError as error:
            form.add_error(error)
        else:
            return _done("hours", "Working hours added.")
    return _page("hours", 422, hours_form=form)


@bp.post("/availability/hours/<int:rule_id>/delete")
def hours_remove(rule_id: int) -> ResponseReturnValue:
    hours.remove_range(db.session, current_user, rule_id)
    return _done("hours", "Working hours removed.")


@bp.post("/availability/hours/copy")
def hours_copy() -> ResponseReturnValue:
    form = CopyForm()
    if form.validate_on_submit():
        days = hours.copy_day(db.session, current_user, form.source.data)
        names = ", ".join(hours.WEEKDAYS[d] for d in days)
        return _done("hours", f"Copied {hours.WEEKDAYS[form.source.data]}'s hours to {names}.")
    return _page("hours", 422, copy_form=form)


@bp.post("/availability/blocked")
def blocked_add() -> ResponseReturnValue:
    form = BlockedForm()
    if form.validate_on_submit():
        try:
            hours.add_blocked(db.session, current_user, *form.period(), utcnow())
        except FormError as error:
            form.add_error(error)
        else:
            return _done("blocked", "Dates blocked.")
    return _page("blocked", 422, blocked_form=form)


@bp.post("/availability/blocked/<int:period_id>/delete")
def blocked_remove(period_id: int) -> ResponseReturnValue:
    hours.remove_blocked(db.session, current_user, period_id)
    return _done("blocked", "Dates unblocked.")


@bp.post("/availability/rules")
def rules_update() -> ResponseReturnValue:
    form = RulesForm()
    if form.validate_on_submit():
        try:
            hours.update_rules(db.session, current_user, form.values())
        except FormError as error:
            form.add_error(error)
        else:
            return _done("rules", "Booking rules saved.", rules_form=form)
    return _page("rules", 422, rules_form=form)
