"""Job intake pages: a service's questions and booking mode; the service area and arrival
windows. Each change answers through htmx.after_change."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay import files
from peepopay.bookings import photos
from peepopay.bookings.models import Booking
from peepopay.catalog import intake
from peepopay.catalog import services as catalog
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.forms import EmptyForm, MoveForm
from peepopay.dashboard.intake_forms import (
    AreaForm,
    BookingModeForm,
    JobsForm,
    QuestionForm,
    WindowForm,
)
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.rules import FormError, owned
from peepopay.scheduling.models import ArrivalWindow, Service

# --- a service's questions ------------------------------------------------------------------


def _service_page(service: Service, status: int = 200, **forms: Any) -> Response:
    forms.setdefault("form", QuestionForm(formdata=None))
    forms.setdefault("mode", BookingModeForm(formdata=None, by_window=service.by_arrival_window))
    return render(
        "dashboard/service_intake.html",
        "dashboard/_service_intake.html",
        status,
        tradie=signed_in(),
        service=service,
        questions=intake.questions(db.session, service),
        kinds=intake.KIND_LABELS,
        **forms,
    )


def _service_changed(service: Service, notice: str) -> ResponseReturnValue:
    target = url_for("dashboard.service_intake", service_id=service.id)
    return after_change(target, lambda: _service_page(service, notice=notice), notice)


def _refused(form: Any, error: FormError) -> Any:
    getattr(form, error.field if error.field in form else "label").errors.append(error.message)
    return form


def add_question(service: Service, form: QuestionForm) -> ResponseReturnValue:
    """Add the posted question, or show the form again with what is wrong."""
    if not form.validate_on_submit():
        return _service_page(service, 422, form=form)
    try:
        question = intake.add_question(db.session, current_user, service, form.to_input())
    except FormError as error:
        return _service_page(service, 422, form=_refused(form, error))
    return _service_changed(service, f"Added “{question.label}”.")


@bp.get("/services/<int:service_id>/intake")
def service_intake(service_id: int) -> Response:
    return _service_page(catalog.get(db.session, current_user.id, service_id))


@bp.post("/services/<int:service_id>/questions")
def question_add(service_id: int) -> ResponseReturnValue:
    return add_question(catalog.get(db.session, current_user.id, service_id), QuestionForm())


@bp.post("/services/<int:service_id>/questions/<int:question_id>/move")
def question_move(service_id: int, question_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    form = MoveForm()
    if form.validate_on_submit():
        question = intake.question_of(db.session, service, question_id)
        intake.move_question(
            db.session, current_user, service, question, form.direction.data == "up"
        )
    return _service_changed(service, "Questions reordered.")


@bp.post("/services/<int:service_id>/questions/<int:question_id>/delete")
def question_delete(service_id: int, question_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    if EmptyForm().validate_on_submit():
        question = intake.question_of(db.session, service, question_id)
        intake.remove_question(db.session, current_user, service, question)
    return _service_changed(service, "Question removed; answers already given keep it.")


@bp.post("/services/<int:service_id>/booking-mode")
def service_booking_mode(service_id: int) -> ResponseReturnValue:
    service = catalog.get(db.session, current_user.id, service_id)
    form = BookingModeForm()
    if form.validate_on_submit():
        intake.set_booking_mode(db.session, current_user, service, bool(form.by_window.data))
    return _service_changed(service, "Saved how this service is booked.")


# --- photos of a booking ---------------------------------------------------------------------


@bp.get("/bookings/<int:booking_id>/photos/<int:photo_id>/<variant>")
def booking_photo(booking_id: int, photo_id: int, variant: str) -> Response:
    """A photo of one of the tradie's own bookings, full size (`display`) or `thumb`."""
    booking = owned(db.session, Booking, booking_id, current_user.id)
    store = photos.configured_store()
    return files.jpeg(photos.photo_bytes(db.session, store, booking, photo_id, variant))


# --- service area and arrival windows -------------------------------------------------------


def _area_page(status: int = 200, **forms: Any) -> Response:
    forms.setdefault("area_form", AreaForm(formdata=None, area=current_user.service_area))
    forms.setdefault("jobs_form", JobsForm(formdata=None, jobs=current_user.jobs_per_window))
    forms.setdefault("window_form", WindowForm(formdata=None))
    return render(
        "dashboard/service_area.html",
        "dashboard/_service_area.html",
        status,
        tradie=signed_in(),
        windows=intake.windows(db.session, current_user.id),
        **forms,
    )


def _area_changed(notice: str) -> ResponseReturnValue:
    return after_change(
        url_for("dashboard.service_area"), lambda: _area_page(notice=notice), notice
    )


def save_area(form: AreaForm) -> ResponseReturnValue:
    if not form.validate_on_submit():
        return _area_page(422, area_form=form)
    try:
        intake.set_service_area(db.session, current_user, form.area.data or "")
    except FormError as error:
        form.area.errors.append(error.message)
        return _area_page(422, area_form=form)
    return _area_changed("Saved the postcodes you serve.")


def save_window(form: WindowForm) -> ResponseReturnValue:
    if not form.validate_on_submit():
        return _area_page(422, window_form=form)
    try:
        intake.add_window(
            db.session, current_user, form.weekday.data, form.start.data, form.end.data
        )
    except FormError as error:
        getattr(form, error.field).errors.append(error.message)
        return _area_page(422, window_form=form)
    return _area_changed("Added the arrival window.")


@bp.get("/service-area")
def service_area() -> Response:
    return _area_page()


@bp.post("/service-area")
def service_area_save() -> ResponseReturnValue:
    return save_area(AreaForm())


@bp.post("/arrival-windows")
def window_add() -> ResponseReturnValue:
    return save_window(WindowForm())


@bp.post("/arrival-windows/jobs")
def window_jobs() -> ResponseReturnValue:
    form = JobsForm()
    if not form.validate_on_submit():
        return _area_page(422, jobs_form=form)
    intake.set_jobs_per_window(db.session, current_user, form.jobs.data or 1)
    return _area_changed("Saved how many jobs fit in a window.")


@bp.post("/arrival-windows/<int:window_id>/delete")
def window_delete(window_id: int) -> ResponseReturnValue:
    window = owned(db.session, ArrivalWindow, window_id, current_user.id)
    if EmptyForm().validate_on_submit():
        intake.remove_window(db.session, current_user, window)
    return _area_changed("Removed the arrival window.")
