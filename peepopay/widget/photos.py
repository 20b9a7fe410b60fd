"""Photos of the job from the widget: added on the payment and confirmation steps with the
booking's signed token (the widget has no session and sets no cookie), thumbnails read back
the same way. A plain file input without JavaScript; with htmx, a progress bar."""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from peepopay import files
from peepopay.bookings import photos
from peepopay.bookings.models import Booking
from peepopay.clock import utcnow
from peepopay.extensions import db
from peepopay.htmx import is_htmx
from peepopay.widget import bp
from peepopay.widget.limits import booking_limit
from peepopay.widget.routes import (
    PHOTO_BACK,
    held_booking,
    kept_state,
    photos_context,
    show,
    tradie,
)


def uploaded() -> list[bytes]:
    """The chosen files' bytes, each read to one byte past the limit (prepare refuses it)."""
    # An empty file input still sends a part, without a file name: not a photo.
    return [
        f.stream.read(photos.MAX_BYTES + 1) for f in request.files.getlist("photo") if f.filename
    ]


def answer_upload(booking: Booking, token: str, back: str) -> Response:
    """Store the files as photos; the photos fragment to htmx, the step again otherwise."""
    error = None
    try:
        chosen = uploaded()
        if not chosen:
            raise photos.PhotoRefused("Choose one or more photos first.")
        photos.add_photos(db.session, photos.configured_store(), booking, chosen, utcnow())
    except photos.PhotoRefused as refused:
        db.session.rollback()
        error = refused.message
    context = photos_context(booking, token, back)
    if error or is_htmx():
        return show("widget/_photos.html", 422 if error else 200, photo_error=error, **context)
    endpoint = PHOTO_BACK[str(context["photo_back"])]
    target = url_for(endpoint, slug=tradie().slug, token=token, **kept_state())
    return redirect(target, 303)  # type: ignore[return-value]


@bp.post("/book/<slug>/photos/<token>")
@booking_limit
def photos_upload(slug: str, token: str) -> ResponseReturnValue:
    return answer_upload(held_booking(token), token, request.form.get("back", "pay"))


@bp.get("/book/<slug>/photos/<token>/<int:photo_id>")
def photo_thumb(slug: str, token: str, photo_id: int) -> ResponseReturnValue:
    booking = held_booking(token)
    store = photos.configured_store()
    return files.jpeg(photos.photo_bytes(db.session, store, booking, photo_id, "thumb"))
