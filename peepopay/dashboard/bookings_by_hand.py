"""Bookings by hand: a new booking at any time (also from the calendar), moving a booking to
another time, and editing its details. Each route: form, one service call, render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.bookings import by_hand, lifecycle
from peepopay.bookings.models import Booking, Status
from peepopay.bookings.services import InvalidBooking, active_services
from peepopay.clock import utcnow
from peepopay.customers import services as customer_records
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.bookings_by_hand_forms import (
    EditBookingForm,
    MoveBookingForm,
    NewBookingForm,
)
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.inputs import parse_id
from peepopay.scheduling.slots import Slot

T = TypeVar("T")


# --------------------------------------------------------------------------- helpers


def _booking(booking_id: int) -> Booking:
    """The signed-in tradie's booking; another tradie's id is a 404, like a missing one."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.tradie_id != current_user.id:
        abort(404)
    return booking


def _attempt(form: Any, call: Callable[[], T]) -> tuple[T | None, int]:
    """Run the service call for a valid form; its refusals become field errors and a status."""
    if not form.validate_on_submit():
        return None, 422
    try:
        return call(), 200
    except InvalidBooking as error:
        form.add_errors(error.errors)
        return None, 422
    except by_hand.NeedsConfirmation as warning:
        form.warning = str(warning)
        return None, 409
    except lifecycle.SlotTaken:
        message = by_hand.SLOT_TAKEN
    except lifecycle.TransitionRefused as error:
        message = str(error)
    # The time is at fault; on the edit form, the service whose longer job no longer fits.
    field = form.start if "start" in form else form.service
    field.errors = [*field.errors, message]
    return None, 409


def _done(booking: Booking, notice: str, warning: str = "") -> ResponseReturnValue:
    """After a change: on to the booking's page (a whole page, even from htmx), saying so."""
    flash(notice, "success")
    target = url_for("dashboard.booking_detail", booking_id=booking.id)
    return after_change(target, notice=warning or None, category="warning")


def _new_form(form: NewBookingForm | None = None) -> NewBookingForm:
    form = form or NewBookingForm(request.args, meta={"csrf": False})
    services = active_services(db.session, current_user)
    customers = customer_records.recent(db.session, current_user.id)
    return form.offer(services, customers, current_user.currency, current_user.country)


def _new_page(form: NewBookingForm, status: int = 200) -> Response:
    return render(
        "dashboard/booking_new.html",
        "dashboard/_booking_new.html",
        status,
        tradie=signed_in(),
        form=form,
        zone_name=current_user.timezone,
    )


@dataclass
class MoveView:
    """The booking page's move card: the form and the next free slots."""

    booking: Booking
    form: MoveBookingForm
    slots: list[Slot] = field(default_factory=list)

    @property
    def can_move(self) -> bool:
        return self.booking.status == Status.CONFIRMED


def move_view(booking: Booking, form: MoveBookingForm | None = None) -> MoveView:
    view = MoveView(booking, form or MoveBookingForm(formdata=None))
    if view.can_move:
        view.slots = by_hand.move_slots(db.session, current_user, booking, utcnow())
        if not view.form.start.data:
            view.form.start.data = by_hand.local_input(
                booking.starts_at, ZoneInfo(current_user.timezone)
            )
        view.form.was.data = booking.starts_at.isoformat()  # as it is now, after any refusal
    return view


@bp.app_context_processor
def by_hand_helpers() -> dict[str, Any]:
    return {"booking_move": move_view}


def _move_page(
    booking: Booking, form: MoveBookingForm | None = None, status: int = 200
) -> Response:
    return render(
        "dashboard/booking_move.html",
        "dashboard/_booking_move.html",
        status,
        tradie=signed_in(),
        booking=booking,
        move=move_view(booking, form),
    )


def _edit_page(booking: Booking, form: EditBookingForm, status: int = 200) -> Response:
    return render(
        "dashboard/booking_edit.html",
        "dashboard/_booking_edit.html",
        status,
        tradie=signed_in(),
        booking=booking,
        form=form,
    )


# --------------------------------------------------------------------------- routes


@bp.get("/bookings/new", endpoint="new_booking")
def new_booking() -> Response:
    form = _new_form()
    form.start.data = by_hand.local_input(
        by_hand.local_instant(form.start.data or "", ZoneInfo(current_user.timezone)),
        ZoneInfo(current_user.timezone),
    ) or (form.start.data or "")
    form.fill_customer(
        by_hand.customer_details(db.session, current_user.id, parse_id(form.customer_id.data)),
        current_user.country,
    )
    return _new_page(form)


@bp.post("/bookings/new", endpoint="create_booking")
def create_booking() -> ResponseReturnValue:
    form = _new_form(NewBookingForm())
    made, status = _attempt(
        form, lambda: by_hand.create_by_hand(db.session, current_user, form.wanted(), utcnow())
    )
    if made is None:
        return _new_page(form, status)
    notice = (
        "Booked."
        if made.pay_url is None
        else "Booked and held; we sent the customer a link to pay the deposit."
    )
    return _done(made.booking, notice, by_hand.OUTSIDE_HOURS if made.outside_hours else "")


@bp.get("/bookings/<int:booking_id>/move", endpoint="move_booking")
def move_booking(booking_id: int) -> Response:
    return _move_page(_booking(booking_id))


MOVED = "Moved; the customer has the new time and calendar file by email and SMS."


@bp.post("/bookings/<int:booking_id>/move", endpoint="move_booking_post")
def move_booking_post(booking_id: int) -> ResponseReturnValue:
    booking, form = _booking(booking_id), MoveBookingForm()
    moved, status = _attempt(
        form,
        lambda: by_hand.move_by_hand(
            db.session, current_user, booking, form.start.data or "", utcnow(), **form.seen()
        ),
    )
    if moved is None:
        return _move_page(booking, form, status)
    return _done(booking, MOVED)


def _editable(booking_id: int) -> Booking:
    """The tradie's booking whose details can be edited: an erased customer's has none left."""
    booking = _booking(booking_id)
    if booking.erased:
        abort(404)
    return booking


@bp.get("/bookings/<int:booking_id>/edit", endpoint="edit_booking")
def edit_booking(booking_id: int) -> Response:
    booking = _editable(booking_id)
    return _edit_page(
        booking, EditBookingForm.of(booking, active_services(db.session, current_user))
    )


@bp.post("/bookings/<int:booking_id>/edit", endpoint="update_booking")
def update_booking(booking_id: int) -> ResponseReturnValue:
    booking = _editable(booking_id)
    form = EditBookingForm.of(booking, active_services(db.session, current_user))
    edited, status = _attempt(
        form,
        lambda: by_hand.edit_by_hand(
            db.session, current_user, booking, form.service.data, form.customer(), utcnow()
        ),
    )
    if edited is None:
        return _edit_page(booking, form, status)
    notice = "Saved." if edited.changed else "Nothing changed."
    return _done(booking, f"{notice} {edited.note}".strip())
