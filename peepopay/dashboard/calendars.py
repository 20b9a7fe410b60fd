"""The tradie's own calendars: connect ICS addresses and CalDAV calendars, see their state."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from peepopay.calendars import services as own_calendars
from peepopay.clock import utcnow
from peepopay.dashboard import bp, signed_in
from peepopay.dashboard.calendars_forms import CalDAVForm, FeedForm
from peepopay.dashboard.forms import DashboardForm
from peepopay.extensions import db
from peepopay.htmx import after_change, render
from peepopay.rules import FormError


def _page(status: int = 200, notice: str = "", category: str = "success", **forms: Any) -> Response:
    context: dict[str, Any] = {
        "tradie": signed_in(),
        "feeds": own_calendars.feeds(db.session, current_user.id),
        "write_problems": own_calendars.write_problems(db.session, current_user.id),
        "feed_form": FeedForm(formdata=None),
        "caldav_form": CalDAVForm(formdata=None),
        "notice": notice,
        "notice_category": category,
    }
    context.update(forms)
    return render("dashboard/calendars.html", "dashboard/_calendars.html", status, **context)


def _done(notice: str, category: str = "success") -> ResponseReturnValue:
    target = url_for("dashboard.calendars")
    return after_change(
        target, lambda: _page(notice=notice, category=category), notice, category=category
    )


def _connect(form: DashboardForm, form_key: str, **values: str) -> ResponseReturnValue:
    if form.validate_on_submit():
        try:
            feed = own_calendars.add_feed(db.session, current_user, now=utcnow(), **values)
        except FormError as error:
            form.add_error(error)
        else:
            return _done(own_calendars.connected_notice(feed, current_user))
    return _page(422, **{form_key: form})


@bp.get("/calendars")
def calendars() -> Response:
    return _page()


@bp.post("/calendars")
def calendars_add() -> ResponseReturnValue:
    form = FeedForm()
    return _connect(form, "feed_form", url=form.url.data or "", name=form.name.data or "")


@bp.post("/calendars/caldav")
def calendars_add_caldav() -> ResponseReturnValue:
    form = CalDAVForm()
    values = {"url": form.url.data or "", "name": form.name.data or ""}
    values |= {"username": form.username.data or "", "password": form.password.data or ""}
    return _connect(form, "caldav_form", **values)


@bp.post("/calendars/<int:feed_id>/sync")
def calendars_sync(feed_id: int) -> ResponseReturnValue:
    feed = own_calendars.sync_now(db.session, current_user, feed_id, utcnow())
    return _done(own_calendars.synced_notice(feed), "warning" if feed.last_error else "success")


@bp.post("/calendars/<int:feed_id>/delete")
def calendars_remove(feed_id: int) -> ResponseReturnValue:
    feed = own_calendars.remove_feed(db.session, current_user, feed_id)
    return _done(f"{feed.name} disconnected; its busy times no longer block bookings.")
