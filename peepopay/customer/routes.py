"""Routes of the customer's booking page; the token in the path is the only authority."""

from __future__ import annotations

from datetime import UTC, date
from zoneinfo import ZoneInfo

from flask import Response, abort, g, render_template, request, url_for

from peepopay import files
from peepopay.bookings import customer_changes as customer
from peepopay.bookings import lifecycle, photos
from peepopay.bookings.models import Booking
from peepopay.clock import utcnow
from peepopay.customer import bp
from peepopay.customer.forms import CancelForm, RescheduleForm
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.inputs import date_in_reach, iso_date
from peepopay.notifications import calendar, links
from peepopay.payments.ledger import payments_of
from peepopay.receipts.build import build_receipt
from peepopay.receipts.pdf import receipt_filename, render_pdf
from peepopay.security import widget_csp
from peepopay.widget.routes import frame_ancestors

NOTICES = {
    "cancelled": "Your booking is cancelled. We have emailed you the details.",
    "rescheduled": "Your booking has moved. We have emailed you the new time and calendar file.",
}


def _booking(token: str) -> Booking:
    booking = customer.booking_for_token(db.session, token)
    if booking is None:
        abort(404)
    # Framed only where the tradie's widget may be.
    g.widget_csp = widget_csp(frame_ancestors(customer.tradie_of(db.session, booking)))
    return booking


@bp.after_request
def private(response: Response) -> Response:
    """The token in the URL is the key: never cached, never sent on as a referrer, not indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _render(page: str, fragment: str, booking: Booking, status: int, **ctx: object) -> Response:
    """A page about the booking (or its fragment, for htmx) in the tradie's branding."""
    tradie = customer.tradie_of(db.session, booking)
    return render(
        page,
        fragment,
        status,
        booking=booking,
        tradie=tradie,
        tz=tradie.timezone,
        logo_url=links.logo_src(tradie),
        **ctx,
    )


def _page(booking: Booking, status: int = 200, notice: str | None = None) -> Response:
    now = utcnow()
    tradie = customer.tradie_of(db.session, booking)
    changeable = customer.can_change(booking, tradie, now)
    return _render(
        "customer/page.html",
        "customer/_booking.html",
        booking,
        status,
        payments=payments_of(db.session, booking.id),
        changeable=changeable,
        cutoff_at=customer.cutoff_at(booking, tradie),
        now=now,
        quote=customer.cancel_quote(db.session, booking, tradie, now) if changeable else None,
        service=customer.service_of(db.session, booking),
        notice=notice or NOTICES.get(request.args.get("done", "")),
    )


@bp.get("/b/<token>")
def page(token: str) -> Response:
    return _page(_booking(token))


@bp.get("/b/<token>/photos/<int:photo_id>")
def photo_thumb(token: str, photo_id: int) -> Response:
    """A thumbnail of the customer's own photo; the full size is the tradie's alone."""
    booking = _booking(token)
    store = photos.configured_store()
    return files.jpeg(photos.photo_bytes(db.session, store, booking, photo_id, "thumb"))


@bp.get("/b/<token>/booking.ics")
def ics(token: str) -> Response:
    booking = _booking(token)
    tradie = customer.tradie_of(db.session, booking)
    body = calendar.booking_calendar(
        tradie,
        booking,
        sequence=calendar.sequence(db.session, booking),
        url=links.booking_url(booking),
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'attachment; filename="booking-{booking.id}.ics"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/b/<token>/receipt")
def receipt(token: str) -> str:
    booking = _booking(token)
    tradie = customer.tradie_of(db.session, booking)
    return render_template(
        "receipts/receipt.html",
        receipt=build_receipt(db.session, booking),
        tz=tradie.timezone,
        brand_color=tradie.brand_color or "#1d4ed8",
        pdf_url=url_for("customer.receipt_pdf", token=token),
        back_url=url_for("customer.page", token=token),
    )


@bp.get("/b/<token>/receipt.pdf")
def receipt_pdf(token: str) -> Response:
    booking = _booking(token)
    receipt = build_receipt(db.session, booking)
    body = render_pdf(receipt, customer.tradie_of(db.session, booking).timezone)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{receipt_filename(receipt)}"'
    return response


@bp.get("/b/<token>/cancel")
def cancel_confirm(token: str) -> Response:
    booking = _booking(token)
    return _cancel_page(booking, CancelForm())


def _cancel_page(
    booking: Booking, form: CancelForm, status: int = 200, error: str | None = None
) -> Response:
    now = utcnow()
    tradie = customer.tradie_of(db.session, booking)
    changeable = customer.can_change(booking, tradie, now)
    quote = customer.cancel_quote(db.session, booking, tradie, now) if changeable else None
    return _render(
        "customer/cancel.html",
        "customer/_cancel.html",
        booking,
        status,
        form=form,
        quote=quote,
        changeable=changeable,
        error=error,
    )


@bp.post("/b/<token>/cancel")
def cancel(token: str) -> Response:
    booking = _booking(token)
    form = CancelForm()
    if not form.validate():
        return _cancel_page(booking, form, 422)
    try:
        customer.cancel(db.session, booking, utcnow(), form.expected_refund.data)
    except customer.CustomerActionError as error:
        db.session.rollback()
        return _cancel_page(booking, CancelForm(formdata=None), error.status, error.message)
    return _done(booking, "cancelled")


def _done(booking: Booking, what: str) -> Response:
    target = url_for("customer.page", token=booking.public_token, done=what)
    return after_change(target, lambda: _page(booking, notice=NOTICES[what]), push=True)


def _reschedule_page(
    booking: Booking,
    form: RescheduleForm,
    day: date | None = None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    now = utcnow()
    tradie = customer.tradie_of(db.session, booking)
    service = customer.service_of(db.session, booking)
    if not customer.can_change(booking, tradie, now):
        service = None
    days = customer.free_days(db.session, booking, tradie, service, now) if service else []
    if day is None and days:
        day = days[0]
    slots = (
        customer.reschedule_slots(db.session, booking, tradie, service, day, now)
        if service is not None and day is not None
        else []
    )
    return _render(
        "customer/reschedule.html",
        "customer/_reschedule.html",
        booking,
        status,
        form=form,
        days=days,
        day=day,
        slots=[s for s in slots if s.available and s.starts_at_utc != booking.starts_at],
        changeable=service is not None,
        quote=customer.cancel_quote(db.session, booking, tradie, now) if service else None,
        error=error,
    )


@bp.get("/b/<token>/reschedule")
def reschedule_form(token: str) -> Response:
    booking = _booking(token)
    day = iso_date(request.args.get("date"))
    if day is not None and not date_in_reach(day, utcnow()):
        day = None  # no tradie offers it; its slots would overflow the date arithmetic
    return _reschedule_page(booking, RescheduleForm(formdata=None), day)


@bp.post("/b/<token>/reschedule")
def reschedule(token: str) -> Response:
    booking = _booking(token)
    form = RescheduleForm()
    if not form.validate():
        return _reschedule_page(booking, form, status=422)
    try:
        customer.reschedule(db.session, booking, form.start_utc.astimezone(UTC), utcnow())
    except (lifecycle.SlotTaken, customer.CustomerActionError) as error:
        db.session.rollback()
        return _reschedule_refused(booking, form, error)
    return _done(booking, "rescheduled")


def _reschedule_refused(
    booking: Booking,
    form: RescheduleForm,
    error: lifecycle.SlotTaken | customer.CustomerActionError,
) -> Response:
    """The chosen day again, with why the move was refused: on the field when it names one."""
    tz = ZoneInfo(customer.tradie_of(db.session, booking).timezone)
    day = form.start_utc.astimezone(tz).date()
    if isinstance(error, lifecycle.SlotTaken):
        return _reschedule_page(booking, form, day, 409, error.message)
    if error.field:
        form.start.errors = [error.message]
        return _reschedule_page(booking, form, day, error.status)
    return _reschedule_page(booking, form, day, error.status, error.message)
