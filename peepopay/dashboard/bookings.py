"""Bookings: the filtered list, CSV export, the detail page and its actions."""

from __future__ import annotations

from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.bookings import lifecycle, listing, payment_outcomes
from peepopay.clock import local_today, utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.forms import CancelForm, EmptyForm
from peepopay.extensions import db
from peepopay.formatting import format_money
from peepopay.htmx import after_change, render
from peepopay.payments.gateway import PaymentError
from peepopay.receipts.build import build_receipt
from peepopay.receipts.pdf import receipt_filename, render_pdf
from peepopay.rules import actor


@bp.get("/bookings", endpoint="bookings")
def bookings_list() -> Response:
    filters = listing.Filters.parse(request.args.to_dict())
    page = listing.page_of(db.session, current_user.id, filters, utcnow())
    return render(
        "dashboard/bookings.html",
        "dashboard/_booking_list.html",
        tradie=signed_in(),
        filters=filters,
        results=page,
        statuses=lifecycle.LABELS,
    )


@bp.get("/bookings.csv")
def bookings_csv() -> Response:
    filters = listing.Filters.parse(request.args.to_dict())
    now = utcnow()
    lines = listing.csv_lines(db.session, current_user, filters, now)
    response = Response(stream_with_context(lines), mimetype="text/csv")
    day = local_today(current_user, now).isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="bookings-{day}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/bookings/<int:booking_id>/receipt")
def booking_receipt(booking_id: int) -> str:
    booking = listing.get(db.session, current_user.id, booking_id)
    return render_template(
        "receipts/receipt.html",
        receipt=build_receipt(db.session, booking),
        tz=current_user.timezone,
        brand_color=current_user.brand_color or "#1d4ed8",
        pdf_url=url_for("dashboard.booking_receipt_pdf", booking_id=booking_id),
        back_url=url_for("dashboard.booking_detail", booking_id=booking_id),
    )


@bp.get("/bookings/<int:booking_id>/receipt.pdf")
def booking_receipt_pdf(booking_id: int) -> Response:
    receipt = build_receipt(db.session, listing.get(db.session, current_user.id, booking_id))
    response = Response(render_pdf(receipt, current_user.timezone), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{receipt_filename(receipt)}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _detail_page(
    booking_id: int, status: int = 200, cancel_form: CancelForm | None = None, notice: str = ""
) -> Response:
    detail = listing.detail(db.session, current_user.id, booking_id)
    return render(
        "dashboard/booking_detail.html",
        "dashboard/_booking_detail.html",
        status,
        tradie=signed_in(),
        detail=detail,
        booking=detail.booking,
        statuses=lifecycle.LABELS,
        cancel_form=cancel_form or CancelForm(formdata=None),
        notice=notice,
    )


@bp.get("/bookings/<int:booking_id>")
def booking_detail(booking_id: int) -> Response:
    return _detail_page(booking_id)


def _after_action(booking_id: int, notice: str) -> ResponseReturnValue:
    target = url_for("dashboard.booking_detail", booking_id=booking_id)
    return after_change(target, lambda: _detail_page(booking_id, notice=notice), notice)


def _refused(
    booking_id: int, error: lifecycle.TransitionRefused | PaymentError
) -> ResponseReturnValue:
    def refused() -> Response:
        return _detail_page(booking_id, status=409, notice=str(error))

    target = url_for("dashboard.booking_detail", booking_id=booking_id)
    return after_change(target, refused, str(error), "error")


@bp.post("/bookings/<int:booking_id>/complete")
def booking_complete(booking_id: int) -> ResponseReturnValue:
    booking = listing.get(db.session, current_user.id, booking_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        lifecycle.complete(db.session, booking, utcnow(), actor=actor(current_user))
    except lifecycle.TransitionRefused as error:
        return _refused(booking_id, error)
    return _after_action(booking_id, "Marked as completed.")


@bp.post("/bookings/<int:booking_id>/cancel")
def booking_cancel(booking_id: int) -> ResponseReturnValue:
    booking = listing.get(db.session, current_user.id, booking_id)
    form = CancelForm()
    if not form.validate_on_submit():
        return _detail_page(booking_id, status=422, cancel_form=form)
    try:
        reason = (form.reason.data or "").strip()
        refunded = lifecycle.cancel(
            db.session, booking, utcnow(), by="tradie", actor=actor(current_user), reason=reason
        )
    except lifecycle.TransitionRefused as error:
        return _refused(booking_id, error)
    notice = "Booking cancelled; the customer has been told."
    if refunded:
        notice += f" Refunded {format_money(refunded, booking.currency)}."
    return _after_action(booking_id, notice)


@bp.post("/bookings/<int:booking_id>/no-show")
def booking_no_show(booking_id: int) -> ResponseReturnValue:
    booking = listing.get(db.session, current_user.id, booking_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        fee = payment_outcomes.mark_no_show(db.session, booking, current_user, utcnow())
    except (lifecycle.TransitionRefused, PaymentError) as error:
        db.session.rollback()  # Stripe down: nothing changes, the tradie tries again
        return _refused(booking_id, error)
    return _after_action(booking_id, listing.no_show_notice(booking, fee))
