"""The tradie's private calendar feed (`/calendar/<token>.ics`) and revoking its address."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, url_for
from flask_login import current_user, login_required

from peepopay.accounts.models import Tradie, new_calendar_token
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.htmx import is_htmx, render
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
    tradie = db.session.get(Tradie, current_user.id)
    assert tradie is not None
    tradie.calendar_token = new_calendar_token()
    from peepopay import audit

    audit.record(
        db.session,
        tradie_id=tradie.id,
        actor=f"tradie:{tradie.id}",
        action="calendar.regenerated",
        entity=tradie,
    )
    if is_htmx():
        return render("calendar/_feed.html", "calendar/_feed.html", tradie=tradie, regenerated=True)
    target = url_for("dashboard.settings", _anchor="calendar-feed")
    return redirect(target, 303)  # type: ignore[return-value]
