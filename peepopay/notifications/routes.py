"""The tradie's private calendar feed (`/calendar/<token>.ics`) and revoking its address."""

from __future__ import annotations

from flask import Blueprint, Response, abort, url_for
from flask_login import current_user, login_required

from peepopay.accounts.models import Tradie
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.notifications import calendar, links

bp = Blueprint("calendar", __name__)


@bp.get("/calendar/<token>.ics")
def feed(token: str) -> Response:
    """Calendar apps poll this without cookies; the unguessable token is the authority."""
    tradie = db.session.scalar(db.select(Tradie).where(Tradie.calendar_token == token))
    if tradie is None or len(token) < 16:
        abort(404)
    response = Response(calendar.feed(db.session, tradie, utcnow()), mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="bookings.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def feed_url(tradie: Tradie) -> str:
    return links.external_url("calendar.feed", token=tradie.calendar_token)


@bp.app_context_processor
def calendar_feed() -> dict[str, object]:
    return {"calendar_feed_url": feed_url}


@bp.post("/dashboard/calendar/regenerate")
@login_required
def regenerate() -> Response:
    """A new feed address; the old one stops working at once (404)."""
    tradie = calendar.renew_calendar_feed(db.session, current_user.id)
    return after_change(
        url_for("dashboard.settings", _anchor="calendar-feed"),
        lambda: render(
            "calendar/_feed.html", "calendar/_feed.html", tradie=tradie, regenerated=True
        ),
    )
