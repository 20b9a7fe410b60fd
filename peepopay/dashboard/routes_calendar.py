"""The calendar page: a week (or, on a phone, a day) of the tradie's jobs in their time zone."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_login import current_user

from peepopay.clock import local_today, utcnow
from peepopay.dashboard import bp, calendar
from peepopay.extensions import db
from peepopay.htmx import render

# Another area's page for a booking the tradie takes themselves; linked once it is installed.
NEW_BOOKING = "dashboard.new_booking"


@bp.get("/calendar", endpoint="calendar")
def calendar_page() -> Response:
    tradie = current_user
    now = utcnow()
    wanted = calendar.parse(request.args, local_today(tradie, now))
    view = calendar.build(db.session, tradie, wanted, now, tradie.slot_interval_minutes)
    return render(
        "dashboard/calendar.html",
        "dashboard/_calendar_swap.html",
        tradie=tradie,
        view=view,
        new_booking=NEW_BOOKING if NEW_BOOKING in current_app.view_functions else None,
    )
